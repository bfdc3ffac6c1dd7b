import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { check } from '../../dist/ops/registry/check.js';
import { init } from '../../dist/ops/registry/init.js';
import { newEntry } from '../../dist/ops/registry/new.js';
import { setConfigValue } from '../../dist/config.js';
import { makeContext } from '../../dist/context.js';
import { git, makeGitRepo, removeDir, writeTree } from '../helpers/repo.js';

let repo: string;
const ctx = () => makeContext({ cwd: repo });
const goodRaw = (name: string) => `---\nlicense: CC-BY-4.0\nsource: https://example.org/${name}\nowner: ana\n---\n# Card: ${name}\n\nOCR pages.\n`;
const card = (name: string) => `# Card: ${name}\n`;

beforeEach(async () => {
  repo = makeGitRepo();
  await init(ctx());
  setConfigValue(join(repo, '.reg/config.yaml'), ['areas', 'raw_datasets', 'large-file-threshold'], '1KB');
  // These findings were written against the strict naming preset (lowercase, hyphens, "dataset" warned).
  setConfigValue(join(repo, '.reg/config.yaml'), ['rules', 'naming'], 'strict');
});
afterEach(() => removeDir(repo));

async function buildMixedRegistry(): Promise<void> {
  writeTree(repo, {
    'raw_datasets/good/a.txt': 'a',
    'raw_datasets/good.card.md': goodRaw('good'),
    'raw_datasets/no-card/a.txt': 'b',
    'raw_datasets/orphan.card.md': goodRaw('orphan'),
    'raw_datasets/bad-header/a.txt': 'c',
    'raw_datasets/bad-header.card.md': goodRaw('bad-header').replace('# Card: bad-header', '# bad-header'),
    'raw_datasets/no-license/a.txt': 'd',
    'raw_datasets/no-license.card.md': goodRaw('no-license').replace('license: CC-BY-4.0', 'license:'),
    'raw_datasets/broken.card.md': goodRaw('broken'),
    'raw_datasets/README.md': 'x'.repeat(2048),
    'raw_datasets/loose/file.txt': 'committed straight into git'.repeat(100),
    'raw_datasets/loose.card.md': goodRaw('loose'),
    'processed_datasets/Bad_Name/part-0.parquet': 'p',
    'processed_datasets/Bad_Name.card.md': card('Bad_Name'),
    'processed_datasets/tokenized-dataset/part-0.parquet': 'q',
    'processed_datasets/tokenized-dataset.card.md': card('tokenized-dataset'),
    'processed_datasets/gone.card.md': card('gone'),
    'champion_models/bart-base/model.bin': 'm',
    'champion_models/bart-base.card.md': card('bart-base'),
    'champion_models/bart-base.dvc': 'outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: bart-base\n',
    'experiments/run-1/log.txt': 'l',
  });
  await add(ctx(), { targets: ['raw_datasets/good', 'raw_datasets/no-card', 'raw_datasets/bad-header', 'raw_datasets/no-license'] });
  writeFileSync(join(repo, 'raw_datasets/broken.dvc'), 'outs:\n- md5: nothex\n  path: broken\n');
  setConfigValue(join(repo, '.reg/config.yaml'), ['remotes', 'origin'], { url: 's3://bucket/x', 'secret-access-key': 'hunter2' });
  git(repo, 'add', '-A');
  git(repo, 'add', '-f', 'processed_datasets/tokenized-dataset/part-0.parquet');
}

const summary = (r: { findings: Array<{ severity: string; rule: string; file: string }> }) => r.findings.map((f) => `${f.severity} ${f.rule} ${f.file}`);

describe('reg check', () => {
  it('a fresh registry is clean', async () => {
    const r = await check(ctx());
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.areas).toBe(5);
  });

  it('gives exactly the expected findings on a mix of good and bad entries', async () => {
    await buildMixedRegistry();
    const r = await check(ctx());
    expect(summary(r)).toEqual([
      'error secret-in-config .reg/config.yaml',
      'error pointer-in-unversioned-area champion_models/bart-base.dvc',
      'warning entry-without-card experiments/run-1.card.md',
      'error naming processed_datasets/Bad_Name',
      'warning card-without-entry processed_datasets/gone.card.md',
      'warning naming processed_datasets/tokenized-dataset',
      'error data-in-git processed_datasets/tokenized-dataset/part-0.parquet',
      // Sorted by code units, as git lists paths: capitals first.
      'error large-file raw_datasets/README.md',
      'error card-header raw_datasets/bad-header.card.md',
      'error pointer-invalid raw_datasets/broken.dvc',
      'warning data-not-tracked raw_datasets/loose',
      'error data-in-git raw_datasets/loose/file.txt',
      'error large-file raw_datasets/loose/file.txt',
      'error entry-without-card raw_datasets/no-card.card.md',
      'error card-field raw_datasets/no-license.card.md',
      'error card-without-entry raw_datasets/orphan.card.md',
    ]);
    expect(r.findings.find((f) => f.rule === 'secret-in-config')!.line).toBeGreaterThan(1);
    for (const f of r.findings) {
      expect(f.fix.length).toBeGreaterThan(5);
      expect(f.message.length).toBeGreaterThan(5);
    }
    expect(r.ok).toBe(false);
  });

  it('names file entries by their stem; add refuses up front what check rejects', async () => {
    writeTree(repo, {
      'raw_datasets/labels.csv': 'a,b\n',
      'raw_datasets/labels.csv.card.md': goodRaw('labels.csv'),
      'raw_datasets/Bad_Labels.csv': 'a,b\n',
      'raw_datasets/Bad_Labels.csv.card.md': goodRaw('Bad_Labels.csv'),
    });
    await add(ctx(), { targets: ['raw_datasets/labels.csv'] });
    await expect(add(ctx(), { targets: ['raw_datasets/Bad_Labels.csv'] })).rejects.toMatchObject({ code: 'add.naming', exitCode: 5 });
    expect(summary(await check(ctx()))).toEqual(['error naming raw_datasets/Bad_Labels.csv', 'warning data-not-tracked raw_datasets/Bad_Labels.csv']);
  });

  it('--staged reads cards from the index and flags cards not staged', async () => {
    await newEntry(ctx(), { target: 'raw_datasets/ocr-pages' });
    writeTree(repo, { 'raw_datasets/ocr-pages/p1.txt': 'page', 'raw_datasets/ocr-pages.card.md': goodRaw('ocr-pages') });
    await add(ctx(), { targets: ['raw_datasets/ocr-pages'] });
    git(repo, 'add', 'raw_datasets/ocr-pages.dvc', 'raw_datasets/.gitignore');
    expect(summary(await check(ctx(), { staged: true }))).toEqual(['error card-not-committed raw_datasets/ocr-pages.card.md']);
    // The staged card is what counts, not the fixed one on disk.
    writeFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), '# Card: wrong\n');
    git(repo, 'add', 'raw_datasets/ocr-pages.card.md');
    writeFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), goodRaw('ocr-pages'));
    expect(summary(await check(ctx(), { staged: true }))).toEqual([
      'error card-field raw_datasets/ocr-pages.card.md',
      'error card-field raw_datasets/ocr-pages.card.md',
      'error card-field raw_datasets/ocr-pages.card.md',
      'error card-header raw_datasets/ocr-pages.card.md',
    ]);
    expect((await check(ctx())).ok).toBe(true);
    git(repo, 'add', 'raw_datasets/ocr-pages.card.md');
    expect((await check(ctx(), { staged: true })).findings).toEqual([]);
  });

  it('remembers card checks by content: an edited card is checked again, same size and mtime included; a torn or forged memo is ignored', async () => {
    writeTree(repo, { 'raw_datasets/scans/p1.txt': 'page', 'raw_datasets/scans.card.md': goodRaw('scans') });
    await add(ctx(), { targets: ['raw_datasets/scans'] });
    const cardFile = join(repo, 'raw_datasets/scans.card.md');
    const memo = join(repo, '.reg/tmp/card-checks.json');
    expect((await check(ctx())).findings).toEqual([]);
    expect(existsSync(memo)).toBe(true);
    // The same number of bytes and the old mtime: only the content tells.
    const before = statSync(cardFile);
    writeFileSync(cardFile, goodRaw('scans').replace('license: CC-BY-4.0', 'licence: CC-BY-4.0'));
    utimesSync(cardFile, before.atime, before.mtime);
    expect(statSync(cardFile).size).toBe(before.size);
    expect(summary(await check(ctx()))).toEqual(['error card-field raw_datasets/scans.card.md']);
    writeFileSync(cardFile, goodRaw('scans'));
    expect((await check(ctx())).findings).toEqual([]);
    // A memo torn by a crash, or one whose results are not card problems, is not trusted.
    const stored = JSON.parse(readFileSync(memo, 'utf8')) as { v: number; results: Record<string, unknown> };
    const [key] = Object.keys(stored.results);
    writeFileSync(memo, JSON.stringify(stored).slice(0, 20));
    writeFileSync(cardFile, goodRaw('scans').replace('# Card: scans', '# Card: wrong'));
    expect(summary(await check(ctx()))).toEqual(['error card-header raw_datasets/scans.card.md']);
    writeFileSync(cardFile, goodRaw('scans'));
    writeFileSync(memo, JSON.stringify({ v: stored.v, results: { [key!]: [{ rule: 'card-header' }] } }));
    expect((await check(ctx())).findings).toEqual([]);
  });
});

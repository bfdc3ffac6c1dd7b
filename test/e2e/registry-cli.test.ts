import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

let repo: string;
beforeEach(() => {
  repo = makeGitRepo();
});
afterEach(() => removeDir(repo));

describe('registry CLI', () => {
  it('init writes the default layout, idempotently; --no-areas skips it', async () => {
    const first = await regOk(repo, ['init']);
    expect(first.stdout).toContain('created raw_datasets/template.card.md');
    expect(first.stdout).toContain('areas: champion_models (synced), experiments (local), processed_datasets (synced), raw_datasets (versioned), training_results (synced)');
    for (const area of ['raw_datasets', 'processed_datasets', 'champion_models', 'training_results', 'experiments']) {
      expect(existsSync(join(repo, area, 'template.card.md'))).toBe(true);
      expect(existsSync(join(repo, area, '.gitignore'))).toBe(true);
    }
    expect(readFileSync(join(repo, 'raw_datasets/template.card.md'), 'utf8')).toContain('# Card: {{name}}');
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toMatch(/^areas:\n  raw_datasets:\n    mode: versioned\n    required-fields: \[license, source, owner\]/m);
    const again = JSON.parse((await regOk(repo, ['init', '--json'])).stdout);
    expect(again).toMatchObject({ alreadyInitialized: true, created: [] });
    // synced-area data is ignored by git, cards are not
    writeTree(repo, { 'processed_datasets/tok/part.bin': 'x', 'processed_datasets/tok.card.md': '# Card: tok\n' });
    const untracked = git(repo, 'status', '--porcelain', '-uall');
    expect(untracked).toContain('processed_datasets/tok.card.md');
    expect(untracked).not.toContain('part.bin');

    const other = makeGitRepo();
    try {
      const r = JSON.parse((await regOk(other, ['init', '--no-areas', '--json'])).stdout);
      expect(r.areas).toEqual([]);
      expect(existsSync(join(other, 'raw_datasets'))).toBe(false);
      expect(readFileSync(join(other, '.reg/config.yaml'), 'utf8')).not.toContain('areas:');
      // a later plain init adds the layout to the existing config, keeping what is there
      writeFileSync(join(other, '.reg/config.yaml'), readFileSync(join(other, '.reg/config.yaml'), 'utf8') + '# my note\n');
      const later = JSON.parse((await regOk(other, ['init', '--json'])).stdout);
      expect(later.created).toContain('.reg/config.yaml (areas)');
      const text = readFileSync(join(other, '.reg/config.yaml'), 'utf8');
      expect(text).toContain('# my note\n');
      expect(text).toContain('areas:');
    } finally {
      removeDir(other);
    }
  });

  it('new + check: exit 5 with findings naming file, rule and fix; exit 0 once fixed', async () => {
    await regOk(repo, ['init']);
    const n = await regOk(repo, ['new', 'raw_datasets/ocr-pages']);
    expect(n.stdout).toBe('created raw_datasets/ocr-pages/ (versioned)\ncreated raw_datasets/ocr-pages.card.md\n');
    expect(readFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), 'utf8')).toContain('\n# Card: ocr-pages\n');
    const bad = await reg(repo, ['new', 'raw_datasets/OCR Pages']);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toContain('"OCR-Pages"');

    let c = await reg(repo, ['check']);
    expect(c.code).toBe(5);
    expect(c.stdout).toContain('error: raw_datasets/ocr-pages.card.md:');
    expect(c.stdout).toContain('[card-field]');
    expect(c.stdout).toContain('  fix: set "license: <value>"');
    const j = await reg(repo, ['check', '--json']);
    expect(j.code).toBe(5);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.findings.filter((f: { rule: string }) => f.rule === 'card-field').map((f: { message: string }) => f.message)).toEqual([
      'required field "license" is empty',
      'required field "source" is empty',
      'required field "owner" is empty',
    ]);

    const card = readFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), 'utf8')
      .replace(/^license:.*$/m, 'license: CC-BY-4.0')
      .replace(/^source:.*$/m, 'source: https://example.org/ocr')
      .replace(/^owner:.*$/m, 'owner: ana');
    writeFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), card);
    c = await reg(repo, ['check']);
    expect(c.code, c.stdout).toBe(0);
    expect(c.stdout).toContain('warning: raw_datasets/ocr-pages: raw_datasets/ocr-pages is not tracked yet');
  });

  it('sync push --dry-run, push, conflict exit 7, pull', async () => {
    const store = tempDir('reg-sync-cli-');
    const other = makeGitRepo();
    try {
      for (const r of [repo, other]) {
        await regOk(r, ['init']);
        await regOk(r, ['remote', 'add', 'team', store, '--default']);
      }
      writeTree(repo, { 'processed_datasets/tokenized/a.txt': 'alpha', 'processed_datasets/tokenized/b.txt': 'beta' });
      const dry = await regOk(repo, ['sync', 'push', 'processed_datasets/tokenized', '--dry-run']);
      expect(dry.stdout).toBe('processed_datasets/tokenized: would send 2 files (9 B), 0 unchanged\n  > a.txt\n  > b.txt\n');
      expect(existsSync(join(store, 'processed_datasets'))).toBe(false);
      expect((await regOk(repo, ['sync', 'push', 'processed_datasets/tokenized'])).stdout).toBe('processed_datasets/tokenized: sent 2 files (9 B), 0 unchanged\n');
      expect((await regOk(repo, ['sync', 'push'])).stdout).toBe('processed_datasets/tokenized: up to date (2 files)\n');
      expect((await regOk(other, ['sync', 'pull', 'processed_datasets'])).stdout).toBe('processed_datasets/tokenized: received 2 files (9 B), 0 unchanged\n');
      writeFileSync(join(other, 'processed_datasets/tokenized/a.txt'), 'other');
      await regOk(other, ['sync', 'push']);
      writeFileSync(join(repo, 'processed_datasets/tokenized/b.txt'), 'mine');
      const refused = await reg(repo, ['sync', 'push']);
      expect(refused.code).toBe(7);
      expect(refused.stderr).toContain('sync push refused, nothing was transferred');
      expect(refused.stderr).toContain('a.txt');
      expect(refused.stderr).toContain('hint: get the other copy first (reg sync pull processed_datasets/tokenized), or overwrite it with --force');
      expect(readFileSync(join(store, 'processed_datasets/tokenized/a.txt'), 'utf8')).toBe('other');
    } finally {
      removeDir(store);
      removeDir(other);
    }
  });
});

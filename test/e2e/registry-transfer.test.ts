import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

let repo: string;
let remote: string;

function fillCard(path: string): void {
  const text = readFileSync(path, 'utf8')
    .replace(/^license:.*$/m, 'license: CC-BY-4.0')
    .replace(/^source:.*$/m, 'source: https://example.org/ocr')
    .replace(/^owner:.*$/m, 'owner: data-team');
  writeFileSync(path, text);
}

beforeEach(async () => {
  repo = makeGitRepo();
  remote = tempDir('reg-remote-');
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', remote, '--default']);
  await regOk(repo, ['new', 'raw_datasets/ocr-pages']);
  writeTree(repo, { 'raw_datasets/ocr-pages/p1.png': 'page one', 'raw_datasets/ocr-pages/p2.png': 'page two' });
  await regOk(repo, ['add', 'raw_datasets/ocr-pages']);
  await regOk(repo, ['new', 'processed_datasets/tokenized']);
  writeTree(repo, { 'processed_datasets/tokenized/shard-0.bin': 'tokens 0', 'processed_datasets/tokenized/shard-1.bin': 'tokens 1' });
});
afterEach(() => {
  removeDir(repo);
  removeDir(remote);
});

describe('reg push / reg pull with no targets: the whole registry', () => {
  it('lints first and refuses on errors (exit 5, nothing sent); --no-check pushes anyway', async () => {
    const refused = await reg(repo, ['push']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('raw_datasets/ocr-pages.card.md: required field "license" is empty');
    expect(refused.stderr).toContain('nothing was pushed');
    const status = JSON.parse((await regOk(repo, ['--json', 'status', '--remote', 'raw_datasets/ocr-pages'])).stdout);
    expect(status.remote.outputs[0]).toMatchObject({ state: 'not-pushed', missingObjects: 3 });
    const forced = await regOk(repo, ['--json', 'push', '--no-check']);
    const doc = JSON.parse(forced.stdout);
    expect(doc.pushed).toBe(3);
    expect(doc.sync.transferred).toBe(2);
  });

  it('pushes versioned objects and synced areas; a fresh clone pulls both back', async () => {
    fillCard(join(repo, 'raw_datasets/ocr-pages.card.md'));
    const pushed = await regOk(repo, ['push']);
    expect(pushed.stdout).toContain('pushed 3 objects');
    expect(pushed.stdout).toContain('synced areas: sent 2 files');
    expect(readFileSync(join(remote, 'processed_datasets/tokenized/shard-1.bin'), 'utf8')).toBe('tokens 1');
    const st = await regOk(repo, ['status', '--remote']);
    expect(st.stdout).toContain('raw_datasets/ocr-pages: up to date; pushed to store');
    expect(st.stdout).toMatch(/tokenized +card ok +up to date/);
    const again = await regOk(repo, ['push']);
    expect(again.stdout).toContain('everything is up to date');

    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'registry');
    const clone = tempDir('reg-clone-');
    try {
      git(clone, 'clone', '-q', repo, 'c');
      const c = join(clone, 'c');
      const pulled = await regOk(c, ['pull']);
      expect(pulled.stdout).toContain('restored raw_datasets/ocr-pages');
      expect(pulled.stdout).toContain('synced areas: received 2 files');
      expect(readFileSync(join(c, 'raw_datasets/ocr-pages/p2.png'), 'utf8')).toBe('page two');
      expect(readFileSync(join(c, 'processed_datasets/tokenized/shard-0.bin'), 'utf8')).toBe('tokens 0');
    } finally {
      removeDir(clone);
    }
  });
});

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRegistry, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/** DVC 3 allows several outputs in one .dvc file: each is an output of its own for every command. */
let repo: string;
let remote: string;

beforeEach(async () => {
  remote = tempDir('reg-multi-remote-');
  repo = await makeRegistry(async (r) => {
    await regOk(r, ['remote', 'add', 'store', remote, '--default']);
    writeTree(r, { 'raw_datasets/one.txt': 'one', 'raw_datasets/two/a.txt': 'a', 'raw_datasets/two/b/c.txt': 'c' });
    await regOk(r, ['add', 'raw_datasets/one.txt', 'raw_datasets/two']);
    // Merge the two pointers into one file with two outputs, as `dvc add one.txt two` in a DVC
    // pipeline stage file would describe them.
    const outs = ['one.txt', 'two'].map((n) => readFileSync(join(r, `raw_datasets/${n}.dvc`), 'utf8').replace(/^outs:\n/, ''));
    writeFileSync(join(r, 'raw_datasets/both.dvc'), `outs:\n${outs.join('')}`);
    rmSync(join(r, 'raw_datasets/one.txt.dvc'));
    rmSync(join(r, 'raw_datasets/two.dvc'));
  }, 'two outputs, one pointer');
});
afterEach(() => {
  removeDir(repo);
  removeDir(remote);
});

describe('a .dvc file with several outputs', () => {
  it('status, checkout, push, fetch and pull work per output', async () => {
    const st = JSON.parse((await regOk(repo, ['--json', 'status'])).stdout);
    expect(st.outputs.map((o: { path: string; pointer: string; state: string }) => [o.path, o.pointer, o.state])).toEqual([
      ['raw_datasets/one.txt', 'raw_datasets/both.dvc', 'up-to-date'],
      ['raw_datasets/two', 'raw_datasets/both.dvc', 'up-to-date'],
    ]);

    rmSync(join(repo, 'raw_datasets/one.txt'));
    rmSync(join(repo, 'raw_datasets/two'), { recursive: true });
    // A data path selects its own output only.
    await regOk(repo, ['checkout', 'raw_datasets/two']);
    expect(readFileSync(join(repo, 'raw_datasets/two/b/c.txt'), 'utf8')).toBe('c');
    expect(existsSync(join(repo, 'raw_datasets/one.txt'))).toBe(false);
    // The pointer file selects both.
    await regOk(repo, ['checkout', 'raw_datasets/both.dvc']);
    expect(readFileSync(join(repo, 'raw_datasets/one.txt'), 'utf8')).toBe('one');

    const pushed = JSON.parse((await regOk(repo, ['--json', 'push', 'raw_datasets/both.dvc'])).stdout);
    expect(pushed.outputs).toHaveLength(2);
    rmSync(join(repo, '.reg/cache'), { recursive: true });
    rmSync(join(repo, 'raw_datasets/one.txt'));
    rmSync(join(repo, 'raw_datasets/two'), { recursive: true });
    const fetched = JSON.parse((await regOk(repo, ['--json', 'fetch', 'raw_datasets/one.txt'])).stdout);
    expect(fetched.outputs.map((o: { path: string }) => o.path)).toEqual(['raw_datasets/one.txt']);
    await regOk(repo, ['pull']);
    expect(readFileSync(join(repo, 'raw_datasets/one.txt'), 'utf8')).toBe('one');
    expect(readFileSync(join(repo, 'raw_datasets/two/a.txt'), 'utf8')).toBe('a');
    expect((await regOk(repo, ['status'])).stdout).toContain('raw_datasets/two: up to date');
  });

  it('reg add of one of its outputs refuses to write a second pointer for it', async () => {
    writeFileSync(join(repo, 'raw_datasets/one.txt'), 'one, changed');
    const r = await reg(repo, ['--json', 'add', 'raw_datasets/one.txt']);
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([2, 'add.tracked-elsewhere']);
    expect(r.stderr).toContain('raw_datasets/both.dvc');
    expect(existsSync(join(repo, 'raw_datasets/one.txt.dvc'))).toBe(false);
  });
});

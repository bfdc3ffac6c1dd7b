import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRegistry, reg, regOk, removeDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * A symlink to a file inside a dataset counts with its target's content (as in DVC), so a link a
 * teammate committed (`git add -f raw_datasets/x/k`, pointing at `~/.ssh/id_rsa`) would have the
 * victim's `reg add` + `reg push` upload that file without a word. reg keeps DVC's behaviour but
 * names every link that leads outside the repository, with its target, when it adds the content;
 * links that stay inside are not named. Nothing outside is written (sentinel and .git unchanged).
 */
let repo: string;
let sentinel: string;

beforeEach(async () => {
  repo = await makeRegistry();
  sentinel = makeSentinel();
});
afterEach(() => {
  removeDir(repo);
  removeDir(sentinel);
});

describe('reg add of a dataset holding links to files', () => {
  it('names each link that leads outside the repository, with its target; links inside are not named', async () => {
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a\n', 'raw_datasets/shared.txt': 'shared\n' });
    symlinkSync(join(sentinel, '.ssh/authorized_keys'), join(repo, 'raw_datasets/x/k'));
    mkdirSync(join(repo, 'raw_datasets/x/sub'));
    symlinkSync('../../shared.txt', join(repo, 'raw_datasets/x/sub/inside'));
    const outside = snapshotTree(sentinel);
    const dotGit = snapshotTree(join(repo, '.git'));
    const r = await reg(repo, ['--json', 'add', 'raw_datasets/x']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { warnings: string[]; outputs: Array<{ nfiles: number }> };
    expect(result.outputs[0]!.nfiles).toBe(3);
    const named = result.warnings.filter((w) => w.includes('symbolic link'));
    expect(named).toHaveLength(1);
    expect(named[0]).toContain('raw_datasets/x/k is a symbolic link to');
    expect(named[0]).toContain(join(sentinel, '.ssh/authorized_keys'));
    expect(named[0]).toContain('reg push will upload it');
    expect(snapshotTree(sentinel)).toEqual(outside);
    expect(snapshotTree(join(repo, '.git'))).toEqual(dotGit);
    // Human output says it on stderr, never on stdout.
    const human = await reg(repo, ['add', 'raw_datasets/x']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toContain('raw_datasets/x/k is a symbolic link to');
    expect(human.stdout).not.toContain('symbolic link');
  });

  it('an output that is itself a link to a file outside is named too', async () => {
    symlinkSync(join(sentinel, 'docs/notes.txt'), join(repo, 'raw_datasets/notes.txt'));
    const r = await reg(repo, ['--json', 'add', 'raw_datasets/notes.txt']);
    expect(r.code, r.stderr).toBe(0);
    const { warnings } = JSON.parse(r.stdout) as { warnings: string[] };
    expect(warnings.some((w) => w.startsWith('raw_datasets/notes.txt is a symbolic link to') && w.includes(join(sentinel, 'docs/notes.txt')))).toBe(true);
  });
});

describe('a loop of links inside a dataset (a commit can force-add one)', () => {
  it('reg add and reg status name the link (exit 2 add.symlink-loop), not an internal error; nothing written', async () => {
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a\n' });
    symlinkSync('loop', join(repo, 'raw_datasets/x/loop'));
    const outside = snapshotTree(sentinel);
    const add = await reg(repo, ['--json', 'add', 'raw_datasets/x']);
    expect(add.code, add.stderr).toBe(2);
    expect(JSON.parse(add.stdout).error.code).toBe('add.symlink-loop');
    expect(add.stderr).toContain('raw_datasets/x/loop is a symlink that leads back to itself');
    expect(existsSync(join(repo, 'raw_datasets/x.dvc'))).toBe(false);
    // Added before the loop appeared: status names it the same way.
    rmSync(join(repo, 'raw_datasets/x/loop'));
    await regOk(repo, ['add', 'raw_datasets/x']);
    symlinkSync('b', join(repo, 'raw_datasets/x/c'));
    symlinkSync('c', join(repo, 'raw_datasets/x/b'));
    const status = await reg(repo, ['--json', 'status', 'raw_datasets/x']);
    expect(status.stderr).not.toContain('internal error');
    expect(status.code, status.stderr).toBe(2);
    expect(snapshotTree(sentinel)).toEqual(outside);
  });
});


describe('a link to a kernel file inside a dataset (a commit can force-add one)', () => {
  it('reg add and reg status refuse /proc/self/pagemap by name (exit 2 add.kernel-file): no cache temp file, nothing written', async () => {
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a\n' });
    symlinkSync('/proc/self/pagemap', join(repo, 'raw_datasets/x/pm'));
    const outside = snapshotTree(sentinel);
    const dotGit = snapshotTree(join(repo, '.git'));
    const add = await reg(repo, ['--json', 'add', 'raw_datasets/x'], { timeoutMs: 60_000 });
    expect(add.code, add.stderr).toBe(2);
    expect(JSON.parse(add.stdout).error.code).toBe('add.kernel-file');
    expect(add.stderr).toMatch(/raw_datasets\/x\/pm is a symlink to \/proc\/\d+\/pagemap, a file the kernel makes up/);
    expect(existsSync(join(repo, 'raw_datasets/x.dvc'))).toBe(false);
    expect(tempFilesUnder(join(repo, '.reg'))).toEqual([]);
    // Added before the link appeared: status refuses it the same way instead of hashing without end.
    rmSync(join(repo, 'raw_datasets/x/pm'));
    await regOk(repo, ['add', 'raw_datasets/x']);
    symlinkSync('/proc/self/status', join(repo, 'raw_datasets/x/st'));
    symlinkSync('/proc/self/pagemap', join(repo, 'raw_datasets/x/pm'));
    const status = await reg(repo, ['--json', 'status', 'raw_datasets/x'], { timeoutMs: 60_000 });
    expect(status.code, status.stderr).toBe(2);
    expect(JSON.parse(status.stdout).error.code).toBe('add.kernel-file');
    expect(snapshotTree(sentinel)).toEqual(outside);
    expect(snapshotTree(join(repo, '.git'))).toEqual(dotGit);
  });

  it('an output that is itself such a link: reg add refuses it the same way, nothing written', async () => {
    symlinkSync('/proc/self/pagemap', join(repo, 'raw_datasets/pm.bin'));
    const outside = snapshotTree(sentinel);
    const dotGit = snapshotTree(join(repo, '.git'));
    const add = await reg(repo, ['--json', 'add', 'raw_datasets/pm.bin'], { timeoutMs: 60_000 });
    expect(add.code, add.stderr).toBe(2);
    expect(JSON.parse(add.stdout).error.code).toBe('add.kernel-file');
    expect(add.stderr).toMatch(/raw_datasets\/pm\.bin is a symlink to \/proc\/\d+\/pagemap/);
    expect(existsSync(join(repo, 'raw_datasets/pm.bin.dvc'))).toBe(false);
    expect(tempFilesUnder(join(repo, '.reg'))).toEqual([]);
    expect(snapshotTree(sentinel)).toEqual(outside);
    expect(snapshotTree(join(repo, '.git'))).toEqual(dotGit);
  });
});

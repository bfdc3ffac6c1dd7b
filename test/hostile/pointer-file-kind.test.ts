import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeRegistry, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * What stands where a committed pointer file was: nothing (deleted, not yet committed), a
 * directory, or a symlink (a hostile commit's `x.dvc -> <a file outside the repository>`, here a
 * valid pointer so that following it would be silently trusted). The real CLI, spawned: no
 * command ends in "internal error"; a deleted pointer has no outputs (as git status shows it
 * deleted) and `reg add` writes it again; a directory or symlink is refused with exit 3 naming the
 * file and the fix, is never read through (gc skips it and keeps what history names), and the
 * sentinel tree outside and `.git` stay byte-identical.
 */
const ENTRY = 'raw_datasets/x';
const POINTER = `${ENTRY}.dvc`;

let repo: string;
let sentinel: string;

beforeEach(async () => {
  repo = await makeRegistry(async (r) => {
    writeTree(r, { [`${ENTRY}/a.txt`]: 'a\n', [`${ENTRY}/b/c.txt`]: 'c\n' });
    await regOk(r, ['add', ENTRY]);
  }, 'x');
  sentinel = makeSentinel();
});
afterEach(() => {
  removeDir(repo);
  removeDir(sentinel);
});

describe('a committed pointer file replaced in the work tree', () => {
  it('deleted: status, checkout and gc see no output; add writes the pointer again', async () => {
    const pointerText = readFileSync(join(repo, POINTER), 'utf8');
    rmSync(join(repo, POINTER));
    for (const args of [['status'], ['status', '--json'], ['checkout'], ['gc']]) {
      const r = await reg(repo, args);
      expect(r.stderr, args.join(' ')).not.toContain('internal error');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect(JSON.parse((await regOk(repo, ['status', '--json'])).stdout).outputs ?? []).toEqual([]);
    await regOk(repo, ['add', ENTRY]);
    expect(readFileSync(join(repo, POINTER), 'utf8')).toBe(pointerText);
  });

  it("deleted: history's work-tree reads (ls, diff, get, log) see no work-tree version of it; other entries are unaffected", async () => {
    writeTree(repo, { 'raw_datasets/y/k.txt': 'kept\n' });
    await regOk(repo, ['add', 'raw_datasets/y']);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'y');
    rmSync(join(repo, POINTER));
    const ls = JSON.parse((await regOk(repo, ['--json', 'ls', 'raw_datasets'])).stdout);
    expect(ls.entries.map((e: { path: string }) => e.path)).toEqual(['y']);
    expect(ls.errors).toEqual([]);
    // As git status shows it: deleted in the workspace, compared with HEAD.
    expect((await regOk(repo, ['diff', 'HEAD'])).stdout).toContain(`${ENTRY}: deleted`);
    const out = tempDir('reg-pointer-kind-get-');
    const get = await reg(repo, ['get', ENTRY, '-o', join(out, 'x')]);
    expect(get.stderr).not.toContain('internal error');
    expect(get.code, get.stderr).toBe(2);
    expect(get.stderr).toContain(`${ENTRY} is not tracked by reg at the workspace`);
    await regOk(repo, ['get', 'raw_datasets/y', '-o', join(out, 'y')]);
    expect(readFileSync(join(out, 'y/k.txt'), 'utf8')).toBe('kept\n');
    removeDir(out);
    expect((await regOk(repo, ['log', ENTRY])).stdout).toContain('HEAD');
  });

  it('a work-tree pointer that does not parse: gc still keeps the object written in it (read once, never re-read)', async () => {
    writeTree(repo, { 'raw_datasets/z.txt': 'only named by a broken work-tree pointer\n' });
    await regOk(repo, ['add', 'raw_datasets/z.txt']);
    writeFileSync(join(repo, 'raw_datasets/z.txt.dvc'), readFileSync(join(repo, 'raw_datasets/z.txt.dvc'), 'utf8') + 'outs: [\n');
    const gc = JSON.parse((await regOk(repo, ['gc', '--json', '--grace', '0'])).stdout);
    expect(gc.count).toBe(0);
    // Without the pointer, nothing names it: the same gc would delete it.
    rmSync(join(repo, 'raw_datasets/z.txt.dvc'));
    expect(JSON.parse((await regOk(repo, ['gc', '--json', '--grace', '0'])).stdout).count).toBe(1);
  });

  for (const kind of ['directory', 'symlink'] as const) {
    it(`a ${kind}: every command that reads pointers exits 3 naming the file and the fix, never reading through it`, async () => {
      const pointerText = readFileSync(join(repo, POINTER), 'utf8');
      rmSync(join(repo, POINTER));
      if (kind === 'directory') mkdirSync(join(repo, POINTER));
      else {
        // A valid pointer outside the repository: read through the link, it would be trusted.
        writeFileSync(join(sentinel, 'x.dvc'), pointerText.replace(/md5: [0-9a-f]{32}/, `md5: ${'0'.repeat(32)}`));
        symlinkSync(join(sentinel, 'x.dvc'), join(repo, POINTER));
      }
      const sentinelBefore = snapshotTree(sentinel);
      const gitBefore = snapshotTree(join(repo, '.git'));
      const what = kind === 'directory' ? 'is not a regular file' : 'is a symbolic link';
      // restore reads the work tree's pointer to compare it with the revision's: through the same reader.
      for (const args of [['status'], ['status', ENTRY], ['checkout'], ['add', ENTRY], ['restore', ENTRY, '--rev', 'HEAD']]) {
        const r = await reg(repo, args);
        expect(r.stderr, args.join(' ')).not.toContain('internal error');
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toContain(`${POINTER} ${what}`);
        expect(r.stderr).toContain(`git checkout -- ${POINTER}`);
      }
      // gc does not read it either, and keeps the objects the committed pointer names (from history).
      const gc = await regOk(repo, ['gc', '--json']);
      expect(JSON.parse(gc.stdout).count).toBe(0);
      expect(JSON.parse(gc.stdout).kept.referenced).toBeGreaterThan(0);
      expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
      expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
      // The fix the message names works.
      rmSync(join(repo, POINTER), { recursive: true });
      git(repo, 'checkout', '--', POINTER);
      expect((await regOk(repo, ['status', ENTRY])).stdout).toBe(`${ENTRY}: up to date\n`);
    });
  }
});

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { FOLLOW_HASH_MIN_BYTES } from '../../dist/store/follow-hash.js';
import { errorOf, expectDiskFull, fillTo, isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { guardSentinelTree, keepingGit } from '../hostile/tree.js';

/**
 * A full disk (a small tmpfs) during add and pull: exit 1 naming ENOSPC and the path, and no
 * half-written temp file left behind; and under push to a directory remote on it: exit 4 naming
 * the remote, no temp file, no manifest before its files. Mounting needs root: the tests skip, saying so, otherwise.
 */
// A full disk never makes reg write elsewhere: a sentinel tree outside is byte-identical after every test,
// and each command's .git after it (keepingGit; not around init and the tests' own git commands).
guardSentinelTree();
let tmpfs: Tmpfs | undefined;
let mountPoint = '';

beforeAll(() => {
  if (!isRoot) {
    console.warn('disk-full tests skipped: they mount a tmpfs, which needs root');
    return;
  }
  tmpfs = mountTmpfs('6m');
  mountPoint = tmpfs.dir;
});
afterAll(() => tmpfs?.unmount());

describe.skipIf(!isRoot)('disk full (tmpfs of 6 MiB)', () => {
  it('reg add of a file bigger than the free space: exit 1, ENOSPC and the cache path named, no temp file', async () => {
    const repo = join(mountPoint, 'add');
    mkdirSync(repo);
    try {
      git(repo, 'init', '-q', '-b', 'main');
      await regOk(repo, ['init']);
      writeFileSync(join(repo, 'big.bin'), randomBytes(4 << 20)); // fits once, not twice (workspace + cache)
      const r = await keepingGit(repo, () => reg(repo, ['add', 'big.bin', '--json']));
      expect(r.code, r.stderr).toBe(1);
      const e = errorOf(r.stdout);
      expect(e.code).toBe('disk.no-space');
      expect(e.message).toContain('ENOSPC');
      expect(e.message).toContain(join(repo, '.reg', 'cache'));
      expect(e.hint).toMatch(/free some space/);
      expect(r.stderr).not.toContain('internal error');
      expect(tempFilesUnder(repo)).toEqual([]);
    } finally {
      removeDir(repo);
    }
  }, 60_000);

  /**
   * A registry outside the tmpfs pushes one file of `bytes` to a directory remote; a clone of it
   * inside the tmpfs pulls it. Returns the pull's error and the clone.
   */
  async function pullIntoTmpfs(name: string, file: string, bytes: number, at = mountPoint): Promise<{ r: Awaited<ReturnType<typeof reg>>; e: ReturnType<typeof errorOf>; clone: string; cleanup: () => void }> {
    const a = makeGitRepo();
    const remote = tempDir('reg-full-remote-');
    const clone = join(at, name);
    const cleanup = () => [a, remote, clone].forEach(removeDir);
    try {
      await regOk(a, ['init']);
      writeFileSync(join(a, file), randomBytes(bytes));
      await regOk(a, ['add', file]);
      await regOk(a, ['remote', 'add', 'nas', remote, '--default']);
      await regOk(a, ['push']);
      git(a, 'add', '-A');
      git(a, 'commit', '-qm', 'data');
      git(at, 'clone', '-q', a, name);
      const r = await keepingGit(clone, () => reg(clone, ['pull', '--json']));
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toContain('internal error');
      const e = errorOf(r.stdout);
      expect(e.code).toBe('disk.no-space');
      expect(e.message).toContain('ENOSPC');
      return { r, e, clone, cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  it('reg pull whose objects fit in the cache but not again in the workspace: exit 1 naming the workspace file', async () => {
    const { e, clone, cleanup } = await pullIntoTmpfs('checkout', 'model.bin', 4 << 20);
    try {
      expect(e.message).toContain(join(clone, 'model.bin'));
      expect(tempFilesUnder(clone)).toEqual([]);
    } finally {
      cleanup();
    }
  }, 60_000);

  it('reg push to a directory remote on the full disk: exit 4 remote.no-space naming the remote and the fix, no temp file, every object whole, no manifest; the re-run completes once there is space', async () => {
    const repo = makeGitRepo();
    const remote = join(mountPoint, 'push-remote');
    try {
      await regOk(repo, ['init']);
      writeFileSync(join(repo, 'big.bin'), randomBytes(8 << 20));
      writeTree(repo, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`dir/f${i}.txt`, `f${i}\n`])));
      await regOk(repo, ['add', 'big.bin', 'dir']);
      await regOk(repo, ['remote', 'add', 'nas', remote, '--default']);
      expectDiskFull(await keepingGit(repo, () => reg(repo, ['push', '--json'])), 'remote', remote);
      expect(tempFilesUnder(remote)).toEqual([]);
      expect(tempFilesUnder(repo)).toEqual([]);
      const objects = filesUnder(join(remote, 'files', 'md5'));
      expect(objects.filter((f) => f.endsWith('.dir'))).toEqual([]);
      for (const f of objects) expect(createHash('md5').update(readFileSync(join(remote, 'files', 'md5', f))).digest('hex')).toBe(f.replace('/', ''));

      execFileSync('mount', ['-o', 'remount,size=32m', mountPoint]);
      await keepingGit(repo, () => regOk(repo, ['push']));
      expect(filesUnder(join(remote, 'files', 'md5'))).toHaveLength(22);
    } finally {
      removeDir(repo);
      removeDir(remote);
      execFileSync('mount', ['-o', 'remount,size=6m', mountPoint]);
    }
  }, 60_000);

  it('reg pull of more than fits: exit 1, ENOSPC named with the path, no temp file in cache or workspace', async () => {
    const { e, clone, cleanup } = await pullIntoTmpfs('pull', 'big.bin', 8 << 20);
    try {
      expect(e.message).toContain(join(clone, '.reg', 'cache'));
      expect(tempFilesUnder(clone)).toEqual([]);
    } finally {
      cleanup();
    }
  }, 60_000);

  describe('an object big enough to be hashed on a worker with its work-tree copy written during the download (FOLLOW_HASH_MIN_BYTES)', () => {
    const BIG = FOLLOW_HASH_MIN_BYTES + 4096;
    let big: Tmpfs | undefined;
    beforeAll(() => {
      big = mountTmpfs('40m');
    });
    afterAll(() => big?.unmount());

    it('onto a disk with less free space than the object: exit 1 naming ENOSPC and the cache path, no temp file (nor early copy), nothing checked out', async () => {
      const { e, clone, cleanup } = await pullIntoTmpfs('big-pull', 'big.bin', BIG, big!.dir);
      try {
        expect(e.message).toContain(join(clone, '.reg', 'cache'));
        expect(existsSync(join(clone, 'big.bin'))).toBe(false);
        expect(tempFilesUnder(clone)).toEqual([]);
      } finally {
        cleanup();
      }
    }, 180_000);

    it('room for the object once but not twice: the early copy fails and only it is dropped; the object enters the cache verified, the checkout copies it the ordinary way (ENOSPC naming the work-tree file), and with space again `reg checkout` restores it', async () => {
      execFileSync('mount', ['-o', 'remount,size=100m', big!.dir]);
      const { e, clone, cleanup } = await pullIntoTmpfs('big-copy', 'big.bin', BIG, big!.dir);
      try {
        // The download did not fail on the copy's account: the checkout's own copy ran out of space.
        expect(e.message).toContain(join(clone, 'big.bin'));
        expect(tempFilesUnder(clone)).toEqual([]);
        const objects = filesUnder(join(clone, '.reg', 'cache', 'files', 'md5'));
        expect(objects).toHaveLength(1);
        const object = join(clone, '.reg', 'cache', 'files', 'md5', objects[0]!);
        expect(statSync(object).mode & 0o777).toBe(0o444);
        const bytes = readFileSync(object);
        expect(bytes.length).toBe(BIG);
        expect(createHash('md5').update(bytes).digest('hex')).toBe(objects[0]!.replace('/', ''));

        execFileSync('mount', ['-o', 'remount,size=200m', big!.dir]);
        await keepingGit(clone, () => regOk(clone, ['checkout']));
        expect(readFileSync(join(clone, 'big.bin')).equals(bytes)).toBe(true);
        expect(tempFilesUnder(clone)).toEqual([]);
      } finally {
        cleanup();
        execFileSync('mount', ['-o', 'remount,size=40m', big!.dir]);
      }
    }, 180_000);
  });

  it('reg status on a full disk still answers: the stat cache it cannot save is a warning naming ENOSPC, nothing half-written; with space again it is saved', async () => {
    const repo = join(mountPoint, 'status');
    mkdirSync(repo);
    let unfill = () => {};
    try {
      git(repo, 'init', '-q', '-b', 'main');
      await regOk(repo, ['init']);
      writeTree(join(repo, 'raw_datasets', 'd'), Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}.txt`, `row ${i}\n`])));
      await regOk(repo, ['add', 'raw_datasets/d']);
      // Every file touched, bytes unchanged: status hashes them again and has new rows to save.
      const later = new Date(Date.now() + 5_000);
      for (const f of filesUnder(join(repo, 'raw_datasets', 'd'))) utimesSync(join(repo, 'raw_datasets', 'd', f), later, later);
      unfill = fillTo(repo, 0);
      const r = await keepingGit(repo, () => reg(repo, ['status', '--json']));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).toMatch(/stat cache was not saved \(ENOSPC/);
      expect(r.stderr).toMatch(/free some space/);
      expect(JSON.stringify(JSON.parse(r.stdout))).toContain('raw_datasets/d');
      expect(tempFilesUnder(repo)).toEqual([]);
      unfill();
      unfill = () => {};
      const again = await keepingGit(repo, () => reg(repo, ['status', '--json']));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/not saved/);
      expect(again.stdout).toBe(r.stdout);
      expect(tempFilesUnder(repo)).toEqual([]);
    } finally {
      unfill();
      removeDir(repo);
    }
  }, 60_000);
});

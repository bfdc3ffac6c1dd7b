import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from './repo.js';
import { git, regOk, removeDir, tempDir } from './repo.js';

/**
 * A small tmpfs for disk-full tests: a real filesystem that runs out of space. Mounting needs
 * root; `isRoot` false means the caller skips its tests and says why.
 */
export const isRoot = process.getuid?.() === 0;

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `size` on a new temp directory, or on the existing empty directory `at` (left in place, empty, by unmount). */
export function mountTmpfs(size: string, at?: string): Tmpfs {
  const dir = at ?? tempDir('reg-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return {
    dir,
    unmount() {
      execFileSync('umount', [dir]);
      if (at === undefined) rmdirSync(dir);
    },
  };
}

/**
 * A registry (`git init`, `reg init`) at `<tmpfs>/repo` on a fresh tmpfs of `size`, its cache
 * directory on the big disk (config.local.yaml): only the work tree, `.git` and reg's state fill
 * the small one. `fill(free)` leaves about `free` bytes of it (fillTo); `cleanup()` removes the
 * filler, unmounts and removes the cache.
 */
export async function registryOnSmallDisk(size: string): Promise<{ repo: string; fill(free: number): void; unfill(): void; cleanup(): void }> {
  const disk = mountTmpfs(size);
  const cacheDir = tempDir('reg-cache-');
  let unfill = () => {};
  const cleanup = () => {
    unfill();
    disk.unmount();
    removeDir(cacheDir);
  };
  try {
    const repo = join(disk.dir, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    await regOk(repo, ['init']);
    writeFileSync(join(repo, '.reg', 'config.local.yaml'), `cache:\n  dir: ${JSON.stringify(cacheDir)}\n`);
    return {
      repo,
      fill: (free) => {
        unfill();
        unfill = fillTo(repo, free);
      },
      unfill: () => {
        unfill();
        unfill = () => {};
      },
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Leaves about `free` bytes free on the filesystem holding `dir` (a filler file in it); returns a function removing the filler. */
export function fillTo(dir: string, free: number): () => void {
  const st = statfsSync(dir);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - free)));
  return () => rmSync(filler, { force: true });
}

/** The `error` of a `--json` document. */
export function errorOf(stdout: string): { code: string; message: string; hint?: string } {
  return (JSON.parse(stdout) as { error: { code: string; message: string; hint?: string } }).error;
}

/**
 * A `--json` run that failed on a full disk: `local` is exit 1 `disk.no-space` naming ENOSPC and
 * `path`; `remote` (a directory remote on it) exit 4 `remote.no-space` naming the remote's
 * directory `path`; each with its fix.
 */
export function expectDiskFull(r: CliResult, side: 'local' | 'remote', path: string): void {
  expect(r.code, r.stderr).toBe(side === 'local' ? 1 : 4);
  expect(r.stderr).not.toMatch(/internal error/i);
  const e = errorOf(r.stdout);
  expect(e.code, e.message).toBe(side === 'local' ? 'disk.no-space' : 'remote.no-space');
  expect(e.message).toContain('ENOSPC');
  expect(e.message).toContain(path);
  expect(e.hint).toContain(side === 'local' ? 'free some space' : `free space on the disk holding ${path}`);
}

import { execFileSync } from 'node:child_process';
import { rmdirSync } from 'node:fs';
import { tempDir } from './repo.js';

/**
 * A small tmpfs for disk-full tests: a real filesystem that runs out of space. Mounting needs
 * root; `isRoot` false means the caller skips its tests and says why.
 */
export const isRoot = process.getuid?.() === 0;

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

export function mountTmpfs(size: string): Tmpfs {
  const dir = tempDir('reg-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return {
    dir,
    unmount() {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    },
  };
}

/** The `error` of a `--json` document. */
export function errorOf(stdout: string): { code: string; message: string; hint?: string } {
  return (JSON.parse(stdout) as { error: { code: string; message: string; hint?: string } }).error;
}

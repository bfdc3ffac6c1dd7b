import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, for every directory reg creates. Node's own `{ recursive: true }` (sync and async,
 * Node 20) loops forever, at full CPU, when mkdir of a child of an existing directory fails with
 * ENOENT, as it does in /proc and /sys: a cache, remote or output directory pointed there hung
 * the command. Here each missing parent is made once, from the top, and any failure is thrown.
 * Existing directories are fine; an existing non-directory throws EEXIST (as `recursive` does).
 */
export function makeDirsSync(path: string, mode?: number): void {
  try {
    mkdirSync(path, mode === undefined ? undefined : { mode });
    return;
  } catch (err) {
    const next = afterMkdirError(err, path);
    if (next === 'exists' && isDirectorySync(path)) return;
    if (next !== 'make-parent') throw err;
  }
  makeDirsSync(dirname(path), mode);
  try {
    mkdirSync(path, mode === undefined ? undefined : { mode });
  } catch (err) {
    // Made meanwhile by another process (or thread): fine. Anything else, ENOENT again included, is thrown.
    if (afterMkdirError(err, path) !== 'exists' || !isDirectorySync(path)) throw err;
  }
}

/** makeDirsSync without blocking the event loop. */
export async function makeDirs(path: string, mode?: number): Promise<void> {
  try {
    await mkdir(path, mode === undefined ? undefined : { mode });
    return;
  } catch (err) {
    const next = afterMkdirError(err, path);
    if (next === 'exists' && (await isDirectory(path))) return;
    if (next !== 'make-parent') throw err;
  }
  await makeDirs(dirname(path), mode);
  try {
    await mkdir(path, mode === undefined ? undefined : { mode });
  } catch (err) {
    if (afterMkdirError(err, path) !== 'exists' || !(await isDirectory(path))) throw err;
  }
}

/**
 * What to do after mkdir of `path` failed with `err`: 'exists' (fine when what is there is a
 * directory), 'make-parent' (ENOENT with a parent to make: the filesystem root has none, its
 * ENOENT is final), or 'throw'. Once the parent is made, only 'exists' is fine.
 */
function afterMkdirError(err: unknown, path: string): 'exists' | 'make-parent' | 'throw' {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EEXIST') return 'exists';
  return code === 'ENOENT' && dirname(path) !== path ? 'make-parent' : 'throw';
}

function isDirectorySync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

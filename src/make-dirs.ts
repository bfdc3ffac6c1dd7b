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
    if (existingDirectory(err, () => statSync(path).isDirectory())) return;
    if (!missingParent(err, path)) throw err;
  }
  makeDirsSync(dirname(path), mode);
  try {
    mkdirSync(path, mode === undefined ? undefined : { mode });
  } catch (err) {
    // Made meanwhile by another process (or thread): fine.
    if (!existingDirectory(err, () => statSync(path).isDirectory())) throw err;
  }
}

/** makeDirsSync without blocking the event loop. */
export async function makeDirs(path: string, mode?: number): Promise<void> {
  try {
    await mkdir(path, mode === undefined ? undefined : { mode });
    return;
  } catch (err) {
    if (await existingDirectoryAsync(err, path)) return;
    if (!missingParent(err, path)) throw err;
  }
  await makeDirs(dirname(path), mode);
  try {
    await mkdir(path, mode === undefined ? undefined : { mode });
  } catch (err) {
    if (!(await existingDirectoryAsync(err, path))) throw err;
  }
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOENT with a parent to make (the filesystem root has none: its ENOENT is final). */
function missingParent(err: unknown, path: string): boolean {
  return codeOf(err) === 'ENOENT' && dirname(path) !== path;
}

function existingDirectory(err: unknown, isDirectory: () => boolean): boolean {
  if (codeOf(err) !== 'EEXIST') return false;
  try {
    return isDirectory();
  } catch {
    return false;
  }
}

async function existingDirectoryAsync(err: unknown, path: string): Promise<boolean> {
  if (codeOf(err) !== 'EEXIST') return false;
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

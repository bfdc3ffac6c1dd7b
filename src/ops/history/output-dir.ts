import { lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { RegError } from '../../errors.js';
import { tempPathFor } from '../../fsutil.js';
import { SafeFs, ioError } from '../../workspace/safe-fs.js';
import { makeDirsSync } from '../../make-dirs.js';

/**
 * The one place the history commands write outside the cache (reg get's output). A directory is
 * built under a fresh temp directory next to its destination, written only through prepareWrite
 * (the confinement layer SafeFs rooted at that directory: each relpath checked, every parent made
 * as a real directory, nothing written through a symlink or outside it), then renamed into
 * place whole; a failure removes the temp directory and leaves the destination untouched.
 */
export class OutputDir {
  private readonly fs: SafeFs;

  private constructor(readonly dest: string, readonly root: string) {
    this.fs = new SafeFs(root);
  }

  /** A new, empty temp directory for `dest` (its parent is created if missing). */
  static fresh(dest: string): OutputDir {
    makeParent(dest);
    const root = tempPathFor(dest);
    mkdirSync(root);
    return new OutputDir(dest, root);
  }

  /** A single file's destination, its parent directory made (the file itself is written by temp + rename). */
  static prepareFile(dest: string): string {
    makeParent(dest);
    return dest;
  }

  /** The absolute path to write `rel` (a manifest relpath) at, its parent directories made (through the confinement layer). */
  prepareWrite(rel: string): string {
    return this.fs.prepareWrite(rel);
  }

  /** Renames the built directory to its destination; an existing destination is replaced only with `force`. */
  publish(force: boolean): void {
    if (lstatSync(this.dest, { throwIfNoEntry: false }) === undefined) {
      renameSync(this.root, this.dest);
      return;
    }
    if (!force) throw new RegError('get.exists', 'conflict', `${this.dest} appeared while writing; nothing was replaced`, { hint: 'retry with --force to replace it' });
    const aside = tempPathFor(this.dest);
    renameSync(this.dest, aside);
    try {
      renameSync(this.root, this.dest);
    } catch (err) {
      renameSync(aside, this.dest);
      throw err;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  discard(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** The parent directory of an output, made if missing (one that cannot be, as under /proc, is named). */
function makeParent(dest: string): void {
  try {
    makeDirsSync(dirname(dest));
  } catch (err) {
    throw ioError(err, dirname(dest), 'create directory');
  }
}

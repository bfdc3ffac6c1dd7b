import { lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSafeRelpath } from '../../data/manifest.js';
import { RegError, configError, errnoCode } from '../../errors.js';
import { tempPathFor } from '../../fsutil.js';

/**
 * The one place the history commands write outside the cache (reg get's output). A directory is
 * built under a fresh temp directory next to its destination (`.<name>.<random>.tmp`), written
 * only through prepareWrite (each relpath checked, every parent made as a real directory and
 * checked with lstat, so nothing is written through a symlink or outside it), then renamed into
 * place whole; a failure removes the temp directory and leaves the destination untouched.
 */
export class OutputDir {
  private readonly dirs = new Set<string>(['']);

  private constructor(readonly dest: string, readonly root: string) {}

  /** A new, empty temp directory for `dest` (its parent is created if missing). */
  static fresh(dest: string): OutputDir {
    mkdirSync(dirname(dest), { recursive: true });
    const root = tempPathFor(dest);
    mkdirSync(root);
    return new OutputDir(dest, root);
  }

  /** A single file's destination, its parent directory made (the file itself is written by temp + rename). */
  static prepareFile(dest: string): string {
    mkdirSync(dirname(dest), { recursive: true });
    return dest;
  }

  /** The absolute path to write `rel` (a manifest relpath) at, its parent directories made. */
  prepareWrite(rel: string): string {
    if (!isSafeRelpath(rel) || rel.split('/').some((s) => s.toLowerCase() === '.git')) {
      throw configError('path.unsafe', `refusing to write ${JSON.stringify(rel)} under ${this.dest}: not a plain relative path`, {
        hint: 'the path came from a manifest that tries to leave its directory; nothing was written at the destination',
      });
    }
    const cut = rel.lastIndexOf('/');
    if (cut !== -1) this.ensureDir(rel.slice(0, cut));
    return join(this.root, ...rel.split('/'));
  }

  private ensureDir(rel: string): void {
    if (this.dirs.has(rel)) return;
    const cut = rel.lastIndexOf('/');
    if (cut !== -1) this.ensureDir(rel.slice(0, cut));
    const abs = join(this.root, ...rel.split('/'));
    try {
      mkdirSync(abs);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    if (!lstatSync(abs).isDirectory()) {
      throw new RegError('path.not-a-directory', 'conflict', `${abs} is not a directory (two files of the manifest collide)`, { hint: 'the manifest is malformed; nothing was written at the destination' });
    }
    this.dirs.add(rel);
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

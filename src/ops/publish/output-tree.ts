import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { RegError, errnoCode } from '../../errors.js';
import { writeFileAtomicSync } from '../../fsutil.js';

/**
 * The write gateway of the publishing commands' `-o DIR`: every path below the root is checked
 * segment by segment (no `..`, no empty or absolute paths, never into `.git`, `.reg` or `.dvc`),
 * every directory on the way is created one at a time and must be a real directory (never a
 * symlink), so nothing lands outside DIR whatever names a manifest holds.
 *
 * The same interface as the work tree's confinement layer (`outputTree` in
 * workspace/safe-fs.ts), which replaces this file once it is on main.
 */
export interface OutputFs {
  readonly root: string;
  abs(rel: string): string;
  /** Makes directory `rel` (and its parents) exist as real directories; returns its absolute path. */
  ensureDir(rel: string): string;
  /** The absolute path to write `rel` at: its parent directories verified or created. */
  prepareWrite(rel: string): string;
  /** The absolute path of `rel` with its parents verified; undefined when a parent is missing. */
  existing(rel: string): string | undefined;
  /** Atomic write of a whole file (temp + rename). */
  writeFile(rel: string, data: string | Buffer, mode?: number): void;
  /** Removes `rel` recursively without following symlinks. */
  removeTree(rel: string): void;
  /** Drops what is remembered about `rel` and below (after a rename). */
  forget(rel: string): void;
}

const FORBIDDEN = new Set(['.git', '.reg', '.dvc']);

class ConfinedDir implements OutputFs {
  private readonly dirs = new Set<string>(['']);

  constructor(readonly root: string, private readonly forbidTop: boolean) {}

  abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private check(rel: string): void {
    const parts = rel.split('/');
    const bad = rel === '' || rel.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0') || p.includes('\\') || p.toLowerCase() === '.git') || (this.forbidTop && FORBIDDEN.has(parts[0]!.toLowerCase()));
    if (bad) {
      throw new RegError('path.unsafe', 'config', `refusing to write ${JSON.stringify(rel)} under ${this.root}: it is not a plain relative path inside it`, {
        hint: 'the name came from a manifest or an option that tries to leave the output directory; fix or remove that input',
        details: { path: rel, root: this.root },
      });
    }
  }

  private verifyDir(rel: string, create: boolean): boolean {
    if (this.dirs.has(rel)) return true;
    this.check(rel);
    const cut = rel.lastIndexOf('/');
    if (!this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), create)) return false;
    const abs = this.abs(rel);
    let st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) {
      if (!create) return false;
      try {
        mkdirSync(abs);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw ioError(err, abs);
      }
      st = lstatSync(abs, { throwIfNoEntry: false });
    }
    if (st?.isDirectory()) {
      this.dirs.add(rel);
      return true;
    }
    throw new RegError(st?.isSymbolicLink() ? 'path.symlink' : 'path.not-a-directory', 'conflict', `${abs} is ${st?.isSymbolicLink() ? 'a symbolic link; reg never writes through symlinks' : 'in the way: a directory is needed there'}`, {
      hint: `move ${abs} aside and retry`,
      details: { path: rel, abs },
    });
  }

  ensureDir(rel: string): string {
    this.verifyDir(rel, true);
    return this.abs(rel);
  }

  prepareWrite(rel: string): string {
    this.check(rel);
    const cut = rel.lastIndexOf('/');
    this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), true);
    return this.abs(rel);
  }

  existing(rel: string): string | undefined {
    this.check(rel);
    const cut = rel.lastIndexOf('/');
    return this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), false) ? this.abs(rel) : undefined;
  }

  writeFile(rel: string, data: string | Buffer, mode = 0o666): void {
    writeFileAtomicSync(this.prepareWrite(rel), data, mode);
  }

  removeTree(rel: string): void {
    const abs = this.existing(rel);
    if (abs === undefined) return;
    rmSync(abs, { recursive: true, force: true });
    this.forget(rel);
  }

  forget(rel: string): void {
    for (const d of this.dirs) if (d === rel || d.startsWith(rel + '/')) this.dirs.delete(d);
  }
}

function ioError(err: unknown, abs: string): RegError {
  const code = errnoCode(err);
  return new RegError(code === 'ENOSPC' ? 'fs.no-space' : code === 'EACCES' || code === 'EPERM' ? 'fs.permission' : 'fs.io', 'failed', `cannot create directory ${abs}: ${(err as Error).message}`, {
    hint: code === 'ENOSPC' ? 'free some disk space and retry' : code === 'EACCES' || code === 'EPERM' ? 'fix the permissions of the directory' : undefined,
    cause: err,
  });
}

/**
 * The gateway for a user-named output directory: inside the work tree, the work tree itself is
 * the root (so `.git`, `.reg` and symlinked directories on the way stay refused) with the
 * directory as a path prefix; elsewhere the directory (created if missing) is the root.
 */
export function outputTree(repo: { root: string }, abs: string): { fs: OutputFs; prefix: string } {
  const rel = relative(repo.root, abs);
  if (rel === '') return { fs: new ConfinedDir(repo.root, true), prefix: '' };
  if (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel)) {
    const fs = new ConfinedDir(repo.root, true);
    const inRepo = rel.split(sep).join('/');
    fs.ensureDir(inRepo);
    return { fs, prefix: inRepo + '/' };
  }
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    throw ioError(err, abs);
  }
  return { fs: new ConfinedDir(abs, false), prefix: '' };
}

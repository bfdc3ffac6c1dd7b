import { lstatSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { RegError, errnoCode, usageError } from '../errors.js';

/** A regular file found under an output directory, with the stat fields the stat cache keys on. */
export interface WalkedFile {
  relpath: string;
  abs: string;
  ino: number;
  size: number;
  /** Milliseconds with sub-ms fraction (number stats are ~2x cheaper to get than bigint ones). */
  mtimeMs: number;
  ctimeMs: number;
  /** Filled in once known. */
  md5?: string;
  mode: number;
}

/** Directories DVC never descends into (plus reg's own). */
const SKIPPED_DIRS = new Set(['.git', '.hg', '.dvc', '.reg']);

export interface WalkOptions {
  /** Returns true for paths (relative to the walked dir, '/'-separated, dirs with trailing '/') to skip. */
  ignored?: (relpath: string) => boolean;
}

export function fileFromStats(relpath: string, abs: string, st: Stats): WalkedFile {
  return {
    relpath,
    abs,
    ino: st.ino,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    mode: st.mode,
  };
}

/**
 * Lists every regular file below `dir` (symlinks to files are followed, symlinked directories are
 * not descended into, as in DVC). Synchronous on purpose: for 100k files the per-call promise
 * overhead of fs/promises costs more than the syscalls.
 */
export function walkTree(dir: string, options: WalkOptions = {}): WalkedFile[] {
  const out: WalkedFile[] = [];
  const visit = (absDir: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(absDir, { withFileTypes: true });
    } catch (err) {
      throw new RegError('walk.readdir', 'failed', `cannot read directory ${absDir}: ${(err as Error).message}`);
    }
    for (const entry of entries) {
      const name = entry.name;
      const relpath = prefix + name;
      const abs = join(absDir, name);
      if (name.includes('\uFFFD')) assertUtf8Name(absDir, name, abs);
      if (entry.isDirectory()) {
        if (SKIPPED_DIRS.has(name)) continue;
        if (options.ignored?.(relpath + '/')) continue;
        visit(abs, relpath + '/');
        continue;
      }
      if (entry.isFile()) {
        if (name === '.git') continue;
        if (name === '.dvcignore') {
          throw usageError('add.dvcignore-inside', `${abs}: a .dvcignore file inside a tracked directory is not allowed (DVC refuses it too)`, {
            hint: 'move the patterns to the .dvcignore at the repository root',
          });
        }
        if (options.ignored?.(relpath)) continue;
        out.push(fileFromStats(relpath, abs, lstatSync(abs)));
        continue;
      }
      if (entry.isSymbolicLink()) {
        let st: Stats;
        try {
          st = statSync(abs);
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') {
            throw usageError('add.dangling-symlink', `${abs} is a symlink to a missing file`, { hint: 'remove the link or restore its target' });
          }
          throw err;
        }
        if (st.isFile() && !options.ignored?.(relpath)) out.push(fileFromStats(relpath, abs, st));
        // symlinked directories are skipped, as DVC does
      }
      // FIFOs, sockets and devices are not data
    }
  };
  visit(dir, '');
  return out;
}

function assertUtf8Name(absDir: string, name: string, abs: string): void {
  const raw = readdirSync(absDir, { encoding: 'buffer' });
  const bad = raw.find((b) => b.toString('utf8') === name && !Buffer.from(name, 'utf8').equals(b));
  if (bad) {
    throw usageError('add.non-utf8-name', `${abs.replace(/\uFFFD/g, '?')}: file name is not valid UTF-8 (bytes: ${bad.toString('hex')})`, {
      hint: 'rename the file to a UTF-8 name; pointer and manifest formats cannot represent other bytes',
    });
  }
}

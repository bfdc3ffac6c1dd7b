import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fsutil.js';
import type { WalkedFile } from './walk.js';

/**
 * Remembers the md5 of files by (inode, size, mtime_ns, ctime_ns) so unchanged files are never
 * re-hashed. One file per output under `.reg/tmp/stat/`, so a status of one dataset loads only its
 * own rows.
 *
 * "Racy clean" guard (as in git): a file whose mtime lies within RACY_WINDOW_NS of the moment we
 * looked at it could be rewritten within the same timestamp tick without its stat changing, so
 * such rows are not trusted and get hashed again. Files reg wrote itself from a verified cache
 * object are recorded as trusted.
 */
const RACY_WINDOW_NS = 50_000_000n;
const FORMAT = 2;

type Row = [relpath: string, ino: number, size: number, mtimeNs: string, ctimeNs: string, md5: string, checkedAtNs: string];

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class StatCache {
  private readonly rows = new Map<string, Row>();
  private dirty = false;

  private constructor(private readonly file: string) {}

  static load(statDir: string, key: string, legacy: boolean): StatCache {
    const file = join(statDir, createHash('md5').update(`${legacy ? 'legacy' : 'md5'}:${key}`).digest('hex') + '.json');
    const cache = new StatCache(file);
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { v: number; rows: Row[] };
      if (parsed.v === FORMAT) for (const row of parsed.rows) cache.rows.set(row[0], row);
    } catch {
      // missing or unreadable: start empty, everything gets hashed
    }
    return cache;
  }

  /** The remembered md5 if the file's stat still matches (and is not racy), else undefined. */
  lookup(file: WalkedFile): string | undefined {
    const row = this.rows.get(file.relpath);
    if (!row || row[1] !== file.ino || row[2] !== file.size) return undefined;
    const mtime = BigInt(row[3]);
    if (mtime !== file.mtimeNs || BigInt(row[4]) !== file.ctimeNs) return undefined;
    if (mtime >= BigInt(row[6]) - RACY_WINDOW_NS) return undefined;
    return row[5];
  }

  /**
   * Records a file's md5. `checkedAtNs` is when its stat was taken before hashing; omit it for
   * files reg just wrote from the cache (trusted).
   */
  record(file: WalkedFile, md5: string, checkedAtNs?: bigint): void {
    const checked = checkedAtNs ?? file.mtimeNs + RACY_WINDOW_NS + 1n;
    const row = this.rows.get(file.relpath);
    if (row && row[1] === file.ino && row[2] === file.size && row[3] === String(file.mtimeNs) && row[4] === String(file.ctimeNs) && row[5] === md5 && this.lookup(file) !== undefined) return;
    this.rows.set(file.relpath, [file.relpath, file.ino, file.size, String(file.mtimeNs), String(file.ctimeNs), md5, String(checked)]);
    this.dirty = true;
  }

  /** Drops rows for files that no longer exist. */
  retainOnly(relpaths: Set<string>): void {
    for (const key of this.rows.keys()) {
      if (!relpaths.has(key)) {
        this.rows.delete(key);
        this.dirty = true;
      }
    }
  }

  save(): void {
    if (!this.dirty) return;
    writeFileAtomicSync(this.file, JSON.stringify({ v: FORMAT, rows: [...this.rows.values()] }));
    this.dirty = false;
  }
}

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fsutil.js';
import type { WalkedFile } from './walk.js';

/**
 * Remembers the md5 of files by (inode, size, mtime_ns, ctime_ns) so unchanged files are never
 * re-hashed. One file per output under `.reg/tmp/stat/`, so a status of one dataset loads only its
 * own entries. Files modified within RACY_WINDOW_NS of the save are not trusted (git's "racy
 * clean" problem: a write in the same timestamp tick as the hash would go unnoticed).
 */
const RACY_WINDOW_NS = 50_000_000n;
const FORMAT = 1;

type Row = [relpath: string, ino: number, size: number, mtimeNs: string, ctimeNs: string, md5: string];

export class StatCache {
  private readonly rows = new Map<string, Row>();
  private dirty = false;

  private constructor(private readonly file: string, private readonly savedAtNs: bigint) {}

  static load(statDir: string, key: string, legacy: boolean): StatCache {
    const file = join(statDir, createHash('md5').update(`${legacy ? 'legacy' : 'md5'}:${key}`).digest('hex') + '.json');
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { v: number; savedAtNs: string; rows: Row[] };
      if (parsed.v !== FORMAT) return new StatCache(file, 0n);
      const cache = new StatCache(file, BigInt(parsed.savedAtNs));
      for (const row of parsed.rows) cache.rows.set(row[0], row);
      return cache;
    } catch {
      return new StatCache(file, 0n);
    }
  }

  /** The remembered md5 if the file's stat still matches, else undefined. */
  lookup(file: WalkedFile): string | undefined {
    const row = this.rows.get(file.relpath);
    if (!row) return undefined;
    if (row[1] !== file.ino || row[2] !== file.size) return undefined;
    const mtime = BigInt(row[3]);
    if (mtime !== file.mtimeNs || BigInt(row[4]) !== file.ctimeNs) return undefined;
    if (mtime >= this.savedAtNs - RACY_WINDOW_NS) {
      this.dirty = true; // re-saving moves savedAtNs forward so the row becomes trustworthy
      return undefined;
    }
    return row[5];
  }

  record(file: WalkedFile, md5: string): void {
    const row = this.rows.get(file.relpath);
    if (row && row[1] === file.ino && row[2] === file.size && row[3] === String(file.mtimeNs) && row[4] === String(file.ctimeNs) && row[5] === md5) return;
    this.rows.set(file.relpath, [file.relpath, file.ino, file.size, String(file.mtimeNs), String(file.ctimeNs), md5]);
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

  save(nowNs: bigint = BigInt(Date.now()) * 1_000_000n): void {
    if (!this.dirty && this.savedAtNs !== 0n) return;
    mkdirSync(join(this.file, '..'), { recursive: true });
    const body = JSON.stringify({ v: FORMAT, savedAtNs: String(nowNs), rows: [...this.rows.values()] });
    writeFileAtomicSync(this.file, body);
    this.dirty = false;
  }
}

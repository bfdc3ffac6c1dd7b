import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fsutil.js';
import type { WalkedFile } from './walk.js';

/**
 * Remembers the md5 of files by (inode, size, mtime, ctime) so unchanged files are never
 * re-hashed. One file per output under `.reg/tmp/stat/`, so a status of one dataset loads only its
 * own rows. It also remembers the tree oid of the last complete scan, so an unchanged directory
 * does not even rebuild its manifest.
 *
 * "Racy clean" guard (as in git): a file whose mtime lies within RACY_WINDOW_MS of the moment we
 * looked at it could be rewritten within the same timestamp tick without its stat changing, so
 * such rows are not trusted and get hashed again. Files reg wrote itself from a verified cache
 * object are recorded as trusted.
 */
const RACY_WINDOW_MS = 50;
const FORMAT = 3;

type Row = [relpath: string, ino: number, size: number, mtimeMs: number, ctimeMs: number, md5: string, checkedAtMs: number];

interface TreeMemo {
  oid: string;
  count: number;
}

export class StatCache {
  private readonly rows = new Map<string, Row>();
  private tree: TreeMemo | undefined;
  private dirty = false;

  private constructor(private readonly file: string) {}

  static load(statDir: string, key: string, legacy: boolean): StatCache {
    const file = join(statDir, createHash('md5').update(`${legacy ? 'legacy' : 'md5'}:${key}`).digest('hex') + '.json');
    const cache = new StatCache(file);
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { v: number; rows: Row[]; tree?: TreeMemo };
      if (parsed.v === FORMAT) {
        for (const row of parsed.rows) cache.rows.set(row[0], row);
        cache.tree = parsed.tree;
      }
    } catch {
      // missing or unreadable: start empty, everything gets hashed
    }
    return cache;
  }

  get size(): number {
    return this.rows.size;
  }

  /** The remembered md5 if the file's stat still matches (and is not racy), else undefined. */
  lookup(file: WalkedFile): string | undefined {
    const row = this.rows.get(file.relpath);
    if (!row || row[1] !== file.ino || row[2] !== file.size || row[3] !== file.mtimeMs || row[4] !== file.ctimeMs) return undefined;
    if (row[3] >= row[6] - RACY_WINDOW_MS) return undefined;
    return row[5];
  }

  /**
   * Records a file's md5. `checkedAtMs` is when its stat was taken before hashing; omit it for
   * files reg just wrote from the cache (trusted).
   */
  record(file: WalkedFile, md5: string, checkedAtMs?: number): void {
    const checked = checkedAtMs ?? file.mtimeMs + RACY_WINDOW_MS + 1;
    this.rows.set(file.relpath, [file.relpath, file.ino, file.size, file.mtimeMs, file.ctimeMs, md5, checked]);
    this.tree = undefined;
    this.dirty = true;
  }

  /** Drops rows for files that no longer exist. */
  retainOnly(relpaths: Set<string>): void {
    for (const key of this.rows.keys()) {
      if (!relpaths.has(key)) {
        this.rows.delete(key);
        this.tree = undefined;
        this.dirty = true;
      }
    }
  }

  /** The tree oid remembered for exactly the current rows, if any. */
  treeOid(): string | undefined {
    return this.tree && this.tree.count === this.rows.size ? this.tree.oid : undefined;
  }

  rememberTree(oid: string): void {
    if (this.tree?.oid === oid && this.tree.count === this.rows.size) return;
    this.tree = { oid, count: this.rows.size };
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) return;
    writeFileAtomicSync(this.file, JSON.stringify({ v: FORMAT, tree: this.tree, rows: [...this.rows.values()] }));
    this.dirty = false;
  }
}

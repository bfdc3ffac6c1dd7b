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
 * Stored column-wise (one array per field, paths joined by "\n", md5s concatenated): parsing a
 * few large arrays is several times faster than 100k small ones. Rows are saved in walk order,
 * and lookups first try the row at the same position, so the common no-change case never builds
 * an index.
 *
 * "Racy clean" guard (as in git): a file whose mtime lies within RACY_WINDOW_MS of the moment we
 * looked at it could be rewritten within the same timestamp tick without its stat changing, so
 * such rows are not trusted and get hashed again. Files reg wrote itself from a verified cache
 * object are recorded as trusted.
 */
const RACY_WINDOW_MS = 50;
const FORMAT = 4;

interface Row {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  md5: string;
  checkedAtMs: number;
}

interface Stored {
  v: number;
  tree?: TreeMemo;
  base?: string;
  paths: string[] | string;
  ino: number[];
  size: number[];
  mtime: number[];
  ctime: number[];
  md5: string;
  checked: number[];
}

interface TreeMemo {
  oid: string;
  count: number;
}

export class StatCache {
  private paths: string[] = [];
  private stored: Stored | undefined;
  private index: Map<string, number> | undefined;
  /** Rows written since load; they win over stored ones. */
  private readonly changes = new Map<string, Row>();
  /** Lookups that found their stored row exactly at the next position (walk order unchanged). */
  private inOrder = 0;
  private tree: TreeMemo | undefined;
  private base: string | undefined;
  private dirty = false;
  private cursor = 0;

  private constructor(private readonly file: string) {}

  static load(statDir: string, key: string, legacy: boolean): StatCache {
    const file = join(statDir, createHash('md5').update(`${legacy ? 'legacy' : 'md5'}:${key}`).digest('hex') + '.json');
    const cache = new StatCache(file);
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Stored;
      if (parsed.v === FORMAT) {
        cache.stored = parsed;
        cache.paths = typeof parsed.paths === 'string' ? (parsed.paths === '' ? [] : parsed.paths.split('\n')) : parsed.paths;
        cache.tree = parsed.tree;
        cache.base = parsed.base;
      }
    } catch {
      // missing or unreadable: start empty, everything gets hashed
    }
    return cache;
  }

  private storedIndex(relpath: string): number | undefined {
    if (this.paths[this.cursor] === relpath) return this.cursor;
    if (this.index === undefined) {
      this.index = new Map();
      this.paths.forEach((p, i) => this.index!.set(p, i));
    }
    return this.index.get(relpath);
  }

  private row(relpath: string): Row | undefined {
    const changed = this.changes.get(relpath);
    if (changed !== undefined) return changed;
    const i = this.storedIndex(relpath);
    if (i === undefined || !this.stored) return undefined;
    if (i === this.cursor) this.inOrder++;
    this.cursor = i + 1;
    const s = this.stored;
    return { ino: s.ino[i]!, size: s.size[i]!, mtimeMs: s.mtime[i]!, ctimeMs: s.ctime[i]!, md5: s.md5.slice(i * 32, i * 32 + 32), checkedAtMs: s.checked[i]! };
  }

  /** The remembered md5 if the file's stat still matches (and is not racy), else undefined. */
  lookup(file: WalkedFile): string | undefined {
    const row = this.row(file.relpath);
    if (!row || row.ino !== file.ino || row.size !== file.size || row.mtimeMs !== file.mtimeMs || row.ctimeMs !== file.ctimeMs) return undefined;
    if (row.mtimeMs >= row.checkedAtMs - RACY_WINDOW_MS) return undefined;
    return row.md5;
  }

  /**
   * Records a file's md5. `checkedAtMs` is when its stat was taken before hashing; omit it for
   * files reg just wrote from the cache (trusted).
   */
  record(file: WalkedFile, md5: string, checkedAtMs?: number): void {
    const checked = checkedAtMs ?? file.mtimeMs + RACY_WINDOW_MS + 1;
    this.changes.set(file.relpath, { ino: file.ino, size: file.size, mtimeMs: file.mtimeMs, ctimeMs: file.ctimeMs, md5, checkedAtMs: checked });
    this.tree = undefined;
    this.dirty = true;
  }

  /** Keeps only the rows of these files, stored in this order (the walk order). */
  retainOnly(relpaths: readonly string[]): void {
    // Every file was looked up once, in stored order, and nothing changed: already exact.
    if (this.changes.size === 0 && this.inOrder === this.paths.length && relpaths.length === this.paths.length) return;
    this.cursor = 0;
    const keep: Array<[string, Row]> = [];
    for (const p of relpaths) {
      const r = this.row(p);
      if (r) keep.push([p, r]);
    }
    this.stored = undefined;
    this.paths = [];
    this.index = undefined;
    this.changes.clear();
    for (const [p, r] of keep) this.changes.set(p, r);
    this.tree = undefined;
    this.dirty = true;
  }

  /** The tree oid remembered for exactly the current rows, if any. */
  treeOid(count: number): string | undefined {
    return this.tree && this.tree.count === count && this.changes.size === 0 && this.paths.length === count ? this.tree.oid : undefined;
  }

  rememberTree(oid: string, count: number): void {
    if (this.tree?.oid === oid && this.tree.count === count) return;
    this.tree = { oid, count };
    this.dirty = true;
  }

  /**
   * The oid the workspace held when reg last made it match a pointer (checkout) or recorded it
   * into one (add, or a status that found it up to date). Status compares it with the workspace
   * and the pointer to tell "the pointer moved" (git pull) from "the data was edited here".
   */
  baseOid(): string | undefined {
    return this.base;
  }

  setBase(oid: string): void {
    if (this.base === oid) return;
    this.base = oid;
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) return;
    const order: string[] = [];
    const rows: Row[] = [];
    const seen = new Set<string>();
    this.paths.forEach((p) => {
      const r = this.row(p);
      if (r) {
        order.push(p);
        rows.push(r);
        seen.add(p);
      }
    });
    for (const [p, r] of this.changes) {
      if (!seen.has(p)) {
        order.push(p);
        rows.push(r);
      }
    }
    const joinable = order.every((p) => !p.includes('\n'));
    const body: Stored = {
      v: FORMAT,
      ...(this.tree ? { tree: this.tree } : {}),
      ...(this.base ? { base: this.base } : {}),
      paths: joinable ? order.join('\n') : order,
      ino: rows.map((r) => r.ino),
      size: rows.map((r) => r.size),
      mtime: rows.map((r) => r.mtimeMs),
      ctime: rows.map((r) => r.ctimeMs),
      md5: rows.map((r) => r.md5).join(''),
      checked: rows.map((r) => r.checkedAtMs),
    };
    writeFileAtomicSync(this.file, JSON.stringify(body));
    this.dirty = false;
  }
}

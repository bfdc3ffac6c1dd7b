import { isAscii } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { readRegularFileSync, removeStaleTemps, writeFileAtomicSync } from '../fsutil.js';
import { GEN_CHARS, mirrorOfStoredFile } from './mirror-files.js';
import { MIRROR_MIN_ENTRIES, MIRROR_MODE, mirrorable, writeMirrorIndex } from './mirror-index.js';
import { ListedStats, type DirListings, type DirStats, type WalkedFile } from './walk.js';

/**
 * Remembers the md5 of files by (inode, size, mtime, ctime) so unchanged files are never
 * re-hashed. One file per output under `.reg/tmp/stat/`, so a status of one dataset loads only its
 * own rows. It also remembers the tree oid of the last complete scan, so an unchanged directory
 * does not even rebuild its manifest.
 *
 * Stored column-wise (one array per field, paths joined by "\n"): parsing a few large arrays is
 * several times faster than 100k small ones. The five number columns are kept beside the JSON in
 * `<file>.bin` as float64s (a header naming the JSON's generation, then each column whole), and
 * after them the md5s, 16 bytes each: JSON.parse of their text was most of the load, and the md5s
 * as hex were half the JSON, read whole although a status without changes looks at none of them
 * (an md5 is made into hex only when asked for). A `.bin` of another generation (a crash between
 * the two writes) makes the cache empty, so every file gets hashed again. Files of the earlier
 * formats (FORMAT_V5, md5s as hex in the JSON; FORMAT_JSON, numbers in the JSON too) are still
 * read. Rows are saved in walk order,
 * and lookups first try the row at the same position, so the common no-change case never builds
 * an index.
 *
 * Small changes are appended, not rewritten: when every changed row is one the file already has
 * (a touched or modified file, not an added or removed one), save() appends the new rows, the
 * tree memo and the base as JSON lines to `<file>.log` (row position and path, so replay needs no
 * index) instead of rewriting 100k rows. load() replays the log onto the columns; a torn last line
 * (a crash mid-append) and everything after it are ignored, a row that changes a file's md5 drops
 * the tree memo until a later line sets it again, and the log names the generation of the base
 * file it patches, so a log left over from before a rewrite is never applied to the new base.
 * Past LOG_MAX_ROWS rows (or on any added/removed path) the whole file is rewritten and the log
 * dropped.
 *
 * It also keeps, from the moment a scan found the output exactly at a pointer's version, which
 * files changed since and their md5 at that version (`since`), so a status after editing a few
 * files lists them without reading the pointer's manifest. Every row change goes through the same
 * bookkeeping (record() and log replay); anything it cannot follow (an added or removed file, a
 * row written without a stored one) drops it.
 *
 * "Racy clean" guard (as in git): a file whose mtime lies within RACY_WINDOW_MS of the moment we
 * looked at it could be rewritten within the same timestamp tick without its stat changing, so
 * such rows are not trusted and get hashed again. Files reg wrote itself from a verified cache
 * object are recorded as trusted.
 *
 * It also remembers each walked directory's listing with the directory's inode, mtime and ctime
 * (`dirs`, as git's untracked cache does), so the next walk lstats the entries of an unchanged
 * directory without reading it again: adding, removing or renaming an entry moves both times (and
 * ctime cannot be set back). The same racy rule applies: a listing whose directory changed within
 * RACY_WINDOW_MS of the scan that read it is not trusted. Rows are keyed by relpath prefix, checked
 * on use, so a row for a directory no longer walked is harmless; changed rows go to the append log
 * like file rows.
 *
 * Each rewrite also writes the rows as a Git index file, `<file>.<gen>.index` (src/workspace/
 * mirror-index.ts), named by the generation it mirrors so a mirror never answers for other rows:
 * status asks `git diff-files` which of them changed, and the walk takes the stored stats of the
 * files git found unchanged (trustedStats) instead of lstat'ing them. Rows patched by the append
 * log since are never taken from the mirror.
 */
const RACY_WINDOW_MS = 50;
/** Written: numbers and md5s in `<file>.bin`. */
const FORMAT = 6;
/** Read too: numbers in `<file>.bin`, md5s as hex in the JSON. */
const FORMAT_V5 = 5;
/** Read too: every column in the JSON. */
const FORMAT_JSON = 4;
/** Bytes per md5 in the `.bin`. */
const MD5_BYTES = 16;
const NUMBER_COLUMNS = ['ino', 'size', 'mtime', 'ctime', 'checked'] as const;
type NumberColumnName = (typeof NUMBER_COLUMNS)[number];
type Column = (k: number) => number;
/** The `.bin` header: the generation (12 hex digits) padded to keep the float64s aligned. */
const BIN_HEADER_BYTES = 16;
/** Rows the append log may hold before save() rewrites the whole file instead. */
export const LOG_MAX_ROWS = 256;
/**
 * Larger than the stat cache of ten million files (its relpaths, its number columns); a bigger
 * `.json` or `.bin` is not read (the cache is then absent: every file hashed again).
 */
const MAX_STORE_BYTES = 1 << 30;
/** LOG_MAX_ROWS rows of paths up to 4 KiB: a bigger log is not read (nor replayed). */
const MAX_LOG_BYTES = 16 << 20;
/** Rows per slice when the file is written (see rewrite()). */
const PART_ROWS = 16_384;

interface Row {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  md5: string;
  checkedAtMs: number;
}

/** The rows equal tree `oid` (of `count` files) except `changed`: relpath → md5 at `oid`. */
interface Since {
  oid: string;
  count: number;
  changed: Map<string, string>;
}

/** `Since` as stored: the changes as [relpath, md5] pairs (a Map: relpaths are not object keys). */
interface StoredSince {
  oid: string;
  count: number;
  changed: Array<[string, string]>;
}

/** A directory's remembered listing: ino, mtimeMs, ctimeMs, when the scan that listed it started, names joined by '\n'. */
type DirRow = [ino: number, mtimeMs: number, ctimeMs: number, checkedAtMs: number, names: string];
/** An empty, '.' or '..' name in a '\n'-joined listing. */
const NOT_A_NAME = /(?:^|\n)\.{0,2}(?:\n|$)/;
/** As stored: the relpath prefix first. */
type StoredDirRow = [prefix: string, ...row: DirRow];

interface Stored {
  v: number;
  dirs?: StoredDirRow[];
  since?: StoredSince;
  /** Generation of this file: the append log applies only to the base it was written for. */
  gen?: string;
  tree?: TreeMemo;
  base?: string;
  paths: string[] | string;
  /** FORMAT and FORMAT_V5: the number of rows (the number columns are in `<file>.bin`, little-endian unless `be`). */
  rows?: number;
  /** How many of the rows the mirror index could hold, as counted when this generation was written (see rewriteForMirror). */
  mirrorable?: number;
  be?: boolean;
  ino: NumberColumn;
  size: NumberColumn;
  mtime: NumberColumn;
  ctime: NumberColumn;
  /** FORMAT: the md5s' bytes, from the `.bin`; earlier formats: their hex concatenated. */
  md5: string | Buffer;
  checked: NumberColumn;
}

type NumberColumn = number[] | Float64Array;

/** One line of the append log after its header `{"v","gen"}`. */
type LogLine =
  | { i: number; p: string; ino: number; size: number; mtime: number; ctime: number; md5: string; checked: number }
  | { tree: TreeMemo | null }
  | { since: StoredSince | null }
  | { base: string }
  | { dir: StoredDirRow };

/**
 * Stored rows by relpath, for lookups out of stored order (a walk in another order than the rows,
 * as the first status after a checkout): an open-addressing table of row positions over the loaded
 * text. A Map keyed by the relpaths needed each as a string (the text split) and a table entry,
 * ~70 bytes a row; this holds 8.
 */
class PathIndex {
  /** Row + 1 per slot; 0 is empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(
    rows: number,
    hashAt: (i: number) => number,
    private readonly isAt: (i: number, relpath: string) => boolean,
  ) {
    let size = 16;
    while (size < rows * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let i = 0; i < rows; i++) {
      let at = hashAt(i) & this.mask;
      while (this.slots[at] !== 0) at = (at + 1) & this.mask;
      this.slots[at] = i + 1;
    }
  }

  get(relpath: string): number | undefined {
    for (let at = hashPath(relpath, 0, relpath.length) & this.mask; ; at = (at + 1) & this.mask) {
      const row = this.slots[at]!;
      if (row === 0) return undefined;
      if (this.isAt(row - 1, relpath)) return row - 1;
    }
  }
}

/** FNV-1a of the UTF-16 code units of text[from, to). */
function hashPath(text: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

/** Rows in the order a rewrite saves them: `where[k]` is row k's index in the recorded columns (>= 0) or -1 - its index in the stored ones. */
interface RowOrder {
  order: readonly string[];
  where: ArrayLike<number>;
}

interface TreeMemo {
  oid: string;
  count: number;
}

/**
 * Rows keyed by relpath, held column-wise: a Row object per file (with its boxed doubles) costs
 * ~150 bytes, which at a million files is most of a command's heap.
 */
class ChangedRows {
  private at = new Map<string, number>();
  readonly ino: number[] = [];
  readonly size: number[] = [];
  readonly mtime: number[] = [];
  readonly ctime: number[] = [];
  readonly checked: number[] = [];
  readonly md5: string[] = [];

  get count(): number {
    return this.at.size;
  }

  has(relpath: string): boolean {
    return this.at.has(relpath);
  }

  /** Where a relpath's row is in the columns. */
  indexOf(relpath: string): number | undefined {
    return this.at.get(relpath);
  }

  /** Puts the rows in the order of `relpaths` (each one held here): only the index is rebuilt, the columns stay. */
  reorder(relpaths: readonly string[]): void {
    const at = new Map<string, number>();
    for (const p of relpaths) at.set(p, this.at.get(p)!);
    this.at = at;
  }

  get(relpath: string): Row | undefined {
    const i = this.at.get(relpath);
    return i === undefined ? undefined : this.rowAt(i);
  }

  set(relpath: string, r: Row): void {
    let i = this.at.get(relpath);
    if (i === undefined) {
      i = this.md5.length;
      this.at.set(relpath, i);
    }
    this.ino[i] = r.ino;
    this.size[i] = r.size;
    this.mtime[i] = r.mtimeMs;
    this.ctime[i] = r.ctimeMs;
    this.checked[i] = r.checkedAtMs;
    this.md5[i] = r.md5;
  }

  relpaths(): IterableIterator<string> {
    return this.at.keys();
  }

  /** [relpath, column index] in row order. */
  indexes(): IterableIterator<[string, number]> {
    return this.at.entries();
  }

  *entries(): IterableIterator<[string, Row]> {
    for (const [p, i] of this.at) yield [p, this.rowAt(i)];
  }

  private rowAt(i: number): Row {
    return { ino: this.ino[i]!, size: this.size[i]!, mtimeMs: this.mtime[i]!, ctimeMs: this.ctime[i]!, md5: this.md5[i]!, checkedAtMs: this.checked[i]! };
  }
}

export class StatCache {
  /**
   * The stored relpaths as loaded, '\n'-joined: row k is pathText from pathStarts[k] to
   * pathStarts[k + 1] - 1. They become strings (`pathList`) only when a caller needs them all: a
   * status whose walk the rows stand for (rowsAsWalk) compares them in place, and splitting 100k
   * paths, with the garbage collection of their strings, was a tenth of that status.
   */
  private pathText = '';
  private pathStarts: Uint32Array | undefined;
  private pathList: string[] | undefined = [];
  private stored: Stored | undefined;
  private index: PathIndex | undefined;
  /** Rows written since load; they win over stored ones. */
  private changes = new ChangedRows();
  /**
   * Set by retainOnly() when the files kept are the stored rows in another order (the walk's):
   * the order the next rewrite saves them in, each named where it is (see rewrite()), so the
   * rows are not copied to be reordered.
   */
  private reordered: RowOrder | undefined;
  /** Lookups that found their stored row exactly at the next position (walk order unchanged). */
  private inOrder = 0;
  private tree: TreeMemo | undefined;
  private base: string | undefined;
  private dirty = false;
  private cursor = 0;
  /** Stored rows found by lookup() whose stat no longer matched: position and old md5 (record() patches them). */
  private readonly stale = new Map<string, { i: number; md5: string }>();
  /** Rows in the append log already (it is rewritten into the file past LOG_MAX_ROWS). */
  private logRows = 0;
  /**
   * The log exists with this generation's header: later lines are appended to it. (Not the same
   * as logRows > 0: a log may hold only tree, base or since lines, which a fresh log would drop.)
   */
  private logStarted = false;
  /** The tree memo and base as last saved (what the log must repeat when they change). */
  private savedTree: TreeMemo | undefined;
  private savedBase: string | undefined;
  private since: Since | undefined;
  /** `since` as last saved (JSON), to tell whether the log must repeat it. */
  private savedSince = 'null';
  /** Directory listings as loaded (see the class comment). */
  private dirs = new Map<string, DirRow>();
  /** Listings of the directories walked by this scan (undefined: none walked); a rewrite keeps only these. */
  private walkedDirs: Map<string, DirRow> | undefined;
  /** Prefixes whose row this scan changed (what the log must repeat). */
  private readonly changedDirs = new Set<string>();
  /** Positions of the stored rows the append log patched (the mirror index shows them as they were). */
  private patchedRows: ReadonlySet<number> = new Set();
  /** Stored rows whose check time refreshCheck() moved (in place: only a rewrite saves them). */
  private refreshedRows = 0;
  /** rewriteForMirror() found the stored rows worth a mirror index the file does not have. */
  private mirrorWanted = false;
  /** How many entries the header of the mirror index of generation `gen` counts, read at first use (see mirroredEntries). */
  private mirrorHeader: { gen: string; entries: number | undefined } | undefined;

  private constructor(
    private readonly file: string,
    /** The output's repo-relative path (the mirror index names files by it). */
    private readonly key: string,
  ) {}

  private mirrorFile(gen: string): string {
    return `${this.file}.${gen}.index`;
  }

  private get logFile(): string {
    return `${this.file}.log`;
  }

  private get binFile(): string {
    return `${this.file}.bin`;
  }

  private static fileFor(statDir: string, key: string, legacy: boolean): string {
    return join(statDir, createHash('md5').update(`${legacy ? 'legacy' : 'md5'}:${key}`).digest('hex') + '.json');
  }

  /** The size of the stored file in bytes (0 when there is none): a hint at the output's size before loading it. */
  static storedBytes(statDir: string, key: string, legacy: boolean): number {
    const file = StatCache.fileFor(statDir, key, legacy);
    const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;
    return size(file) + size(`${file}.bin`);
  }

  /**
   * The mirror index of the stored generation (named in the `.bin` header, read without loading
   * the cache), if there is one: status starts git on it before the cache loads.
   */
  static mirrorIndexOf(statDir: string, key: string, legacy: boolean): { file: string; gen: string } | undefined {
    return mirrorOfStoredFile(StatCache.fileFor(statDir, key, legacy));
  }

  /**
   * A stat cache with no rows that replaces the stored one when saved, for a checkout that writes
   * every file of the output: each stored row would be replaced anyway, and loading them (a
   * million rows: seconds, and their strings and columns kept alive beside the new rows) bought
   * nothing. Rows not recorded before the save (a checkout stopped half-way) are simply absent:
   * those files are hashed again, never trusted.
   */
  static replacing(statDir: string, key: string, legacy: boolean): StatCache {
    return new StatCache(StatCache.fileFor(statDir, key, legacy), key);
  }

  static load(statDir: string, key: string, legacy: boolean): StatCache {
    const file = StatCache.fileFor(statDir, key, legacy);
    const cache = new StatCache(file, key);
    try {
      const parsed = JSON.parse(readText(file)) as Stored;
      if (parsed.v === FORMAT_JSON || (binFormat(parsed) && cache.readNumberColumns(parsed))) {
        cache.stored = parsed;
        // '' joins both no rows and the one row of a single-file output (relpath ''): the columns tell which.
        if (typeof parsed.paths !== 'string') cache.paths = parsed.paths;
        else if (!cache.takePathText(parsed.paths, parsed.ino.length)) throw new Error('stat cache: the paths and the rows differ in number');
        cache.tree = parsed.tree;
        cache.base = parsed.base;
        cache.since = sinceFrom(parsed.since);
        if (Array.isArray(parsed.dirs)) for (const d of parsed.dirs) cache.loadDir(d);
        if (parsed.gen !== undefined) cache.replayLog(parsed.gen);
      }
    } catch {
      // missing or unreadable: start empty, everything gets hashed
    }
    cache.savedTree = cache.tree;
    cache.savedBase = cache.base;
    cache.savedSince = JSON.stringify(storedSince(cache.since));
    return cache;
  }

  /** Fills in `parsed`'s number columns from `<file>.bin`; false when it is missing or not of this generation. */
  private readNumberColumns(parsed: Stored): boolean {
    const rows = parsed.rows;
    if (typeof parsed.gen !== 'string' || typeof rows !== 'number' || !Number.isInteger(rows) || rows < 0) return false;
    if ((parsed.be === true) !== (endianness() === 'BE')) return false;
    const buf = readRegularFileSync(this.binFile, { maxBytes: MAX_STORE_BYTES });
    if (buf === undefined) return false;
    const numbersEnd = BIN_HEADER_BYTES + NUMBER_COLUMNS.length * rows * 8;
    const md5Bytes = parsed.v === FORMAT ? rows * MD5_BYTES : 0;
    if (buf.length !== numbersEnd + md5Bytes || buf.toString('latin1', 0, parsed.gen.length) !== parsed.gen) return false;
    if (parsed.v === FORMAT_V5 ? typeof parsed.md5 !== 'string' || parsed.md5.length !== rows * 32 || !HEX.test(parsed.md5) : parsed.md5 !== undefined) return false;
    // Float64Array views need 8-byte alignment (a file read whole normally has its own buffer at offset 0).
    const bytes = buf.byteOffset % 8 === 0 ? buf : Buffer.from(buf);
    NUMBER_COLUMNS.forEach((column, c) => {
      parsed[column] = new Float64Array(bytes.buffer, bytes.byteOffset + BIN_HEADER_BYTES + c * rows * 8, rows);
    });
    if (parsed.v === FORMAT) parsed.md5 = bytes.subarray(numbersEnd);
    return true;
  }

  /** Applies the append log written for base generation `gen` (see the class comment). */
  private replayLog(gen: string): void {
    const text = readRegularFileSync(this.logFile, { maxBytes: MAX_LOG_BYTES })?.toString('utf8');
    if (text === undefined) return;
    const lines = text.split('\n');
    // Only newline-terminated lines are complete: the last element is '' or a torn line.
    const torn = lines.pop() !== '';
    let header: { v?: number; gen?: string };
    try {
      header = JSON.parse(lines[0] ?? '');
    } catch {
      return;
    }
    if (header.v !== this.stored!.v || header.gen !== gen) return;
    this.logStarted = true;
    const s = this.stored!;
    const md5s: string[] = [];
    const patched = new Map<number, string>();
    for (let k = 1; k < lines.length; k++) {
      let line: LogLine;
      try {
        line = JSON.parse(lines[k]!) as LogLine;
      } catch {
        // A damaged line: what follows it cannot be trusted to be in order. Rewrite on next save.
        this.logRows = LOG_MAX_ROWS + 1;
        break;
      }
      if ('i' in line) {
        const { i } = line;
        if (typeof line.p !== 'string' || !this.pathIs(i, line.p) || typeof line.md5 !== 'string' || !MD5_HEX.test(line.md5)) {
          this.tree = undefined;
          this.since = undefined;
          continue;
        }
        const old = patched.get(i) ?? md5At(s, i);
        if (old !== line.md5) {
          this.tree = undefined;
          this.noteChange(line.p, old, line.md5);
        }
        s.ino[i] = line.ino;
        s.size[i] = line.size;
        s.mtime[i] = line.mtime;
        s.ctime[i] = line.ctime;
        s.checked[i] = line.checked;
        patched.set(i, line.md5);
        this.logRows++;
      } else if ('tree' in line) {
        this.tree = line.tree ?? undefined;
      } else if ('since' in line) {
        this.since = sinceFrom(line.since ?? undefined);
      } else if ('base' in line) {
        this.base = line.base;
      } else if ('dir' in line) {
        this.loadDir(line.dir);
        this.logRows++;
      }
    }
    // Appending after a torn line would glue onto it: the next save rewrites instead.
    if (torn) this.logRows = LOG_MAX_ROWS + 1;
    this.patchedRows = new Set(patched.keys());
    if (patched.size > 0 && typeof s.md5 !== 'string') {
      for (const [i, md5] of patched) s.md5.write(md5, i * MD5_BYTES, MD5_BYTES, 'hex');
    } else if (patched.size > 0) {
      const hex = s.md5 as string;
      // One pass over the concatenated md5s, however many rows were patched.
      let at = 0;
      for (const i of [...patched.keys()].sort((a, b) => a - b)) {
        md5s.push(hex.slice(at, i * 32), patched.get(i)!);
        at = i * 32 + 32;
      }
      md5s.push(hex.slice(at));
      s.md5 = md5s.join('');
    }
  }

  /** A stored directory row, checked field by field (the file is reg's own, but may be damaged). */
  private loadDir(d: unknown): void {
    if (!Array.isArray(d) || d.length !== 6 || typeof d[0] !== 'string' || typeof d[5] !== 'string') return;
    for (let k = 1; k < 5; k++) if (typeof d[k] !== 'number') return;
    const [prefix, ...row] = d as StoredDirRow;
    // Names are joined under the output: one that is empty, '.', '..' or holds a '/' would lead the walk elsewhere.
    if (row[4] !== '' && (row[4].includes('/') || row[4].includes('\0') || NOT_A_NAME.test(row[4]))) return;
    this.dirs.set(prefix, row);
  }

  /**
   * The directory listings this cache remembers, for a walk whose scan started at `checkedAtMs`
   * (before any directory's stats were taken); what the walk lists is remembered on save.
   */
  dirListings(checkedAtMs: number): DirListings {
    const walked = new Map<string, DirRow>();
    this.walkedDirs = walked;
    const trusted = listingTrusted;
    return {
      known: (prefix, st) => {
        const row = this.dirs.get(prefix);
        return trusted(row, st) ? row[4] : undefined;
      },
      listed: (prefix, st, names, joined) => {
        const old = this.dirs.get(prefix);
        if (joined !== undefined && old !== undefined && old[4] === joined) {
          walked.set(prefix, old);
          return;
        }
        // A name with a newline cannot be joined: that directory is read every time.
        if (names.some((n) => n.includes('\n'))) return;
        const all = names.join('\n');
        if (trusted(old, st) && old[4] === all) {
          walked.set(prefix, old);
          return;
        }
        walked.set(prefix, [st.ino, st.mtimeMs, st.ctimeMs, checkedAtMs, all]);
        this.changedDirs.add(prefix);
        this.dirty = true;
      },
    };
  }

  /**
   * The stored rows as a walk of the output would find them now, without walking it (status's walk
   * elision, see scanWorkspace), when the remembered listings show exactly that: every remembered
   * directory still has the stats it was listed with (and was not racy then), and walking the
   * listings from the output's top, each name is either the next row (rows are stored in walk
   * order) or a remembered subdirectory, and every row and every remembered directory is reached.
   * So no entry was added, removed or renamed, and there is nothing else the walk would look at (a
   * temp file, a symlinked or skipped directory, an unreadable listing). `dirStats` lstats a
   * directory by its prefix ('' is the output; undefined when it is gone or not a directory).
   *
   * The files' own stats are not checked here. Returned are the rows git cannot vouch for, which
   * the caller must lstat: those it reported changed (`reported`, from the mirror index of
   * generation `gen`), those the append log patched since, and those never in the mirror.
   * Undefined when the rows cannot stand for a walk: the caller walks. Call right after load(),
   * instead of dirListings(); on success the listings count as walked (what a rewrite keeps).
   */
  rowsAsWalk(gen: string, reported: ReadonlySet<string>, dirStats: (prefix: string) => DirStats | undefined): number[] | undefined {
    const s = this.stored;
    const rows = this.rows();
    if (s === undefined || !binFormat(s) || s.gen !== gen || this.changes.count > 0 || rows === 0) return undefined;
    for (const [prefix, row] of this.dirs) {
      const st = dirStats(prefix);
      if (st === undefined || !listingTrusted(row, st)) return undefined;
    }
    const patched = this.patchedRows;
    // Which rows git does not vouch for, found on the way (every row is reached once).
    const allMirrored = this.everyRowMirrored();
    const reportedByDir = namesByDirectory(reported);
    const toCheck: number[] = [];
    let next = 0;
    let reached = 0;
    // Names are compared with the rows in place: a string only for a name in a directory where git reported a file.
    const visit = (prefix: string): boolean => {
      const row = this.dirs.get(prefix);
      if (row === undefined) return false;
      reached++;
      const listing = row[4];
      const reportedHere = reportedByDir.get(prefix);
      for (let from = 0; from < listing.length; ) {
        let to = listing.indexOf('\n', from);
        if (to === -1) to = listing.length;
        if (this.pathIsListed(next, prefix, listing, from, to - from)) {
          const i = next++;
          if (patched.has(i) || (reportedHere !== undefined && reportedHere.has(listing.slice(from, to))) || (!allMirrored && !this.mirrorableAt(s, i))) toCheck.push(i);
        } else {
          const dir = `${prefix}${listing.slice(from, to)}/`;
          if (!this.dirs.has(dir) || !visit(dir)) return false;
        }
        from = to + 1;
      }
      return true;
    };
    if (!visit('') || next !== rows || reached !== this.dirs.size) return undefined;
    this.walkedDirs = new Map(this.dirs);
    return toCheck;
  }

  /**
   * Every stored row was in the mirror index of their generation when it was written (its header
   * counts as many entries: it holds no others). A row an append-log line patched since is no
   * longer what the mirror says (callers check patchedRows first); every other row still is, so
   * none of them needs mirrorableAt().
   */
  private everyRowMirrored(): boolean {
    const s = this.stored;
    return s?.gen !== undefined && this.mirroredEntries(s.gen) === this.rows();
  }

  /**
   * The entries the header of generation `gen`'s mirror index counts: its file is opened once, not
   * at every everyRowMirrored() (a status asks twice); writing a mirror forgets it.
   */
  private mirroredEntries(gen: string): number | undefined {
    if (this.mirrorHeader?.gen !== gen) this.mirrorHeader = { gen, entries: mirrorEntries(this.mirrorFile(gen)) };
    return this.mirrorHeader.entries;
  }

  /** How many rows were loaded. */
  rows(): number {
    return this.reordered?.order.length ?? this.pathList?.length ?? this.pathStarts!.length - 1;
  }

  /** The relpath of stored row `i`. */
  pathAt(i: number): string {
    return this.pathList?.[i] ?? this.pathText.slice(this.pathStarts![i], this.pathStarts![i + 1]! - 1);
  }

  /** The stored relpaths as strings (split from the loaded text at first use). */
  private get paths(): string[] {
    if (this.pathList === undefined) {
      this.pathList = this.pathText.split('\n');
      this.pathText = '';
      this.pathStarts = undefined;
    }
    return this.pathList;
  }

  private set paths(list: string[]) {
    this.pathList = list;
    this.pathText = '';
    this.pathStarts = undefined;
  }

  /**
   * Takes `text`, `rows` relpaths joined by '\n', without splitting it (see pathText); false when
   * it holds another number of them (a damaged file).
   */
  private takePathText(text: string, rows: number): boolean {
    if (rows === 0) {
      this.paths = [];
      return text === '';
    }
    const starts = new Uint32Array(rows + 1);
    let at = 0;
    for (let k = 1; k < rows; k++) {
      const nl = text.indexOf('\n', at);
      if (nl === -1) return false;
      at = nl + 1;
      starts[k] = at;
    }
    if (text.indexOf('\n', at) !== -1) return false;
    starts[rows] = text.length + 1;
    this.pathList = undefined;
    this.pathText = text;
    this.pathStarts = starts;
    return true;
  }

  /** Stored row `i` exists and its relpath is `relpath` (compared in place, no string made). */
  private pathIs(i: number, relpath: string): boolean {
    if (this.pathList !== undefined) return this.pathList[i] === relpath;
    const starts = this.pathStarts!;
    if (!(i >= 0 && i < starts.length - 1)) return false;
    const at = starts[i]!;
    return starts[i + 1]! - 1 - at === relpath.length && this.pathText.startsWith(relpath, at);
  }

  /** Stored row `i`'s relpath is `prefix` followed by the `length` characters of `listing` from `from` (compared in place). */
  private pathIsListed(i: number, prefix: string, listing: string, from: number, length: number): boolean {
    if (this.pathList !== undefined) return this.pathIs(i, prefix + listing.slice(from, from + length));
    const starts = this.pathStarts!;
    if (i >= starts.length - 1) return false;
    const at = starts[i]!;
    if (starts[i + 1]! - 1 - at !== prefix.length + length || !this.pathText.startsWith(prefix, at)) return false;
    const text = this.pathText;
    const nameAt = at + prefix.length;
    for (let c = 0; c < length; c++) if (text.charCodeAt(nameAt + c) !== listing.charCodeAt(from + c)) return false;
    return true;
  }

  /** mirrorableRow() of stored row `i` (the empty relpath, a single file's, never is), without making its relpath a string. */
  private mirrorableAt(s: Stored, i: number): boolean {
    return !this.pathIs(i, '') && mirrorable(s.size[i]!, s.mtime[i]!, s.ctime[i]!, s.checked[i]!);
  }

  /** lookup() of stored row `i` (as rowsAsWalk() named it) for its file's fresh lstat. */
  lookupAt(i: number, file: WalkedFile, refreshAtMs?: number): string | undefined {
    this.cursor = i;
    return this.lookup(file, refreshAtMs);
  }

  /** The rows' sizes summed, with those recorded since load. */
  totalSize(): number {
    let size = 0;
    const s = this.stored;
    if (s === undefined) return size;
    for (let i = 0, rows = this.rows(); i < rows; i++) size += s.size[i]!;
    for (const [p, r] of this.changes.entries()) {
      const stored = this.stale.get(p);
      size += r.size - (stored === undefined ? 0 : s.size[stored.i]!);
    }
    return size;
  }

  /** The rows as walked files with their md5, in stored order (what a walk would have listed, after rowsAsWalk()). */
  rowsAsFiles(): Array<WalkedFile & { md5: string }> {
    const s = this.stored;
    if (s === undefined) return [];
    const changed = this.changes.count > 0;
    return this.paths.map((relpath, i) => {
      const r = changed ? this.changes.get(relpath) : undefined;
      return r
        ? { relpath, ino: r.ino, size: r.size, mtimeMs: r.mtimeMs, ctimeMs: r.ctimeMs, md5: r.md5, mode: MIRROR_MODE }
        : { relpath, ino: s.ino[i]!, size: s.size[i]!, mtimeMs: s.mtime[i]!, ctimeMs: s.ctime[i]!, md5: md5At(s, i), mode: MIRROR_MODE };
    });
  }

  private storedIndex(relpath: string): number | undefined {
    if (this.pathIs(this.cursor, relpath)) return this.cursor;
    return this.pathIndex().get(relpath);
  }

  private pathIndex(): PathIndex {
    this.index ??= new PathIndex(this.rows(), (i) => this.pathHash(i), (i, relpath) => this.pathIs(i, relpath));
    return this.index;
  }

  /** hashPath() of stored row `i`'s relpath, read in place. */
  private pathHash(i: number): number {
    if (this.pathList !== undefined) return hashPath(this.pathList[i]!, 0, this.pathList[i]!.length);
    return hashPath(this.pathText, this.pathStarts![i]!, this.pathStarts![i + 1]! - 1);
  }

  /**
   * Which files the walk need not lstat, given `reported` (relpaths), the entries of the mirror
   * index of generation `gen` that git found changed: a file in the mirror, not reported and not
   * patched since gets its stored stats (`stats`). Undefined when the loaded rows are not that
   * generation's. `mirrored` is how many entries the mirror holds. Call before any record().
   */
  trustedStats(gen: string, reported: ReadonlySet<string>): { stats: (relpath: string) => ListedStats | undefined; mirrored: number } | undefined {
    const s = this.stored;
    if (s === undefined || !binFormat(s) || s.gen !== gen) return undefined;
    const inMirror = (i: number) => this.mirrorableAt(s, i);
    let mirrored = 0;
    if (this.everyRowMirrored()) mirrored = this.rows() - this.patchedRows.size;
    else for (let i = 0, rows = this.rows(); i < rows; i++) if (inMirror(i) && !this.patchedRows.has(i)) mirrored++;
    const patched = this.patchedRows;
    // The walk asks in stored order, directories in between: a cursor finds the rows; past more
    // misses than there are directories, the order changed, and an index finds them.
    let cursor = 0;
    let misses = 0;
    const missLimit = this.dirs.size + 64;
    let index: PathIndex | undefined;
    const stats = (relpath: string): ListedStats | undefined => {
      let i: number | undefined = cursor;
      if (!this.pathIs(i, relpath)) {
        if (index === undefined && ++misses > missLimit) index = this.pathIndex();
        i = index?.get(relpath);
        if (i === undefined) return undefined;
      }
      cursor = i + 1;
      if (patched.has(i) || !inMirror(i) || reported.has(relpath)) return undefined;
      return new ListedStats(MIRROR_MODE, s.ino[i]!, s.size[i]!, s.mtime[i]!, s.ctime[i]!);
    };
    return { stats, mirrored };
  }

  private row(relpath: string): Row | undefined {
    const changed = this.changes.get(relpath);
    if (changed !== undefined) return changed;
    const i = this.storedIndex(relpath);
    if (i === undefined || !this.stored) return undefined;
    if (i === this.cursor) this.inOrder++;
    this.cursor = i + 1;
    const s = this.stored;
    return { ino: s.ino[i]!, size: s.size[i]!, mtimeMs: s.mtime[i]!, ctimeMs: s.ctime[i]!, md5: md5At(s, i), checkedAtMs: s.checked[i]! };
  }

  /** The remembered md5 if the file's stat still matches (and is not racy), else undefined. */
  lookup(file: WalkedFile, refreshAtMs?: number): string | undefined {
    if (this.changes.count > 0 && this.changes.has(file.relpath)) {
      const row = this.changes.get(file.relpath)!;
      return statMatches(file, row.ino, row.size, row.mtimeMs, row.ctimeMs, row.checkedAtMs) ? row.md5 : undefined;
    }
    // The stored columns are compared in place: no row object per file (a no-change status looks up every file).
    const i = this.storedIndex(file.relpath);
    const s = this.stored;
    if (i === undefined || !s) return undefined;
    if (i === this.cursor) this.inOrder++;
    this.cursor = i + 1;
    if (!statMatches(file, s.ino[i]!, s.size[i]!, s.mtime[i]!, s.ctime[i]!, s.checked[i]!)) {
      this.stale.set(file.relpath, { i, md5: md5At(s, i) });
      return undefined;
    }
    if (refreshAtMs !== undefined) this.refreshCheck(s, i, refreshAtMs);
    return md5At(s, i);
  }

  /**
   * Records a file's md5. `checkedAtMs` is when its stat was taken before hashing; omit it for
   * files reg just wrote from the cache (trusted).
   */
  record(file: WalkedFile, md5: string, checkedAtMs?: number): void {
    const checked = checkedAtMs ?? file.mtimeMs + RACY_WINDOW_MS + 1;
    const stored = this.stale.get(file.relpath);
    // Only a stored row re-recorded once has a known previous md5 to keep `since` exact.
    if (stored === undefined || this.changes.has(file.relpath)) this.since = undefined;
    else if (stored.md5 !== md5) this.noteChange(file.relpath, stored.md5, md5);
    this.changes.set(file.relpath, { ino: file.ino, size: file.size, mtimeMs: file.mtimeMs, ctimeMs: file.ctimeMs, md5, checkedAtMs: checked });
    // A touched file with the same bytes leaves the tree as it was: its memo stays valid.
    if (this.stale.get(file.relpath)?.md5 !== md5) this.tree = undefined;
    this.dirty = true;
  }

  /** A row's md5 went from `prev` to `next`: keep `since` (the md5s at its tree) up to date. */
  private noteChange(relpath: string, prev: string, next: string): void {
    const since = this.since;
    if (since === undefined) return;
    const atTree = since.changed.get(relpath) ?? prev;
    if (next === atTree) since.changed.delete(relpath);
    else since.changed.set(relpath, atTree);
  }

  /** Every row changed since load is a stored row re-recorded (a patch), none added. */
  private onlyPatches(): boolean {
    if (this.changes.count > this.stale.size) return false;
    for (const p of this.changes.relpaths()) if (!this.stale.has(p)) return false;
    return true;
  }

  /** Keeps only the rows of these files, stored in this order (the walk order). Call last, before save(). */
  retainOnly(relpaths: readonly string[]): void {
    // Every file was looked up once, in stored order, and nothing changed: already exact.
    if (this.inOrder === this.rows() && relpaths.length === this.rows() && this.onlyPatches()) return;
    const reordered = this.storedRowsIn(relpaths);
    if (reordered !== undefined) {
      // The same rows (so the tree memo and `since` still hold), in the walk's order, as after a
      // checkout, which records them in the manifest's: no copy of every row to reorder them (at
      // a million files, that copy was a fifth of the first status's live memory).
      this.reordered = reordered;
      this.index = undefined;
      this.dirty = true;
      return;
    }
    this.cursor = 0;
    this.reordered = undefined;
    if (this.changes.count === relpaths.length && relpaths.every((p) => this.changes.has(p))) {
      // Every file kept was recorded by this scan (a first add): its rows need only the walk's
      // order, not a second copy (at a million files, that copy was a tenth of add's peak memory).
      this.changes.reorder(relpaths);
    } else {
      const kept = new ChangedRows();
      for (const p of relpaths) {
        const r = this.row(p);
        if (r) kept.set(p, r);
      }
      this.changes = kept;
    }
    this.stored = undefined;
    this.paths = [];
    this.index = undefined;
    this.stale.clear();
    this.tree = undefined;
    this.since = undefined;
    this.dirty = true;
  }

  /**
   * The pointer's tree `oid` whose rows were exactly these at the last scan, and the files whose
   * md5 changed since (the files themselves are the same: none added or removed). Undefined when
   * that is not known. Call after the scan's record() calls.
   */
  contentChangesSinceTree(count: number): { oid: string; modified: string[] } | undefined {
    const since = this.since;
    if (since === undefined || since.count !== count || this.rows() !== count || !this.onlyPatches()) return undefined;
    return { oid: since.oid, modified: [...since.changed.keys()] };
  }

  /** The rows are now exactly tree `oid` (the scan found the pointer's version, or add recorded it). */
  anchorChangesAt(oid: string, count: number): void {
    const since = this.since;
    if (since !== undefined && since.oid === oid && since.count === count && since.changed.size === 0) return;
    this.since = { oid, count, changed: new Map() };
    this.dirty = true;
  }

  /** The tree oid remembered for exactly the current rows, if any. */
  treeOid(count: number): string | undefined {
    return this.tree && this.tree.count === count && this.rows() === count && this.onlyPatches() ? this.tree.oid : undefined;
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

  /**
   * A stored row that matched its file but is kept out of the mirror index because it was checked
   * in the same second as the file's times (files reg writes itself are recorded so): checked again
   * at `checkedAtMs`, the start of this scan, when that lets it in. The row's stats matched the
   * file's lstat taken after that moment, so nothing wrote to it since it was recorded (its ctime
   * would have moved). When more than LOG_MAX_ROWS rows were (a checkout), the next save rewrites
   * the file and its mirror, once; a few (a file edited since the last rewrite) are not worth a
   * rewrite of every row: they stay out of the mirror, lstat'ed as before, until the next one.
   */
  private refreshCheck(s: Stored, i: number, checkedAtMs: number): void {
    if (mirrorable(s.size[i]!, s.mtime[i]!, s.ctime[i]!, s.checked[i]!) || !mirrorable(s.size[i]!, s.mtime[i]!, s.ctime[i]!, checkedAtMs)) return;
    s.checked[i] = checkedAtMs;
    this.refreshedRows++;
  }

  /**
   * Asks the next save to rewrite the file when its stored rows would give a mirror index and it
   * has none (written by a reg from before the mirror, or the mirror was deleted): once, since the
   * rewrite then writes one.
   *
   * Called on every status of a stat cache without a mirror, most often one with too few
   * mirrorable rows, so the answer is not counted again each time: the rewrite that wrote this
   * generation stored its count (`mirrorable`), and the append log has changed at most
   * patchedRows.size rows since. When even all of those could not make enough, nothing is counted;
   * otherwise the count stops at the threshold.
   */
  rewriteForMirror(): void {
    const s = this.stored;
    // Without user ids (Windows) no mirror is ever written: asking would rewrite at every save.
    if (s === undefined || !binFormat(s) || process.getuid === undefined) return;
    const counted = s.mirrorable;
    if (typeof counted === 'number' && Number.isInteger(counted) && counted >= 0 && counted + this.patchedRows.size < MIRROR_MIN_ENTRIES) return;
    let mirrorableRows = 0;
    for (let i = 0, rows = this.rows(); i < rows && mirrorableRows < MIRROR_MIN_ENTRIES; i++) {
      if (this.mirrorableAt(s, i)) mirrorableRows++;
    }
    if (mirrorableRows < MIRROR_MIN_ENTRIES) return;
    this.mirrorWanted = true;
  }

  save(): void {
    const rewriteForMirror = this.mirrorWanted || this.refreshedRows > LOG_MAX_ROWS;
    if (!this.dirty && !rewriteForMirror) return;
    // The log patches rows where they are stored: a new order is saved only by a rewrite.
    if (!rewriteForMirror && this.reordered === undefined && this.stored?.gen !== undefined && this.onlyPatches() && this.logRows + this.changes.count + this.changedDirs.size <= LOG_MAX_ROWS && this.appendLog()) {
      this.dirty = false;
      return;
    }
    this.rewrite();
  }

  /** Appends the patched rows, tree memo and base to the log; false when the log cannot be written. */
  private appendLog(): boolean {
    const lines: string[] = [];
    if (!this.logStarted) lines.push(JSON.stringify({ v: this.stored!.v, gen: this.stored!.gen }));
    for (const [p, r] of this.changes.entries()) {
      lines.push(JSON.stringify({ i: this.stale.get(p)!.i, p, ino: r.ino, size: r.size, mtime: r.mtimeMs, ctime: r.ctimeMs, md5: r.md5, checked: r.checkedAtMs }));
    }
    if (this.tree?.oid !== this.savedTree?.oid || this.tree?.count !== this.savedTree?.count) lines.push(JSON.stringify({ tree: this.tree ?? null }));
    if (this.base !== this.savedBase && this.base !== undefined) lines.push(JSON.stringify({ base: this.base }));
    const since = JSON.stringify(storedSince(this.since));
    if (since !== this.savedSince) lines.push(`{"since":${since}}`);
    for (const p of this.changedDirs) lines.push(JSON.stringify({ dir: [p, ...this.walkedDirs!.get(p)!] }));
    try {
      // A fresh log replaces any leftover (written for an older base: its header would not match anyway).
      if (!this.logStarted) writeFileAtomicSync(this.logFile, lines.join('\n') + '\n');
      else appendNoFollowSync(this.logFile, lines.join('\n') + '\n');
    } catch {
      return false;
    }
    this.logRows += this.changes.count + this.changedDirs.size;
    this.changedDirs.clear();
    this.logStarted = true;
    this.savedTree = this.tree;
    this.savedBase = this.base;
    this.savedSince = since;
    return true;
  }

  /**
   * Writes the rows' mirror index (see the class comment) and says how many rows it could hold
   * (undefined when unknown); one that cannot be written only makes the next status lstat every file.
   */
  private writeMirror(gen: string, order: readonly string[], numberAt: (column: NumberColumnName) => (k: number) => number): number | undefined {
    const [ino, size, mtimeMs, ctimeMs, checkedAtMs] = NUMBER_COLUMNS.map(numberAt) as [Column, Column, Column, Column, Column];
    // The rewrite also removes the other generations' mirrors: no header read before it holds after.
    this.mirrorHeader = undefined;
    try {
      return writeMirrorIndex(this.mirrorFile(gen), this.key, { count: order.length, relpath: (k) => order[k]!, ino, size, mtimeMs, ctimeMs, checkedAtMs });
    } catch {
      // A full or read-only disk: the save itself reports it if it matters.
      return undefined;
    }
  }

  /** Removes the mirror indexes of other generations (the last one, and any a crash mid-rewrite left). */
  private removeMirrorsBut(gen: string): void {
    const dir = dirname(this.file);
    const own = `${basename(this.file)}.`;
    try {
      for (const name of readdirSync(dir)) {
        if (name.startsWith(own) && name.endsWith('.index') && name !== basename(this.mirrorFile(gen))) rmSync(join(dir, name), { force: true });
      }
    } catch {
      // a leftover mirror is never used (its generation is not the stored one)
    }
  }

  /**
   * `relpaths` as an order of the rows, when they are exactly the stored rows (patched or not, none
   * added) in any order; else undefined. Walked paths are unique, so as many of them as there are
   * rows, each a stored row, are every row once.
   */
  private storedRowsIn(relpaths: readonly string[]): RowOrder | undefined {
    if (this.stored === undefined || relpaths.length !== this.rows() || !this.onlyPatches()) return undefined;
    const where = new Int32Array(relpaths.length);
    this.cursor = 0;
    for (let k = 0; k < relpaths.length; k++) {
      const p = relpaths[k]!;
      const i = this.storedIndex(p);
      if (i === undefined) return undefined;
      this.cursor = i + 1;
      where[k] = this.changes.indexOf(p) ?? -1 - i;
    }
    return { order: relpaths, where };
  }

  /** Every row in the order a rewrite saves it: the stored ones, then those recorded since (see rewrite()). */
  private rowOrder(): RowOrder {
    if (this.reordered !== undefined) return this.reordered;
    const order: string[] = [];
    const where: number[] = [];
    const changes = this.changes;
    const rewritten = new Set<string>();
    const paths = this.paths;
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i]!;
      const c = changes.indexOf(p);
      order.push(p);
      where.push(c ?? -1 - i);
      if (c !== undefined) rewritten.add(p);
    }
    for (const [p, c] of changes.indexes()) {
      if (rewritten.has(p)) continue;
      order.push(p);
      where.push(c);
    }
    return { order, where };
  }

  private rewrite(): void {
    // Each row is named by where it is, not copied: an index into the recorded columns (>= 0) or
    // -1 - its index in the stored ones. Copies of every column were most of the memory a
    // million-row save added.
    const { order, where } = this.rowOrder();
    const stored = this.stored;
    const changes = this.changes;
    const numberAt = (column: NumberColumnName) => (k: number) => {
      const w = where[k]!;
      return w >= 0 ? changes[column][w]! : stored![column][-1 - w]!;
    };
    const md5OfRow = (k: number) => {
      const w = where[k]!;
      return w >= 0 ? changes.md5[w]! : md5At(stored!, -1 - w);
    };
    const joinable = order.every((p) => !p.includes('\n'));
    const gen = randomBytes(GEN_CHARS / 2).toString('hex');
    const mirrorableRows = this.writeMirror(gen, order, numberAt);
    const header = {
      v: FORMAT,
      rows: order.length,
      ...(mirrorableRows !== undefined ? { mirrorable: mirrorableRows } : {}),
      ...(endianness() === 'BE' ? { be: true } : {}),
      ...(this.tree ? { tree: this.tree } : {}),
      ...(this.base ? { base: this.base } : {}),
      ...(this.since ? { since: storedSince(this.since)! } : {}),
      ...(this.walkedDirs && this.walkedDirs.size > 0 ? { dirs: [...this.walkedDirs].map(([p, row]): StoredDirRow => [p, ...row]) } : {}),
      gen,
    };
    // The same JSON document as JSON.stringify(Stored), written a column at a time and each column
    // in slices of PART_ROWS rows: at a million rows, a whole column as one string (and again as its
    // JSON and its bytes) was most of the peak memory of the command that saved it.
    function* parts(): Generator<string> {
      yield JSON.stringify(header).slice(0, -1);
      if (joinable) {
        // Escaping is per character, so the escaped slices joined by an escaped "\n" equal the escaped whole.
        yield ',"paths":"';
        for (let at = 0; at < order.length; at += PART_ROWS) yield (at > 0 ? '\\n' : '') + JSON.stringify(order.slice(at, at + PART_ROWS).join('\n')).slice(1, -1);
        yield '"';
      } else yield* jsonArrayParts('paths', order.length, (k) => order[k]!);
      yield '}';
    }
    // The `.bin`: its header, then each column, in slices of PART_ROWS rows through one reused
    // buffer (the writer writes each part before asking for the next), not a second copy of every column.
    function* numberParts(): Generator<Buffer> {
      const header = Buffer.alloc(BIN_HEADER_BYTES);
      header.write(gen, 0, 'latin1');
      yield header;
      const slice = new Float64Array(Math.min(PART_ROWS, order.length));
      const bytes = Buffer.from(slice.buffer);
      for (const column of NUMBER_COLUMNS) {
        const at = numberAt(column);
        for (let from = 0; from < order.length; from += PART_ROWS) {
          const n = Math.min(PART_ROWS, order.length - from);
          for (let k = 0; k < n; k++) slice[k] = at(from + k);
          yield bytes.subarray(0, n * 8);
        }
      }
      // Then the md5s.
      const md5s = Buffer.alloc(Math.min(PART_ROWS, order.length) * MD5_BYTES);
      for (let from = 0; from < order.length; from += PART_ROWS) {
        const n = Math.min(PART_ROWS, order.length - from);
        for (let k = 0; k < n; k++) md5s.write(md5OfRow(from + k), k * MD5_BYTES, MD5_BYTES, 'hex');
        yield md5s.subarray(0, n * MD5_BYTES);
      }
    }
    // The numbers first: until the JSON naming their generation replaces the old one, the pair reads as missing.
    // Not fsynced: a cache. A file torn by a crash fails to parse and is treated as missing (every file gets hashed).
    writeFileAtomicSync(this.binFile, numberParts(), 0o666, false);
    writeFileAtomicSync(this.file, parts(), 0o666, false);
    // The log was for the previous generation; it would be ignored, but it need not linger.
    if (this.logRows > 0 || this.stored?.gen !== undefined) rmSync(this.logFile, { force: true });
    this.removeMirrorsBut(gen);
    // Temp files of saves a SIGKILL cut short are never read, and nothing else removes them. Only
    // those over an hour old: another reg's save may be writing one now.
    try {
      removeStaleTemps(dirname(this.file));
    } catch {
      // only space
    }
    this.changedDirs.clear();
    this.logStarted = false;
    this.refreshedRows = 0;
    this.mirrorWanted = false;
    this.dirty = false;
  }
}

/** `,"key":[...]` of the `count` values `valueAt` gives, in slices of PART_ROWS. */
function* jsonArrayParts(key: string, count: number, valueAt: (k: number) => string | number): Generator<string> {
  yield `,"${key}":[`;
  for (let at = 0; at < count; at += PART_ROWS) yield (at > 0 ? ',' : '') + JSON.stringify(sliceOf(at, count, valueAt)).slice(1, -1);
  yield ']';
}

/** The values `valueAt` gives for rows `at` .. `at + PART_ROWS` (fewer at the end). */
function sliceOf<T>(at: number, count: number, valueAt: (k: number) => T): T[] {
  const part: T[] = [];
  for (let k = at; k < Math.min(count, at + PART_ROWS); k++) part.push(valueAt(k));
  return part;
}

/** The number of entries a Git index file's header gives (undefined if it is not one). */
function mirrorEntries(file: string): number | undefined {
  const header = Buffer.alloc(12);
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (readSync(fd, header, 0, 12, 0) !== 12) return undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return header.toString('latin1', 0, 4) === 'DIRC' ? header.readUInt32BE(8) : undefined;
}

/** The stored files of the formats with a `.bin` (their number columns are there). */
function binFormat(s: Stored): boolean {
  return s.v === FORMAT || s.v === FORMAT_V5;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const HEX = /^[0-9a-f]*$/;

/** Stored row `i`'s md5, as hex. */
function md5At(s: Stored, i: number): string {
  return typeof s.md5 === 'string' ? s.md5.slice(i * 32, i * 32 + 32) : s.md5.toString('hex', i * MD5_BYTES, i * MD5_BYTES + MD5_BYTES);
}

/**
 * A file of reg's own as text: one-byte (latin1) when it is ASCII, which is cheaper to make than
 * UTF-8's two-byte string. Like the `.bin` and the log, only a regular file (a link planted under
 * `.reg/tmp/stat/` is not followed, a FIFO does not block): throws otherwise.
 */
function readText(file: string): string {
  const bytes = readRegularFileSync(file, { maxBytes: MAX_STORE_BYTES });
  if (bytes === undefined) throw new Error(`${file}: no stat cache to read`);
  return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
}

/** A remembered listing still holds: its directory has the stats it was listed with, and had them since before the scan that listed it (see the class comment). */
function listingTrusted(row: DirRow | undefined, st: DirStats): row is DirRow {
  return row !== undefined && row[0] === st.ino && row[1] === st.mtimeMs && row[2] === st.ctimeMs && Math.max(row[1], row[2]) < row[3] - RACY_WINDOW_MS;
}

/** A row's stat equals the file's and was not racy when taken (see the class comment). */
function statMatches(file: WalkedFile, ino: number, size: number, mtimeMs: number, ctimeMs: number, checkedAtMs: number): boolean {
  return ino === file.ino && size === file.size && mtimeMs === file.mtimeMs && ctimeMs === file.ctimeMs && mtimeMs < checkedAtMs - RACY_WINDOW_MS;
}

function storedSince(since: Since | undefined): StoredSince | null {
  return since === undefined ? null : { oid: since.oid, count: since.count, changed: [...since.changed] };
}

/** A stored `since`, checked field by field (the file is reg's own, but may be damaged). */
function sinceFrom(raw: StoredSince | undefined): Since | undefined {
  if (raw === undefined || raw === null || typeof raw.oid !== 'string' || typeof raw.count !== 'number' || !Array.isArray(raw.changed)) return undefined;
  const changed = new Map<string, string>();
  for (const pair of raw.changed) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return undefined;
    changed.set(pair[0], pair[1]);
  }
  return { oid: raw.oid, count: raw.count, changed };
}

/**
 * Appends to an existing log without following a symlink (a link committed at `.reg/tmp/stat/*.log`
 * fails with ELOOP, and the caller then rewrites the whole file by temp file + rename instead).
 */
function appendNoFollowSync(file: string, text: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
  try {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  } finally {
    closeSync(fd);
  }
}

/** Relpaths grouped by their directory prefix (`''` or `'a/b/'`, as the stat cache names directories): name sets. */
function namesByDirectory(relpaths: ReadonlySet<string>): Map<string, Set<string>> {
  const byDir = new Map<string, Set<string>>();
  for (const relpath of relpaths) {
    const cut = relpath.lastIndexOf('/') + 1;
    const prefix = relpath.slice(0, cut);
    let names = byDir.get(prefix);
    if (names === undefined) byDir.set(prefix, (names = new Set()));
    names.add(relpath.slice(cut));
  }
  return byDir;
}

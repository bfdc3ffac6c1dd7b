import { createHash } from 'node:crypto';

/**
 * A Git index file (the "DIRC" format, version 2: git's Documentation/gitformat-index.txt) holding
 * only stat data, so git can say which of a list of files changed since they were looked at
 * (`git diff-files` with GIT_INDEX_FILE pointing at it). Every entry names the same object,
 * MIRROR_OID, which is never a real blob: git cannot confirm any entry by its content, so it
 * reports every entry whose stat it cannot match (a file reported wrongly only costs its lstat).
 */
/** The entries, by position (accessors rather than one object per entry: a mirror holds 100k and more). */
export interface GitIndexEntries {
  count: number;
  /** Put before every path (a directory's 'dir/'): sorting by the rest is the same order, and no path string is built per entry. */
  prefix: string;
  /** Repo-relative after the prefix, '/'-separated. */
  path(k: number): string;
  ctimeMs(k: number): number;
  mtimeMs(k: number): number;
  ino(k: number): number;
  size(k: number): number;
  /** 0o100644 or 0o100755. */
  mode(k: number): number;
  uid(k: number): number;
  gid(k: number): number;
}

/** Fixed, not the empty blob's oid (git would take an empty file for it) and not all zeros (which some gits refuse). */
export const MIRROR_OID = Buffer.from('5265672073746174206d6972726f72206f696421', 'hex');

const HEADER_BYTES = 12;
/** ctime, mtime (sec, nsec each), dev, ino, mode, uid, gid, size: ten 32-bit fields, then the oid and the 16-bit flags. */
const ENTRY_FIXED_BYTES = 62;
const NAME_MASK = 0xfff;
const TWO_32 = 4294967296;

/** The index file's bytes: entries sorted by path bytes, as git requires. */
export function gitIndexV2(entries: GitIndexEntries): Buffer {
  const prefix = Buffer.from(entries.prefix, 'utf8');
  const lengths = new Uint32Array(entries.count);
  let total = HEADER_BYTES + 20;
  for (let k = 0; k < entries.count; k++) {
    lengths[k] = prefix.length + Buffer.byteLength(entries.path(k), 'utf8');
    total += entryBytes(lengths[k]!);
  }
  const buf = Buffer.alloc(total);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  buf.write('DIRC', 0, 'latin1');
  view.setUint32(4, 2);
  view.setUint32(8, entries.count);
  let at = HEADER_BYTES;
  for (const k of sortedByBytes(entries)) {
    const length = lengths[k]!;
    setTime(view, at, entries.ctimeMs(k));
    setTime(view, at + 8, entries.mtimeMs(k));
    // at + 16, dev: 0 (git compares it only when built with USE_STDEV)
    view.setUint32(at + 20, truncate32(entries.ino(k)));
    view.setUint32(at + 24, entries.mode(k));
    view.setUint32(at + 28, truncate32(entries.uid(k)));
    view.setUint32(at + 32, truncate32(entries.gid(k)));
    view.setUint32(at + 36, truncate32(entries.size(k)));
    buf.set(MIRROR_OID, at + 40);
    view.setUint16(at + 60, Math.min(length, NAME_MASK));
    buf.set(prefix, at + ENTRY_FIXED_BYTES);
    buf.write(entries.path(k), at + ENTRY_FIXED_BYTES + prefix.length, 'utf8');
    // The rest of the entry is the NUL padding Buffer.alloc left.
    at += entryBytes(length);
  }
  createHash('sha1').update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}

/** An entry's size: the fixed part, the name and 1 to 8 NULs, to a multiple of 8. */
function entryBytes(nameLength: number): number {
  return (ENTRY_FIXED_BYTES + nameLength + 8) & ~7;
}

function setTime(view: DataView, at: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
  view.setUint32(at, truncate32(sec));
  view.setUint32(at + 4, nsec);
}

/** What git keeps of a stat value: its low 32 bits. */
function truncate32(n: number): number {
  return ((n % TWO_32) + TWO_32) % TWO_32;
}

/**
 * Positions of the entries in UTF-8 byte order of their paths. JavaScript compares UTF-16 code
 * units, which is the same order unless a path holds a surrogate pair (then the bytes are compared).
 */
function sortedByBytes(entries: GitIndexEntries): number[] {
  const paths: string[] = [];
  let surrogates = false;
  for (let k = 0; k < entries.count; k++) {
    const p = entries.path(k);
    paths.push(p);
    if (!surrogates && /[\uD800-\uDFFF]/.test(p)) surrogates = true;
  }
  const order = paths.map((_, k) => k);
  if (surrogates) return order.sort((a, b) => Buffer.compare(Buffer.from(paths[a]!), Buffer.from(paths[b]!)));
  return order.sort((a, b) => (paths[a]! < paths[b]! ? -1 : paths[a]! > paths[b]! ? 1 : 0));
}

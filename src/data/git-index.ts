import { createHash } from 'node:crypto';

/**
 * A Git index file (the "DIRC" format, version 2: git's Documentation/gitformat-index.txt) holding
 * only stat data, so git can say which of a list of files changed since they were looked at
 * (`git diff-files` with GIT_INDEX_FILE pointing at it). Every entry names the same object,
 * MIRROR_OID, which is never a real blob: git cannot confirm any entry by its content, so it
 * reports every entry whose stat it cannot match (a file reported wrongly only costs its lstat).
 */
export interface GitIndexEntry {
  /** Repo-relative, '/'-separated. */
  path: string;
  ctimeMs: number;
  mtimeMs: number;
  ino: number;
  size: number;
  /** 0o100644 or 0o100755. */
  mode: number;
  uid: number;
  gid: number;
}

/** Fixed, not the empty blob's oid (git would take an empty file for it) and not all zeros (which some gits refuse). */
export const MIRROR_OID = Buffer.from('5265672073746174206d6972726f72206f696421', 'hex');

const HEADER_BYTES = 12;
/** ctime, mtime (sec, nsec each), dev, ino, mode, uid, gid, size: ten 32-bit fields, then the oid and the 16-bit flags. */
const ENTRY_FIXED_BYTES = 62;
const NAME_MASK = 0xfff;
const TWO_32 = 4294967296;

/** The index file's bytes: entries sorted by path bytes, as git requires. */
export function gitIndexV2(entries: readonly GitIndexEntry[]): Buffer {
  const names = entries.map((e) => Buffer.from(e.path, 'utf8'));
  const order = sortedByBytes(entries.map((e) => e.path), names);
  let total = HEADER_BYTES + 20;
  for (const n of names) total += entryBytes(n.length);
  const buf = Buffer.alloc(total);
  buf.write('DIRC', 0, 'latin1');
  buf.writeUInt32BE(2, 4);
  buf.writeUInt32BE(entries.length, 8);
  let at = HEADER_BYTES;
  for (const k of order) {
    const e = entries[k]!;
    const name = names[k]!;
    writeTime(buf, at, e.ctimeMs);
    writeTime(buf, at + 8, e.mtimeMs);
    buf.writeUInt32BE(0, at + 16); // dev: git compares it only when built with USE_STDEV
    buf.writeUInt32BE(truncate32(e.ino), at + 20);
    buf.writeUInt32BE(e.mode, at + 24);
    buf.writeUInt32BE(truncate32(e.uid), at + 28);
    buf.writeUInt32BE(truncate32(e.gid), at + 32);
    buf.writeUInt32BE(truncate32(e.size), at + 36);
    MIRROR_OID.copy(buf, at + 40);
    buf.writeUInt16BE(Math.min(name.length, NAME_MASK), at + 60);
    name.copy(buf, at + ENTRY_FIXED_BYTES);
    // The rest of the entry is the NUL padding Buffer.alloc left.
    at += entryBytes(name.length);
  }
  createHash('sha1').update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}

/** An entry's size: the fixed part, the name and 1 to 8 NULs, to a multiple of 8. */
function entryBytes(nameLength: number): number {
  return (ENTRY_FIXED_BYTES + nameLength + 8) & ~7;
}

function writeTime(buf: Buffer, at: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
  buf.writeUInt32BE(truncate32(sec), at);
  buf.writeUInt32BE(nsec, at + 4);
}

/** What git keeps of a stat value: its low 32 bits. */
function truncate32(n: number): number {
  return ((n % TWO_32) + TWO_32) % TWO_32;
}

/**
 * Indexes of `paths` in UTF-8 byte order. JavaScript compares UTF-16 code units, which is the same
 * order unless a path holds a surrogate pair (then the bytes are compared).
 */
function sortedByBytes(paths: readonly string[], names: readonly Buffer[]): number[] {
  const order = paths.map((_, k) => k);
  if (paths.some((p) => /[\uD800-\uDFFF]/.test(p))) return order.sort((a, b) => Buffer.compare(names[a]!, names[b]!));
  return order.sort((a, b) => (paths[a]! < paths[b]! ? -1 : paths[a]! > paths[b]! ? 1 : 0));
}

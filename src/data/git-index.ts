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
  const parts: Buffer[] = [];
  // Each part is a view of one reused buffer: copied before the next is made.
  for (const part of gitIndexV2Parts(entries)) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/** The most bytes of entries gitIndexV2Parts() puts in one part. */
const PART_BYTES = 1 << 20;

/**
 * gitIndexV2()'s bytes in parts of at most PART_BYTES, the checksum last, through one reused
 * buffer: a writer must consume each part before asking for the next. At a million files the whole index is ~90 MB: as one buffer, it was a tenth of
 * the peak memory of the status that wrote it.
 */
export function* gitIndexV2Parts(entries: GitIndexEntries): Generator<Buffer> {
  const prefix = Buffer.from(entries.prefix, 'utf8');
  const buf = Buffer.alloc(PART_BYTES);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const sha1 = createHash('sha1');
  buf.write('DIRC', 0, 'latin1');
  view.setUint32(4, 2);
  view.setUint32(8, entries.count);
  let at = HEADER_BYTES;
  const flush = (): Buffer => {
    const part = buf.subarray(0, at);
    sha1.update(part);
    at = 0;
    return part;
  };
  for (const k of sortedByBytes(entries)) {
    const path = entries.path(k);
    const length = prefix.length + Buffer.byteLength(path, 'utf8');
    const bytes = entryBytes(length);
    if (at + bytes > PART_BYTES && at > 0) yield flush();
    if (bytes > PART_BYTES) {
      // Longer than any path a file system takes; written on its own rather than refused.
      const own = Buffer.alloc(bytes);
      writeEntry(own, new DataView(own.buffer, own.byteOffset, bytes), 0, entries, k, prefix, path, length);
      sha1.update(own);
      yield own;
      continue;
    }
    buf.fill(0, at, at + bytes);
    writeEntry(buf, view, at, entries, k, prefix, path, length);
    at += bytes;
  }
  if (at > 0) yield flush();
  yield sha1.digest();
}

/** Entry k at `at` of `buf` (zeroed there: the NUL padding after the name is left as it is). */
function writeEntry(buf: Buffer, view: DataView, at: number, entries: GitIndexEntries, k: number, prefix: Buffer, path: string, length: number): void {
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
  buf.write(path, at + ENTRY_FIXED_BYTES + prefix.length, 'utf8');
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

import { createHash } from 'node:crypto';
import { configError } from '../errors.js';
import { fileAndDirConflict, isSafeRelpath } from './path-rules.js';

export { isSafeRelpath } from './path-rules.js';

/** One file of a directory output: its path inside the directory ('/'-separated) and its md5. */
export interface ManifestEntry {
  relpath: string;
  md5: string;
}

/** Byte-wise UTF-8 order (= Unicode code point order), which is what DVC sorts by. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Only surrogates (astral characters) disagree between UTF-16 and code-point order.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa === sb) return ca - cb;
    return sa ? 1 : -1;
  }
  return a.length - b.length;
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** Printable ASCII other than `"` and `\\`: what json.dumps leaves as it is. */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Python's json.dumps(ensure_ascii=True) string encoding. */
export function pythonJsonString(s: string): string {
  // Almost every relpath and every md5 needs no escape: one regex test instead of a loop per character.
  if (PLAIN_JSON_TEXT.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += '\\u' + code.toString(16).padStart(4, '0');
  }
  return out + '"';
}

function entryJson(e: ManifestEntry): string {
  return `{"md5": ${pythonJsonString(e.md5)}, "relpath": ${pythonJsonString(e.relpath)}}`;
}

/** The exact `.dir` object bytes DVC writes: entries sorted, `", "` and `": "` separators. */
export function serializeManifest(entries: readonly ManifestEntry[]): Buffer {
  return Buffer.concat([...manifestSlices(entries)].map((text) => Buffer.from(text, 'latin1')));
}

const HAS_SURROGATE = /[\ud800-\udfff]/;

/**
 * Produces the manifest text in slices of a few thousand entries (ASCII only: every non-ASCII
 * character is escaped), so a 100k-entry manifest never exists as one giant array of strings.
 */
export function* manifestSlices(entries: readonly ManifestEntry[]): Generator<string> {
  // Without surrogates (astral characters), UTF-16 order is code point order: the engine's own
  // string comparison gives the same order several times faster than compareCodePoints.
  const astral = entries.some((e) => HAS_SURROGATE.test(e.relpath));
  const sorted = [...entries].sort(astral ? (x, y) => compareCodePoints(x.relpath, y.relpath) : (x, y) => (x.relpath < y.relpath ? -1 : x.relpath > y.relpath ? 1 : 0));
  const SLICE = 2048;
  yield '[';
  for (let i = 0; i < sorted.length; i += SLICE) {
    const part = sorted.slice(i, i + SLICE).map(entryJson).join(', ');
    yield i === 0 ? part : ', ' + part;
  }
  yield ']';
}

/**
 * The `.dir` oid without materialising the manifest: the same bytes are fed to MD5 in slices,
 * so a 100k-entry directory costs no 9 MB string (status only needs the oid).
 */
export function manifestOidOf(entries: readonly ManifestEntry[]): string {
  const hash = createHash('md5');
  for (const text of manifestSlices(entries)) hash.update(text, 'latin1');
  return hash.digest('hex') + '.dir';
}

export function md5Hex(bytes: Buffer | string): string {
  return createHash('md5').update(bytes).digest('hex');
}

export function manifestOid(bytes: Buffer): string {
  return md5Hex(bytes) + '.dir';
}

export function buildManifest(entries: readonly ManifestEntry[]): { bytes: Buffer; oid: string } {
  const bytes = serializeManifest(entries);
  return { bytes, oid: manifestOid(bytes) };
}

const MD5_RE = /^[0-9a-f]{32}$/;

/**
 * Reads any JSON manifest DVC accepts (whitespace, extra keys); the hash is read from `md5`.
 * Everything in it is validated, since a manifest may come from anyone who can push: `md5` is
 * exactly 32 lowercase hex digits, relpaths stay inside the directory (isSafeRelpath), none is
 * listed twice and none is both a file and a directory above another. Exit 3, naming the object.
 */
export function parseManifest(bytes: Buffer | string, source = '.dir object'): ManifestEntry[] {
  return parseManifestForm(bytes, source).entries;
}

/**
 * parseManifest(), and whether the document is canonical: exactly the bytes serializeManifest()
 * makes of its entries (as DVC and reg write it), so its oid is manifestOidOf(entries).
 */
export function parseManifestForm(bytes: Buffer | string, source = '.dir object'): { entries: ManifestEntry[]; canonical: boolean } {
  const canonical = readCanonicalManifest(bytes);
  if (canonical !== undefined) return { entries: canonical, canonical: true };
  const raw = readManifestDocument(bytes, source);
  return { entries: validateEntries(raw, raw.map((_, i) => i), source), canonical: false };
}

/**
 * The entries of a manifest at `subpath` (a file) or below it (a directory), for writing just
 * those: the document must be a JSON list of objects whose `md5` and `relpath` are strings, as
 * for parseManifest, but only the selected entries are validated in full (safe relpath, md5
 * format, none listed twice, no file that is also a directory), and when there are any, no
 * entry may name a directory above them as a file (refused as parseManifest would). Entries
 * outside the selection are never written, so a hostile name there does not stop a get of a
 * clean file. `subpath` is a safe relpath, not empty. Exit 3 as parseManifest, naming the object.
 * JSON.parse, not the canonical cursor: cold, it reads a 100k-entry manifest in about half the
 * time of the cursor's validating walk.
 */
export function selectManifestEntries(bytes: Buffer | string, subpath: string, source = '.dir object'): ManifestEntry[] {
  const raw = readManifestDocument(bytes, source);
  const prefix = subpath + '/';
  const picked: number[] = [];
  let fileAbove: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const relpath = raw[i]!.relpath;
    if (relpath.startsWith(subpath) && (relpath.length === subpath.length || relpath.startsWith(prefix))) picked.push(i);
    else if (relpath.length < subpath.length && subpath.startsWith(relpath) && subpath.charCodeAt(relpath.length) === 0x2f /* / */) fileAbove = relpath;
  }
  if (fileAbove !== undefined && picked.length > 0) throw fileAndDirError(source, fileAbove, raw[picked[0]!]!.relpath);
  return validateEntries(raw, picked, source);
}

const MALFORMED_HINT = 'the directory object is malformed or hostile: nothing was written; remove the pointer that names it (or fix it with `reg add` from a good copy)';

/**
 * The document's entries, each checked to be an object with a string `md5` and `relpath` and
 * nothing else (no copy: validateEntries makes clean entries of the ones used).
 */
function readManifestDocument(bytes: Buffer | string, source: string): readonly ManifestEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw configError('manifest.invalid-json', `${source} is not valid JSON: ${(err as Error).message}`, {
      hint: 'the object is corrupt; remove it from the cache and fetch it again (reg fetch)',
    });
  }
  if (!Array.isArray(parsed)) {
    throw configError('manifest.not-a-list', `${source} is not a JSON list of entries`);
  }
  for (let i = 0; i < parsed.length; i++) {
    const e = parsed[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.relpath !== 'string' || typeof e.md5 !== 'string') {
      throw configError('manifest.bad-entry', `${source}: entry ${i} lacks a string "md5" or "relpath"`, { hint: MALFORMED_HINT });
    }
  }
  return parsed as ManifestEntry[];
}

/** The entries at `indexes` of `entries`, each checked by the rules of parseManifest (errors name the entry's index). */
function validateEntries(entries: readonly ManifestEntry[], indexes: readonly number[], source: string): ManifestEntry[] {
  const files = new Set<string>();
  const out = indexes.map((i) => {
    const e = entries[i]!;
    if (!isSafeRelpath(e.relpath)) {
      throw configError('manifest.unsafe-path', `${source}: entry ${i} has an unsafe relpath ${JSON.stringify(e.relpath)}`, {
        hint: 'a manifest may only name paths inside its directory (no absolute paths, "..", empty segments or .git)',
      });
    }
    if (!MD5_RE.test(e.md5)) {
      throw configError('manifest.bad-md5', `${source}: entry ${i} (${JSON.stringify(e.relpath)}) has md5 ${JSON.stringify(e.md5)}, not 32 lowercase hex digits`, { hint: MALFORMED_HINT });
    }
    if (files.has(e.relpath)) throw configError('manifest.duplicate', `${source}: ${JSON.stringify(e.relpath)} is listed twice`, { hint: MALFORMED_HINT });
    files.add(e.relpath);
    // Only the two fields: a document may carry extra keys.
    return { relpath: e.relpath, md5: e.md5 };
  });
  const clash = fileAndDirConflict(files);
  if (clash) throw fileAndDirError(source, clash[0], clash[1]);
  return out;
}

function fileAndDirError(source: string, file: string, below: string) {
  return configError('manifest.file-and-dir', `${source}: ${JSON.stringify(file)} is listed as a file and as a directory (of ${JSON.stringify(below)})`, { hint: MALFORMED_HINT });
}

/** `{"md5": "<32 lowercase hex digits>", "relpath": "` at the scan position (sticky: no search, no allocation). */
const CANONICAL_ENTRY_HEAD = /\{"md5": "[0-9a-f]{32}", "relpath": "/y;
const MD5_AT = '{"md5": "'.length;
const RELPATH_AT = MD5_AT + 32 + '", "relpath": "'.length;
/**
 * A relpath the canonical reader does not take as it is: what isSafeRelpath refuses (an empty,
 * `.`, `..` or `.git` segment), and any character JSON would have escaped or that is not
 * printable ASCII (a backslash starts an escape; a character above 0x7e came from a UTF-8 sequence).
 */
const NOT_PLAIN_SAFE_RELPATH = /(?:^|\/)(?:\.{0,2}|\.[gG][iI][tT])(?:\/|$)|[^\x20-\x7e]|\\/;

/**
 * Walks the entries of a manifest written exactly the way DVC writes it — `[{"md5": "…",
 * "relpath": "…"}, …]` with `", "` and `": "` separators, sorted, every relpath printable ASCII
 * without escapes — one entry per `next()`, checking every rule of parseManifest on the way: each
 * md5 is 32 lowercase hex digits, each relpath is safe (isSafeRelpath), relpaths strictly
 * increase (so none is listed twice), and none is also a directory above a later one. Any other
 * document, valid or not, and any entry that breaks a rule, makes `next()` return 'other': the
 * general reader then reads the document again and gives the answer or the error, so both
 * readers agree on every input. Per entry only its relpath is made (and its md5 when asked for).
 */
export class CanonicalManifestCursor {
  /** The current entry's relpath (valid after `next()` returned 'entry'). */
  relpath = '';
  private readonly text: string;
  private entryAt = -1;
  private at = 1;
  private finished = false;
  /**
   * Earlier relpaths that are a prefix of the current one. Sorted, the relpaths starting with a
   * given one are contiguous, so a relpath that is also a directory (`a`, then `a/b`) is still
   * on this stack when the first path below it arrives.
   */
  private readonly prefixes: string[] = [];

  /** Latin-1 gives every byte one character: a byte outside printable ASCII stays visible (and makes the document 'other'). */
  constructor(bytes: Buffer | string) {
    this.text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
    if (this.text.charCodeAt(0) !== 0x5b /* [ */) this.finished = true;
    else if (this.text === '[]') this.at = -1;
  }

  /** 'entry' with the next entry, 'end' after the last one, 'other' when the document is not canonical or breaks a rule. */
  next(): 'entry' | 'end' | 'other' {
    if (this.finished) return 'other';
    const { text, at } = this;
    if (at === -1) return 'end';
    CANONICAL_ENTRY_HEAD.lastIndex = at;
    const start = at + RELPATH_AT;
    const end = CANONICAL_ENTRY_HEAD.test(text) ? text.indexOf('"', start) : -1;
    const relpath = end === -1 ? '' : text.slice(start, end);
    // Native string order is code-point order here: every character is ASCII.
    if (end === -1 || NOT_PLAIN_SAFE_RELPATH.test(relpath) || !(this.relpath < relpath) || this.isBelowAFile(relpath) || text.charCodeAt(end + 1) !== 0x7d /* } */) return this.other();
    const after = text.charCodeAt(end + 2);
    if (after === 0x5d /* ] */ && end + 3 === text.length) this.at = -1;
    else if (after === 0x2c /* , */ && text.charCodeAt(end + 3) === 0x20 /* space */) this.at = end + 4;
    else return this.other();
    this.relpath = relpath;
    this.entryAt = at;
    return 'entry';
  }

  md5(): string {
    return this.text.slice(this.entryAt + MD5_AT, this.entryAt + MD5_AT + 32);
  }

  /** Whether the current entries of two cursors have the same md5 (compared in place). */
  sameMd5(other: CanonicalManifestCursor): boolean {
    return this.text.startsWith(other.md5(), this.entryAt + MD5_AT);
  }

  private isBelowAFile(relpath: string): boolean {
    const { prefixes } = this;
    while (prefixes.length > 0 && !relpath.startsWith(prefixes[prefixes.length - 1]!)) prefixes.pop();
    for (const p of prefixes) if (relpath.charCodeAt(p.length) === 0x2f /* / */) return true;
    prefixes.push(relpath);
    return false;
  }

  private other(): 'other' {
    this.finished = true;
    return 'other';
  }
}

/**
 * The md5 of every entry of a manifest, in order, validated as parseManifest does (same errors),
 * without an entry object or relpath string per file: what a million-file push needs to hold.
 */
export function manifestMd5s(bytes: Buffer | string, source = '.dir object'): string[] {
  const cursor = new CanonicalManifestCursor(bytes);
  const md5s: string[] = [];
  for (;;) {
    const step = cursor.next();
    if (step === 'end') return md5s;
    if (step === 'other') return parseManifest(bytes, source).map((e) => e.md5);
    md5s.push(cursor.md5());
  }
}

/** The entries of a canonical manifest (see CanonicalManifestCursor), or undefined for any other document. */
function readCanonicalManifest(bytes: Buffer | string): ManifestEntry[] | undefined {
  const cursor = new CanonicalManifestCursor(bytes);
  const entries: ManifestEntry[] = [];
  for (;;) {
    const step = cursor.next();
    if (step === 'end') return entries;
    if (step === 'other') return undefined;
    entries.push({ relpath: cursor.relpath, md5: cursor.md5() });
  }
}

/** What changed from one manifest to another, by relpath (each list in manifest order). */
export interface ManifestChanges {
  added: ManifestEntry[];
  deleted: ManifestEntry[];
  modified: Array<ManifestEntry & { oldMd5: string }>;
}

/**
 * The changes between two canonical manifests as one merge of the two sorted documents, every
 * entry of both validated as parseManifest would, without a string or object per unchanged
 * entry. Undefined when either is not canonical (see CanonicalManifestCursor): parse both then.
 */
export function diffCanonicalManifests(oldBytes: Buffer, newBytes: Buffer): ManifestChanges | undefined {
  const before = new CanonicalManifestCursor(oldBytes);
  const after = new CanonicalManifestCursor(newBytes);
  const changes: ManifestChanges = { added: [], deleted: [], modified: [] };
  let o = before.next();
  let n = after.next();
  for (;;) {
    if (o === 'other' || n === 'other') return undefined;
    if (o === 'end' && n === 'end') return changes;
    if (n === 'end' || (o === 'entry' && before.relpath < after.relpath)) {
      changes.deleted.push({ relpath: before.relpath, md5: before.md5() });
      o = before.next();
    } else if (o === 'end' || after.relpath < before.relpath) {
      changes.added.push({ relpath: after.relpath, md5: after.md5() });
      n = after.next();
    } else {
      if (!after.sameMd5(before)) changes.modified.push({ relpath: after.relpath, md5: after.md5(), oldMd5: before.md5() });
      o = before.next();
      n = after.next();
    }
  }
}

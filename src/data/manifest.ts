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
  const parts: Buffer[] = [];
  forEachManifestSlice(entries, (text) => parts.push(Buffer.from(text, 'latin1')));
  return Buffer.concat(parts);
}

const HAS_SURROGATE = /[\ud800-\udfff]/;

/**
 * Produces the manifest text in slices of a few thousand entries (ASCII only: every non-ASCII
 * character is escaped), so a 100k-entry manifest never exists as one giant array of strings.
 */
function forEachManifestSlice(entries: readonly ManifestEntry[], emit: (text: string) => void): void {
  // Without surrogates (astral characters), UTF-16 order is code point order: the engine's own
  // string comparison gives the same order several times faster than compareCodePoints.
  const astral = entries.some((e) => HAS_SURROGATE.test(e.relpath));
  const sorted = [...entries].sort(astral ? (x, y) => compareCodePoints(x.relpath, y.relpath) : (x, y) => (x.relpath < y.relpath ? -1 : x.relpath > y.relpath ? 1 : 0));
  const SLICE = 2048;
  emit('[');
  for (let i = 0; i < sorted.length; i += SLICE) {
    const part = sorted.slice(i, i + SLICE).map(entryJson).join(', ');
    emit(i === 0 ? part : ', ' + part);
  }
  emit(']');
}

/**
 * The `.dir` oid without materialising the manifest: the same bytes are fed to MD5 in slices,
 * so a 100k-entry directory costs no 9 MB string (status only needs the oid).
 */
export function manifestOidOf(entries: readonly ManifestEntry[]): string {
  const hash = createHash('md5');
  forEachManifestSlice(entries, (text) => hash.update(text, 'latin1'));
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
  const hint = 'the directory object is malformed or hostile: nothing was written; remove the pointer that names it (or fix it with `reg add` from a good copy)';
  const files = new Set<string>();
  const entries = parsed.map((raw, i): ManifestEntry => {
    const e = raw as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e.relpath !== 'string' || typeof e.md5 !== 'string') {
      throw configError('manifest.bad-entry', `${source}: entry ${i} lacks a string "md5" or "relpath"`, { hint });
    }
    if (!isSafeRelpath(e.relpath)) {
      throw configError('manifest.unsafe-path', `${source}: entry ${i} has an unsafe relpath ${JSON.stringify(e.relpath)}`, {
        hint: 'a manifest may only name paths inside its directory (no absolute paths, "..", empty segments or .git)',
      });
    }
    if (!MD5_RE.test(e.md5)) {
      throw configError('manifest.bad-md5', `${source}: entry ${i} (${JSON.stringify(e.relpath)}) has md5 ${JSON.stringify(e.md5)}, not 32 lowercase hex digits`, { hint });
    }
    if (files.has(e.relpath)) throw configError('manifest.duplicate', `${source}: ${JSON.stringify(e.relpath)} is listed twice`, { hint });
    files.add(e.relpath);
    return { relpath: e.relpath, md5: e.md5 };
  });
  const clash = fileAndDirConflict(files);
  if (clash) {
    throw configError('manifest.file-and-dir', `${source}: ${JSON.stringify(clash[0])} is listed as a file and as a directory (of ${JSON.stringify(clash[1])})`, { hint });
  }
  return entries;
}

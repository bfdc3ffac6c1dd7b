import { Document, LineCounter, isMap, isScalar, isSeq, parseDocument, Scalar, visit, YAMLMap, type Node, type ScalarTag, type Tags } from 'yaml';
import { configError } from '../errors.js';
import { hasLegacyLineBreak, readQuotedLikeDvc, renderMappingValue, renderScalar, resolvesToNonString, scalarStyle } from './yaml-scalar.js';

/** One output of a `.dvc` pointer file. `hash === 'md5'` marks a DVC 3 entry; absent = legacy md5-dos2unix. */
export interface PointerOutput {
  path: string;
  md5?: string;
  size?: number;
  nfiles?: number;
  isexec?: boolean;
  hash?: string;
  remote?: string;
  push?: boolean;
  cache?: boolean;
}

export interface Pointer {
  outs: PointerOutput[];
  /** Top-level keys other than `outs` (desc, deps, frozen, meta, ...), kept as raw YAML values. */
  extraTopLevel: string[];
  /** `file:line:col` of each output's `path` value (same order as `outs`), for error messages. */
  pathLocations?: string[];
}

const TOP_LEVEL_KEYS = new Set(['desc', 'md5', 'wdir', 'frozen', 'deps', 'outs', 'always_changed', 'meta', 'locked']);
const OUTPUT_KEYS = new Set([
  'md5', 'size', 'nfiles', 'isexec', 'cloud', 'hash', 'path', 'desc', 'type', 'labels', 'meta',
  'cache', 'metric', 'plot', 'persist', 'remote', 'push', 'files', 'fs_config', 'etag', 'checksum',
]);

/** A `.dvc` file holds a few lines of YAML; a bigger one is not read (corrupt, or a commit's zip bomb). */
export const MAX_POINTER_BYTES = 1 << 20;

/** The error for a pointer over MAX_POINTER_BYTES, shown as `shownAs` (a path, or a path at a commit). */
export function pointerTooLarge(shownAs: string, restore?: string) {
  return configError('pointer.too-large', `${shownAs} is larger than 1 MiB, so it is not a pointer`, {
    hint: `a .dvc file holds a few lines of YAML; this one is corrupt or hostile${restore !== undefined ? `: remove it, or restore it with git checkout -- ${restore}` : ''}`,
    details: { pointer: restore ?? shownAs },
  });
}

export function isLegacy(out: PointerOutput): boolean {
  return out.hash === undefined;
}

export function isDirOid(oid: string): boolean {
  return oid.endsWith('.dir');
}

const OID_RE = /^[0-9a-f]{32}(\.dir)?$/;

class Located {
  constructor(private readonly file: string, private readonly lines: LineCounter) {}
  at(node: Node | null | undefined): string {
    const offset = node?.range?.[0];
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }
}

const STR_TAG = 'tag:yaml.org,2002:str';

/**
 * The failsafe schema with strings written as DVC's writer (ruamel) writes them: quoted only when
 * needed, folded past column 80. Typed values (ints, booleans, dates, written plain) keep their
 * text; block scalars and flow collections are left to the yaml library.
 */
function withDvcStrings(tags: Tags): Tags {
  return tags.map((t) => {
    if (typeof t !== 'object' || t.tag !== STR_TAG || !('stringify' in t) || !t.stringify) return t;
    const fallback = t.stringify.bind(t);
    const tag: ScalarTag = {
      ...(t as ScalarTag),
      stringify(item, ctx, onComment, onChompKeep) {
        const node = item as Scalar;
        const value = node.value;
        const blockOrFlow = ctx.inFlow || node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED';
        if (typeof value !== 'string' || blockOrFlow) return fallback(item, ctx, onComment, onChompKeep);
        if (node.type === 'PLAIN' && resolvesToNonString(value)) return value;
        if (ctx.implicitKey) return renderScalar(value);
        if (ctx.indentAtStart === undefined) return fallback(item, ctx, onComment, onChompKeep);
        const keyColumn = ctx.indent.length - ctx.indentStep.length;
        return renderScalar(value, { column: keyColumn + ctx.indentAtStart, indent: ctx.indent.length });
      },
    };
    return tag;
  });
}

/** Parses pointer text (CRLF read as LF) and re-reads line separators as DVC does. */
function parsePointerYaml(raw: string, lineCounter: LineCounter, file: string): Document.Parsed {
  const text = raw.replace(/\r\n/g, '\n');
  const doc = parseDocument(text, { schema: 'failsafe', customTags: withDvcStrings, lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length === 0 && hasLegacyLineBreak(text)) readLineSeparatorsLikeDvc(doc, text, lineCounter, file);
  return doc;
}

/**
 * DVC's reader takes U+0085, U+2028 and U+2029 as line breaks (its writer puts them raw in
 * single-quoted names); YAML 1.2 does not. Quoted scalars holding them are re-read DVC's way; one
 * anywhere else (a plain value, a comment) is refused: the two readers would see different files.
 */
function readLineSeparatorsLikeDvc(doc: Document.Parsed, text: string, lines: LineCounter, file: string): void {
  const quoted: Array<[number, number]> = [];
  visit(doc, {
    Scalar(_key, node) {
      if ((node.type !== 'QUOTE_SINGLE' && node.type !== 'QUOTE_DOUBLE') || !node.range) return;
      const [start, end] = node.range;
      const source = text.slice(start, end);
      quoted.push([start, end]);
      if (!hasLegacyLineBreak(source)) return;
      const value = readQuotedLikeDvc(source);
      if (value !== undefined) node.value = value;
    },
  });
  for (const m of text.matchAll(/[\x85\u2028\u2029]/g)) {
    if (quoted.some(([start, end]) => m.index >= start && m.index < end)) continue;
    const { line, col } = lines.linePos(m.index);
    const name = `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw configError('pointer.line-separator', `${file}:${line}:${col}: a raw ${name} outside a quoted value (DVC reads it as a line break, other YAML readers do not)`, {
      hint: `quote the value and write the character as an escape (\\L for U+2028, \\P for U+2029, \\N for U+0085)`,
    });
  }
}

/**
 * Parses a `.dvc` file. Scalars are read with the failsafe schema (everything a string) so an
 * unquoted all-digit md5 keeps its leading zeros; ints and booleans are converted here.
 */
export function parsePointer(text: string, file = 'pointer.dvc'): Pointer {
  return parseCanonicalPointer(text, file) ?? parsePointerViaYaml(text, file);
}

const CANONICAL_LINE = new Map<string, RegExp>([
  ['md5', /^[0-9a-f]{32}(\.dir)?$/],
  ['size', /^[0-9]+$/],
  ['nfiles', /^[0-9]+$/],
  ['isexec', /^(true|false)$/],
  ['hash', /^md5$/],
  // A YAML plain scalar that can only mean itself: no indicator first, no ': ', ' #', quotes or spaces.
  ['path', /^[A-Za-z0-9_.\/][A-Za-z0-9_.\/+=@-]*$/],
  ['remote', /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/],
  ['push', /^(true|false)$/],
  ['cache', /^(true|false)$/],
]);

/**
 * The text `dvc add` and `reg add` write (one output, one `key: value` per line, plain scalars
 * only) read without the YAML parser, which costs ~0.3 ms per file: `reg log` reads a thousand
 * versions. Anything else (comments, quotes, other keys, odd spacing) returns undefined and goes
 * through parsePointerViaYaml, so both paths give the same result for every text this one accepts.
 */
export function parseCanonicalPointer(text: string, file = 'pointer.dvc'): Pointer | undefined {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 2 || lines[0] !== 'outs:') return undefined;
  const out = new Map<string, string>();
  let pathAt = '';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith(i === 1 ? '- ' : '  ')) return undefined;
    const colon = line.indexOf(': ', 2);
    if (colon === -1) return undefined;
    const key = line.slice(2, colon);
    const value = line.slice(colon + 2);
    const shape = CANONICAL_LINE.get(key);
    if (shape === undefined || !shape.test(value) || out.has(key)) return undefined;
    out.set(key, value);
    if (key === 'path') pathAt = `${file}:${i + 1}:${colon + 3}`;
  }
  const path = out.get('path');
  if (path === undefined) return undefined;
  const parsed: PointerOutput = { path };
  const str = (k: 'md5' | 'hash' | 'remote') => out.has(k) && (parsed[k] = out.get(k));
  const int = (k: 'size' | 'nfiles') => out.has(k) && (parsed[k] = Number(out.get(k)));
  const bool = (k: 'isexec' | 'push' | 'cache') => out.has(k) && (parsed[k] = out.get(k) === 'true');
  str('md5');
  int('size');
  int('nfiles');
  bool('isexec');
  str('hash');
  str('remote');
  bool('push');
  bool('cache');
  return { outs: [parsed], extraTopLevel: [], pathLocations: [pathAt] };
}

/** parsePointer through the YAML parser: every form DVC accepts, errors with file:line:col. */
export function parsePointerViaYaml(text: string, file = 'pointer.dvc'): Pointer {
  const lines = new LineCounter();
  const doc = parsePointerYaml(text, lines, file);
  const loc = new Located(file, lines);
  const hint = 'fix the YAML by hand or restore it with `git checkout -- <file>`';
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const pos = lines.linePos(first.pos[0]);
    const where = `${file}:${pos.line}:${pos.col}`;
    throw configError('pointer.yaml', `${where}: invalid YAML: ${first.message.split('\n')[0]}`, { hint });
  }
  const root = doc.contents;
  if (!isMap(root)) throw configError('pointer.shape', `${loc.at(root)}: a pointer file must be a YAML mapping with an "outs" list`, { hint });
  const extraTopLevel: string[] = [];
  let outsNode: Node | null = null;
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!TOP_LEVEL_KEYS.has(key)) {
      throw configError('pointer.unknown-key', `${loc.at(pair.key as Node)}: unknown top-level key "${key}"`, {
        hint: `allowed keys: ${[...TOP_LEVEL_KEYS].join(', ')} (DVC rejects files with other keys)`,
      });
    }
    if (key === 'outs') outsNode = pair.value as Node;
    else extraTopLevel.push(key);
  }
  if (!isSeq(outsNode) || outsNode.items.length === 0) {
    throw configError('pointer.no-outs', `${loc.at(outsNode ?? root)}: "outs" must be a non-empty list`, { hint });
  }
  const pathLocations: string[] = [];
  const outs = outsNode.items.map((item) => parseOutput(item as Node, loc, hint, pathLocations));
  return { outs, extraTopLevel, pathLocations };
}

function parseOutput(node: Node, loc: Located, hint: string, pathLocations: string[]): PointerOutput {
  if (!isMap(node)) throw configError('pointer.shape', `${loc.at(node)}: each entry of "outs" must be a mapping`, { hint });
  const out: Partial<PointerOutput> = {};
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const valueNode = pair.value as Node | null;
    if (!OUTPUT_KEYS.has(key)) {
      throw configError('pointer.unknown-key', `${loc.at(keyNode)}: unknown output key "${key}"`, {
        hint: `allowed keys: ${[...OUTPUT_KEYS].join(', ')}`,
      });
    }
    const str = (): string => {
      if (!isScalar(valueNode)) throw configError('pointer.type', `${loc.at(valueNode ?? keyNode)}: "${key}" must be a scalar`, { hint });
      return String(valueNode.value);
    };
    const int = (): number => {
      const s = str();
      if (!/^[0-9]+$/.test(s)) throw configError('pointer.type', `${loc.at(valueNode)}: "${key}" must be a non-negative integer, got ${JSON.stringify(s)}`, { hint });
      return Number(s);
    };
    const bool = (): boolean => {
      const s = str().toLowerCase();
      if (s !== 'true' && s !== 'false') throw configError('pointer.type', `${loc.at(valueNode)}: "${key}" must be true or false`, { hint });
      return s === 'true';
    };
    switch (key) {
      case 'path': out.path = str(); pathLocations.push(loc.at(valueNode)); break;
      case 'md5': {
        const v = str().toLowerCase();
        if (!OID_RE.test(v)) throw configError('pointer.md5', `${loc.at(valueNode)}: "md5" must be 32 hex digits (plus ".dir" for a directory), got ${JSON.stringify(v)}`, { hint });
        out.md5 = v;
        break;
      }
      case 'size': out.size = int(); break;
      case 'nfiles': out.nfiles = int(); break;
      case 'isexec': out.isexec = bool(); break;
      case 'hash': out.hash = str(); break;
      case 'remote': out.remote = str(); break;
      case 'push': out.push = bool(); break;
      case 'cache': out.cache = bool(); break;
      default: break;
    }
  }
  if (out.path === undefined || out.path === '') throw configError('pointer.no-path', `${loc.at(node)}: output has no "path"`, { hint });
  if (out.hash !== undefined && out.hash !== 'md5') {
    throw configError('pointer.hash', `${loc.at(node)}: hash "${out.hash}" is not supported (only md5)`, {
      hint: 'cloud-versioned outputs (etag) are not supported by reg',
    });
  }
  return out as PointerOutput;
}

/** The canonical text `dvc add` writes for a fresh single-output pointer (dvc-compat.md §3.2). */
export function serializePointer(out: PointerOutput): string {
  const lines = ['outs:'];
  const fields: string[] = [];
  // Keys of an `outs` item start at column 2 (after "- "); strings are folded and quoted as ruamel does.
  const str = (key: string, value: string) => fields.push(renderMappingValue(key, value, 2));
  if (out.md5 !== undefined) str('md5', out.md5);
  if (out.size !== undefined) fields.push(`size: ${out.size}`);
  if (out.nfiles !== undefined) fields.push(`nfiles: ${out.nfiles}`);
  if (out.isexec) fields.push('isexec: true');
  if (out.hash !== undefined) str('hash', out.hash);
  str('path', out.path);
  if (out.cache === false) fields.push('cache: false');
  if (out.remote !== undefined) str('remote', out.remote);
  if (out.push === false) fields.push('push: false');
  fields.forEach((f, i) => lines.push(`${i === 0 ? '- ' : '  '}${f}`));
  return lines.join('\n') + '\n';
}

/**
 * False for a name DVC's YAML round trip changes (a U+0085 between two non-blank characters is
 * written raw and read back as a space): a pointer with it would name another file.
 */
export function nameSurvivesPointer(name: string): boolean {
  return parsePointer(serializePointer({ path: name })).outs[0]!.path === name;
}

/**
 * Rewrites an existing pointer keeping the user's comments, key order and annotations:
 * changed values are replaced in place, new keys are appended, keys that no longer apply removed.
 */
export function updatePointerText(oldText: string, next: PointerOutput, file = 'pointer.dvc'): string {
  const parsed = parsePointer(oldText, file);
  if (parsed.outs.length !== 1) {
    throw configError('pointer.multi-out', `${file}: has ${parsed.outs.length} outputs; reg only updates single-output pointers`, {
      hint: 'split it into one .dvc file per output',
    });
  }
  const doc = parsePointerYaml(oldText, new LineCounter(), file);
  const outs = (doc.contents as YAMLMap).get('outs') as { items: YAMLMap[] };
  const entry = outs.items[0]!;
  const setScalar = (key: string, value: string | undefined, style?: Scalar.Type) => {
    if (value === undefined) {
      entry.delete(key);
      return;
    }
    const existing = entry.get(key, true);
    if (isScalar(existing) && String(existing.value) === value) return;
    const scalar = new Scalar(value);
    scalar.type = style ?? (scalarStyle(value) as Scalar.Type);
    if (isScalar(existing)) {
      existing.value = value;
      existing.type = scalar.type;
    } else entry.set(key, scalar);
  };
  setScalar('md5', next.md5);
  setScalar('size', next.size === undefined ? undefined : String(next.size), 'PLAIN');
  setScalar('nfiles', next.nfiles === undefined ? undefined : String(next.nfiles), 'PLAIN');
  setScalar('isexec', next.isexec ? 'true' : undefined, 'PLAIN');
  setScalar('hash', next.hash);
  return doc.toString({ indentSeq: false, lineWidth: 0, flowCollectionPadding: false });
}

import { Document, LineCounter, isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap, type Node } from 'yaml';
import { configError } from '../errors.js';
import { renderScalar, scalarStyle } from './yaml-scalar.js';

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
}

const TOP_LEVEL_KEYS = new Set(['desc', 'md5', 'wdir', 'frozen', 'deps', 'outs', 'always_changed', 'meta', 'locked']);
const OUTPUT_KEYS = new Set([
  'md5', 'size', 'nfiles', 'isexec', 'cloud', 'hash', 'path', 'desc', 'type', 'labels', 'meta',
  'cache', 'metric', 'plot', 'persist', 'remote', 'push', 'files', 'fs_config', 'etag', 'checksum',
]);

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

/**
 * Parses a `.dvc` file. Scalars are read with the failsafe schema (everything a string) so an
 * unquoted all-digit md5 keeps its leading zeros; ints and booleans are converted here.
 */
export function parsePointer(text: string, file = 'pointer.dvc'): Pointer {
  const lines = new LineCounter();
  const doc = parseDocument(text.replace(/\r\n/g, '\n'), { schema: 'failsafe', lineCounter: lines, uniqueKeys: true, prettyErrors: false });
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
  const outs = outsNode.items.map((item) => parseOutput(item as Node, loc, hint));
  return { outs, extraTopLevel };
}

function parseOutput(node: Node, loc: Located, hint: string): PointerOutput {
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
      case 'path': out.path = str(); break;
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
  const fields: Array<[string, string]> = [];
  if (out.md5 !== undefined) fields.push(['md5', renderScalar(out.md5)]);
  if (out.size !== undefined) fields.push(['size', String(out.size)]);
  if (out.nfiles !== undefined) fields.push(['nfiles', String(out.nfiles)]);
  if (out.isexec) fields.push(['isexec', 'true']);
  if (out.hash !== undefined) fields.push(['hash', renderScalar(out.hash)]);
  fields.push(['path', renderScalar(out.path)]);
  if (out.cache === false) fields.push(['cache', 'false']);
  if (out.remote !== undefined) fields.push(['remote', renderScalar(out.remote)]);
  if (out.push === false) fields.push(['push', 'false']);
  fields.forEach(([k, v], i) => lines.push(`${i === 0 ? '- ' : '  '}${k}: ${v}`));
  return lines.join('\n') + '\n';
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
  const doc = parseDocument(oldText.replace(/\r\n/g, '\n'), { schema: 'failsafe' }) as Document.Parsed;
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

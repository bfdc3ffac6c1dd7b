import { parse } from 'csv-parse/sync';
import type { CatalogPreview } from './model.js';

/**
 * Previews of small files whose bytes are at hand (the local cache): the first rows of CSV, TSV
 * and JSONL as a table (CSV through csv-parse: quoting, embedded newlines), images as thumbnails
 * (bytes copied into the site, checked by their magic numbers: never SVG, which can carry script),
 * and the head of text files. Pure: bytes in, preview out.
 */
export const PREVIEW_ROWS = 20;
export const PREVIEW_COLUMNS = 20;
export const PREVIEW_CELL = 200;
export const TEXT_HEAD = 2048;
/** Bytes read from a table or text file. */
export const HEAD_BYTES = 64 * 1024;
export const MAX_IMAGE_BYTES = 256 * 1024;

const TEXT_EXT = new Set(['txt', 'md', 'markdown', 'rst', 'json', 'yaml', 'yml', 'toml', 'ini', 'cfg', 'py', 'log', 'xml', 'html', 'sh', 'r', 'sql']);
const IMAGE_EXT: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

export type PreviewKind = 'table' | 'text' | 'image';

function extension(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** What preview a file would get by its name and size, if any. */
export function previewKind(path: string, size: number | undefined): PreviewKind | undefined {
  const ext = extension(path);
  if (ext === 'csv' || ext === 'tsv' || ext === 'jsonl' || ext === 'ndjson') return 'table';
  if (IMAGE_EXT[ext] !== undefined) return size !== undefined && size <= MAX_IMAGE_BYTES ? 'image' : undefined;
  if (TEXT_EXT.has(ext)) return 'text';
  return undefined;
}

function imageMime(bytes: Buffer): string | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 6 && /^GIF8[79]a$/.test(bytes.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (bytes.length >= 12 && bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

const cell = (v: unknown): string => {
  let s: string;
  try {
    s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  } catch {
    // Nested deeper than JSON.stringify's stack (JSON.parse took it: a 64 KiB line of '[' is enough).
    s = '…';
  }
  return s.length > PREVIEW_CELL ? s.slice(0, PREVIEW_CELL - 1) + '…' : s;
};

/** Text up to the last complete line of a head that was cut, or undefined for binary-looking bytes. */
function textHead(bytes: Buffer, cut: boolean): string | undefined {
  if (bytes.includes(0)) return undefined;
  let text = bytes.toString('utf8');
  if (cut) {
    const nl = text.lastIndexOf('\n');
    if (nl > 0) text = text.slice(0, nl + 1);
  }
  return text.replace(/^\uFEFF/, '');
}

/**
 * The preview of one file from its first bytes (`bytes`, of a file of `size` bytes), or undefined
 * when the bytes are not what the name says.
 */
export function makePreview(path: string, bytes: Buffer, size: number, md5: string): CatalogPreview | undefined {
  const kind = previewKind(path, size);
  if (kind === 'image') {
    const mime = imageMime(bytes);
    if (mime === undefined || bytes.length !== size) return undefined;
    return { path, kind: 'image', mime, bytes, md5, size };
  }
  const cut = bytes.length < size;
  const text = textHead(bytes, cut);
  if (text === undefined) return undefined;
  if (kind === 'text') {
    const head = text.length > TEXT_HEAD ? text.slice(0, text.lastIndexOf('\n', TEXT_HEAD) > 0 ? text.lastIndexOf('\n', TEXT_HEAD) + 1 : TEXT_HEAD) : text;
    return { path, kind: 'text', text: head, truncated: cut || head.length < text.length };
  }
  if (kind !== 'table') return undefined;
  const ext = extension(path);
  if (ext === 'jsonl' || ext === 'ndjson') {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const records: unknown[] = [];
    for (const l of lines.slice(0, PREVIEW_ROWS)) {
      try {
        records.push(JSON.parse(l));
      } catch {
        return undefined;
      }
    }
    const columns: string[] = [];
    for (const r of records) {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) continue;
      for (const k of Object.keys(r)) if (!columns.includes(k) && columns.length < PREVIEW_COLUMNS) columns.push(k);
    }
    if (columns.length === 0) return { path, kind: 'table', columns: ['value'], rows: records.map((r) => [cell(r)]), truncated: cut || lines.length > PREVIEW_ROWS };
    const rows = records.map((r) => columns.map((c) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? cell((r as Record<string, unknown>)[c]) : '')));
    return { path, kind: 'table', columns: columns.map(cell), rows, truncated: cut || lines.length > PREVIEW_ROWS };
  }
  let records: string[][];
  try {
    records = parse(text, {
      delimiter: ext === 'tsv' ? '\t' : ',',
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      // The header, the rows shown, and one more to tell whether there are more.
      to: PREVIEW_ROWS + 2,
      bom: true,
    }) as string[][];
  } catch {
    return undefined;
  }
  if (records.length === 0) return undefined;
  const [header, ...rest] = records;
  const body = rest.slice(0, PREVIEW_ROWS);
  const width = Math.min(PREVIEW_COLUMNS, Math.max(header!.length, ...body.map((r) => r.length)));
  const fit = (r: string[]) => Array.from({ length: width }, (_, i) => cell(r[i] ?? ''));
  return { path, kind: 'table', columns: fit(header!), rows: body.map(fit), truncated: cut || rest.length > PREVIEW_ROWS };
}

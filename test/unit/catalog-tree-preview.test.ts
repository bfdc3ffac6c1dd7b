import { describe, expect, test } from 'vitest';
import { buildFileTree, PATHS_PER_CHUNK, ROWS_PER_CHUNK, ROWS_PER_PAGE, type Listing } from '../../dist/catalog/file-tree.js';
import { makePreview, previewKind } from '../../dist/catalog/preview.js';
import { TINY_PNG } from '../helpers/catalog-fixture.js';

function listingsById(chunks: Listing[][]): Map<string, { listing: Listing; chunk: number }> {
  const m = new Map<string, { listing: Listing; chunk: number }>();
  chunks.forEach((c, i) => c.forEach((l) => m.set(`${l[0]}:${l[1]}`, { listing: l, chunk: i })));
  return m;
}

describe('file browser data', () => {
  test('directories list their subdirectories first, with file counts and summed sizes', () => {
    const t = buildFileTree(['a.txt', 'd/x.txt', 'd/e/y.txt', 'd/e/z.txt', 'f/w.txt'], [1, 2, 3, undefined, 5]);
    expect(t.dirs).toBe(4);
    const m = listingsById(t.chunks);
    const root = m.get('0:0')!;
    expect(root.chunk).toBe(0);
    expect(root.listing[3].map((d) => [d[0], d[2], d[3]])).toEqual([['d', 3, null], ['f', 1, 5]]);
    expect(root.listing[4]).toEqual([['a.txt', 1]]);
    const d = m.get(`${root.listing[3][0]![1]}:0`)!.listing;
    expect(d[3].map((x) => [x[0], x[2], x[3]])).toEqual([['e', 2, null]]);
    expect(d[4]).toEqual([['x.txt', 2]]);
  });

  test('a flat directory of 100k files is split in pages and chunks of bounded size, pages chained', () => {
    const paths = Array.from({ length: 100_000 }, (_, i) => `f${String(i).padStart(6, '0')}.bin`);
    const t = buildFileTree(paths, paths.map(() => 7));
    const m = listingsById(t.chunks);
    for (const c of t.chunks) expect(c.reduce((n, l) => n + l[3].length + l[4].length, 0)).toBeLessThanOrEqual(ROWS_PER_CHUNK);
    const pages = Math.ceil(100_000 / ROWS_PER_PAGE);
    expect(m.get('0:0')!.listing[2]).toBe(pages);
    let seen = 0;
    let key: string | undefined = '0:0';
    for (let p = 0; key; p++) {
      const listing: Listing = m.get(key)!.listing;
      expect(listing[4].length).toBeLessThanOrEqual(ROWS_PER_PAGE);
      seen += listing[4].length;
      key = listing[5] === -1 ? undefined : `0:${p + 1}`;
      if (key) expect(m.get(key)!.chunk).toBe(listing[5]);
    }
    expect(seen).toBe(100_000);
    expect(t.pathChunks).toHaveLength(100_000 / PATHS_PER_CHUNK);
    expect(t.pathChunks[3]!.paths[0]).toBe(paths[3 * PATHS_PER_CHUNK]);
  });

  test('every directory row names the chunk that holds its first page', () => {
    const paths: string[] = [];
    for (let d = 0; d < 300; d++) for (let f = 0; f < 20; f++) paths.push(`s${d}/sub/${f}.txt`);
    const t = buildFileTree(paths, paths.map(() => 1));
    const m = listingsById(t.chunks);
    for (const { listing } of m.values()) for (const row of listing[3]) expect(m.get(`${row[1]}:0`)!.chunk).toBe(row[4]);
  });

  test('the same files give the same data whatever their order', () => {
    const paths = ['b/2', 'a/1', 'b/1', 'c'];
    expect(JSON.stringify(buildFileTree(paths, [1, 2, 3, 4]).chunks)).toBe(JSON.stringify(buildFileTree(['a/1', 'b/1', 'b/2', 'c'], [2, 3, 1, 4]).chunks));
  });
});

describe('previews', () => {
  test('CSV: quoted fields with commas and newlines, header as columns', () => {
    const csv = 'id,text\n1,"a, b"\n2,"line\nbreak"\n3,plain\n';
    const p = makePreview('t.csv', Buffer.from(csv), csv.length, 'm');
    expect(p).toEqual({ path: 't.csv', kind: 'table', columns: ['id', 'text'], rows: [['1', 'a, b'], ['2', 'line\nbreak'], ['3', 'plain']], truncated: false });
  });

  test('TSV, ragged rows, and a head cut in the middle of a line', () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${i}\tvalue ${i}`).join('\n');
    const bytes = Buffer.from(`k\tv\textra\n${rows}\n`);
    const p = makePreview('t.tsv', bytes.subarray(0, 300), bytes.length, 'm');
    expect(p?.kind).toBe('table');
    if (p?.kind !== 'table') return;
    expect(p.columns).toEqual(['k', 'v', 'extra']);
    expect(p.rows).toHaveLength(20);
    expect(p.rows[0]).toEqual(['0', 'value 0', '']);
    expect(p.truncated).toBe(true);
  });

  test('JSONL nested deeper than JSON.stringify can go (fits in the 64 KiB head): a cell of "…", no crash', () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const text = `{"id": 1, "v": ${deep}}\n${deep}\n`;
    const p = makePreview('t.jsonl', Buffer.from(text), text.length, 'm');
    expect(p).toEqual({ path: 't.jsonl', kind: 'table', columns: ['id', 'v'], rows: [['1', '…'], ['', '']], truncated: false });
  });

  test('JSONL: keys as columns; a broken line gives no preview', () => {
    const good = '{"a":1,"b":"x"}\n{"a":2,"c":[1,2]}\n';
    expect(makePreview('m.jsonl', Buffer.from(good), good.length, 'm')).toEqual({ path: 'm.jsonl', kind: 'table', columns: ['a', 'b', 'c'], rows: [['1', 'x', ''], ['2', '', '[1,2]']], truncated: false });
    expect(makePreview('m.jsonl', Buffer.from('{"a":1}\nnot json\n'), 17, 'm')).toBeUndefined();
  });

  test('images by their magic bytes only, never SVG, and only whole small files', () => {
    expect(makePreview('p.png', TINY_PNG, TINY_PNG.length, 'abc')).toMatchObject({ kind: 'image', mime: 'image/png', md5: 'abc' });
    expect(makePreview('p.png', Buffer.from('<html><script>alert(1)</script>'), 31, 'abc')).toBeUndefined();
    expect(previewKind('x.svg', 10)).toBeUndefined();
    expect(previewKind('big.png', 10 << 20)).toBeUndefined();
    expect(makePreview('p.png', TINY_PNG.subarray(0, 20), TINY_PNG.length, 'abc')).toBeUndefined();
  });

  test('text heads stop at a line; binary bytes get no preview', () => {
    const text = Array.from({ length: 500 }, (_, i) => `line ${i}`).join('\n');
    const p = makePreview('notes.md', Buffer.from(text), text.length, 'm');
    expect(p?.kind).toBe('text');
    if (p?.kind === 'text') {
      expect(p.text.length).toBeLessThanOrEqual(2048);
      expect(p.text.endsWith('\n')).toBe(true);
      expect(p.truncated).toBe(true);
    }
    expect(makePreview('x.txt', Buffer.from([0x41, 0, 0x42]), 3, 'm')).toBeUndefined();
    expect(previewKind('model.bin', 10)).toBeUndefined();
  });
});

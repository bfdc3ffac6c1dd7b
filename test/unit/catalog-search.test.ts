import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { createSearchEngine, type SearchDoc } from '../../dist/catalog/search-core.js';
import { siteAssets } from '../../dist/catalog/assets.js';

const engine = createSearchEngine();

const docs: SearchDoc[] = [
  { path: 'raw_datasets/tibetan_ocr', area: 'raw_datasets', name: 'tibetan_ocr', license: 'CC-BY-4.0', owner: 'alice', description: 'Line images of woodblock prints', fields: 'license CC-BY-4.0\nsource https://example.org/bdrc', text: 'Scanned at the library.', paths: ['images/page-001.png', 'transcriptions.csv'] },
  { path: 'raw_datasets/ocr_benchmark', area: 'raw_datasets', name: 'ocr_benchmark', license: 'MIT', owner: 'bob', description: 'A benchmark', fields: 'license MIT', text: 'Many scripts, Tibetan included.', paths: ['bench/tibetan/a.txt'] },
  { path: 'champion_models/segmenter', area: 'champion_models', name: 'segmenter', license: 'cc-by-4.0', owner: 'Alice', description: 'Street scenes', fields: '', text: 'Trained on street images; no OCR.', paths: ['weights/model.safetensors'] },
  { path: 'experiments/café_notes', area: 'experiments', name: 'café_notes', description: 'Notes from the café', text: '', paths: [] },
  { path: 'raw_datasets/བོད་ཡིག', area: 'raw_datasets', name: 'བོད་ཡིག', description: 'Tibetan script name', paths: [] },
];
const index = engine.buildIndex(docs);
const paths = (q: string, f = {}) => engine.search(index, q, f).map((h) => h.path);

describe('catalog search index', () => {
  test('a name match outranks the same word in card text; every hit says where it matched', () => {
    const hits = engine.search(index, 'tibetan');
    expect(hits.map((h) => h.path)).toEqual(['raw_datasets/tibetan_ocr', 'raw_datasets/བོད་ཡིག', 'raw_datasets/ocr_benchmark']);
    expect(hits[0]!.matches).toEqual({ name: ['tibetan'] });
    expect(hits[1]!.matches).toEqual({ description: ['tibetan'] });
    // ocr_benchmark: in its card text and in a file path, not in its name.
    expect(hits[2]!.matches).toEqual({ text: ['tibetan'], paths: ['tibetan'] });
    expect(hits[0]!.score).toBeGreaterThan(hits[2]!.score);
  });

  test('every query word must match (AND), in any field', () => {
    expect(paths('tibetan ocr')).toEqual(['raw_datasets/tibetan_ocr', 'raw_datasets/ocr_benchmark']);
    expect(paths('tibetan street')).toEqual([]);
    const [hit] = engine.search(index, 'library transcriptions');
    expect(hit!.path).toBe('raw_datasets/tibetan_ocr');
    expect(hit!.matches).toEqual({ text: ['library'], paths: ['transcriptions'] });
  });

  test('a word matches the start of a token; an exact token scores higher than a prefix', () => {
    expect(paths('bench')).toEqual(['raw_datasets/ocr_benchmark']);
    expect(paths('seg')).toEqual(['champion_models/segmenter']);
    const exact = engine.search(index, 'segmenter')[0]!.score;
    const prefix = engine.search(index, 'segm')[0]!.score;
    expect(exact).toBeGreaterThan(prefix);
    // Not a substring search: "enter" is inside "segmenter" but starts no word.
    expect(paths('enter')).toEqual([]);
  });

  test('the entry whose name is the query comes first', () => {
    expect(paths('ocr benchmark')[0]).toBe('raw_datasets/ocr_benchmark');
    expect(engine.search(index, 'ocr benchmark')[0]!.matches.name).toEqual(['ocr', 'benchmark']);
  });

  test('front-matter fields and file paths are searchable', () => {
    expect(paths('bdrc')).toEqual(['raw_datasets/tibetan_ocr']);
    expect(engine.search(index, 'bdrc')[0]!.matches).toEqual({ fields: ['bdrc'] });
    expect(paths('safetensors')).toEqual(['champion_models/segmenter']);
    expect(engine.search(index, 'safetensors')[0]!.matches).toEqual({ paths: ['safetensors'] });
  });

  test('filters by area, licence and owner compare without case; an empty query lists what passes', () => {
    expect(paths('', { license: 'cc-by-4.0' })).toEqual(['raw_datasets/tibetan_ocr', 'champion_models/segmenter']);
    expect(paths('', { owner: 'ALICE' })).toEqual(['raw_datasets/tibetan_ocr', 'champion_models/segmenter']);
    expect(paths('', { area: 'raw_datasets', owner: 'bob' })).toEqual(['raw_datasets/ocr_benchmark']);
    expect(paths('ocr', { area: 'champion_models' })).toEqual(['champion_models/segmenter']);
    expect(paths('ocr', { license: 'MIT' })).toEqual(['raw_datasets/ocr_benchmark']);
    expect(paths('')).toHaveLength(docs.length);
  });

  test('case, Latin accents and punctuation do not matter; other scripts keep their marks', () => {
    expect(paths('CAFE')).toEqual(['experiments/café_notes']);
    expect(paths('café')).toEqual(['experiments/café_notes']);
    expect(paths('ocr!!')).toEqual(paths('ocr'));
    expect(engine.tokenize('བོད་ཡིག')).toEqual(['བོད', 'ཡིག']);
    expect(paths('བོད')).toEqual(['raw_datasets/བོད་ཡིག']);
  });

  test('ties are broken by path, so results are stable', () => {
    const twins = engine.buildIndex([
      { path: 'b/x', area: 'b', name: 'x', description: 'same words' },
      { path: 'a/x', area: 'a', name: 'x', description: 'same words' },
    ]);
    expect(engine.search(twins, 'same').map((h) => h.path)).toEqual(['a/x', 'b/x']);
  });

  test('a 100k-file entry contributes a bounded number of path tokens; pure numbers are not indexed', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `shard-${i % 50}/img_${String(i).padStart(6, '0')}_v${i}.png`);
    const big = engine.buildIndex([{ path: 'a/big', area: 'a', name: 'big', paths: many }]);
    expect(big.terms.length).toBeLessThanOrEqual(2000 + 10);
    expect(big.terms).not.toContain('000017');
    expect(engine.search(big, 'shard').map((h) => h.path)).toEqual(['a/big']);
  });

  test('the site ships this very engine: assets/shared.js ranks exactly like Node', () => {
    const shared = siteAssets().find((a) => a.path === 'assets/shared.js')!.data;
    const sandbox: Record<string, unknown> = {};
    runInNewContext(shared + '\nthis.RegSearch = RegSearch; this.regFormatBytes = regFormatBytes;', sandbox);
    const browser = sandbox.RegSearch as typeof engine;
    for (const q of ['tibetan', 'tibetan ocr', 'seg', 'café', 'བོད', '']) {
      expect(JSON.parse(JSON.stringify(browser.search(index, q, {})))).toEqual(JSON.parse(JSON.stringify(engine.search(index, q, {}))));
    }
    expect((sandbox.regFormatBytes as (n: number) => string)(1536)).toBe('1.5 KiB');
  });
});

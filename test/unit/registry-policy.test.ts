import { describe, expect, it } from 'vitest';
import { areaGitignore, areaOf, classifyAreaChild, entryNameOf, mergeGitignore, parseSize, registryPolicy } from '../../src/policy/areas.js';
import { checkEntryName, NAMING_PRESETS, ruleNameOf, suggestName } from '../../src/policy/naming.js';
import { findSecrets } from '../../src/policy/secrets.js';
import { topLevelSections } from '../../src/policy/layout.js';

const config = {
  areas: {
    raw_datasets: { mode: 'versioned', 'required-fields': ['license', 'source', 'owner'] },
    processed_datasets: { mode: 'synced', prefix: 'legacy/processed/' },
    experiments: { mode: 'local', card: 'optional' },
  },
  rules: { naming: { 'warn-words': ['dataset', 'final'] }, 'large-file-threshold': '1MB' },
  hooks: { 'pre-push': 'check' },
};

describe('registry policy', () => {
  it('reads areas with per-area rules over the global ones', () => {
    const p = registryPolicy(config);
    expect(p.prePush).toBe('check');
    expect(p.areas.map((a) => [a.name, a.mode, a.prefix])).toEqual([
      ['experiments', 'local', 'experiments'],
      ['processed_datasets', 'synced', 'legacy/processed'],
      ['raw_datasets', 'versioned', 'raw_datasets'],
    ]);
    const raw = p.areas.find((a) => a.name === 'raw_datasets')!;
    expect(raw.rules.requiredFields).toEqual(['license', 'source', 'owner']);
    expect(raw.rules.largeFileBytes).toBe(1024 * 1024);
    expect(raw.rules.naming.warnWords).toEqual(['dataset', 'final']);
    expect(raw.template).toBe('raw_datasets/template.card.md');
    expect(p.areas.find((a) => a.name === 'experiments')!.rules.card).toBe('optional');
    expect(p.areas.find((a) => a.name === 'processed_datasets')!.rules.requiredFields).toEqual([]);
  });
  it('rejects bad config with exit 3', () => {
    expect(() => registryPolicy({ areas: { x: { mode: 'weird' } } })).toThrow(/mode must be one of/);
    expect(() => registryPolicy({ areas: { '../x': { mode: 'local' } } })).toThrow(/relative directory/);
    expect(() => registryPolicy({ areas: { a: 'local', 'a/b': 'local' } })).toThrow(/is inside area a/);
    expect(() => registryPolicy({ rules: { naming: { pattern: '([' } } })).toThrow(/not a valid regex/);
    expect(() => registryPolicy({ hooks: { 'pre-push': 'maybe' } })).toThrow(/push or check/);
  });
  it('parses sizes', () => {
    expect(parseSize('10MB', 'x')).toBe(10 * 1024 * 1024);
    expect(parseSize('512k', 'x')).toBe(512 * 1024);
    expect(parseSize(42, 'x')).toBe(42);
    expect(() => parseSize('big', 'x')).toThrow(/size like/);
  });
  it('classifies area children and maps them to entries', () => {
    expect(['template.card.md', '.gitignore', 'x.card.md', 'x.dvc', '.DS_Store', 'README.md', 'x'].map(classifyAreaChild)).toEqual([
      'template', 'gitignore', 'card', 'pointer', 'hidden', 'doc', 'data',
    ]);
    expect(['x.card.md', 'x.dvc', 'x', 'template.card.md'].map(entryNameOf)).toEqual(['x', 'x', 'x', undefined]);
    const { areas } = registryPolicy(config);
    expect(areaOf(areas, 'raw_datasets/x/y.bin')).toMatchObject({ area: { name: 'raw_datasets' }, rest: 'x/y.bin' });
    expect(areaOf(areas, 'raw_datasets_old/x')).toBeUndefined();
  });
  it('writes area .gitignores that keep only cards in synced/local areas', () => {
    expect(areaGitignore('synced')).toContain('/*\n!/.gitignore\n!/template.card.md\n!/*.card.md\n');
    expect(areaGitignore('versioned')).not.toContain('/*');
    const merged = mergeGitignore('/mnist\n', areaGitignore('versioned'))!;
    expect(merged.startsWith('/mnist\n# reg: area')).toBe(true);
    expect(mergeGitignore(merged, areaGitignore('versioned'))).toBeUndefined();
  });
});

describe('naming', () => {
  const strict = NAMING_PRESETS.strict;
  const dflt = NAMING_PRESETS.default;
  it('strict preset: lowercase-hyphen names, a warning on "dataset"', () => {
    expect(checkEntryName('ocr-pages', strict, { isFile: false })).toEqual([]);
    expect(checkEntryName('ocr-dataset', strict, { isFile: false }).map((p) => p.severity)).toEqual(['warning']);
    expect(checkEntryName('OCR Pages', strict, { isFile: false }).map((p) => p.severity)).toEqual(['error']);
    expect(checkEntryName('ocr_pages', strict, { isFile: false })[0]!.fix).toContain('"ocr-pages"');
    expect(suggestName('My_Big  Set!', strict)).toBe('my-big-set');
  });
  it('default preset accepts what real registries use: underscores, dots, digits, capitals', () => {
    for (const name of ['coco_2017', 'imagenet-1k.v2', 'MNIST', 'squad_v2', 'c4', 'wikitext-103-raw-v1', 'ocr-dataset']) {
      expect(checkEntryName(name, dflt, { isFile: false }), name).toEqual([]);
    }
    for (const name of ['-leading', 'trailing.', 'has space', 'semi;colon', '.hidden', 'é']) {
      expect(checkEntryName(name, dflt, { isFile: false }).map((p) => p.severity), name).toEqual(['error']);
    }
    expect(suggestName('my big set!', dflt)).toBe('my-big-set');
  });
  it('file entries are judged by their stem and keep their extension in suggestions', () => {
    expect(ruleNameOf('labels.csv', true)).toBe('labels');
    expect(ruleNameOf('labels.csv', false)).toBe('labels.csv');
    expect(checkEntryName('x.zip', strict, { isFile: true })).toEqual([]);
    expect(checkEntryName('x.zip', strict, { isFile: false }).map((p) => p.severity)).toEqual(['error']);
    expect(checkEntryName('My File.csv', strict, { isFile: true })[0]!.fix).toContain('"my-file.csv"');
  });
  it('the severity comes from the rule', () => {
    expect(checkEntryName('Bad_Name', { ...strict, severity: 'warning' }, { isFile: false }).map((p) => p.severity)).toEqual(['warning']);
  });
  it('config: a preset by name, or a mapping that overrides it', () => {
    const policy = (naming: unknown) => registryPolicy({ areas: { raw: { mode: 'versioned' } }, rules: { naming } }).areas[0]!.rules.naming;
    expect(registryPolicy({ areas: { raw: { mode: 'versioned' } } }).areas[0]!.rules.naming).toEqual(dflt);
    expect(policy('strict')).toEqual(strict);
    expect(policy({ preset: 'strict', severity: 'warning' })).toEqual({ ...strict, severity: 'warning' });
    expect(policy({ pattern: '^[a-z]+$' }).pattern).toBe('^[a-z]+$');
    expect(() => policy('loose')).toThrow(/preset/);
    expect(() => policy({ severity: 'fatal' })).toThrow(/severity/);
  });
});

describe('secrets', () => {
  it('finds secret keys and AWS-looking values, not empty or env references', () => {
    const text = [
      'remotes:',
      '  origin:',
      '    url: s3://bucket/x',
      '    secret-access-key: abc',
      '    session-token: ""',
      '    access-key-id: ${AWS_ACCESS_KEY_ID}',
      '    endpoint: AKIAABCDEFGHIJKLMNOP',
      '    md5: 0123456789abcdef0123456789abcdef',
      '    # secret-access-key: commented',
      '    other: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    ].join('\n');
    expect(findSecrets(text).map((h) => h.line)).toEqual([4, 7, 10]);
    expect(findSecrets('remotes: { origin: { url: x, session-token: abc } }').map((h) => h.what)).toEqual(['"session-token" has a value']);
    expect(findSecrets('a: [unclosed\nsecret-access-key: abc\n').map((h) => h.line)).toEqual([2]);
  });
});

describe('config sections', () => {
  it('splits top-level YAML keys with the comments above them', () => {
    const s = topLevelSections('# a\na:\n  x: 1\n\n# b\nb: 2\n');
    expect([...s.keys()]).toEqual(['a', 'b']);
    expect(s.get('b')).toBe('# b\nb: 2\n');
    expect(s.get('a')).toBe('# a\na:\n  x: 1\n');
  });
});

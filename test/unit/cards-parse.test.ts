import { describe, expect, it } from 'vitest';
import { parseCard, renderTemplate, validateCard } from '../../src/policy/cards.js';

describe('cards', () => {
  it('reads the header after the front matter', () => {
    const c = parseCard('---\nlicense: MIT\nsource: https://x\n---\n\n# Card: ocr\nbody\n');
    expect(c.fields).toEqual({ license: 'MIT', source: 'https://x' });
    expect(c.header).toBe('# Card: ocr');
    expect(c.headerLine).toBe(6);
    expect(parseCard('# Card: x\n').hasFrontMatter).toBe(false);
  });
  it('validates header and required fields', () => {
    const good = '---\nlicense: CC-BY-4.0\nsource: https://example.org\nowner: ana\n---\n# Card: ocr\n';
    expect(validateCard(good, 'ocr', ['license', 'source', 'owner'])).toEqual([]);
    const rules = (t: string, f: string[] = []) => validateCard(t, 'ocr', f).map((p) => p.rule + ('field' in p ? ':' + p.field : ''));
    expect(rules('# Card: other\n')).toEqual(['card-header']);
    expect(rules('just text\n')).toEqual(['card-header']);
    expect(rules('')).toEqual(['card-header']);
    expect(rules('---\nlicense:\nowner: TODO\n---\n# Card: ocr\n', ['license', 'source', 'owner'])).toEqual(['card-field:license', 'card-field:source', 'card-field:owner']);
    expect(rules('---\nlicense: [unclosed\n---\n# Card: ocr\n', ['license'])).toEqual(['card-front-matter']);
    expect(rules('---\nlicense: MIT\n# Card: ocr\n', ['license'])).toEqual(['card-front-matter', 'card-header']);
    expect(rules('---\n- a\n---\n# Card: ocr\n')).toEqual(['card-front-matter']);
  });
  it('fills templates', () => {
    expect(renderTemplate('# Card: {{name}} in {{ area }}', { name: 'x', area: 'raw', date: '2026-01-01' })).toBe('# Card: x in raw');
  });
});

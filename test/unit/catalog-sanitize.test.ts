import { describe, expect, test } from 'vitest';
import { cardBody, firstParagraph, renderMarkdown } from '../../dist/catalog/markdown.js';
import { esc, fieldValueHtml } from '../../dist/catalog/html.js';
import { entrySlug } from '../../dist/catalog/slug.js';
import { parseCard } from '../../dist/policy/cards.js';
import { HOSTILE_CARD } from '../helpers/catalog-fixture.js';

/** What no rendered card may contain: executable markup, handlers, dangerous URL schemes. */
function assertInert(html: string): void {
  const lower = html.toLowerCase();
  for (const tag of ['<script', '<iframe', '<svg', '<math', '<style', '<object', '<embed', '<form', '<img', '<base', '<meta', '<link', '<noscript', '<template', '<input', '<button']) {
    expect(lower, `${tag} in ${html}`).not.toContain(tag);
  }
  // No attribute that starts with "on" on any tag, no inline style (attribute values, always
  // quoted by the sanitizer, are blanked first: text inside a title is not an attribute).
  for (const m of html.matchAll(/<[a-z](?:"[^"]*"|'[^']*'|[^'">])*>/gi)) {
    const tag = m[0].replace(/"[^"]*"|'[^']*'/g, '""');
    expect(tag, 'unquoted attribute value').not.toMatch(/=[^"\s>]/);
    expect(tag, 'event handler attribute').not.toMatch(/\son[a-z]+\s*=/i);
    expect(tag, 'style attribute').not.toMatch(/\sstyle\s*=/i);
    expect(tag, 'srcdoc').not.toMatch(/srcdoc/i);
  }
  // Every href is http(s), mailto or relative, never a script or data scheme.
  for (const m of html.matchAll(/href="([^"]*)"/gi)) {
    const href = m[1]!
      .replace(/&#x([0-9a-f]+);?/gi, (_e, h: string) => String.fromCodePoint(parseInt(h, 16)))
      .replace(/&#([0-9]+);?/g, (_e, d: string) => String.fromCodePoint(Number(d)))
      .replace(/&colon;/gi, ':')
      .replace(/&amp;/g, '&')
      .replace(/[\s\u0000-\u001f]/g, '')
      .toLowerCase();
    expect(href, `href ${m[1]}`).not.toMatch(/^(javascript|vbscript|data|file):/);
  }
}

const corpus: Array<[string, string]> = [
  ['script tag', '<script>alert(1)</script>'],
  ['script with attributes', '<script src="https://evil.example/x.js"></script>'],
  ['img onerror', '<img src=x onerror=alert(1)>'],
  ['img onerror quoted', '<img src="x" onerror="alert(1)">'],
  ['svg onload', '<svg onload=alert(1)>'],
  ['svg with script', '<svg><script>alert(1)</script></svg>'],
  ['iframe', '<iframe src="https://evil.example"></iframe>'],
  ['iframe srcdoc', '<iframe srcdoc="<script>alert(1)</script>"></iframe>'],
  ['javascript link', '<a href="javascript:alert(1)">x</a>'],
  ['javascript link, mixed case', '<a href="JaVaScRiPt:alert(1)">x</a>'],
  ['javascript link, decimal entity', '<a href="&#106;avascript:alert(1)">x</a>'],
  ['javascript link, hex entities', '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>'],
  ['javascript link, entity colon', '<a href="javascript&colon;alert(1)">x</a>'],
  ['javascript link, tab inside', '<a href="java\tscript:alert(1)">x</a>'],
  ['javascript link, newline inside', '<a href="java\nscript:alert(1)">x</a>'],
  ['javascript link, leading spaces', '<a href="  javascript:alert(1)">x</a>'],
  ['data link', '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'],
  ['vbscript link', '<a href="vbscript:msgbox(1)">x</a>'],
  ['markdown javascript link', '[x](javascript:alert(1))'],
  ['markdown javascript link, entity', '[x](&#106;avascript:alert(1))'],
  ['markdown data link', '[x](data:text/html,<script>alert(1)</script>)'],
  ['markdown reference link', '[x][r]\n\n[r]: javascript:alert(1)'],
  ['markdown image javascript', '![x](javascript:alert(1))'],
  ['markdown image data', '![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)'],
  ['markdown title breaking out', '[x](https://example.org "\\" onmouseover=\\"alert(1)")'],
  ['autolink javascript', '<javascript:alert(1)>'],
  ['style tag', '<style>body{display:none}</style>'],
  ['style attribute', '<p style="background:url(javascript:alert(1))">x</p>'],
  ['onclick', '<p onclick="alert(1)">x</p>'],
  ['object', '<object data="javascript:alert(1)"></object>'],
  ['embed', '<embed src="javascript:alert(1)">'],
  ['form', '<form action="javascript:alert(1)"><input type=submit></form>'],
  ['base', '<base href="javascript:alert(1)//">'],
  ['meta refresh', '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'],
  ['math mxss', '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>'],
  ['noscript mxss', '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></p></noscript>'],
  ['unclosed tag', '<img src=x onerror=alert(1)//'],
  ['broken attribute quoting', '<a href=" javascript:alert(1)" onmouseover=alert(1)//>x</a>'],
  ['html comment trick', '<!--><script>alert(1)</script>-->'],
  ['template', '<template><script>alert(1)</script></template>'],
  ['details ontoggle', '<details open ontoggle=alert(1)><summary>s</summary></details>'],
  ['video onerror', '<video><source onerror="alert(1)"></video>'],
  ['link import', '<link rel=import href="https://evil.example">'],
];

describe('card Markdown is rendered and sanitized', () => {
  test.each(corpus)('%s executes nothing', (_name, input) => {
    assertInert(renderMarkdown(input));
    assertInert(renderMarkdown(`text before\n\n${input}\n\ntext after`));
  });

  test('the hostile card renders inert, and its harmless parts remain', () => {
    const parsed = parseCard(HOSTILE_CARD);
    const html = renderMarkdown(cardBody(HOSTILE_CARD, parsed.bodyLine));
    assertInert(html);
    expect(html).toContain('A card that tries everything.');
    expect(html).toContain('styled paragraph');
    expect(html).toContain('&lt;script&gt;this is code, shown as text&lt;/script&gt;');
    expect(html).not.toContain('__regTrap(\'inline script\')');
  });

  test('ordinary Markdown survives: headings one level down, tables, code, safe links', () => {
    const html = renderMarkdown('# Title\n\nSome *em* and **strong**.\n\n| a | b |\n|--:|---|\n| 1 | 2 |\n\n```py\nprint(1)\n```\n\n[ok](https://example.org/x?a=1&b=2) <mailto:a@example.org>\n\n<details><summary>More</summary>hidden</details>');
    expect(html).toContain('<h2>Title</h2>');
    expect(html).toContain('<em>em</em>');
    expect(html).toContain('<table>');
    expect(html).toContain('<td>1</td>');
    expect(html).toContain('<code class="language-py">');
    expect(html).toContain('href="https://example.org/x?a=1&amp;b=2"');
    expect(html).toContain('href="mailto:a@example.org"');
    expect(html).toContain('<details><summary>More</summary>hidden</details>');
    expect(html).toContain('rel="noopener noreferrer nofollow"');
  });

  test('images become links (nothing is loaded from outside)', () => {
    const html = renderMarkdown('![a chart](https://example.org/chart.png)');
    expect(html).toContain('<a href="https://example.org/chart.png" rel="noopener noreferrer nofollow">[image: a chart]</a>');
  });

  test('the description is the text a reader sees: no script content, no markup', () => {
    expect(firstParagraph('Hello <script>steal()</script> *world* & <b>co</b>')).toBe('Hello world & co');
    expect(firstParagraph('# Heading only\n\nSecond para')).toBe('Second para');
    expect(firstParagraph('x'.repeat(500)).length).toBe(200);
  });

  test('the card header line is not repeated in the body', () => {
    const text = '---\nowner: a\n---\n\n# Card: x\n\nBody.\n';
    expect(cardBody(text, parseCard(text).bodyLine).trim()).toBe('Body.');
  });
});

describe('front-matter values', () => {
  test('DOIs, arXiv ids and http(s) URLs become links; anything else is escaped text', () => {
    expect(fieldValueHtml('doi', '10.5281/zenodo.123')).toBe('<a href="https://doi.org/10.5281/zenodo.123" rel="noopener noreferrer nofollow">10.5281/zenodo.123</a>');
    expect(fieldValueHtml('paper', 'https://doi.org/10.1000/xyz')).toContain('href="https://doi.org/10.1000/xyz"');
    expect(fieldValueHtml('arxiv', '2401.01234')).toContain('href="https://arxiv.org/abs/2401.01234"');
    expect(fieldValueHtml('ref', 'arXiv:2401.01234v2')).toContain('href="https://arxiv.org/abs/2401.01234v2"');
    expect(fieldValueHtml('code', 'https://example.org/repo')).toContain('href="https://example.org/repo"');
    expect(fieldValueHtml('tags', ['a', 'b'])).toBe('a, b');
    expect(fieldValueHtml('size', 12)).toBe('12');
  });

  test.each([
    ['javascript:alert(1)'],
    ['data:text/html,<script>alert(1)</script>'],
    ['https://example.org/" onmouseover="alert(1)'],
    ['10.1234/"><script>alert(1)</script>'],
    ['<img src=x onerror=alert(1)>'],
    ['https://exa mple.org/<script>'],
  ])('a hostile value %s stays text', (value) => {
    const html = fieldValueHtml('homepage', value);
    assertInert(html);
    expect(html).not.toMatch(/<a /);
    expect(esc(value)).toBe(html);
  });
});

describe('page names from entry names', () => {
  test.each([['..'], ['.hidden'], ['a b'], ['"><script>'], ['x'.repeat(300)], ['བོད་ཡིག'], ['con'], ['a\nb']])('%s gives a safe, distinct file name', (name) => {
    const slug = entrySlug('raw_datasets', name);
    expect(slug).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/);
    expect(slug).not.toContain('..');
    expect(slug).not.toBe(entrySlug('raw_datasets', name + '_'));
  });
  test('names that clean up alike stay apart', () => {
    expect(entrySlug('a', 'x y')).not.toBe(entrySlug('a', 'x_y'));
    expect(entrySlug('a/b', 'c')).not.toBe(entrySlug('a-b', 'c'));
  });
});

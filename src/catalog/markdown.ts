import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';
import { CARD_HEADER_PREFIX } from '../policy/cards.js';

/**
 * Cards are untrusted Markdown written by any contributor. They are rendered by markdown-it (raw
 * HTML allowed through, so `<details>` or a table written by hand still work) and the result is
 * always passed through sanitize-html with an allow-list: no script, style, iframe, form, SVG or
 * event attribute survives, links keep only http(s) and mailto URLs, images become links (the
 * site loads nothing from outside, and its Content-Security-Policy would refuse them anyway), and
 * headings move one level down under the page's own <h1>.
 */
const md = new MarkdownIt({ html: true, linkify: true, typographer: false });

const SAFE_SCHEMES = ['http', 'https', 'mailto'];

const HEADINGS: Record<string, string> = { h1: 'h2', h2: 'h3', h3: 'h4', h4: 'h5', h5: 'h6', h6: 'h6' };

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'blockquote', 'pre', 'code', 'em', 'strong', 'b', 'i', 'del', 's', 'a',
    'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'sup', 'sub', 'details', 'summary', 'dl', 'dt', 'dd', 'kbd',
  ],
  allowedAttributes: { a: ['href', 'title', 'rel'], ol: ['start'], code: ['class'], th: ['colspan', 'rowspan'], td: ['colspan', 'rowspan'] },
  allowedClasses: { code: [/^language-[A-Za-z0-9_+-]{1,40}$/] },
  allowedSchemes: SAFE_SCHEMES,
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  // Content of these is dropped with the tag (not shown as text).
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'iframe', 'object', 'embed', 'svg', 'math', 'template', 'title', 'xmp', 'noembed', 'noframes', 'select'],
  disallowedTagsMode: 'discard',
  parseStyleAttributes: false,
  transformTags: {
    ...Object.fromEntries(Object.entries(HEADINGS).map(([from, to]) => [from, to])),
    a: (_tag, attribs) => ({ tagName: 'a', attribs: { ...pick(attribs, ['href', 'title']), rel: 'noopener noreferrer nofollow' } }),
    img: (_tag, attribs) => ({ tagName: 'a', attribs: { ...(attribs.src ? { href: attribs.src } : {}), rel: 'noopener noreferrer nofollow' }, text: `[image${attribs.alt ? `: ${attribs.alt}` : ''}]` }),
  },
  // A link whose URL was refused keeps its text but not an empty <a>.
  exclusiveFilter: (frame) => (frame.tag === 'a' && !frame.attribs.href ? 'excludeTag' : false),
};

function pick(attribs: Record<string, string>, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (attribs[k] !== undefined) out[k] = attribs[k]!;
  return out;
}

/** The Markdown body of a card (after the front matter), without its `# Card: name` header line. */
export function cardBody(text: string, bodyLine: number): string {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).slice(bodyLine);
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  if (lines[i]?.startsWith(CARD_HEADER_PREFIX)) lines.splice(0, i + 1);
  return lines.join('\n');
}

/** Markdown -> sanitized HTML, safe to place inside the page. */
export function renderMarkdown(markdown: string): string {
  return sanitizeHtml(md.render(markdown), SANITIZE);
}

/** Sanitizes HTML with the card allow-list (exported for tests of the sanitizer alone). */
export function sanitizeCardHtml(html: string): string {
  return sanitizeHtml(html, SANITIZE);
}

const TEXT_ONLY: sanitizeHtml.IOptions = { allowedTags: [], allowedAttributes: {}, nonTextTags: SANITIZE.nonTextTags };
const UNESCAPE: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/**
 * The first paragraph of a Markdown body as plain text (the entry's one-line description), at
 * most `max` characters: what the rendered card shows, so markup and script content are dropped.
 */
export function firstParagraph(markdown: string, max = 200): string {
  const tokens = md.parse(markdown, {});
  for (let i = 0; i < tokens.length - 1; i++) {
    if (tokens[i]!.type !== 'paragraph_open') continue;
    const html = md.renderer.render([tokens[i]!, tokens[i + 1]!, tokens[i + 2]!].filter(Boolean), md.options, {});
    const text = sanitizeHtml(html, TEXT_ONLY)
      .replace(/&(amp|lt|gt|quot|#39);/g, (m) => UNESCAPE[m]!)
      .replace(/\s+/g, ' ')
      .trim();
    if (text !== '') return text.length > max ? text.slice(0, max - 1).trimEnd() + '…' : text;
  }
  return '';
}

/** HTML text helpers for the catalog pages: every value from the registry goes through one of these. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text content or a quoted attribute value. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** An absolute http(s) URL as given, or undefined (only these become links in field values). */
export function safeHttpUrl(value: string): string | undefined {
  const s = value.trim();
  if (!/^https?:\/\/[^\s<>"'`]+$/i.test(s)) return undefined;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

export function link(href: string, text: string): string {
  return `<a href="${esc(href)}" rel="noopener noreferrer nofollow">${esc(text)}</a>`;
}

const DOI = /^(?:doi:\s*|https?:\/\/(?:dx\.)?doi\.org\/)?(10\.\d{4,9}\/[^\s"<>]+)$/i;
const ARXIV = /^(?:arxiv:\s*|https?:\/\/arxiv\.org\/abs\/)?((?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?\/\d{7})(?:v\d+)?)$/i;

/**
 * A front-matter value as HTML: DOIs, arXiv ids and http(s) URLs as links (by the field name or
 * the value's shape), lists comma-separated, mappings as `key: value` pairs, everything escaped.
 */
export function fieldValueHtml(key: string, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => fieldValueHtml(key, v)).join(', ');
  if (value instanceof Date) return esc(value.toISOString().slice(0, 10));
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${esc(k)}: ${fieldValueHtml(k, v)}`)
      .join('; ');
  }
  const s = String(value);
  const doi = DOI.exec(s.trim());
  if (doi && (/doi/i.test(key) || /^(doi:|https?:\/\/(dx\.)?doi\.org\/)/i.test(s.trim()) || /^10\.\d{4,9}\//.test(s.trim()))) {
    return link(`https://doi.org/${doi[1]!.split('/').map(encodeURIComponent).join('/')}`, s.trim());
  }
  const arxiv = ARXIV.exec(s.trim());
  if (arxiv && (/arxiv/i.test(key) || /^arxiv:/i.test(s.trim()) || /arxiv\.org/i.test(s))) {
    return link(`https://arxiv.org/abs/${arxiv[1]!.split('/').map(encodeURIComponent).join('/')}`, s.trim());
  }
  const url = safeHttpUrl(s);
  if (url) return link(url, s.trim());
  return esc(s);
}

/** A front-matter value as plain text (search, descriptions, the index table). */
export function fieldValueText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(fieldValueText).join(', ');
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}: ${fieldValueText(v)}`).join('; ');
  return String(value);
}

/** `2024-01-05` from an ISO date (the author's own calendar day). */
export function day(iso: string | undefined): string {
  return iso ? iso.slice(0, 10) : '';
}

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

/** A whole page: relative links only (`root` is the way back to the site root: '' or '../'). */
export function page(options: { title: string; root: string; scripts: readonly string[]; body: string; bodyData?: Record<string, string> }): string {
  const data = Object.entries(options.bodyData ?? {})
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${esc(options.title)}</title>`,
    `<link rel="stylesheet" href="${options.root}assets/site.css">`,
    // A site icon of its own: without one a browser asks the server for /favicon.ico, outside the site.
    `<link rel="icon" type="image/svg+xml" href="${options.root}assets/icon.svg">`,
    ...options.scripts.map((s) => `<script src="${esc(s)}" defer></script>`),
    '</head>',
    `<body${data}>`,
    options.body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

import { isMap, LineCounter, parseDocument } from 'yaml';
import { configError } from '../errors.js';
import { CARD_SUFFIX } from './areas.js';

/**
 * Cards: `<area>/<entry>.card.md`. Format (see docs/registry.md):
 *
 *   ---                      optional YAML front matter (required when the area requires fields)
 *   license: CC-BY-4.0
 *   ---
 *   # Card: <entry>          the header: the first non-blank line after the front matter
 *   ...free Markdown...
 */
export const CARD_HEADER_PREFIX = '# Card: ';

/** A card is a short Markdown file; a bigger one (or template) is not read. */
export const MAX_CARD_BYTES = 1 << 20;

/** The error for a card or template over MAX_CARD_BYTES, shown as `shownAs` (a path, or a path at a commit). */
export function cardTooLarge(shownAs: string) {
  return configError('card.too-large', `${shownAs} is larger than 1 MiB`, { hint: 'a card is a short Markdown file; move long documents next to the data' });
}

export interface ParsedCard {
  /** Front-matter fields (empty when there is none). */
  fields: Record<string, unknown>;
  hasFrontMatter: boolean;
  /** Problem with the front matter (unterminated, invalid YAML, not a mapping). */
  frontMatterError?: string;
  /** The header line (first non-blank line after the front matter), if any. */
  header?: string;
  /** 1-based line number of the header line. */
  headerLine?: number;
  /** 0-based index of the first line after the front matter (0 without one): where the Markdown body starts. */
  bodyLine: number;
}

export function cardFileName(entry: string): string {
  return entry + CARD_SUFFIX;
}

export function expectedHeader(entry: string): string {
  return CARD_HEADER_PREFIX + entry;
}

export function parseCard(text: string): ParsedCard {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let i = 0;
  const card: ParsedCard = { fields: {}, hasFrontMatter: false, bodyLine: 0 };
  if (lines[0]?.trimEnd() === '---') {
    card.hasFrontMatter = true;
    const end = lines.findIndex((l, k) => k > 0 && (l.trimEnd() === '---' || l.trimEnd() === '...'));
    if (end === -1) {
      card.frontMatterError = 'the front matter starting on line 1 is never closed with a "---" line';
      return card;
    }
    const yamlText = lines.slice(1, end).join('\n');
    const counter = new LineCounter();
    const doc = parseDocument(yamlText, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const pos = counter.linePos(e.pos[0]);
      card.frontMatterError = `invalid YAML in the front matter at line ${pos.line + 1}: ${e.message.split('\n')[0]}`;
    } else if (doc.contents !== null && !isMap(doc.contents)) {
      card.frontMatterError = 'the front matter must be a YAML mapping (key: value lines)';
    } else {
      card.fields = (doc.toJS() as Record<string, unknown> | null) ?? {};
    }
    i = end + 1;
    card.bodyLine = i;
  }
  while (i < lines.length && lines[i]!.trim() === '') i++;
  if (i < lines.length) {
    card.header = lines[i]!.trimEnd();
    card.headerLine = i + 1;
  }
  return card;
}

/** A field counts as set when it is a non-empty string/number/bool, or a non-empty list/mapping. */
export function isFilled(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.trim() !== '' && !/^(todo|tbd|\?+|<.*>)$/i.test(value.trim());
  if (Array.isArray(value)) return value.some(isFilled);
  if (typeof value === 'object') return Object.values(value).some(isFilled);
  return true;
}

export type CardProblem =
  | { rule: 'card-front-matter'; message: string; line?: number }
  | { rule: 'card-header'; message: string; line?: number }
  | { rule: 'card-field'; field: string; message: string };

/** Checks a card's text for an entry against the required fields. Pure. */
export function validateCard(text: string, entry: string, requiredFields: readonly string[]): CardProblem[] {
  return validateParsedCard(parseCard(text), entry, requiredFields);
}

/** validateCard of a card already parsed (parsing the front matter is the costly part). */
export function validateParsedCard(card: ParsedCard, entry: string, requiredFields: readonly string[]): CardProblem[] {
  const problems: CardProblem[] = [];
  if (card.frontMatterError) problems.push({ rule: 'card-front-matter', message: card.frontMatterError, line: 1 });
  const want = expectedHeader(entry);
  if (card.header !== want) {
    problems.push({
      rule: 'card-header',
      message: card.header === undefined ? `has no header line; expected "${want}"` : `header is "${card.header}"; expected "${want}"`,
      ...(card.headerLine !== undefined ? { line: card.headerLine } : {}),
    });
  }
  if (!card.frontMatterError) {
    for (const field of requiredFields) {
      if (!isFilled(card.fields[field])) {
        problems.push({ rule: 'card-field', field, message: card.fields[field] === undefined ? `required field "${field}" is missing from the front matter` : `required field "${field}" is empty` });
      }
    }
  }
  return problems;
}

/** Fills a template: `{{name}}`, `{{area}}`, `{{date}}` placeholders. */
export function renderTemplate(template: string, vars: { name: string; area: string; date: string }): string {
  return template.replace(/\{\{\s*(name|area|date)\s*\}\}/g, (_m, key: 'name' | 'area' | 'date') => vars[key]);
}

/** The template used when an area has none on disk. */
export function fallbackTemplate(requiredFields: readonly string[]): string {
  const fm = requiredFields.length ? ['---', ...requiredFields.map((f) => `${f}: `), '---', ''] : [];
  return [...fm, '# Card: {{name}}', '', '## Purpose', '', '## Provenance', '', '## How to reproduce', ''].join('\n');
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../fsutil.js';
import { VERSION } from '../../package-info.js';
import { parseCard, validateParsedCard, type CardProblem } from '../../policy/cards.js';

/** Bump when validateParsedCard's rules or messages change: verdicts stored under another format are never used. */
const FORMAT = 1;

/**
 * The card problems found by earlier checks, keyed by a hash of exactly what decides them (the
 * card's text, the entry's name, the area's required fields), in `.reg/tmp/card-checks.json`. A
 * status or check of a registry with hundreds of cards otherwise parses every card's YAML front
 * matter on every run, most of its time; an edited card has a new key and is parsed again. The
 * file is rewritten only when a card was parsed or one went away, and keeps only this run's keys.
 * A missing, torn or foreign file just means every card is parsed.
 */
export class CardChecks {
  private readonly known: Map<string, CardProblem[]>;
  private readonly used = new Map<string, CardProblem[]>();
  private added = false;

  private constructor(
    private readonly file: string,
    stored: Record<string, CardProblem[]>,
  ) {
    this.known = new Map(Object.entries(stored));
  }

  static load(regDir: string): CardChecks {
    const file = join(regDir, 'tmp', 'card-checks.json');
    const stored: Record<string, CardProblem[]> = {};
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { v?: unknown; results?: unknown };
      if (parsed.v === FORMAT && parsed.results !== null && typeof parsed.results === 'object' && !Array.isArray(parsed.results)) {
        for (const [key, found] of Object.entries(parsed.results)) if (isProblemList(found)) stored[key] = found;
      }
    } catch {
      // none yet, or unreadable: every card is parsed
    }
    return new CardChecks(file, stored);
  }

  /** validateCard(text, entry, requiredFields), from the memo when the same inputs were checked before. */
  problems(text: string, entry: string, requiredFields: readonly string[]): CardProblem[] {
    // reg's version is in the key too: another release may judge the same card differently.
    const key = createHash('sha256').update(JSON.stringify([VERSION, entry, requiredFields])).update('\0').update(text).digest('base64url');
    const known = this.used.get(key) ?? this.known.get(key);
    if (Array.isArray(known)) {
      this.used.set(key, known);
      return known;
    }
    const found = validateParsedCard(parseCard(text), entry, requiredFields);
    this.used.set(key, found);
    this.added = true;
    return found;
  }

  /** Writes the memo when it changed; a failure to write costs only a parse next time. */
  save(): void {
    if (!this.added && this.used.size === this.known.size) return;
    try {
      writeFileAtomicSync(this.file, JSON.stringify({ v: FORMAT, results: Object.fromEntries(this.used) }), 0o666, false);
    } catch {
      // .reg/tmp not writable: the next run parses again
    }
  }
}

const RULES = new Set(['card-front-matter', 'card-header', 'card-field']);

/** A stored result is used only if it has the shape validateParsedCard returns. */
function isProblemList(v: unknown): v is CardProblem[] {
  return (
    Array.isArray(v) &&
    v.every((p: unknown) => {
      const x = p as Partial<Record<'rule' | 'message' | 'field' | 'line', unknown>> | null;
      return (
        typeof x === 'object' && x !== null && typeof x.rule === 'string' && RULES.has(x.rule) && typeof x.message === 'string' &&
        (x.rule !== 'card-field' || typeof x.field === 'string') && (x.line === undefined || typeof x.line === 'number')
      );
    })
  );
}

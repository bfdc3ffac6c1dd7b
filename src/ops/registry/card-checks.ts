import { createHash } from 'node:crypto';
import { VERSION } from '../../package-info.js';
import { parseCard, validateParsedCard, type CardProblem } from '../../policy/cards.js';
import { readRegMemoJson, writeRegMemo } from '../../workspace/reg-memo.js';

/** Bump when validateParsedCard's rules or messages change: verdicts stored under another format are never used. */
const FORMAT = 1;
const MEMO_FILE = 'card-checks.json';
/** Far above the memo of any registry (a few hundred bytes per card); a bigger file is not read. */
const MAX_MEMO_BYTES = 64 * 1024 * 1024;

/**
 * The card problems found by earlier checks, keyed by a hash of exactly what decides them (the
 * card's text, the entry's name, the area's required fields), in `.reg/tmp/card-checks.json`. A
 * status or check of a registry with hundreds of cards otherwise parses every card's YAML front
 * matter on every run, most of its time; an edited card has a new key and is parsed again. The
 * file is rewritten only when a card was parsed or one went away, and keeps only this run's keys.
 * A missing, torn or foreign file just means every card is parsed. It is a memo (reg-memo.ts):
 * while git tracks anything under `.reg/tmp/` it is neither read nor written (a committed memo
 * could otherwise let a broken card pass `reg check` in CI), and never through a link.
 */
export class CardChecks {
  private readonly known: Map<string, CardProblem[]>;
  private readonly used = new Map<string, CardProblem[]>();
  private added = false;

  private constructor(
    private readonly repo: { regDir: string } | undefined,
    stored: Record<string, CardProblem[]>,
  ) {
    this.known = new Map(Object.entries(stored));
  }

  /** `trusted`: git tracks nothing under `.reg/tmp/` (else nothing is remembered, and every card is parsed). */
  static load(repo: { regDir: string }, trusted: boolean): CardChecks {
    const stored: Record<string, CardProblem[]> = {};
    if (!trusted) return new CardChecks(undefined, stored);
    // None yet, or unreadable: every card is parsed.
    const parsed = readRegMemoJson(repo, MEMO_FILE, MAX_MEMO_BYTES) as { v?: unknown; results?: unknown } | null | undefined;
    if (parsed?.v === FORMAT && parsed.results !== null && typeof parsed.results === 'object' && !Array.isArray(parsed.results)) {
      for (const [key, found] of Object.entries(parsed.results)) if (isProblemList(found)) stored[key] = found;
    }
    return new CardChecks(repo, stored);
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
    if (this.repo === undefined || (!this.added && this.used.size === this.known.size)) return;
    writeRegMemo(this.repo, MEMO_FILE, JSON.stringify({ v: FORMAT, results: Object.fromEntries(this.used) }));
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

/**
 * The catalog's search: one index format and one ranking, used by `reg search` and by the site's
 * search box. Everything lives inside `createSearchEngine`, which references nothing outside its
 * own body, so the site ships its compiled source as a classic script
 * (`var RegSearch = (<source>)();`, see assets.ts): the browser runs exactly this code.
 *
 * Index: a sorted dictionary of tokens, each with a posting list of `doc * 64 + fieldMask`. A query
 * is tokenized the same way; every query token must match some field by prefix (AND); a document's
 * score sums, per query token, the best weight among the fields it matched (an exact token counts
 * fully, a prefix half), plus a bonus when the entry's name is the query.
 */

/** One entry as the index sees it. */
export interface SearchDoc {
  /** `<area>/<name>` */
  path: string;
  area: string;
  name: string;
  license?: string;
  owner?: string;
  description?: string;
  /** Front-matter fields as `key value` text. */
  fields?: string;
  /** The card's Markdown body. */
  text?: string;
  /** File paths of the current version. */
  paths?: readonly string[];
}

export interface SearchIndex {
  v: 1;
  /** Per document: what filters and results need. */
  docs: Array<{ path: string; area: string; name: string; license: string; owner: string }>;
  /** Sorted, unique. */
  terms: string[];
  /** Parallel to `terms`: `doc * 64 + fieldMask`, docs ascending. */
  postings: number[][];
}

export interface SearchFilters {
  area?: string;
  license?: string;
  owner?: string;
}

export interface SearchHit {
  /** Index into `index.docs`. */
  doc: number;
  path: string;
  score: number;
  /** Field name -> the query tokens that matched in it. */
  matches: Record<string, string[]>;
}

export function createSearchEngine() {
  /** Field order fixes the bits of the posting masks. */
  const FIELDS = ['name', 'area', 'description', 'fields', 'text', 'paths'];
  const WEIGHTS = [10, 3, 6, 5, 2, 1];
  /** Distinct tokens taken from one entry's file paths (a 100k-file dataset would otherwise dominate the index). */
  const MAX_PATH_TOKENS = 2000;
  const MAX_TEXT_TOKENS = 5000;
  const MAX_TOKEN = 64;

  /** Lower case, Latin diacritics dropped, split on anything but letters, marks and digits. */
  function tokenize(text: string): string[] {
    const norm = String(text).normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
    const out: string[] = [];
    for (const t of norm.split(/[^\p{L}\p{M}\p{N}]+/u)) if (t !== '' && t.length <= MAX_TOKEN) out.push(t);
    return out;
  }

  function normalizedPhrase(text: string): string {
    return tokenize(text).join(' ');
  }

  function buildIndex(docs: readonly SearchDoc[]): SearchIndex {
    const byTerm = new Map<string, Map<number, number>>();
    const add = (term: string, doc: number, field: number) => {
      let m = byTerm.get(term);
      if (m === undefined) byTerm.set(term, (m = new Map()));
      m.set(doc, (m.get(doc) ?? 0) | (1 << field));
    };
    docs.forEach((d, i) => {
      const texts = [d.name, d.area, d.description ?? '', d.fields ?? '', d.text ?? ''];
      texts.forEach((t, f) => {
        let seen = 0;
        for (const tok of new Set(tokenize(t))) {
          if (f === 4 && ++seen > MAX_TEXT_TOKENS) break;
          add(tok, i, f);
        }
      });
      const pathTokens = new Set<string>();
      for (const p of d.paths ?? []) {
        for (const tok of tokenize(p)) {
          // Pure numbers in file names (img_00017) say little and would flood the dictionary.
          if (/^[0-9]+$/.test(tok)) continue;
          pathTokens.add(tok);
        }
        if (pathTokens.size >= MAX_PATH_TOKENS) break;
      }
      for (const tok of pathTokens) add(tok, i, 5);
    });
    const terms = [...byTerm.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const postings = terms.map((t) => [...byTerm.get(t)!].sort((a, b) => a[0] - b[0]).map(([doc, mask]) => doc * 64 + mask));
    return {
      v: 1,
      docs: docs.map((d) => ({ path: d.path, area: d.area, name: d.name, license: d.license ?? '', owner: d.owner ?? '' })),
      terms,
      postings,
    };
  }

  /** First index in the sorted `terms` whose term is >= `q`. */
  function lowerBound(terms: readonly string[], q: string): number {
    let lo = 0;
    let hi = terms.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (terms[mid]! < q) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function passes(doc: SearchIndex['docs'][number], filters: SearchFilters): boolean {
    const same = (want: string | undefined, have: string) => want === undefined || want === '' || want.toLowerCase() === have.toLowerCase();
    return same(filters.area, doc.area) && same(filters.license, doc.license) && same(filters.owner, doc.owner);
  }

  /** Per field mask: the best weight among its fields (an exact token match; a prefix counts half). */
  const MASK_WEIGHT: number[] = [];
  for (let mask = 0; mask < 64; mask++) {
    let w = 0;
    for (let f = 0; f < FIELDS.length; f++) if (mask & (1 << f)) w = Math.max(w, WEIGHTS[f]!);
    MASK_WEIGHT.push(w);
  }

  /** Each document's name as a normalized phrase, computed once per index (the name bonus compares it with the query). */
  const namePhrases = new WeakMap<SearchIndex, string[]>();
  function namePhrase(index: SearchIndex, doc: number): string {
    let names = namePhrases.get(index);
    if (names === undefined) namePhrases.set(index, (names = []));
    return (names[doc] ??= normalizedPhrase(index.docs[doc]!.name));
  }

  /**
   * Ranked hits, best first (ties by path). An empty query returns every document passing the
   * filters in index order, with score 0. Runs on every keystroke in the site's search box, so
   * per-document state lives in flat arrays indexed by document, not in maps of objects.
   */
  function search(index: SearchIndex, query: string, filters: SearchFilters = {}): SearchHit[] {
    const tokens = [...new Set(tokenize(query))];
    const hits: SearchHit[] = [];
    if (tokens.length === 0) {
      index.docs.forEach((d, i) => {
        if (passes(d, filters)) hits.push({ doc: i, path: d.path, score: 0, matches: {} });
      });
      return hits;
    }
    const ndocs = index.docs.length;
    const score = new Float64Array(ndocs);
    /** Per query token, per document: the fields it matched in (0: none). */
    const masks: Int32Array[] = [];
    /** The documents every token so far matched, ascending. */
    let alive: number[] | undefined;
    for (const q of tokens) {
      const best = new Float64Array(ndocs);
      const mask = new Int32Array(ndocs);
      for (let t = lowerBound(index.terms, q); t < index.terms.length && index.terms[t]!.startsWith(q); t++) {
        const exact = index.terms[t] === q;
        const postings = index.postings[t]!;
        for (let k = 0; k < postings.length; k++) {
          const posting = postings[k]!;
          const doc = Math.floor(posting / 64);
          const m = posting % 64;
          const s = exact ? MASK_WEIGHT[m]! : MASK_WEIGHT[m]! * 0.5;
          if (s > best[doc]!) best[doc] = s;
          mask[doc] = mask[doc]! | m;
        }
      }
      const next: number[] = [];
      const candidates = alive ?? Array.from({ length: ndocs }, (_, i) => i);
      for (const doc of candidates) {
        const m = mask[doc]!;
        if (m === 0) continue;
        // Matching in more fields counts a little: a tenth of each matched field's weight.
        let breadth = 0;
        for (let f = 0; f < FIELDS.length; f++) if (m & (1 << f)) breadth += WEIGHTS[f]! / 10;
        score[doc] = score[doc]! + best[doc]! + breadth;
        next.push(doc);
      }
      masks.push(mask);
      alive = next;
      if (alive.length === 0) break;
    }
    const phrase = tokens.join(' ');
    for (const doc of alive ?? []) {
      const d = index.docs[doc]!;
      if (!passes(d, filters)) continue;
      const matches: Record<string, string[]> = {};
      masks.forEach((mask, k) => {
        for (let f = 0; f < FIELDS.length; f++) if (mask[doc]! & (1 << f)) (matches[FIELDS[f]!] ??= []).push(tokens[k]!);
      });
      const name = namePhrase(index, doc);
      const bonus = name === phrase ? 20 : name.startsWith(phrase) ? 8 : 0;
      hits.push({ doc, path: d.path, score: Math.round((score[doc]! + bonus) * 100) / 100, matches });
    }
    hits.sort((a, b) => b.score - a.score || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return hits;
  }

  return { FIELDS, tokenize, buildIndex, search };
}

export type SearchEngine = ReturnType<typeof createSearchEngine>;

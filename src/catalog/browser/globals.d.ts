/**
 * What the site's shared script (assets/shared.js, generated from src/catalog/search-core.ts and
 * src/data/format.ts) and its data scripts define. The browser code is compiled on its own
 * (src/catalog/browser/tsconfig.json: DOM types, classic scripts, no imports).
 */
interface RegSearchIndex {
  v: 1;
  docs: Array<{ path: string; area: string; name: string; license: string; owner: string }>;
  terms: string[];
  postings: number[][];
}
interface RegSearchHit {
  doc: number;
  path: string;
  score: number;
  matches: Record<string, string[]>;
}
declare const RegSearch: {
  FIELDS: string[];
  search(index: RegSearchIndex, query: string, filters?: { area?: string; license?: string; owner?: string }): RegSearchHit[];
};
declare function regFormatBytes(n: number): string;

/** assets/catalog-index.js: the search index and the sort keys of the index page's rows (parallel to index.docs). */
interface RegCatalogIndexData {
  index: RegSearchIndex;
  /** [size | null, nfiles | null, last change (ISO) | '', card ok 1/0] */
  keys: Array<[number | null, number | null, string, number]>;
}
interface Window {
  RegCatalogIndex?: RegCatalogIndexData;
  RegTree?: {
    chunk(key: string, id: number, listings: unknown[]): void;
    paths(key: string, k: number, paths: string[], sizes: Array<number | null>): void;
  };
}

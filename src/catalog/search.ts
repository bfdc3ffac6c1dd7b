import { fieldValueText } from './html.js';
import type { CatalogModel } from './model.js';
import { createSearchEngine, type SearchDoc, type SearchFilters, type SearchHit, type SearchIndex } from './search-core.js';

export type { SearchDoc, SearchFilters, SearchHit, SearchIndex } from './search-core.js';

/** The engine Node uses; the site ships the same function's source (assets.ts). */
export const searchEngine = createSearchEngine();

/** What the index knows of each entry, parallel to `model.entries`. */
export function searchDocs(model: CatalogModel): SearchDoc[] {
  return model.entries.map((e) => ({
    path: e.path,
    area: e.area,
    name: e.name,
    license: e.license,
    owner: e.owner,
    description: e.description,
    fields: e.card ? Object.entries(e.card.fields).map(([k, v]) => `${k} ${fieldValueText(v)}`).join('\n') : '',
    text: e.card?.body ?? '',
    paths: e.files?.paths ?? [],
  }));
}

export function buildSearchIndex(model: CatalogModel): SearchIndex {
  return searchEngine.buildIndex(searchDocs(model));
}

export function searchIndex(index: SearchIndex, query: string, filters: SearchFilters = {}): SearchHit[] {
  return searchEngine.search(index, query, filters);
}

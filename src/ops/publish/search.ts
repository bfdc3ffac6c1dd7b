import type { Context } from '../../context.js';
import { buildSearchIndex, searchIndex, type SearchFilters } from '../../catalog/search.js';
import type { CatalogEntry } from '../../catalog/model.js';
import { catalogModel, type CatalogSourceOptions } from './catalog-source.js';

export interface SearchOptions extends Pick<CatalogSourceOptions, 'rev' | 'worktree'>, SearchFilters {
  query: string;
  /** At most this many results (default: all). */
  limit?: number;
}

export interface SearchResult {
  query: string;
  filters: SearchFilters;
  rev: string;
  commit?: string;
  /** How many entries matched (before `limit`). */
  total: number;
  results: Array<{
    path: string;
    area: string;
    name: string;
    score: number;
    /** Field -> the query words found in it (name, area, description, fields, text, paths). */
    matches: Record<string, string[]>;
    description: string;
    license?: string;
    owner?: string;
    status: CatalogEntry['status'];
  }>;
}

/**
 * `reg search`: the catalog's index over names, card text, front-matter fields and file paths,
 * ranked exactly as the site's search box ranks (same code), from the committed registry.
 */
export async function search(ctx: Context, options: SearchOptions): Promise<SearchResult> {
  const model = await catalogModel(ctx, { rev: options.rev, worktree: options.worktree, history: false, previews: 'none' });
  const filters: SearchFilters = {};
  if (options.area) filters.area = options.area;
  if (options.license) filters.license = options.license;
  if (options.owner) filters.owner = options.owner;
  const hits = searchIndex(buildSearchIndex(model), options.query, filters);
  const shown = options.limit === undefined ? hits : hits.slice(0, options.limit);
  return {
    query: options.query,
    filters,
    rev: model.source.rev,
    ...(model.source.commit ? { commit: model.source.commit } : {}),
    total: hits.length,
    results: shown.map((h) => {
      const e = model.entries[h.doc]!;
      return {
        path: e.path,
        area: e.area,
        name: e.name,
        score: h.score,
        matches: h.matches,
        description: e.description,
        ...(e.license ? { license: e.license } : {}),
        ...(e.owner ? { owner: e.owner } : {}),
        status: e.status,
      };
    }),
  };
}

import { createHash } from 'node:crypto';
import { isSafeRelpath } from '../data/path-rules.js';
import { siteAssets } from './assets.js';
import { buildFileTree, type FileTreeData } from './file-tree.js';
import { fieldValueText } from './html.js';
import type { CatalogModel } from './model.js';
import { indexSortKeys, previewImagePath, renderEntryPage, renderIndexPage, type TreeInfo } from './pages.js';
import { buildSearchIndex } from './search.js';

export interface SiteFile {
  /** '/'-separated, relative to the site root. */
  path: string;
  data: Buffer;
  md5: string;
}

/** The marker file a built site (and a published prefix) carries: every file with its md5. */
export const SITE_INDEX_FILE = '.reg-catalog.json';

/** A site index lists the site's files: a bigger one (in an output directory, on a remote) is not one reg wrote, and is not read. */
export const MAX_SITE_INDEX_BYTES = 64 * 1024 * 1024;
export const SITE_INDEX_FORMAT = 'reg-catalog/1';

/**
 * Entries with at most this many files carry their file tree inside their page (a data attribute,
 * not a script: the CSP stays script-src 'self'). Bigger ones get `data/<slug>/` with listing
 * chunks `t<N>.js` and path lists `p<K>.js` that the page loads on demand. Each file and, above
 * all, each directory the site has costs the build kernel time, and most entries are small.
 */
export const INLINE_TREE_FILES = 500;

function isSmallTree(t: FileTreeData, files: number): boolean {
  return files <= INLINE_TREE_FILES && t.chunks.length === 1 && t.pathChunks.length === 1;
}

/** Data scripts assign to a global; JSON is valid JavaScript here (U+2028/2029 included since ES2019). */
function dataScript(call: string, ...args: unknown[]): string {
  return `${call}(${args.map((a) => JSON.stringify(a)).join(',')});\n`;
}

/**
 * The whole site for a model, in memory, sorted by path: pages, assets, data scripts, copied
 * preview images, catalog.json and the site index. Pure and deterministic.
 */
export function renderSite(model: CatalogModel): SiteFile[] {
  const out = new Map<string, string | Buffer>();
  for (const a of siteAssets()) out.set(a.path, a.data);
  const index = buildSearchIndex(model);
  // JSON.parse of one string literal: browsers parse that much faster than the same data written
  // as an object literal, and the index page needs it before it can answer the first keystroke.
  out.set('assets/catalog-index.js', `window.RegCatalogIndex = JSON.parse(${JSON.stringify(JSON.stringify({ index, keys: indexSortKeys(model) }))});\n`);
  out.set('index.html', renderIndexPage(model));
  out.set('catalog.json', JSON.stringify(catalogJson(model), null, 1) + '\n');
  for (const e of model.entries) {
    let tree: TreeInfo | undefined;
    if (e.files && e.files.paths.length > 0) {
      const t = buildFileTree(e.files.paths, e.files.sizes);
      if (isSmallTree(t, e.files.paths.length)) {
        // Carried by the entry page itself: no file and no directory of its own (most entries).
        const only = t.pathChunks[0]!;
        tree = { pathChunks: 1, dirs: t.dirs, inline: [t.chunks[0]!, only.paths, only.sizes] };
      } else {
        t.chunks.forEach((c, i) => out.set(`data/${e.slug}/t${i}.js`, dataScript('RegTree.chunk', e.slug, i, c)));
        t.pathChunks.forEach((c, k) => out.set(`data/${e.slug}/p${k}.js`, dataScript('RegTree.paths', e.slug, k, c.paths, c.sizes)));
        tree = { pathChunks: t.pathChunks.length, dirs: t.dirs };
      }
    }
    // Named by their md5 in one directory: an image two entries share is one file.
    for (const p of e.previews) if (p.kind === 'image') out.set(previewImagePath(p.md5, p.mime), p.bytes);
    out.set(`entries/${e.slug}.html`, renderEntryPage(model, e, tree));
  }
  const files: SiteFile[] = [...out].map(([path, data]) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return { path, data: bytes, md5: createHash('md5').update(bytes).digest('hex') };
  });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const marker = Buffer.from(JSON.stringify({ format: SITE_INDEX_FORMAT, files: Object.fromEntries(files.map((f) => [f.path, f.md5])) }, null, 1) + '\n');
  files.push({ path: SITE_INDEX_FILE, data: marker, md5: createHash('md5').update(marker).digest('hex') });
  return files;
}

/**
 * The files an earlier build or publish listed in its site index, or [] when `bytes` is not one.
 * Untrusted (it sits in the output directory or on the remote): only safe relative paths are kept.
 */
export function listedSiteFiles(bytes: Buffer | undefined): string[] {
  if (bytes === undefined) return [];
  try {
    const marker = JSON.parse(bytes.toString('utf8')) as { format?: unknown; files?: unknown };
    if (marker.format !== SITE_INDEX_FORMAT || marker.files === null || typeof marker.files !== 'object' || Array.isArray(marker.files)) return [];
    return Object.keys(marker.files as Record<string, unknown>).filter(isSafeRelpath);
  } catch {
    return [];
  }
}

/** The machine-readable catalog: the model without file lists and preview bytes. */
export function catalogJson(model: CatalogModel): unknown {
  return {
    format: 'reg-catalog/1',
    title: model.title,
    source: model.source,
    areas: model.areas,
    entries: model.entries.map((e) => ({
      path: e.path,
      area: e.area,
      mode: e.mode,
      name: e.name,
      page: `entries/${e.slug}.html`,
      description: e.description,
      license: e.license ?? null,
      owner: e.owner ?? null,
      status: e.status,
      card: e.card ? { path: e.card.path, fields: JSON.parse(JSON.stringify(e.card.fields, (_k, v: unknown) => (v instanceof Date ? fieldValueText(v) : v))) as unknown } : null,
      data: e.data ?? null,
      sync: e.sync ?? null,
      lastChange: e.lastChange ?? null,
      versions: e.versions,
      files: e.files ? { source: e.files.source, count: e.files.paths.length, totalSize: e.files.totalSize, unknownSizes: e.files.unknownSizes } : null,
    })),
  };
}

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json',
  png: 'image/png',
  svg: 'image/svg+xml',
  jpg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

/** The media type a site file is served with (S3 stores it with the object; `reg catalog serve` sends it). */
export function contentTypeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

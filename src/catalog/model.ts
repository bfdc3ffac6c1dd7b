import type { AreaMode } from '../policy/areas.js';

/**
 * The site model: everything the catalog shows, gathered from Git (and the local cache) by
 * src/ops/publish/catalog-source.ts and rendered by site.ts. Plain data; sorted; no build time, no
 * absolute paths, so the same commit gives the same model and byte-identical pages.
 */
export interface CatalogModel {
  title: string;
  source: {
    /** The commit the catalog shows (undefined: --worktree in a repository without commits). */
    commit?: string;
    /** What the user asked for: a revision, or `worktree`. */
    rev: string;
    worktree: boolean;
  };
  areas: CatalogArea[];
  /** Sorted by area, then name (code points). */
  entries: CatalogEntry[];
}

export interface CatalogArea {
  name: string;
  mode: AreaMode;
  entries: number;
}

export interface CatalogVersion {
  commit: string;
  /** Author date, ISO 8601. */
  date: string;
  author: string;
  subject: string;
  change: 'added' | 'modified' | 'deleted';
  oid?: string;
  size?: number;
  nfiles?: number;
  /** The pointer of this version could not be read. */
  error?: string;
}

/** The files of the version shown, as parallel lists (no object per file). */
export interface CatalogFiles {
  /** `manifest`: from the version's .dir manifest; `sync-state`: what this workspace last synced; `file`: a single-file entry. */
  source: 'manifest' | 'sync-state' | 'file';
  paths: readonly string[];
  sizes: ReadonlyArray<number | undefined>;
  md5s: readonly string[];
  totalSize: number;
  unknownSizes: number;
}

export type CatalogPreview =
  | { path: string; kind: 'table'; columns: string[]; rows: string[][]; truncated: boolean }
  | { path: string; kind: 'text'; text: string; truncated: boolean }
  | { path: string; kind: 'image'; mime: string; bytes: Buffer; md5: string; size: number };

export interface CatalogEntry {
  area: string;
  mode: AreaMode;
  name: string;
  /** `<area>/<name>` */
  path: string;
  /** Safe file name stem of the entry's page and data directory. */
  slug: string;
  /** One line: the card's `description` (or `summary`) field, else its first paragraph. */
  description: string;
  license?: string;
  owner?: string;
  card?: {
    path: string;
    fields: Record<string, unknown>;
    /** Markdown body (after the front matter and the header line). */
    body: string;
  };
  /** `ok` with no problems; else what `reg check` says (errors). */
  status: { ok: boolean; problems: string[] };
  /** Versioned entries: the pointer's view of the data. */
  data?: {
    pointer: string;
    oid?: string;
    size?: number;
    nfiles?: number;
    isDir: boolean;
    legacy: boolean;
    /** The remote the data lives on (name), when one is configured. */
    remote?: string;
    /** With --remote-status: whether that remote holds the data. */
    pushed?: boolean;
  };
  /** Synced entries: the remote they sync with and when this workspace last did. */
  sync?: { remote: string; syncedAt?: string };
  lastChange?: { commit: string; date: string; author: string; subject: string };
  /** Newest first (versioned entries: every commit that changed the pointer). */
  versions: CatalogVersion[];
  files?: CatalogFiles;
  /** Why no file list is shown (manifest not cached, local area...). */
  filesNote?: string;
  previews: CatalogPreview[];
}

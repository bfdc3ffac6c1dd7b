import { compareCodePoints } from '../data/manifest.js';

/**
 * The file browser's data: a version's files as directory listings packed into small chunks the
 * page loads on demand (`<script src>`, which works from file:// where fetch() does not). Opening
 * a directory loads at most one chunk; a directory with many entries is split into pages so the
 * page never holds more than one page of rows per opened directory.
 *
 * Listing: `[dirId, page, pages, dirs, files, nextChunk]` with
 *   dirs  `[name, dirId, nfiles, size | null, chunk of its first page]`
 *   files `[name, size | null]`
 *   nextChunk: the chunk holding page + 1, or -1.
 * Directory 0 is the root; its first page is always in chunk 0.
 */
export type DirRow = [name: string, dirId: number, nfiles: number, size: number | null, chunk: number];
export type FileRow = [name: string, size: number | null];
export type Listing = [dirId: number, page: number, pages: number, dirs: DirRow[], files: FileRow[], nextChunk: number];

export interface FileTreeData {
  chunks: Listing[][];
  /** For the filter: every path with its size, in chunks of PATHS_PER_CHUNK. */
  pathChunks: Array<{ paths: string[]; sizes: Array<number | null> }>;
  dirs: number;
}

export const ROWS_PER_PAGE = 500;
export const ROWS_PER_CHUNK = 2000;
export const PATHS_PER_CHUNK = 5000;

interface DirNode {
  name: string;
  id: number;
  dirs: Map<string, DirNode>;
  files: FileRow[];
  nfiles: number;
  size: number;
  unknown: boolean;
}

function newDir(name: string): DirNode {
  return { name, id: -1, dirs: new Map(), files: [], nfiles: 0, size: 0, unknown: false };
}

export function buildFileTree(paths: readonly string[], sizes: ReadonlyArray<number | undefined>): FileTreeData {
  const root = newDir('');
  for (let i = 0; i < paths.length; i++) {
    const parts = paths[i]!.split('/');
    const size = sizes[i];
    let dir = root;
    const count = (d: DirNode) => {
      d.nfiles++;
      if (size === undefined) d.unknown = true;
      else d.size += size;
    };
    count(root);
    for (let k = 0; k < parts.length - 1; k++) {
      let next = dir.dirs.get(parts[k]!);
      if (next === undefined) dir.dirs.set(parts[k]!, (next = newDir(parts[k]!)));
      dir = next;
      count(dir);
    }
    dir.files.push([parts[parts.length - 1]!, size ?? null]);
  }

  // Ids in depth-first order, children by name (code points): the same files give the same ids.
  const order: Array<{ node: DirNode; subdirs: DirNode[] }> = [];
  const visit = (node: DirNode) => {
    node.id = order.length;
    const subdirs = [...node.dirs.values()].sort((a, b) => compareCodePoints(a.name, b.name));
    node.files.sort((a, b) => compareCodePoints(a[0], b[0]));
    order.push({ node, subdirs });
    for (const d of subdirs) visit(d);
  };
  visit(root);

  // Which chunk each page goes to.
  const pageChunk: number[][] = [];
  let chunk = 0;
  let inChunk = 0;
  for (const { node, subdirs } of order) {
    const rows = subdirs.length + node.files.length;
    const pages = Math.max(1, Math.ceil(rows / ROWS_PER_PAGE));
    const ids: number[] = [];
    for (let p = 0; p < pages; p++) {
      const n = Math.min(ROWS_PER_PAGE, rows - p * ROWS_PER_PAGE);
      if (inChunk > 0 && inChunk + n > ROWS_PER_CHUNK) {
        chunk++;
        inChunk = 0;
      }
      ids.push(chunk);
      inChunk += Math.max(1, n);
    }
    pageChunk.push(ids);
  }

  const chunks: Listing[][] = Array.from({ length: chunk + 1 }, () => []);
  for (const { node, subdirs } of order) {
    const rows: Array<DirRow | FileRow> = [
      ...subdirs.map((d): DirRow => [d.name, d.id, d.nfiles, d.unknown ? null : d.size, pageChunk[d.id]![0]!]),
      ...node.files,
    ];
    const ids = pageChunk[node.id]!;
    for (let p = 0; p < ids.length; p++) {
      const slice = rows.slice(p * ROWS_PER_PAGE, (p + 1) * ROWS_PER_PAGE);
      const dirs = slice.filter((r): r is DirRow => r.length === 5);
      const files = slice.filter((r): r is FileRow => r.length === 2);
      chunks[ids[p]!]!.push([node.id, p, ids.length, dirs, files, p + 1 < ids.length ? ids[p + 1]! : -1]);
    }
  }

  const pathChunks: FileTreeData['pathChunks'] = [];
  for (let i = 0; i < paths.length; i += PATHS_PER_CHUNK) {
    pathChunks.push({ paths: paths.slice(i, i + PATHS_PER_CHUNK), sizes: sizes.slice(i, i + PATHS_PER_CHUNK).map((s) => s ?? null) });
  }
  return { chunks, pathChunks, dirs: order.length };
}

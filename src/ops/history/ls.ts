import type { Context } from '../../context.js';
import { compareCodePoints } from '../../data/manifest.js';
import { usageError } from '../../errors.js';
import { openRepo } from '../../repo.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { filesWithin, sizedFilesOfVersion } from './listing.js';
import { PointerReader, commitSides, notTrackedAt, selectTarget, targetPath, type HistoryOutput, type Side } from './pointers.js';

export interface LsOptions extends RemoteAccessOptions {
  /** An entry, a path inside a directory entry, or a directory holding entries (default: the repository root). */
  target?: string;
  /** The revision to list (default: the version the work tree's pointers name). */
  rev?: string;
  /** Every file below the target instead of one level. */
  recursive?: boolean;
  /** Sizes the local cache cannot give are read from the remote's object metadata (one request per file). */
  sizes?: boolean;
}

export interface LsEntry {
  /** Relative to the listed path ('/'-separated). For a listed file: its name. */
  path: string;
  type: 'file' | 'dir';
  /** Files only. */
  md5?: string;
  /** Bytes; for a directory the sum of its files' known sizes. Null when unknown. */
  size: number | null;
  /** Directories: number of files below. */
  nfiles?: number;
  /** Set on rows that are a tracked entry (an output with its own pointer). */
  entry?: { pointer: string; oid?: string; legacy: boolean };
}

export interface LsResult {
  rev: string | null;
  commit: string | null;
  /** The listed path (repo-relative; '' for the root). */
  path: string;
  /** When the listed path is an entry or inside one: that entry's version. */
  entry?: { path: string; pointer: string; oid?: string; size?: number; nfiles?: number; isDir: boolean; legacy: boolean };
  entries: LsEntry[];
  /** Sum of the listed files' (or entries') known sizes, and how many have no known size. */
  totalSize: number;
  unknownSizes: number;
  /** Pointers below the listed path that could not be read (malformed or hostile); the rest is listed. */
  errors: Array<{ pointer: string; code: string; message: string }>;
}

interface Item {
  rel: string;
  md5?: string;
  size?: number;
  isDir: boolean;
  /** A whole output (only when listing a directory that holds entries). */
  output?: HistoryOutput;
  nfiles?: number;
}

/**
 * The files of a version, from its pointer and manifest only (no data is downloaded): one level
 * with directories marked, or everything with `recursive`. Sizes come from the pointer, the local
 * cache, and only with `sizes` from the remote's object metadata.
 */
export async function ls(ctx: Context, options: LsOptions = {}): Promise<LsResult> {
  const repo = openRepo(ctx);
  const side: Side = options.rev === undefined ? { kind: 'workspace' } : (await commitSides(repo, [options.rev]))[0]!;
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    const pointers = await reader.pointersAt(side);
    const rel = targetPath(repo, ctx, options.target ?? '.');
    const outputs = pointers.flatMap((p) => (p.output ? [p.output] : []));
    const sel = selectTarget(outputs, rel);
    // Pointers that failed to parse: naming one is its error; below a listed directory they are reported.
    const broken = pointers.filter((p) => p.error && (p.pointerRel === `${rel}.dvc` || rel === '' || p.pointerRel.startsWith(rel + '/')));
    const own = broken.find((p) => p.pointerRel === `${rel}.dvc`) ?? (sel.outputs.length === 0 ? broken[0] : undefined);
    if (own) throw own.error!;
    if (sel.outputs.length === 0) throw notTrackedAt(options.target ?? '.', [side]);
    const result: LsResult = {
      rev: side.kind === 'commit' ? side.rev : null,
      commit: side.kind === 'commit' ? side.commit : null,
      path: rel,
      entry: undefined,
      entries: [],
      totalSize: 0,
      unknownSizes: 0,
      errors: broken.map((p) => ({ pointer: p.pointerRel, code: p.error!.code, message: p.error!.message })),
    };
    const single = sel.inside?.output ?? (sel.outputs.length === 1 && sel.outputs[0]!.dataRel === rel ? sel.outputs[0] : undefined);
    let items: Item[];
    if (single) {
      const o = single;
      result.entry = { path: o.dataRel, pointer: o.pointerRel, oid: o.out.md5, size: o.out.size, nfiles: o.out.nfiles, isDir: o.isDir, legacy: o.legacy };
      const sub = sel.inside?.subpath ?? '';
      const files = filesWithin(await sizedFilesOfVersion(facts, o, sizeOptions(facts, o, options)), sub === '' ? undefined : [sub]);
      if (sub !== '' && files.length === 0) throw usageError('ls.no-such-path', `${options.target} is not in ${o.dataRel} at ${side.kind === 'commit' ? side.rev : 'the workspace version'}`, { hint: `list the entry: reg ls ${o.dataRel}${options.rev ? ` --rev ${options.rev}` : ''}` });
      const exactFile = files.length === 1 && files[0]!.relpath === sub;
      items = files.map((f) => ({
        rel: exactFile ? (o.isDir ? lastSegment(f.relpath) : lastSegment(o.dataRel)) : f.relpath.slice(sub === '' ? 0 : sub.length + 1),
        md5: f.md5,
        size: f.size,
        isDir: false,
      }));
    } else {
      const prefix = rel === '' ? '' : rel + '/';
      items = [];
      for (const o of sel.outputs.sort((a, b) => compareCodePoints(a.dataRel, b.dataRel))) {
        const base = o.dataRel.slice(prefix.length);
        if (!options.recursive) {
          items.push({ rel: base, isDir: o.isDir, md5: o.isDir ? undefined : o.out.md5, size: o.out.size, nfiles: o.isDir ? o.out.nfiles : undefined, output: o });
          continue;
        }
        const files = (await sizedFilesOfVersion(facts, o, sizeOptions(facts, o, options))).map((f) => ({ rel: f.relpath === '' ? base : `${base}/${f.relpath}`, md5: f.md5, size: f.size, isDir: false }));
        items = items.concat(files);
      }
    }
    result.entries = options.recursive ? items.map(fileRow) : oneLevel(items);
    for (const i of items) {
      if (i.size === undefined) result.unknownSizes++;
      else result.totalSize += i.size;
    }
    return result;
  } finally {
    reader.close();
    facts.close();
  }
}

function sizeOptions(facts: ObjectFacts, o: HistoryOutput, options: LsOptions) {
  return { remote: options.sizes, remoteName: options.sizes ? facts.remoteNameFor(o.out.remote) : undefined };
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function fileRow(i: Item): LsEntry {
  const row: LsEntry = { path: i.rel, type: i.isDir ? 'dir' : 'file', size: i.size ?? null };
  if (i.md5 !== undefined) row.md5 = i.md5;
  if (i.nfiles !== undefined) row.nfiles = i.nfiles;
  if (i.output) row.entry = { pointer: i.output.pointerRel, oid: i.output.out.md5, legacy: i.output.legacy };
  return row;
}

/** Items collapsed to their first path segment: deeper items become one directory row each. */
function oneLevel(items: readonly Item[]): LsEntry[] {
  const rows = new Map<string, LsEntry>();
  for (const i of items) {
    const slash = i.rel.indexOf('/');
    if (slash === -1) {
      rows.set(i.rel, fileRow(i));
      continue;
    }
    const name = i.rel.slice(0, slash);
    let dir = rows.get(name);
    if (dir === undefined) {
      dir = { path: name, type: 'dir', size: 0, nfiles: 0 };
      rows.set(name, dir);
    }
    dir.nfiles! += i.output ? (i.output.out.nfiles ?? (i.isDir ? 0 : 1)) : 1;
    if (i.size === undefined) dir.size = null;
    else if (dir.size !== null) dir.size += i.size;
  }
  return [...rows.values()].sort((a, b) => compareCodePoints(a.path, b.path));
}

import type { Context } from '../../context.js';
import { compareCodePoints } from '../../data/manifest.js';
import { usageError } from '../../errors.js';
import { openRepo } from '../../repo.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { sizedFilesOfVersion } from './listing.js';
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

/**
 * Builds the rows as files are fed in, without an object per file in between: every file (with
 * `recursive`), or one level with deeper files summed into one directory row each.
 */
class Rows {
  private readonly rows: LsEntry[] = [];
  private readonly dirs = new Map<string, LsEntry>();
  totalSize = 0;
  unknownSizes = 0;

  constructor(private readonly recursive: boolean) {}

  /** A file (or, listing a directory of entries without `recursive`, a whole entry) at `rel`. */
  add(rel: string, size: number | undefined, md5?: string, output?: HistoryOutput): void {
    if (size === undefined) this.unknownSizes++;
    else this.totalSize += size;
    const slash = this.recursive ? -1 : rel.indexOf('/');
    if (slash === -1) {
      const row: LsEntry = { path: rel, type: output?.isDir ? 'dir' : 'file', size: size ?? null };
      if (md5 !== undefined) row.md5 = md5;
      if (output?.isDir && output.out.nfiles !== undefined) row.nfiles = output.out.nfiles;
      if (output) row.entry = { pointer: output.pointerRel, oid: output.out.md5, legacy: output.legacy };
      this.rows.push(row);
      return;
    }
    const name = rel.slice(0, slash);
    let dir = this.dirs.get(name);
    if (dir === undefined) {
      dir = { path: name, type: 'dir', size: 0, nfiles: 0 };
      this.dirs.set(name, dir);
      this.rows.push(dir);
    }
    dir.nfiles! += output ? (output.out.nfiles ?? (output.isDir ? 0 : 1)) : 1;
    if (size === undefined) dir.size = null;
    else if (dir.size !== null) dir.size += size;
  }

  /** In code-point order (already so when fed in manifest order; sorted otherwise). */
  result(): LsEntry[] {
    for (let i = 1; i < this.rows.length; i++) {
      if (compareCodePoints(this.rows[i - 1]!.path, this.rows[i]!.path) > 0) return this.rows.sort((a, b) => compareCodePoints(a.path, b.path));
    }
    return this.rows;
  }
}

/**
 * The files of a version, from its pointer and manifest only (no data is downloaded): one level
 * with directories marked, or everything with `recursive`. Sizes come from the pointer, the local
 * cache (remembered per manifest), and only with `sizes` from the remote's object metadata.
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
    const rows = new Rows(Boolean(options.recursive));
    const single = sel.inside?.output ?? (sel.outputs.length === 1 && sel.outputs[0]!.dataRel === rel ? sel.outputs[0] : undefined);
    if (single) {
      const o = single;
      result.entry = { path: o.dataRel, pointer: o.pointerRel, oid: o.out.md5, size: o.out.size, nfiles: o.out.nfiles, isDir: o.isDir, legacy: o.legacy };
      const sub = sel.inside?.subpath ?? '';
      const { entries, sizes } = await sizedFilesOfVersion(facts, o, sizeOptions(facts, o, options));
      const prefix = sub + '/';
      let listed = 0;
      entries.forEach((e, i) => {
        if (sub !== '' && e.relpath !== sub && !e.relpath.startsWith(prefix)) return;
        listed++;
        // A single file listed by its own path shows its name.
        const name = e.relpath === sub ? lastSegment(o.isDir ? e.relpath : o.dataRel) : sub === '' ? e.relpath : e.relpath.slice(prefix.length);
        rows.add(name, sizes[i], e.md5);
      });
      if (sub !== '' && listed === 0) throw usageError('ls.no-such-path', `${options.target} is not in ${o.dataRel} at ${side.kind === 'commit' ? side.rev : 'the workspace version'}`, { hint: `list the entry: reg ls ${o.dataRel}${options.rev ? ` --rev ${options.rev}` : ''}` });
    } else {
      const prefix = rel === '' ? '' : rel + '/';
      for (const o of [...sel.outputs].sort((a, b) => compareCodePoints(a.dataRel, b.dataRel))) {
        const base = o.dataRel.slice(prefix.length);
        if (!options.recursive) {
          rows.add(base, o.out.size, o.isDir ? undefined : o.out.md5, o);
          continue;
        }
        const { entries, sizes } = await sizedFilesOfVersion(facts, o, sizeOptions(facts, o, options));
        entries.forEach((e, i) => rows.add(e.relpath === '' ? base : `${base}/${e.relpath}`, sizes[i], e.md5));
      }
    }
    result.entries = rows.result();
    result.totalSize = rows.totalSize;
    result.unknownSizes = rows.unknownSizes;
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

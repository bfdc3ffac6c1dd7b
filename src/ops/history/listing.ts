import { refKey } from '../../store/object-store.js';
import type { ObjectFacts } from './manifests.js';
import type { HistoryOutput } from './pointers.js';

/** One file of a version: its path inside the output ('' for a file output), md5 and size when known. */
export interface VersionFile {
  relpath: string;
  md5: string;
  size?: number;
}

/**
 * The files a version of an output holds, from its pointer and manifest only (no data is read or
 * downloaded): a file output is one file whose size the pointer gives; a directory's manifest
 * comes from the cache or, alone, from the remote.
 */
export async function filesOfVersion(facts: ObjectFacts, o: HistoryOutput): Promise<VersionFile[]> {
  const oid = o.out.md5;
  if (oid === undefined) return [];
  if (!o.isDir) return [{ relpath: '', md5: oid, size: o.out.size }];
  return facts.manifest({ oid, legacy: o.legacy }, o.out.remote);
}

/** Files at or below any of `subpaths` of an output (undefined or '' keeps all). */
export function filesWithin<T extends { relpath: string }>(files: readonly T[], subpaths: readonly string[] | undefined): readonly T[] {
  if (subpaths === undefined || subpaths.includes('')) return files;
  return files.filter((f) => subpaths.some((s) => f.relpath === s || f.relpath.startsWith(s + '/')));
}

export interface SizeOptions {
  /** Ask the remote (object metadata, one request per object) for sizes the cache cannot give. */
  remote?: boolean;
  /** The remote name the output's objects live on (see ObjectFacts.remoteNameFor). */
  remoteName?: string;
}

/**
 * Fills in `size` where it is unknown: from the local cache (one stat per object), then, only when
 * asked, from the remote's object metadata. Sizes that stay unknown are left undefined.
 */
export async function fillSizes(facts: ObjectFacts, files: ReadonlyArray<{ md5: string; size?: number }>, legacy: boolean, options: SizeOptions = {}): Promise<void> {
  const asked = files.filter((f) => f.size === undefined);
  const cached = facts.cachedSizes(asked.map((f) => f.md5), legacy);
  const unknown: Array<{ md5: string; size?: number }> = [];
  asked.forEach((f, i) => {
    if (cached[i] !== undefined) f.size = cached[i];
    else unknown.push(f);
  });
  if (!options.remote || unknown.length === 0 || options.remoteName === undefined) return;
  const sizes = await facts.remoteSizes(unknown.map((f) => ({ oid: f.md5, legacy })), options.remoteName);
  for (const f of unknown) f.size = sizes.get(refKey({ oid: f.md5, legacy }));
}

/**
 * The files of a version with every size that can be known, as its entries plus a parallel list of
 * sizes (no object per file): a file output's size from its pointer, a directory's from the sizes
 * remembered for its manifest and the local cache (manifestSizes), then, only when asked, from
 * the remote (and remembered).
 */
export async function sizedFilesOfVersion(facts: ObjectFacts, o: HistoryOutput, options: SizeOptions = {}): Promise<{ entries: readonly VersionFile[]; sizes: Array<number | undefined> }> {
  const oid = o.out.md5;
  if (oid === undefined) return { entries: [], sizes: [] };
  if (!o.isDir) {
    const file: VersionFile = { relpath: '', md5: oid, size: o.out.size };
    await fillSizes(facts, [file], o.legacy, options);
    return { entries: [file], sizes: [file.size] };
  }
  const ref = { oid, legacy: o.legacy };
  const entries = await facts.manifest(ref, o.out.remote);
  const sizes = facts.manifestSizes(ref, entries);
  if (options.remote && sizes.some((x) => x === undefined)) {
    const asks = entries.flatMap((e, i) => (sizes[i] === undefined ? [{ md5: e.md5, size: undefined as number | undefined, i }] : []));
    await fillSizes(facts, asks, o.legacy, options);
    for (const a of asks) sizes[a.i] = a.size;
    facts.rememberManifestSizes(ref, sizes);
  }
  return { entries, sizes };
}

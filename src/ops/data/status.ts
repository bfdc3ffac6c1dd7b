import type { Context } from '../../context.js';
import type { ManifestEntry } from '../../data/manifest.js';
import { openRepo, type Repo } from '../../repo.js';
import { resolveOutputs, type TrackedOutput } from './outputs.js';
import { listCacheOids, scanWorkspace, type WorkspaceState } from './scan.js';

export type OutputState = 'up-to-date' | 'modified' | 'missing' | 'not-in-cache' | 'not-committed';

export interface FileChanges {
  added: string[];
  modified: string[];
  deleted: string[];
}

export interface OutputStatus {
  path: string;
  pointer: string;
  state: OutputState;
  /** The pointer is a DVC 2 one (hashed with the legacy md5-dos2unix rule). */
  legacy: boolean;
  /** Every object the pointer names is in the local cache (checkout can restore it). */
  inCache: boolean;
  /** Objects of the pointer's version missing from the cache (0 when inCache). */
  missingObjects: number;
  /** For directories: which files differ from the pointer's version (when its manifest is cached). */
  changes?: FileChanges;
  /** Files whose content had to be read (stat cache misses). */
  hashedFiles: number;
}

export interface StatusOptions {
  targets: string[];
}

export interface StatusResult {
  outputs: OutputStatus[];
  summary: Record<OutputState, number>;
}

/** Compares each output's workspace data with its pointer (and the cache), hashing only changed files. */
export async function status(ctx: Context, options: StatusOptions): Promise<StatusResult> {
  const repo = openRepo(ctx);
  const outputs = await resolveOutputs(repo, ctx, options.targets);
  const cacheIndex = new CacheIndex(repo);
  const results: OutputStatus[] = [];
  for (const o of outputs) {
    ctx.signal?.throwIfAborted();
    results.push(await statusOf(repo, ctx, o, cacheIndex));
  }
  const summary: Record<OutputState, number> = { 'up-to-date': 0, modified: 0, missing: 0, 'not-in-cache': 0, 'not-committed': 0 };
  for (const r of results) summary[r.state]++;
  return { outputs: results, summary };
}

/** Which objects the local cache holds, listed once per command (cheaper than one stat per object). */
export class CacheIndex {
  private modern?: Set<string>;
  private legacyOids?: Set<string>;
  private singles = 0;
  constructor(private readonly repo: Repo) {}
  has(oid: string, legacy: boolean): boolean {
    // A single lookup is cheaper as a stat than as a listing of the whole cache.
    if (this.modern === undefined && this.singles++ < 8) return this.repo.cache.has(oid, legacy);
    this.modern ??= listCacheOids(this.repo.cache.root, false);
    if (this.modern.has(oid)) return true;
    if (!legacy) return false;
    this.legacyOids ??= listCacheOids(this.repo.cache.root, true);
    return this.legacyOids.has(oid);
  }
  /** Oids of the pointer's version that are not in the cache; the manifest is read when present. */
  missing(o: TrackedOutput): { missing: number; manifest?: ManifestEntry[] } {
    const oid = o.out.md5;
    if (oid === undefined) return { missing: 0 };
    if (!this.has(oid, o.legacy)) return { missing: 1 };
    if (!o.isDir) return { missing: 0 };
    const manifest = this.repo.cache.readManifest(oid, o.legacy);
    if (this.repo.cache.isMarkedComplete(oid, o.legacy)) return { missing: 0, manifest };
    const missing = new Set(manifest.filter((e) => !this.has(e.md5, o.legacy)).map((e) => e.md5)).size;
    if (missing === 0) this.repo.cache.markComplete(oid);
    return { missing, manifest };
  }
  /** Like missing(), but trusts a completeness mark left by an earlier full check (no manifest read). */
  missingCount(o: TrackedOutput): number {
    const oid = o.out.md5;
    if (oid !== undefined && o.isDir && this.repo.cache.isMarkedComplete(oid, o.legacy)) return 0;
    return this.missing(o).missing;
  }
}

async function statusOf(repo: Repo, ctx: Context, o: TrackedOutput, cacheIndex: CacheIndex): Promise<OutputStatus> {
  const base = { path: o.dataRel, pointer: o.pointerRel, legacy: o.legacy, hashedFiles: 0 };
  if (o.out.md5 === undefined) {
    return { ...base, state: 'not-committed', inCache: false, missingObjects: 0 };
  }
  const ws = await scanWorkspace(repo, ctx, o.dataAbs, o.dataRel, { legacy: o.legacy, store: false, label: o.dataRel });
  base.hashedFiles = ws.hashedFiles;
  if (!ws.exists || ws.oid === o.out.md5) {
    const missing = cacheIndex.missingCount(o);
    const inCache = missing === 0;
    const state: OutputState = !ws.exists ? 'missing' : inCache ? 'up-to-date' : 'not-in-cache';
    return { ...base, state, inCache, missingObjects: missing };
  }
  const { missing, manifest } = cacheIndex.missing(o);
  return { ...base, state: 'modified', inCache: missing === 0, missingObjects: missing, changes: diffFiles(o, ws, manifest) };
}

export function diffFiles(o: TrackedOutput, ws: WorkspaceState, manifest: ManifestEntry[] | undefined): FileChanges | undefined {
  if (!o.isDir) return { added: [], modified: ws.isDir ? [] : [o.dataRel], deleted: [] };
  if (manifest === undefined) return undefined;
  const expected = new Map(manifest.map((e) => [e.relpath, e.md5]));
  const changes: FileChanges = { added: [], modified: [], deleted: [] };
  const present = new Set<string>();
  for (const f of ws.isDir ? ws.files : []) {
    present.add(f.relpath);
    const want = expected.get(f.relpath);
    if (want === undefined) changes.added.push(f.relpath);
    else if (want !== f.md5) changes.modified.push(f.relpath);
  }
  for (const e of manifest) if (!present.has(e.relpath)) changes.deleted.push(e.relpath);
  return changes;
}

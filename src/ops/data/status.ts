import type { Context } from '../../context.js';
import type { ManifestEntry } from '../../data/manifest.js';
import { gitRun } from '../../git/read.js';
import { openRepo, type Repo } from '../../repo.js';
import { resolveOutputs, type TrackedOutput } from './outputs.js';
import { startGitChecks, type EarlyGitChecks } from './early-git-checks.js';
import { listCacheOids, scanWorkspace, type WorkspaceState } from './scan.js';

/**
 * - up-to-date     the workspace holds the pointer's version, and the cache has it
 * - modified       the data was edited here since the pointer was written (reg add records it)
 * - outdated       the pointer moved on (git pull, git checkout of the .dvc) and the workspace still
 *                  holds an older version: reg checkout brings the pointer's version
 * - diverged       both: the pointer moved on and the data was edited here too
 * - missing        no data in the workspace (the pointer's version is in the cache)
 * - not-in-cache   the pointer's version is not (fully) in the cache, whatever the workspace holds: reg pull
 * - not-committed  the pointer has no hash yet
 */
export type OutputState = 'up-to-date' | 'modified' | 'outdated' | 'diverged' | 'missing' | 'not-in-cache' | 'not-committed';

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
  /** What the workspace holds compared with the pointer. */
  workspace: 'matches' | 'differs' | 'absent' | 'unknown';
  /**
   * The command that brings this output in order without overwriting newer committed data
   * (never `reg add` when the pointer is newer than the workspace).
   */
  hint?: string;
}

export interface StatusOptions {
  targets: string[];
  /** With no targets: git runs the caller started already (statusReport, which shares their listing with the registry overview). */
  early?: EarlyGitChecks;
}

export interface StatusResult {
  outputs: OutputStatus[];
  summary: Record<OutputState, number>;
}

/** Compares each output's workspace data with its pointer (and the cache), hashing only changed files. */
export async function status(ctx: Context, options: StatusOptions): Promise<StatusResult> {
  const repo = openRepo(ctx);
  // Every output is scanned: git checks their files while the pointers are found and read.
  const gitChecks = options.targets.length === 0 ? (options.early ?? startGitChecks(repo.root, repo.statDir)) : undefined;
  const outputs = await resolveOutputs(repo, ctx, options.targets, 'inspect', gitChecks?.listing);
  const cacheIndex = new CacheIndex(repo);
  const results: OutputStatus[] = [];
  for (const o of outputs) {
    ctx.signal?.throwIfAborted();
    results.push(await statusOf(repo, ctx, o, cacheIndex, gitChecks));
  }
  const summary: Record<OutputState, number> = { 'up-to-date': 0, modified: 0, outdated: 0, diverged: 0, missing: 0, 'not-in-cache': 0, 'not-committed': 0 };
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

async function statusOf(repo: Repo, ctx: Context, o: TrackedOutput, cacheIndex: CacheIndex, gitChecks: EarlyGitChecks | undefined): Promise<OutputStatus> {
  const base = { path: o.dataRel, pointer: o.pointerRel, legacy: o.legacy, hashedFiles: 0 };
  const oid = o.out.md5;
  if (oid === undefined) {
    return { ...base, state: 'not-committed', inCache: false, missingObjects: 0, workspace: 'unknown', hint: `reg add ${o.dataRel} to record the data` };
  }
  const ws = await scanWorkspace(repo, ctx, o.dataAbs, o.dataRel, { legacy: o.legacy, store: false, label: o.dataRel, pointerOid: oid, oidOnlyIfUnedited: true, elideWalk: true, gitChecks });
  base.hashedFiles = ws.hashedFiles;
  let matches = ws.exists && ws.oid === oid;
  // The workspace was at the pointer's version at the last scan and only these files' bytes
  // changed since (the stat cache knows): the changes are listed without reading the manifest.
  const sincePointer = !matches && o.isDir && ws.changedSince?.oid === oid ? ws.changedSince : undefined;
  const { missing, manifest } = matches || !ws.exists || sincePointer ? { missing: cacheIndex.missingCount(o), manifest: undefined } : cacheIndex.missing(o);
  const inCache = missing === 0;
  let changes = matches || !ws.exists ? undefined : sincePointer ? { added: [], modified: sincePointer.modified, deleted: [] } : diffFiles(o, ws, manifest);
  // The same entries under another oid: a manifest serialised otherwise (DVC 2 spacing, a hand-made one) than reg and DVC 3 write it.
  if (o.isDir && manifest !== undefined && changes !== undefined && changes.added.length + changes.modified.length + changes.deleted.length === 0) {
    matches = true;
    changes = undefined;
  }
  const workspace = matches ? 'matches' : ws.exists ? 'differs' : 'absent';
  const row = { ...base, inCache, missingObjects: missing, workspace, ...(changes ? { changes } : {}) } as const;
  if (!inCache) {
    // Whatever the workspace holds, the pointer names a version this machine does not have: only
    // a download brings it. (Re-adding the workspace would silently replace a teammate's version.)
    const also = matches ? ` (the workspace copy matches the pointer, so reg add ${o.dataRel} also re-caches it, without a download)` : '';
    return { ...row, state: 'not-in-cache', hint: `reg pull ${o.dataRel}${also}` };
  }
  if (matches) return { ...row, state: 'up-to-date' };
  if (!ws.exists) return { ...row, state: 'missing', hint: `reg checkout ${o.dataRel} to restore it` };
  // ws.oid is undefined only for a tree edited since the pointer's version with that version as base: 'modified' without it.
  switch (await relationToPointer(repo, o, ws.oid, ws.base)) {
    case 'outdated':
      return { ...row, state: 'outdated', hint: `reg checkout ${o.dataRel} to get the pointer's version` };
    case 'diverged':
      return {
        ...row,
        state: 'diverged',
        hint: `reg checkout --force ${o.dataRel} to take the committed version (your edits are stashed: reg stash list, reg stash apply <id> --to DIR), then merge them in and record the result`,
      };
    default:
      return { ...row, state: 'modified', hint: `reg add ${o.dataRel} to record the changes, or reg checkout --force ${o.dataRel} to discard them (they are stashed)` };
  }
}

/**
 * Why the workspace differs from the pointer. With a remembered base (the version reg last
 * checked out or added here): the workspace still at the base means the pointer moved on
 * (outdated); the pointer still at the base means the data was edited (modified); neither, both
 * changed (diverged). Without one, a workspace holding a version committed earlier (on any
 * branch) is outdated rather than edited.
 */
async function relationToPointer(repo: Repo, o: TrackedOutput, wsOid: string | undefined, base: string | undefined): Promise<'outdated' | 'modified' | 'diverged'> {
  if (base !== undefined) {
    if (wsOid === base) return 'outdated';
    return base === o.out.md5 ? 'modified' : 'diverged';
  }
  // (The scan leaves the oid out only when the base is the pointer's version, answered above.)
  if (wsOid === undefined) return 'modified';
  const history = await gitRun(repo.root, ['log', '--all', '-p', '--format=', '--no-ext-diff', '--', `:(literal)${o.pointerRel}`], undefined, { allowFail: true });
  const line = new RegExp(`^[-+ ]\\s*-?\\s*md5:\\s*['"]?${wsOid.replace(/\./g, '\\.')}['"]?\\s*$`, 'm');
  return history.code === 0 && line.test(history.stdout.toString('utf8')) ? 'outdated' : 'modified';
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

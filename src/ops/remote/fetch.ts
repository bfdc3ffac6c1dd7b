import type { Context } from '../../context.js';
import type { ManifestEntry } from '../../data/manifest.js';
import { RegError, isRegError } from '../../errors.js';
import { openRepo, type Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import type { Cache } from '../../store/cache.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { type RetryPolicy, type TransferFailure, type TransferTask } from '../../store/transfer.js';
import { resolveOutputs, type TrackedOutput } from '../data/outputs.js';
import { failureLines } from './push.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from './open-remote.js';
import { redact } from './remote-config.js';
import { listCacheOids } from '../data/scan.js';
import { runTransfersWithProgress, withDetails } from './transfer-progress.js';

export interface FetchOptions {
  targets: string[];
  remote?: string;
  jobs?: number;
  retry?: RetryPolicy;
  wrapBackend?: (backend: Backend) => Backend;
}

export type FetchState = 'fetched' | 'cached' | 'failed' | 'not-committed';

export interface FetchedOutput {
  path: string;
  pointer: string;
  remote: string;
  oid?: string;
  state: FetchState;
  objects: number;
  bytes: number;
  failedObjects: number;
}

export interface FetchResult {
  remotes: string[];
  /** Objects downloaded (and verified) into the cache. */
  fetched: number;
  /** Objects that were already in the cache. */
  skipped: number;
  failed: number;
  bytes: number;
  outputs: FetchedOutput[];
  failures: TransferFailure[];
}

/** Which objects the local cache holds (two directory listings per layout instead of a stat per object). */
class LocalIndex {
  private modern?: Set<string>;
  private legacy?: Set<string>;
  constructor(private readonly repo: Repo) {}
  has(ref: ObjRef): boolean {
    this.modern ??= listCacheOids(this.repo.cache.root, false);
    if (this.modern.has(ref.oid)) return true;
    if (!ref.legacy) return false;
    this.legacy ??= listCacheOids(this.repo.cache.root, true);
    return this.legacy.has(ref.oid);
  }
  add(ref: ObjRef): void {
    (ref.legacy ? (this.legacy ??= listCacheOids(this.repo.cache.root, true)) : (this.modern ??= listCacheOids(this.repo.cache.root, false))).add(ref.oid);
  }
}

/**
 * Downloads what the named outputs need into the cache (never the workspace): manifests first,
 * then the files they list that the cache lacks. Every object is verified against its oid
 * before it enters the cache. Throws `integrity` (exit 6) if a remote object is corrupt,
 * `transfer` (exit 4) if objects are missing on the remote or failed to download.
 */
export async function fetch(ctx: Context, options: FetchOptions): Promise<FetchResult> {
  const { result, secrets } = await fetchObjects(ctx, options);
  if (result.failures.length > 0) throw fetchError('fetch', result, secrets);
  return result;
}

/**
 * fetch() without the final throw: pull uses it to check out whatever did arrive complete.
 * `beforeDownload` runs once, with the repo, before the first remote is opened (nothing runs it
 * when the cache has everything).
 */
export async function fetchObjects(ctx: Context, options: FetchOptions, beforeDownload?: (repo: Repo) => void): Promise<{ result: FetchResult; secrets: string[]; repo: Repo; outputs: TrackedOutput[] }> {
  const repo = openRepo(ctx);
  const outputs = await resolveOutputs(repo, ctx, options.targets, 'download');
  const result: FetchResult = { remotes: [], fetched: 0, skipped: 0, failed: 0, bytes: 0, outputs: [], failures: [] };
  const groups = new Map<string, TrackedOutput[]>();
  for (const o of outputs) {
    if (o.out.md5 === undefined) {
      result.outputs.push({ path: o.dataRel, pointer: o.pointerRel, remote: '', state: 'not-committed', objects: 0, bytes: 0, failedObjects: 0 });
      continue;
    }
    const name = resolveRemoteName(repo, options.remote ?? o.out.remote);
    groups.set(name, [...(groups.get(name) ?? []), o]);
  }
  const index = new LocalIndex(repo);
  let secrets: string[] = [];
  for (const [name, group] of groups) {
    // Nothing to download: do not even open (or require credentials for) the remote.
    if (group.every((o) => index.has({ oid: o.out.md5!, legacy: o.legacy }) && (!o.isDir || manifestComplete(repo, o, index)))) {
      for (const o of group) result.outputs.push(row(o, name, 'cached'));
      result.skipped += group.reduce((s, o) => s + 1 + (o.isDir ? (o.out.nfiles ?? 0) : 0), 0);
      continue;
    }
    // Objects are coming: a cache directory that cannot be made is said as such, before the remote is opened.
    repo.cache.ensureRoot();
    beforeDownload?.(repo);
    beforeDownload = undefined;
    const remote = openRemote(repo, ctx, { remote: name, jobs: options.jobs, retry: options.retry, wrapBackend: options.wrapBackend });
    secrets = [...secrets, ...remote.secrets];
    result.remotes.push(remote.name);
    try {
      const fatal = await fetchGroup(repo, ctx, group, remote, index, result);
      // Credentials refused, no bucket, remote given up, disk full ...: one error says it all.
      if (fatal) throw withDetails(fatal, result);
    } finally {
      remote.close();
    }
  }
  return { result, secrets, repo, outputs };
}

function manifestComplete(repo: Repo, o: TrackedOutput, index: LocalIndex): boolean {
  const entries = readManifest(repo, o);
  return entries !== undefined && entries.every((e) => index.has({ oid: e.md5, legacy: o.legacy }));
}

function readManifest(repo: Repo, o: TrackedOutput): ManifestEntry[] | undefined {
  return repo.cache.has(o.out.md5!, o.legacy) ? repo.cache.readManifest(o.out.md5!, o.legacy) : undefined;
}

function row(o: TrackedOutput, remote: string, state: FetchState): FetchedOutput {
  return { path: o.dataRel, pointer: o.pointerRel, remote, oid: o.out.md5!, state, objects: 0, bytes: 0, failedObjects: 0 };
}

/** Fetches one remote's outputs into `result`; returns the error that stopped the transfer early, if any. */
async function fetchGroup(repo: Repo, ctx: Context, outputs: TrackedOutput[], remote: OpenedRemote, index: LocalIndex, result: FetchResult): Promise<RegError | undefined> {
  const failures: TransferFailure[] = [];
  const fetchedBytes = new Map<string, number>();
  let fatal: RegError | undefined;
  const run = async (phase: string, label: string, refs: Array<{ ref: ObjRef; size: number; maxBytes?: number }>) => {
    if (fatal) return;
    const done = await downloadObjects(ctx, remote, repo.cache, refs, { phase, label, onDone: (ref) => index.add(ref) });
    for (const [k, v] of done.fetched) fetchedBytes.set(k, v);
    fatal ??= done.fatal;
    failures.push(...done.failures);
  };

  // 1. Manifests the cache lacks (DVC does the same: .dir first, then its files).
  const needManifest = new Map<string, ObjRef>();
  for (const o of outputs) {
    const ref = { oid: o.out.md5!, legacy: o.legacy };
    if (o.isDir && !index.has(ref)) needManifest.set(refKey(ref), ref);
  }
  await run('fetch-manifests', `fetching ${needManifest.size} directory manifest${needManifest.size === 1 ? '' : 's'} from ${remote.name}`, [...needManifest.values()].map((ref) => ({ ref, size: 0 })));

  // 2. Objects each output needs.
  const perOutput = new Map<TrackedOutput, { keys: string[]; present: number; broken: boolean }>();
  const wanted = new Map<string, { ref: ObjRef; size: number; maxBytes?: number }>();
  // No object of an output is larger than the size its pointer records: a body running longer is stopped there.
  const boundOf = (o: TrackedOutput) => (o.out.size !== undefined ? { maxBytes: o.out.size } : {});
  for (const o of outputs) {
    const ref = { oid: o.out.md5!, legacy: o.legacy };
    const info = { keys: [] as string[], present: 0, broken: false };
    perOutput.set(o, info);
    if (!o.isDir) {
      if (index.has(ref)) info.present++;
      else {
        info.keys.push(refKey(ref));
        wanted.set(refKey(ref), { ref, size: o.out.size ?? 0, ...boundOf(o) });
      }
      continue;
    }
    const mkey = refKey(ref);
    if (needManifest.has(mkey)) info.keys.push(mkey);
    let entries: ManifestEntry[] | undefined;
    try {
      entries = index.has(ref) ? readManifest(repo, o) : undefined;
    } catch (err) {
      // A malformed or hostile manifest (exit 3) stops the fetch: its members are never asked for.
      if (!isRegError(err) || err.exit === 'config') throw err;
      failures.push({ key: mkey, error: err.message, code: err.code, integrity: true });
    }
    if (entries === undefined) {
      info.broken = true;
      continue;
    }
    if (!needManifest.has(mkey)) info.present++;
    const missingMembers = entries.filter((e) => !index.has({ oid: e.md5, legacy: o.legacy }));
    info.present += entries.length - missingMembers.length;
    // Sizes are not in manifests: spread the output's size for a byte-based progress estimate.
    const avg = entries.length > 0 && o.out.size !== undefined ? Math.round(o.out.size / entries.length) : 0;
    for (const e of missingMembers) {
      const mref = { oid: e.md5, legacy: o.legacy };
      info.keys.push(refKey(mref));
      if (!wanted.has(refKey(mref))) wanted.set(refKey(mref), { ref: mref, size: avg, ...boundOf(o) });
    }
  }
  await run('fetch', `fetching from ${remote.name}`, [...wanted.values()]);

  for (const f of failures) f.error = redact(f.error, remote.secrets);
  const failedKeys = new Set(failures.map((f) => f.key));
  result.failures.push(...failures);
  result.failed += failures.length;
  for (const [key, bytes] of fetchedBytes) {
    if (failedKeys.has(key)) continue;
    result.fetched++;
    result.bytes += bytes;
  }
  for (const o of outputs) {
    const info = perOutput.get(o)!;
    const r = row(o, remote.name, 'cached');
    result.skipped += info.present;
    for (const key of info.keys) {
      if (failedKeys.has(key)) r.failedObjects++;
      else if (fetchedBytes.has(key)) {
        r.objects++;
        r.bytes += fetchedBytes.get(key)!;
      }
    }
    r.state = r.failedObjects > 0 || info.broken ? 'failed' : r.objects > 0 ? 'fetched' : 'cached';
    result.outputs.push(r);
  }
  return fatal;
}

/**
 * Downloads objects into a cache, each verified against its oid before it enters (ObjectStore.download),
 * with the transfer queue's concurrency and retries. Objects the remote lacks are failures with
 * code `remote.missing-object`; nothing is thrown for a failed object.
 */
export async function downloadObjects(
  ctx: Context,
  remote: OpenedRemote,
  cache: Cache,
  refs: ReadonlyArray<{ ref: ObjRef; size: number; maxBytes?: number }>,
  options: { phase: string; label: string; onDone?: (ref: ObjRef) => void },
): Promise<{ fetched: Map<string, number>; failures: TransferFailure[]; fatal?: RegError }> {
  const fetched = new Map<string, number>();
  if (refs.length === 0) return { fetched, failures: [] };
  const tasks: TransferTask[] = refs.map(({ ref, size, maxBytes }) => ({
    key: refKey(ref),
    size,
    run: async (onBytes, signal) => {
      const { size: got } = await remote.store.download(ref, cache, onBytes, signal, maxBytes);
      fetched.set(refKey(ref), got);
      options.onDone?.(ref);
    },
  }));
  const outcome = await runTransfersWithProgress(ctx, tasks, remote, { phase: options.phase, label: options.label });
  const failures = outcome.failed.map((f) => (f.code === 'NotFoundError' ? { ...f, error: `missing on the remote ${remote.store.description}`, code: 'remote.missing-object' } : f));
  return { fetched, failures, ...(outcome.fatal ? { fatal: outcome.fatal } : {}) };
}

export function fetchError(verb: 'fetch' | 'pull' | 'get' | 'restore', result: FetchResult, secrets: readonly string[], details: unknown = result): RegError {
  const integrity = result.failures.some((f) => f.integrity);
  const head = `${verb} incomplete: ${result.failed} object${result.failed === 1 ? '' : 's'} failed, ${result.fetched} fetched`;
  const message = redact(`${head}\n${failureLines(result.failures)}`, secrets);
  const missing = result.failures.some((f) => f.code === 'remote.missing-object');
  const classHint = result.failures.find((f) => f.hint !== undefined)?.hint;
  return new RegError(integrity ? `${verb}.integrity` : `${verb}.incomplete`, integrity ? 'integrity' : 'transfer', message, {
    hint: integrity
      ? `corrupt objects were discarded (nothing corrupt entered the cache or the workspace); from a clone whose cache has good bytes, run \`reg verify --remote ${result.remotes[0] ?? 'NAME'} --repair\` to replace them on the remote, then retry`
      : missing
        ? 'the objects were never pushed: run `reg push` where the data was added, then retry'
        : classHint ?? `re-run \`reg ${verb}\`: objects already fetched are kept`,
    details,
  });
}

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { md5OfBuffer } from '../../data/hash.js';
import { parseManifest, type ManifestEntry } from '../../data/manifest.js';
import { RegError, configError, errnoCode, isRegError, usageError } from '../../errors.js';
import { openRepo, type Repo } from '../../repo.js';
import type { Backend, ObjectInfo } from '../../store/backend.js';
import { QUARANTINE_DIR, readCacheFile } from '../../store/cache.js';
import { MAX_MANIFEST_BYTES, refKey, type ObjRef } from '../../store/object-store.js';
import type { RetryPolicy, TransferFailure, TransferTask } from '../../store/transfer.js';
import { hashMany, type AbsoluteTask, type SizedTask } from '../../workspace/hasher.js';
import type { HashOutcome } from '../../workspace/hash-task.js';
import { resolveOutputs, type TrackedOutput } from '../data/outputs.js';
import { PointerReader, targetPath } from '../history/pointers.js';
import { asTrackedOutput, selectsHistory, versionsOfHistory, type HistorySelection } from '../history/versions.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from './open-remote.js';
import { outputObjects, shownPath, usePath, type OutputObject } from './output-objects.js';
import { groupByRemote } from './push.js';
import { redact, remotesOf } from './remote-config.js';
import { runTransfersWithProgress } from './transfer-progress.js';

export interface VerifyOptions {
  /** Data paths, `.dvc` files or directories holding pointers; empty = every output. */
  targets: string[];
  /** Also check the objects on a remote: `remote`, else each output's `remote:`, else core.remote. */
  checkRemote?: boolean;
  /** The remote to check and to repair from / to (default: each output's remote, else core.remote). */
  remote?: string;
  /** Also re-read every workspace file and compare it with its pointer / manifest. */
  workspace?: boolean;
  /**
   * Verify the versions of other revisions instead of the work tree's pointers: every commit,
   * some revisions, the branch tips, the tags (deduplicated by pointer and oid; `targets` filter).
   */
  history?: HistorySelection;
  /**
   * Re-fetch good bytes over corrupt cache objects (they are quarantined first) and re-upload
   * good cache bytes over corrupt or missing remote objects.
   */
  repair?: boolean;
  /** Parallel remote requests (hashing always uses every core). */
  jobs?: number;
  retry?: RetryPolicy;
  /** Wraps the remote's backend (fault injection in tests, instrumentation). */
  wrapBackend?: (backend: Backend) => Backend;
}

/** verifyOutputs() takes the outputs themselves instead of targets. */
export type VerifyOutputsOptions = Omit<VerifyOptions, 'targets'>;

export type VerifyWhere = 'cache' | 'workspace' | 'remote';
/**
 * corrupt: the bytes do not hash to their name; size-mismatch: the remote object has the wrong
 * size (where its content cannot be checked cheaply); missing: the remote lacks the object;
 * quarantined: the cache copy was found corrupt earlier and moved aside, no good copy since.
 */
export type VerifyProblemKind = 'corrupt' | 'size-mismatch' | 'missing' | 'quarantined';

export interface VerifyProblem {
  where: VerifyWhere;
  problem: VerifyProblemKind;
  /** Object key (`files/md5/XX/REST`, `XX/REST` for legacy objects). */
  key: string;
  oid: string;
  /** The files of the output that hold these bytes ('' for a file output); none for a manifest. */
  relpaths: string[];
  manifest: boolean;
  remote?: string;
  detail: string;
  /** With --repair: whether the problem is fixed now, and what was done (or why not). */
  repaired?: boolean;
  repair?: string;
}

/** How the objects on the remote were checked: content re-hashed, md5 (ETag) compared, size only, existence only. */
export interface RemoteChecks {
  name: string;
  content: number;
  md5: number;
  size: number;
  exists: number;
  missing: number;
}

export interface VerifiedOutput {
  path: string;
  pointer: string;
  /** With a history selection: the versions (`<commit> (<refs>)`) this pointer and oid were found at. */
  versions?: string[];
  oid?: string;
  state: 'ok' | 'damaged' | 'repaired' | 'not-committed';
  /** Distinct objects (manifest and files) of the output. */
  objects: number;
  /** Cache objects re-hashed, and objects not in the cache (not an error: see `reg fetch`). */
  cache: { checked: number; notCached: number };
  workspace?: { checked: number; absent: number };
  /** Absent when the remote was not checked; `skipped` for outputs with `push: false`. */
  remote?: RemoteChecks | { skipped: 'push: false' };
  /** A directory whose manifest could not be read anywhere: its files were not checked. */
  membersUnknown?: boolean;
  problems: VerifyProblem[];
}

export interface VerifyResult {
  /** No problem left (after --repair). */
  ok: boolean;
  /** Problems left, counted per output (an object two outputs share counts twice): all, the integrity ones (corrupt / size / quarantined), the missing ones. */
  problems: number;
  corrupt: number;
  missing: number;
  repaired: number;
  checked: { cache: number; workspace: number; remote: number };
  /** Bytes re-hashed (cache, workspace and directory remotes). */
  bytes: number;
  remotes: string[];
  outputs: VerifiedOutput[];
  /** What to run to fix what is left. */
  advice: string[];
  /** With a history selection: pointer versions that could not be read (malformed or hostile), not verified. */
  unreadable?: Array<{ pointer: string; code: string; message: string }>;
}

/** `reg verify [targets]`: the outputs named on the command line (default: all) in the work tree. */
export async function verify(ctx: Context, options: VerifyOptions): Promise<VerifyResult> {
  const repo = openRepo(ctx);
  if (options.remote !== undefined) assertRemoteName(repo, ctx, options.remote);
  if (selectsHistory(options.history)) return verifyHistory(repo, ctx, options, options.history);
  const outputs = await resolveOutputs(repo, ctx, options.targets);
  return verifyOutputs(repo, ctx, outputs, options);
}

/** The versions of the selected history, each verified once, rows labelled with where they were found. */
async function verifyHistory(repo: Repo, ctx: Context, options: VerifyOptions, selection: HistorySelection): Promise<VerifyResult> {
  if (options.workspace) throw usageError('verify.workspace-history', '--workspace checks the work tree\'s files; it cannot be combined with other revisions', { hint: 'run them separately' });
  const reader = new PointerReader(repo);
  try {
    const targets = options.targets.map((t) => targetPath(repo, ctx, t));
    const { versions, errors } = await versionsOfHistory(reader, selection, targets);
    if (versions.length === 0 && errors.length > 0) throw errors[0]!.error!;
    const result = await verifyOutputs(repo, ctx, versions.map((v) => asTrackedOutput(repo, v.output)), options);
    result.outputs.forEach((row, i) => (row.versions = versions[i]!.at));
    if (errors.length > 0) result.unreadable = errors.map((e) => ({ pointer: e.pointerRel, code: e.error!.code, message: e.error!.message }));
    return result;
  } finally {
    reader.close();
  }
}

/**
 * `reg verify --remote` takes an optional name, so `reg verify --remote data` reads `data` as a
 * remote: say so when it is not a remote but a path.
 */
function assertRemoteName(repo: Repo, ctx: Context, name: string): void {
  if (name in remotesOf(repo.config.data)) return;
  let isPath = false;
  try {
    statSync(join(ctx.cwd, name));
    isPath = true;
  } catch {
    // not a path either: openRemote reports the unknown remote
  }
  if (isPath) {
    throw usageError('verify.remote-is-path', `"${name}" is not a remote but a path: --remote took it as the remote name`, {
      hint: `put the targets first (reg verify ${name} --remote) or name the remote (reg verify --remote NAME ${name})`,
    });
  }
}

/** What the verification learnt about one object, shared by every output that uses it. */
interface ObjectState {
  ref: ObjRef;
  key: string;
  manifest: boolean;
  cache: 'unchecked' | 'good' | 'corrupt' | 'absent' | 'quarantined';
  /** The quarantine holds a copy (a corrupt one found earlier). */
  quarantinedCopy?: boolean;
  cacheActual?: string;
  cacheSize?: number;
}

interface RemoteState {
  state: 'good' | 'corrupt' | 'size-mismatch' | 'missing';
  level?: 'content' | 'md5' | 'size' | 'exists';
  detail?: string;
}

interface OutputPlan {
  o: TrackedOutput;
  row: VerifiedOutput;
  objects: OutputObject[];
}

const OID_RE = /^[0-9a-f]{32}$/;

/**
 * Verifies the given outputs (from the work tree, or from pointers at other revisions: nothing
 * here reads the pointer files again). Returns a report; never throws for what it finds.
 */
export async function verifyOutputs(repo: Repo, ctx: Context, outputs: readonly TrackedOutput[], options: VerifyOutputsOptions): Promise<VerifyResult> {
  const remotes = new RemotePool(repo, ctx, options);
  try {
    return await run(repo, ctx, outputs, options, remotes);
  } finally {
    remotes.close();
  }
}

async function run(repo: Repo, ctx: Context, outputs: readonly TrackedOutput[], options: VerifyOutputsOptions, remotes: RemotePool): Promise<VerifyResult> {
  const result: VerifyResult = { ok: true, problems: 0, corrupt: 0, missing: 0, repaired: 0, checked: { cache: 0, workspace: 0, remote: 0 }, bytes: 0, remotes: [], outputs: [], advice: [] };
  const checkGroups = options.checkRemote ? groupByRemote(repo, outputs, options.remote) : new Map<string, TrackedOutput[]>();
  result.remotes = [...checkGroups.keys()];
  const { plans, states } = await planOutputs(repo, ctx, outputs, checkGroups, remotes, options, result);

  result.bytes += await checkCache(repo, ctx, states);
  for (const plan of plans) {
    for (const obj of plan.objects) {
      const s = states.get(obj.key)!;
      if (s.cache === 'good' || s.cache === 'corrupt') plan.row.cache.checked++;
      if (s.cache === 'absent') plan.row.cache.notCached++;
      else if (s.cache === 'corrupt') addProblem(plan, obj, 'cache', 'corrupt', `hashes to ${s.cacheActual}`);
      else if (s.cache === 'quarantined') addProblem(plan, obj, 'cache', 'quarantined', 'moved to the quarantine earlier (its bytes did not match); no good copy since');
    }
  }
  result.checked.cache = [...states.values()].filter((s) => s.cache === 'good' || s.cache === 'corrupt').length;

  if (options.workspace) {
    const ws = await checkWorkspace(ctx, plans);
    result.checked.workspace = ws.checked;
    result.bytes += ws.bytes;
  }

  const remoteStates = new Map<string, Map<string, RemoteState>>();
  for (const [name, group] of checkGroups) {
    const members = new Set(group);
    const groupPlans = plans.filter((p) => members.has(p.o));
    const objects = new Map<string, ObjectState>();
    for (const p of groupPlans) for (const obj of p.objects) objects.set(obj.key, states.get(obj.key)!);
    const remote = remotes.open(name);
    const checked = await checkRemote(ctx, remote, [...objects.values()], groupPlans, options);
    remoteStates.set(name, checked.states);
    result.bytes += checked.bytes;
    result.checked.remote += objects.size;
    for (const p of groupPlans) {
      const counts: RemoteChecks = { name: remote.name, content: 0, md5: 0, size: 0, exists: 0, missing: 0 };
      p.row.remote = counts;
      for (const obj of p.objects) {
        const r = checked.states.get(obj.key)!;
        if (r.state === 'missing') counts.missing++;
        else counts[r.level!]++;
        if (r.state !== 'good') addProblem(p, obj, 'remote', r.state, r.detail ?? '', remote.name);
      }
    }
  }

  if (options.repair) await repair(repo, ctx, plans, states, remoteStates, remotes, options);
  summarize(result, plans, options);
  return result;
}

/** A report row per output, the objects of each committed output, and one state per distinct object. */
async function planOutputs(
  repo: Repo,
  ctx: Context,
  outputs: readonly TrackedOutput[],
  checkGroups: Map<string, TrackedOutput[]>,
  remotes: RemotePool,
  options: VerifyOutputsOptions,
  result: VerifyResult,
): Promise<{ plans: OutputPlan[]; states: Map<string, ObjectState> }> {
  const checkRemoteOf = new Map<TrackedOutput, string>();
  for (const [name, group] of checkGroups) for (const o of group) checkRemoteOf.set(o, name);
  const states = new Map<string, ObjectState>();
  const quarantined = quarantinedOids(repo);
  const plans: OutputPlan[] = [];
  for (const o of outputs) {
    const row: VerifiedOutput = { path: o.dataRel, pointer: o.pointerRel, ...(o.out.md5 ? { oid: o.out.md5 } : {}), state: 'ok', objects: 0, cache: { checked: 0, notCached: 0 }, problems: [] };
    result.outputs.push(row);
    if (o.out.md5 === undefined) {
      row.state = 'not-committed';
      continue;
    }
    if (options.checkRemote && !checkRemoteOf.has(o)) row.remote = { skipped: 'push: false' };
    // Where a directory's manifest may be read when the cache has no good copy ('' = the default remote).
    const manifestRemote = checkRemoteOf.get(o) ?? (options.repair ? options.remote ?? o.out.remote ?? '' : undefined);
    const entries = o.isDir ? await manifestEntries(repo, ctx, o, states, quarantined, remotes, manifestRemote) : undefined;
    if (o.isDir && entries === undefined) row.membersUnknown = true;
    const objects = outputObjects(o, entries);
    for (const obj of objects) {
      if (!states.has(obj.key)) {
        const quarantinedCopy = (obj.ref.legacy ? quarantined.legacy : quarantined.modern).has(obj.ref.oid);
        states.set(obj.key, { ref: obj.ref, key: obj.key, manifest: obj.manifest, cache: 'unchecked', quarantinedCopy });
      }
    }
    row.objects = objects.length;
    plans.push({ o, row, objects });
  }
  return { plans, states };
}

function addProblem(plan: OutputPlan, obj: OutputObject, where: VerifyWhere, problem: VerifyProblemKind, detail: string, remote?: string, relpaths = obj.relpaths): void {
  plan.row.problems.push({ where, problem, key: obj.key, oid: obj.ref.oid, relpaths: [...relpaths], manifest: obj.manifest, ...(remote !== undefined ? { remote } : {}), detail });
}

/** Oids with a copy in the cache's quarantine (`Cache.quarantine` layout: quarantine/<object path>.<stamp>.<rand>). */
function quarantinedOids(repo: Repo): { modern: Set<string>; legacy: Set<string> } {
  const read = (base: string): Set<string> => {
    const oids = new Set<string>();
    let prefixes: string[] = [];
    try {
      prefixes = readdirSync(base);
    } catch {
      return oids;
    }
    for (const p of prefixes) {
      if (!/^[0-9a-f]{2}$/.test(p)) continue;
      for (const name of readdirSync(join(base, p))) oids.add(p + name.split('.').slice(0, -2).join('.'));
    }
    return oids;
  };
  const root = join(repo.cache.root, QUARANTINE_DIR);
  return { modern: read(join(root, 'files', 'md5')), legacy: read(root) };
}

/**
 * A directory's entries: from the cache copy of its manifest when that is intact, else (when a
 * remote is in play) from the remote's copy, verified in memory. The manifest's cache state is
 * recorded here (it is small: no need for the hashing pool).
 */
async function manifestEntries(
  repo: Repo,
  ctx: Context,
  o: TrackedOutput,
  states: Map<string, ObjectState>,
  quarantined: { modern: Set<string>; legacy: Set<string> },
  remotes: RemotePool,
  remoteName: string | undefined,
): Promise<ManifestEntry[] | undefined> {
  const ref: ObjRef = { oid: o.out.md5!, legacy: o.legacy };
  const key = refKey(ref);
  let state = states.get(key);
  if (state === undefined) {
    state = { ref, key, manifest: true, cache: 'absent' };
    states.set(key, state);
    const path = repo.cache.locate(ref.oid, ref.legacy);
    if (path !== undefined) {
      const bytes = readCacheFile(path, MAX_MANIFEST_BYTES);
      const actual = md5OfBuffer(bytes);
      state.cacheSize = bytes.length;
      if (actual === ref.oid.slice(0, -4)) {
        state.cache = 'good';
        return checkedEntries(parseManifest(bytes, path), path);
      }
      state.cache = 'corrupt';
      state.cacheActual = actual;
    } else if ((ref.legacy ? quarantined.legacy : quarantined.modern).has(ref.oid)) state.cache = 'quarantined';
  } else if (state.cache === 'good') {
    return checkedEntries(repo.cache.readManifest(ref.oid, ref.legacy), key);
  }
  if (remoteName === undefined) return undefined;
  try {
    const remote = remotes.open(remoteName === '' ? undefined : remoteName);
    const bytes = await remote.store.readVerified(ref, ctx.signal);
    return checkedEntries(parseManifest(bytes, `${key} on ${remote.name}`), `${key} on ${remote.name}`);
  } catch (err) {
    // Reported by the remote check (corrupt / missing); nothing more to learn here.
    if (isRegError(err) || (err as { notFound?: boolean }).notFound) return undefined;
    throw err;
  }
}

/** Manifest md5 fields become paths below: only 32 hex digits are acceptable. */
function checkedEntries(entries: ManifestEntry[], source: string): ManifestEntry[] {
  const bad = entries.find((e) => !OID_RE.test(e.md5));
  if (bad !== undefined) {
    throw configError('manifest.bad-md5', `${source}: entry ${JSON.stringify(bad.relpath)} has md5 ${JSON.stringify(bad.md5)}, not 32 hex digits`, { hint: 'the manifest is corrupt or hostile; do not use it' });
  }
  return entries;
}

/** Re-hashes every cache object not yet checked, on all cores. Returns the bytes read. */
async function checkCache(repo: Repo, ctx: Context, states: Map<string, ObjectState>): Promise<number> {
  const todo: ObjectState[] = [];
  const tasks: AbsoluteTask[] = [];
  for (const s of states.values()) {
    if (s.cache !== 'unchecked') continue;
    // Cache.locate's lookup (legacy objects may sit in the DVC 3 layout), one stat per path.
    let path = repo.cache.objectPath(s.ref.oid, s.ref.legacy);
    let size = sizeOf(path);
    if (size === undefined && s.ref.legacy) size = sizeOf((path = repo.cache.objectPath(s.ref.oid, false)));
    if (size === undefined) {
      s.cache = s.quarantinedCopy ? 'quarantined' : 'absent';
      continue;
    }
    todo.push(s);
    tasks.push({ abs: path, legacy: s.ref.legacy && !s.manifest, size });
  }
  const outcomes = await hashWithProgress(ctx, 'verify-cache', `verifying ${tasks.length} cache objects`, tasks);
  let bytes = 0;
  outcomes.forEach((r, i) => {
    const s = todo[i]!;
    if ('error' in r) {
      if (r.code !== 'ENOENT') throw readError(tasks[i]!.abs, r);
      s.cache = 'absent';
      return;
    }
    bytes += r.size;
    s.cacheSize = r.size;
    if (r.md5 === s.ref.oid.replace(/\.dir$/, '')) s.cache = 'good';
    else {
      s.cache = 'corrupt';
      s.cacheActual = r.md5;
    }
  });
  return bytes;
}

/** Re-reads every workspace file of the outputs (never trusting the stat cache) and compares it with its name. */
async function checkWorkspace(ctx: Context, plans: OutputPlan[]): Promise<{ checked: number; bytes: number }> {
  const tasks: AbsoluteTask[] = [];
  const owners: Array<{ plan: OutputPlan; obj: OutputObject; relpath: string }> = [];
  for (const plan of plans) {
    plan.row.workspace = { checked: 0, absent: 0 };
    for (const obj of plan.objects) {
      for (const relpath of obj.relpaths) {
        const abs = relpath === '' ? plan.o.dataAbs : join(plan.o.dataAbs, ...relpath.split('/'));
        const size = sizeOf(abs);
        if (size === undefined) {
          plan.row.workspace.absent++;
          continue;
        }
        tasks.push({ abs, legacy: plan.o.legacy, size });
        owners.push({ plan, obj, relpath });
      }
    }
  }
  const outcomes = await hashWithProgress(ctx, 'verify-workspace', `re-reading ${tasks.length} workspace files`, tasks);
  let checked = 0;
  let bytes = 0;
  outcomes.forEach((r, i) => {
    const { plan, obj, relpath } = owners[i]!;
    if ('error' in r) {
      if (r.code !== 'ENOENT') throw readError(tasks[i]!.abs, r);
      plan.row.workspace!.absent++;
      return;
    }
    checked++;
    bytes += r.size;
    plan.row.workspace!.checked++;
    if (r.md5 !== obj.ref.oid) {
      addProblem(plan, obj, 'workspace', 'corrupt', `${usePath(plan.o, relpath)} hashes to ${r.md5}, not ${obj.ref.oid} (changed since it was added, or damaged)`, undefined, [relpath]);
    }
  });
  return { checked, bytes };
}

/**
 * Checks the objects on one remote: a directory remote's files are re-hashed like the cache;
 * elsewhere the listing / HEAD answers are compared: the md5 where the ETag is one (single-part
 * uploads), else the size (known from the cache copy or the pointer), else existence only.
 */
async function checkRemote(ctx: Context, remote: OpenedRemote, objects: ObjectState[], plans: OutputPlan[], options: VerifyOutputsOptions): Promise<{ states: Map<string, RemoteState>; bytes: number }> {
  const states = new Map<string, RemoteState>();
  const backend = remote.store.backend;
  if (backend.localPath !== undefined) {
    const tasks: AbsoluteTask[] = [];
    const todo: ObjectState[] = [];
    for (const s of objects) {
      const abs = backend.localPath(s.key);
      const size = sizeOf(abs);
      if (size === undefined) states.set(s.key, { state: 'missing', detail: `not on ${remote.name}` });
      else {
        tasks.push({ abs, legacy: s.ref.legacy && !s.manifest, size });
        todo.push(s);
      }
    }
    const outcomes = await hashWithProgress(ctx, 'verify-remote', `verifying ${tasks.length} objects on ${remote.name}`, tasks);
    let bytes = 0;
    outcomes.forEach((r, i) => {
      const s = todo[i]!;
      if ('error' in r) {
        if (r.code !== 'ENOENT') throw readError(tasks[i]!.abs, r);
        states.set(s.key, { state: 'missing', detail: `not on ${remote.name}` });
        return;
      }
      bytes += r.size;
      const good = r.md5 === s.ref.oid.replace(/\.dir$/, '');
      states.set(s.key, good ? { state: 'good', level: 'content' } : { state: 'corrupt', level: 'content', detail: `the copy on ${remote.name} hashes to ${r.md5}` });
    });
    return { states, bytes };
  }
  const phase = 'verify-remote';
  ctx.progress({ type: 'start', phase, label: `asking ${remote.name} about ${objects.length} objects` });
  let present: Map<string, ObjectInfo>;
  try {
    present = await remote.store.present(
      objects.map((s) => s.ref),
      { jobs: remote.jobs, signal: ctx.signal, retry: options.retry, onRequest: () => ctx.progress({ type: 'advance', phase, done: 1 }) },
    );
  } finally {
    ctx.progress({ type: 'end', phase });
  }
  const pointerSize = new Map<string, number>();
  for (const p of plans) if (!p.o.isDir && p.o.out.size !== undefined) pointerSize.set(p.objects[0]!.key, p.o.out.size);
  for (const s of objects) {
    const info = present.get(s.key);
    if (info === undefined) {
      states.set(s.key, { state: 'missing', detail: `not on ${remote.name}` });
      continue;
    }
    const expected = s.ref.oid.replace(/\.dir$/, '');
    const legacyFile = s.ref.legacy && !s.manifest;
    if (info.md5 !== undefined && (info.md5 === expected || !legacyFile)) {
      // A legacy file's oid is its md5-dos2unix: an ETag that differs proves nothing for text.
      states.set(s.key, info.md5 === expected ? { state: 'good', level: 'md5' } : { state: 'corrupt', level: 'md5', detail: `the copy on ${remote.name} has md5 (ETag) ${info.md5}` });
      continue;
    }
    const size = s.cache === 'good' ? s.cacheSize : pointerSize.get(s.key);
    if (size === undefined || info.size === undefined) states.set(s.key, { state: 'good', level: 'exists' });
    else if (info.size === size) states.set(s.key, { state: 'good', level: 'size' });
    else states.set(s.key, { state: 'size-mismatch', level: 'size', detail: `the copy on ${remote.name} has ${info.size} bytes, not ${size}` });
  }
  return { states, bytes: 0 };
}

/**
 * --repair: (1) corrupt cache objects are quarantined and fetched again (verified) from the
 * output's remote, as are objects quarantined earlier; (2) corrupt or missing remote objects
 * whose cache copy is good are uploaded again (verified as they are read), each manifest only
 * once all its files are on the remote.
 */
async function repair(
  repo: Repo,
  ctx: Context,
  plans: OutputPlan[],
  states: Map<string, ObjectState>,
  remoteStates: Map<string, Map<string, RemoteState>>,
  remotes: RemotePool,
  options: VerifyOutputsOptions,
): Promise<void> {
  const index = new Map<string, VerifyProblem[]>();
  const indexKey = (where: VerifyWhere, key: string, remote?: string) => `${where}|${remote ?? ''}|${key}`;
  for (const p of plans) {
    for (const x of p.row.problems) {
      const k = indexKey(x.where, x.key, x.remote);
      index.set(k, [...(index.get(k) ?? []), x]);
    }
  }
  const problemsOf = (where: VerifyWhere, key: string, remote?: string) => index.get(indexKey(where, key, remote)) ?? [];
  const settle = (list: VerifyProblem[], repaired: boolean, what: string) => {
    for (const x of list) {
      x.repaired = repaired;
      x.repair = what;
    }
  };

  // 1. The cache, from each output's remote.
  const fetchFrom = new Map<string, Map<string, ObjectState>>();
  for (const plan of plans) {
    for (const obj of plan.objects) {
      const s = states.get(obj.key)!;
      if (s.cache !== 'corrupt' && s.cache !== 'quarantined') continue;
      if (s.cache === 'corrupt') {
        try {
          const moved = repo.cache.quarantine(s.ref.oid, s.ref.legacy);
          for (const x of problemsOf('cache', s.key)) x.detail += `; moved to ${shownPath(repo, moved)}`;
        } catch (err) {
          if (!isRegError(err)) throw err;
        }
        s.cache = 'quarantined';
      }
      let name: string;
      try {
        name = resolveRemoteName(repo, options.remote ?? plan.o.out.remote);
      } catch (err) {
        if (!isRegError(err)) throw err;
        settle(problemsOf('cache', s.key), false, `not repaired: ${err.message} (pass --remote NAME)`);
        continue;
      }
      const group = fetchFrom.get(name) ?? new Map<string, ObjectState>();
      group.set(s.key, s);
      fetchFrom.set(name, group);
    }
  }
  for (const [name, group] of fetchFrom) {
    const remote = remotes.open(name);
    const tasks: TransferTask[] = [...group.values()].map((s) => ({
      key: s.key,
      size: s.cacheSize ?? 0,
      run: async (onBytes, signal) => {
        const { size } = await remote.store.download(s.ref, repo.cache, onBytes, signal);
        s.cache = 'good';
        s.cacheSize = size;
      },
    }));
    const outcome = await runTransfersWithProgress(ctx, tasks, remote, { phase: 'repair-cache', label: `re-fetching ${tasks.length} objects from ${remote.name}` });
    if (outcome.fatal) throw outcome.fatal;
    for (const key of outcome.done) settle(problemsOf('cache', key), true, `re-fetched from ${remote.name}`);
    for (const f of outcome.failed) settle(problemsOf('cache', f.key), false, `not repaired: ${failureText(f, remote)}`);
  }

  // 2. The remotes, from the cache.
  for (const [name, byKey] of remoteStates) {
    const remote = remotes.open(name);
    const bad = new Set([...byKey].filter(([, r]) => r.state !== 'good').map(([k]) => k));
    if (bad.size === 0) continue;
    const tasks: TransferTask[] = [];
    const unrepairable = new Set<string>();
    for (const key of bad) {
      const s = states.get(key)!;
      if (s.cache !== 'good' || s.manifest) {
        if (s.cache !== 'good') {
          unrepairable.add(key);
          settle(problemsOf('remote', key, remote.name), false, 'not repaired: no good copy in this cache (repair from a clone that has one)');
        }
        continue;
      }
      tasks.push(uploadTask(repo, remote, s));
    }
    // Manifests last, and only for directories whose every file is (or is being put) on the remote.
    for (const key of bad) {
      const s = states.get(key)!;
      if (!s.manifest || s.cache !== 'good') continue;
      const members = plans.filter((p) => p.objects[0]?.key === key).flatMap((p) => p.objects.slice(1).map((o) => o.key));
      const stuck = members.filter((k) => unrepairable.has(k)).length;
      if (plans.some((p) => p.objects[0]?.key === key && p.row.membersUnknown)) {
        settle(problemsOf('remote', key, remote.name), false, 'not repaired: its files are unknown (the manifest could not be read)');
        continue;
      }
      if (stuck > 0) {
        settle(problemsOf('remote', key, remote.name), false, `not repaired: ${stuck} of its files cannot be put on the remote (a manifest is only sent once all its files are there)`);
        continue;
      }
      tasks.push({ ...uploadTask(repo, remote, s), requires: members.filter((k) => bad.has(k)) });
    }
    const outcome = await runTransfersWithProgress(ctx, tasks, remote, { phase: 'repair-remote', label: `re-uploading ${tasks.length} objects to ${remote.name}` });
    if (outcome.fatal) throw outcome.fatal;
    for (const key of outcome.done) settle(problemsOf('remote', key, remote.name), true, 're-uploaded from the local cache');
    for (const f of outcome.failed) settle(problemsOf('remote', f.key, remote.name), false, `not repaired: ${failureText(f, remote)}`);
  }

  // Workspace files are the user's: never overwritten here.
  for (const plan of plans) {
    for (const x of plan.row.problems) {
      if (x.where === 'workspace') {
        x.repaired = false;
        x.repair = `not repaired (workspace files are yours): restore with \`reg checkout --force ${plan.o.dataRel}\` (the current bytes are stashed) or re-add it`;
      }
    }
  }
}

function uploadTask(repo: Repo, remote: OpenedRemote, s: ObjectState): TransferTask {
  return {
    key: s.key,
    size: s.cacheSize ?? 0,
    run: async (onBytes, signal) => {
      const path = repo.cache.locate(s.ref.oid, s.ref.legacy);
      if (path === undefined) throw new RegError('cache.missing-object', 'failed', `${s.key} left the cache during the repair`);
      await remote.store.upload(s.ref, path, s.cacheSize ?? sizeOf(path) ?? 0, onBytes, signal);
    },
  };
}

function failureText(f: TransferFailure, remote: OpenedRemote): string {
  return redact(f.code === 'NotFoundError' ? `missing on ${remote.name}` : f.error, remote.secrets);
}

function summarize(result: VerifyResult, plans: OutputPlan[], options: VerifyOutputsOptions): void {
  const open: VerifyProblem[] = [];
  for (const { row } of plans) {
    const left = row.problems.filter((x) => !x.repaired);
    open.push(...left);
    result.repaired += row.problems.length - left.length;
    row.state = row.problems.length === 0 ? 'ok' : left.length === 0 ? 'repaired' : 'damaged';
  }
  result.problems = open.length;
  result.missing = open.filter((x) => x.problem === 'missing').length;
  result.corrupt = result.problems - result.missing;
  result.ok = result.problems === 0;
  const remoteFlag = options.remote !== undefined ? `--remote ${options.remote}` : '--remote';
  if (open.some((x) => x.where === 'cache')) {
    result.advice.push(
      options.repair
        ? 'cache objects without a good copy on the remote: re-add the data from an intact copy (reg add PATH), or fetch from another remote (reg verify --repair --remote OTHER)'
        : 'reg verify --repair re-fetches good bytes over the corrupt cache objects (they are moved to the cache quarantine first); or re-add the data from an intact copy (reg add PATH)',
    );
  }
  if (open.some((x) => x.where === 'remote')) {
    result.advice.push(
      options.repair
        ? `remote objects without a good copy in this cache: run reg verify ${remoteFlag} --repair in a clone whose cache has them`
        : `reg verify ${remoteFlag} --repair re-uploads good bytes from this cache (or from a clone whose cache has them)`,
    );
  }
  if (open.some((x) => x.where === 'workspace')) result.advice.push('workspace files that differ: reg checkout --force PATH restores them (the current bytes are stashed), or reg add PATH records the new bytes');
}

async function hashWithProgress(ctx: Context, phase: string, label: string, tasks: SizedTask[]): Promise<HashOutcome[]> {
  if (tasks.length === 0) return [];
  ctx.progress({ type: 'start', phase, label, total: tasks.length, totalBytes: tasks.reduce((s, t) => s + t.size, 0) });
  try {
    return await hashMany(tasks, { onProgress: (done, bytes) => ctx.progress({ type: 'advance', phase, done, bytes }), jobs: ctx.cores });
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

/** A regular file's size; undefined when there is none (no exception per absent file: a fresh clone has thousands). */
function sizeOf(path: string): number | undefined {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st?.isFile() ? st.size : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

function readError(path: string, r: { error: string; code?: string }): RegError {
  return new RegError('verify.read', 'failed', `cannot read ${path}: ${r.error}`, { hint: r.code === 'EACCES' ? 'fix the file permissions' : undefined });
}

/** Remotes opened on first use, closed at the end. `undefined` = the default remote. */
class RemotePool {
  private readonly opened = new Map<string, OpenedRemote>();
  constructor(
    private readonly repo: Repo,
    private readonly ctx: Context,
    private readonly options: VerifyOutputsOptions,
  ) {}

  open(name: string | undefined): OpenedRemote {
    const resolved = resolveRemoteName(this.repo, name);
    let remote = this.opened.get(resolved);
    if (remote === undefined) {
      remote = openRemote(this.repo, this.ctx, { remote: resolved, jobs: this.options.jobs, retry: this.options.retry, wrapBackend: this.options.wrapBackend });
      this.opened.set(resolved, remote);
    }
    return remote;
  }

  close(): void {
    for (const r of this.opened.values()) r.close();
  }
}

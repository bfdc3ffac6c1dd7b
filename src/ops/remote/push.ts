import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Context } from '../../context.js';
import { manifestMd5s } from '../../data/manifest.js';
import { RegError, isRegError } from '../../errors.js';
import { yieldToEventLoop } from '../../fsutil.js';
import { openRepo, type Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import { MAX_MANIFEST_BYTES, objectKey, refKey, refOfKey, type ObjRef } from '../../store/object-store.js';
import { readCacheFile } from '../../store/cache.js';
import { type RetryPolicy, type TransferFailure, type TransferOutcome, type TransferTask } from '../../store/transfer.js';
import { resolveOutputs, type TrackedOutput } from '../data/outputs.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from './open-remote.js';
import { quarantineCorrupt, usersOf, type ObjectUse } from './output-objects.js';
import { redact } from './remote-config.js';
import { runTransferBatchesWithProgress, withDetails } from './transfer-progress.js';

export interface PushOptions {
  /** Data paths, `.dvc` files or directories holding pointers; empty = every output. */
  targets: string[];
  /** Remote name (default: each output's `remote:` field, else core.remote). */
  remote?: string;
  jobs?: number;
  /** Work out what would be uploaded, upload nothing. */
  dryRun?: boolean;
  retry?: RetryPolicy;
  /** Wraps the remote's backend (fault injection in tests, instrumentation). */
  wrapBackend?: (backend: Backend) => Backend;
}

export type PushState = 'pushed' | 'up-to-date' | 'failed' | 'not-committed' | 'skipped';

export interface PushedOutput {
  path: string;
  pointer: string;
  remote: string;
  oid?: string;
  state: PushState;
  /** Objects uploaded (or that would be, with --dry-run). */
  objects: number;
  bytes: number;
  /** Objects that failed to upload or are missing from the local cache. */
  failedObjects: number;
}

export interface PushResult {
  dryRun: boolean;
  remotes: string[];
  /** Objects uploaded (with --dry-run: that would be uploaded). */
  pushed: number;
  /** Objects already on the remote. */
  skipped: number;
  failed: number;
  bytes: number;
  outputs: PushedOutput[];
  failures: TransferFailure[];
  /** Cache objects whose bytes did not match their name: not uploaded, moved to the cache's quarantine. */
  corrupt: Array<{ key: string; usedBy: ObjectUse[] }>;
  /** How the remote was asked what it has: per-object checks or listing. */
  query: { strategy: string; requests: number };
}

/** An output's own object the push needs on the remote (a directory manifest or a single file) and where its bytes are locally. */
export interface PlannedObject {
  ref: ObjRef;
  key: string;
  localPath?: string;
  size: number;
  /** For manifests: keys of the member objects that must be uploaded first. */
  members?: string[];
  /** For manifests: members that are neither on the remote nor in the local cache. */
  unavailableMembers?: number;
}

/**
 * The missing files of directories, column-wise: one key string and one number per object and
 * no record per file, so a million-file directory costs tens of megabytes, not a gigabyte.
 */
export interface PlannedFiles {
  keys: string[];
  /** Bytes of each object in the local cache; -1 when it is not there. */
  sizes: Float64Array;
  /** 1 where a legacy object was found under the DVC 3 layout of the local cache. */
  modernCopy: Uint8Array;
  /** Position in keys/sizes by key. */
  index: Map<string, number>;
}

export interface OutputPlan {
  output: TrackedOutput;
  /** Keys this output still needs on the remote. */
  missingKeys: string[];
  /** Objects known to be on the remote already. */
  presentObjects: number;
  /** Nothing is known beyond the manifest (not on the remote and not in the local cache). */
  manifestUnavailable?: boolean;
}

export interface PushPlan {
  outputs: OutputPlan[];
  /** The outputs' own missing objects (manifests, single files) by key. */
  objects: Map<string, PlannedObject>;
  /** The missing files of directories that are not also an output's own object. */
  files: PlannedFiles;
  skipped: number;
  query: { strategy: string; requests: number };
}

/** Bytes of a planned object in the local cache (0 when it is not there or not planned). */
export function plannedSize(plan: PushPlan, key: string): number {
  const top = plan.objects.get(key);
  if (top !== undefined) return top.size;
  const i = plan.files.index.get(key);
  return i === undefined ? 0 : Math.max(0, plan.files.sizes[i]!);
}

/** How much a plan would send: objects, of which files (not manifests), and bytes. */
export function plannedTotals(plan: PushPlan): { objects: number; files: number; bytes: number } {
  let files = plan.files.keys.length;
  let bytes = 0;
  for (const size of plan.files.sizes) bytes += Math.max(0, size);
  for (const obj of plan.objects.values()) {
    bytes += obj.size;
    if (!obj.members) files++;
  }
  return { objects: plan.objects.size + plan.files.keys.length, files, bytes };
}

/** How often the planning loops over a million objects let a Ctrl-C in. */
const YIELD_EVERY = 4096;

/**
 * Works out which objects the remote lacks: first the outputs' own oids (a `.dir` on the remote
 * proves its whole directory is there: one check per unchanged dataset), then the members of the
 * directories that are missing, with one batched query (listing or per-object checks, whichever
 * is cheaper). Each member key is one string shared by every list that names it.
 */
export async function planPush(repo: Repo, ctx: Context, outputs: readonly TrackedOutput[], remote: OpenedRemote, retry: RetryPolicy = remote.retry): Promise<PushPlan> {
  const store = remote.store;
  const phase = 'remote-query';
  let requests = 0;
  let strategy = 'none';
  ctx.progress({ type: 'start', phase, label: `asking ${remote.name} what it has` });
  const onRequest = () => {
    requests++;
    ctx.progress({ type: 'advance', phase, done: 1 });
  };
  try {
    const tops = outputs.filter((o) => o.out.md5 !== undefined);
    const topMissing = await store.missingKeys(tops.map((o) => objectKey(o.out.md5!, o.legacy)), { jobs: remote.jobs, signal: ctx.signal, onRequest, retry });
    strategy = store.lastQuery.strategy;
    const plans: OutputPlan[] = [];
    const objects = new Map<string, PlannedObject>();
    let skipped = 0;
    // Every distinct member key once, across directories; each directory's members as indices into it.
    const memberKeys: string[] = [];
    const memberIndex = new Map<string, number>();
    const seenBy: number[] = [];
    const dirMembers: Array<{ plan: OutputPlan; manifest: PlannedObject; members: number[] }> = [];
    for (const o of tops) {
      const ref = { oid: o.out.md5!, legacy: o.legacy };
      const key = refKey(ref);
      const plan: OutputPlan = { output: o, missingKeys: [], presentObjects: 0 };
      plans.push(plan);
      if (!topMissing.has(key)) {
        plan.presentObjects = 1 + (o.isDir ? (o.out.nfiles ?? 0) : 0);
        skipped += plan.presentObjects;
        continue;
      }
      plan.missingKeys.push(key);
      if (!o.isDir) {
        objects.set(key, { ref, key, size: 0 });
        continue;
      }
      const manifestPath = repo.cache.locate(ref.oid, ref.legacy);
      if (manifestPath === undefined) {
        plan.manifestUnavailable = true;
        objects.set(key, { ref, key, size: 0, members: [] });
        continue;
      }
      const bytes = readCacheFile(manifestPath, MAX_MANIFEST_BYTES);
      const manifest: PlannedObject = { ref, key, size: bytes.length, localPath: manifestPath, members: [] };
      objects.set(key, manifest);
      dirMembers.push({ plan, manifest, members: distinctMembers(manifestMd5s(bytes, manifestPath), o.legacy, dirMembers.length, memberKeys, memberIndex, seenBy) });
    }
    // Members of missing directories, asked in one batch.
    const memberMissing = memberKeys.length > 0 ? await store.missingKeys(memberKeys, { jobs: remote.jobs, signal: ctx.signal, onRequest, retry }) : new Set<string>();
    if (memberKeys.length > 0 && store.lastQuery.strategy === 'list') strategy = 'list';
    else if (memberKeys.length > 0 && strategy === 'none') strategy = store.lastQuery.strategy;
    for (const { plan, manifest, members } of dirMembers) {
      for (const i of members) {
        const key = memberKeys[i]!;
        if (!memberMissing.has(key)) {
          plan.presentObjects++;
          skipped++;
          continue;
        }
        plan.missingKeys.push(key);
        manifest.members!.push(key);
      }
    }
    memberIndex.clear();
    const files = await locateFiles(repo, ctx, memberKeys.filter((k) => memberMissing.has(k) && !objects.has(k)));
    // Where the outputs' own objects are in the local cache.
    for (const obj of objects.values()) {
      if (obj.localPath === undefined && !obj.members) obj.localPath = repo.cache.locate(obj.ref.oid, obj.ref.legacy);
      if (obj.localPath !== undefined) obj.size = (await stat(obj.localPath)).size;
    }
    for (const obj of objects.values()) {
      if (!obj.members) continue;
      let unavailable = 0;
      for (const k of obj.members) {
        const i = files.index.get(k);
        if (i === undefined ? objects.get(k)?.localPath === undefined : files.sizes[i]! < 0) unavailable++;
      }
      obj.unavailableMembers = unavailable;
    }
    return { outputs: plans, objects, files, skipped, query: { strategy, requests } };
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

/**
 * The manifest's distinct member objects as indices into `keys` (one string per key, added there
 * when new); `seenBy[i]` is the ordinal of the last directory that listed keys[i].
 */
function distinctMembers(md5s: readonly string[], legacy: boolean, dir: number, keys: string[], index: Map<string, number>, seenBy: number[]): number[] {
  const members: number[] = [];
  for (const md5 of md5s) {
    const key = objectKey(md5, legacy);
    let i = index.get(key);
    if (i === undefined) {
      i = keys.length;
      const own = ownString(key);
      index.set(own, i);
      keys.push(own);
      seenBy.push(dir);
      members.push(i);
    } else if (seenBy[i] !== dir) {
      seenBy[i] = dir;
      members.push(i);
    }
  }
  return members;
}

/**
 * A flat copy of an ASCII string: the md5s are slices of the whole manifest text and the keys
 * concatenations of them, which would keep that text (tens of MB at a million files) alive for
 * as long as any key is.
 */
function ownString(ascii: string): string {
  return Buffer.from(ascii, 'latin1').toString('latin1');
}

/** Sizes of the file objects in the local cache (one stat each), column-wise. */
async function locateFiles(repo: Repo, ctx: Context, keys: string[]): Promise<PlannedFiles> {
  const sizes = new Float64Array(keys.length);
  const modernCopy = new Uint8Array(keys.length);
  const index = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) {
      await yieldToEventLoop();
      ctx.signal?.throwIfAborted();
    }
    const key = keys[i]!;
    index.set(key, i);
    const ref = refOfKey(key);
    let st = statSync(repo.cache.objectPath(ref.oid, ref.legacy), { throwIfNoEntry: false });
    if (st === undefined && ref.legacy) {
      st = statSync(repo.cache.objectPath(ref.oid, false), { throwIfNoEntry: false });
      if (st !== undefined) modernCopy[i] = 1;
    }
    sizes[i] = st === undefined ? -1 : st.size;
  }
  return { keys, sizes, modernCopy, index };
}

/**
 * Uploads the objects of the named outputs that the remote lacks: file objects in parallel,
 * then each directory manifest once every one of its files is confirmed on the remote.
 * Returns the counts; throws a `transfer` error (exit 4) listing what failed, or an
 * `integrity` error (exit 6) if the remote stored bytes different from what was sent.
 */
export async function push(ctx: Context, options: PushOptions): Promise<PushResult> {
  const repo = openRepo(ctx);
  const outputs = await resolveOutputs(repo, ctx, options.targets, 'upload');
  const groups = groupByRemote(repo, outputs, options.remote);
  const result: PushResult = { dryRun: Boolean(options.dryRun), remotes: [], pushed: 0, skipped: 0, failed: 0, bytes: 0, outputs: [], failures: [], corrupt: [], query: { strategy: 'none', requests: 0 } };
  let secrets: string[] = [];
  for (const o of outputs) {
    if (o.out.md5 === undefined) result.outputs.push(outputRow(o, '', 'not-committed'));
    else if (o.out.push === false) result.outputs.push(outputRow(o, '', 'skipped'));
  }
  for (const [remoteName, group] of groups) {
    const remote = openRemote(repo, ctx, { remote: remoteName, jobs: options.jobs, retry: options.retry, wrapBackend: options.wrapBackend, write: true });
    secrets = [...secrets, ...remote.secrets];
    result.remotes.push(remote.name);
    try {
      const fatal = await pushGroup(repo, ctx, group, remote, options, result);
      // Credentials refused, no bucket, remote given up ...: one error says it all.
      if (fatal) throw withDetails(fatal, result);
    } finally {
      remote.close();
    }
  }
  if (result.failures.length > 0) throw pushError(result, secrets);
  return result;
}

/** Pushes one remote's outputs into `result`; returns the error that stopped the transfer early, if any. */
async function pushGroup(repo: Repo, ctx: Context, outputs: TrackedOutput[], remote: OpenedRemote, options: PushOptions, result: PushResult): Promise<RegError | undefined> {
  const plan = await planPush(repo, ctx, outputs, remote);
  result.skipped += plan.skipped;
  result.query = { strategy: plan.query.strategy === 'none' ? result.query.strategy : plan.query.strategy, requests: result.query.requests + plan.query.requests };
  const upload = await uploadPlan(repo, ctx, plan, remote, {
    phase: 'push',
    label: `pushing to ${remote.name}`,
    dryRun: options.dryRun,
    uploadError: (err, ref) =>
      // The bytes read from the cache do not hash to their name: nothing reached the remote.
      isRegError(err) && err.code === 'store.content-mismatch' ? quarantineCorrupt(repo, ref, (err.details as { actual: string }).actual, CORRUPT_CODE) : err,
  });
  const failures = upload.failures;
  for (const f of failures) f.error = redact(f.error, remote.secrets);
  const corruptKeys = new Set(failures.filter((f) => f.code === CORRUPT_CODE).map((f) => f.key));
  if (corruptKeys.size > 0) {
    const users = usersOf(repo, outputs, corruptKeys);
    for (const f of failures.filter((x) => corruptKeys.has(x.key))) {
      const usedBy = users.get(f.key) ?? [];
      f.error += `; used by ${usedBy.map((u) => `${u.path} (${u.pointer})`).join(', ') || 'no output'}`;
      result.corrupt.push({ key: f.key, usedBy });
    }
  }
  result.failures.push(...failures);
  result.failed += failures.length;
  result.pushed += upload.sent.objects;
  result.bytes += upload.sent.bytes;
  for (const p of plan.outputs) {
    const row = outputRow(p.output, remote.name, 'up-to-date');
    for (const key of p.missingKeys) {
      const state = upload.stateOf(key);
      if (state === FAILED) row.failedObjects++;
      else if (state === SENT) {
        row.objects++;
        row.bytes += plannedSize(plan, key);
      }
    }
    row.state = row.failedObjects > 0 ? 'failed' : row.objects > 0 ? 'pushed' : 'up-to-date';
    result.outputs.push(row);
  }
  return upload.fatal;
}

/** Not sent (the transfer stopped first), sent (with dryRun: would be), failed. */
const UNSENT = 0;
const SENT = 1;
const FAILED = 2;

export interface PlanUploadOptions {
  phase: string;
  label: string;
  /** Work out what would be sent, send nothing. */
  dryRun?: boolean;
  /** Leave out objects that are not in the local cache (and manifests missing files) without reporting them. */
  skipUnavailable?: boolean;
  /** Turns an upload's error into what is reported (e.g. a corrupt cache object, quarantined). */
  uploadError?: (err: unknown, ref: ObjRef) => unknown;
}

export interface PlanUpload {
  failures: TransferFailure[];
  /** Objects and bytes sent (with dryRun: that would be). */
  sent: { objects: number; bytes: number };
  /** SENT, FAILED or UNSENT for a planned key. */
  stateOf(key: string): number;
  /** The error that stopped the transfer early (credentials refused, remote given up ...). */
  fatal?: RegError;
}

/**
 * Uploads what a plan says is missing: the outputs' single files and the directories' files in
 * batches (tasks are made a batch at a time from the plan's columns), then each manifest whose
 * files all made it. Objects missing from the local cache, and manifests that lack files, are
 * failures (or left out with skipUnavailable).
 */
export async function uploadPlan(repo: Repo, ctx: Context, plan: PushPlan, remote: OpenedRemote, options: PlanUploadOptions): Promise<PlanUpload> {
  const { files, objects } = plan;
  const failures: TransferFailure[] = [];
  const fileState = new Uint8Array(files.keys.length);
  const topState = new Map<string, number>();
  const stateOf = (key: string): number => {
    const i = files.index.get(key);
    return i === undefined ? (topState.get(key) ?? UNSENT) : fileState[i]!;
  };
  const setState = (key: string, state: number) => {
    const i = files.index.get(key);
    if (i === undefined) topState.set(key, state);
    else fileState[i] = state;
  };
  const fail = (failure: TransferFailure) => {
    setState(failure.key, FAILED);
    failures.push(failure);
  };
  const unavailable = (key: string, error: string, code: string) => {
    if (options.skipUnavailable) setState(key, FAILED);
    else fail({ key, error, code, integrity: false });
  };
  const task = (ref: ObjRef, key: string, localPath: string, size: number): TransferTask => ({
    key,
    size,
    run: async (onBytes, signal) => {
      try {
        await remote.store.upload(ref, localPath, size, onBytes, signal);
      } catch (err) {
        throw options.uploadError ? options.uploadError(err, ref) : err;
      }
    },
  });
  const manifests = [...objects.values()].filter((o) => o.members);
  let total = 0;
  let totalBytes = 0;
  for (const size of files.sizes) {
    if (size >= 0) {
      total++;
      totalBytes += size;
    }
  }
  for (const obj of objects.values()) {
    if (obj.localPath !== undefined && !(obj.members && obj.unavailableMembers! > 0)) {
      total++;
      totalBytes += obj.size;
    }
  }
  function* batches(): Generator<TransferTask[]> {
    let batch: TransferTask[] = [];
    for (const obj of objects.values()) {
      if (obj.members) continue;
      if (obj.localPath === undefined) unavailable(obj.key, 'the object is not in the local cache', 'cache.missing-object');
      else batch.push(task(obj.ref, obj.key, obj.localPath, obj.size));
    }
    for (let i = 0; i < files.keys.length; i++) {
      const key = files.keys[i]!;
      const size = files.sizes[i]!;
      if (size < 0) {
        unavailable(key, 'the object is not in the local cache', 'cache.missing-object');
        continue;
      }
      const ref = refOfKey(key);
      batch.push(task(ref, key, repo.cache.objectPath(ref.oid, ref.legacy && files.modernCopy[i] === 0), size));
      if (batch.length >= UPLOAD_BATCH) {
        yield batch;
        batch = [];
      }
    }
    yield batch;
    // Manifests last, each sent only once all of its files were (dvc-compat.md §5.2): the
    // transfer queue runs a task whose `requires` were all sent, by its batch or before (sentBefore).
    batch = [];
    for (const obj of manifests) {
      if (obj.localPath === undefined) unavailable(obj.key, 'the directory manifest is not in the local cache', 'cache.missing-object');
      else if (obj.unavailableMembers! > 0) {
        unavailable(obj.key, `not uploaded: ${obj.unavailableMembers} of its files are neither on the remote nor in the local cache`, 'transfer.dependency-failed');
      } else batch.push({ ...task(obj.ref, obj.key, obj.localPath, obj.size), requires: obj.members! });
    }
    yield batch;
  }
  const sent = { objects: 0, bytes: 0 };
  const record = (outcome: Pick<TransferOutcome, 'done' | 'failed'>) => {
    for (const key of outcome.done) {
      setState(key, SENT);
      sent.objects++;
      sent.bytes += plannedSize(plan, key);
    }
    for (const f of outcome.failed) fail(f);
  };
  let fatal: RegError | undefined;
  if (options.dryRun) {
    // Every file would be sent (or makes its manifest unavailable above): so would every manifest.
    for (const batch of batches()) record({ done: batch.map((t) => t.key), failed: [] });
  } else if (total > 0) {
    const sentBefore = (key: string) => stateOf(key) === SENT;
    fatal = await runTransferBatchesWithProgress(ctx, batches(), remote, { phase: options.phase, label: options.label, total, totalBytes, sentBefore }, record);
  } else {
    // Nothing can be sent: still report what is unavailable.
    for (const _ of batches());
  }
  return { failures, sent, stateOf, ...(fatal ? { fatal } : {}) };
}

/** Upload tasks made at a time: enough to keep every job busy, few enough to cost little memory. */
const UPLOAD_BATCH = 4096;

function outputRow(o: TrackedOutput, remote: string, state: PushState): PushedOutput {
  return { path: o.dataRel, pointer: o.pointerRel, remote, ...(o.out.md5 ? { oid: o.out.md5 } : {}), state, objects: 0, bytes: 0, failedObjects: 0 };
}

/** Outputs with something to push, by remote: `-r` wins, then the output's `remote:`, then core.remote. */
export function groupByRemote(repo: Repo, outputs: readonly TrackedOutput[], remote: string | undefined): Map<string, TrackedOutput[]> {
  const groups = new Map<string, TrackedOutput[]>();
  for (const o of outputs) {
    if (o.out.md5 === undefined || o.out.push === false) continue;
    const name = resolveRemoteName(repo, remote ?? o.out.remote);
    const list = groups.get(name) ?? [];
    list.push(o);
    groups.set(name, list);
  }
  return groups;
}

const CORRUPT_CODE = 'push.corrupt-cache-object';

export const MAX_LISTED_FAILURES = 20;

export function failureLines(failures: readonly TransferFailure[]): string {
  const shown = failures.slice(0, MAX_LISTED_FAILURES).map((f) => `  ${f.key}: ${f.error}`);
  if (failures.length > MAX_LISTED_FAILURES) shown.push(`  ... and ${failures.length - MAX_LISTED_FAILURES} more (see --json)`);
  return shown.join('\n');
}


function pushError(result: PushResult, secrets: readonly string[]): RegError {
  if (result.corrupt.length > 0) return corruptCacheError(result, secrets);
  const integrity = result.failures.some((f) => f.integrity);
  const head = `push incomplete: ${result.failed} object${result.failed === 1 ? '' : 's'} failed, ${result.pushed} pushed, ${result.skipped} already on the remote`;
  const message = redact(`${head}\n${failureLines(result.failures)}`, secrets);
  return new RegError(integrity ? 'push.integrity' : 'push.incomplete', integrity ? 'integrity' : 'transfer', message, {
    hint: result.failures.some((f) => f.code === 's3.etag-mismatch')
      ? `the server stored different bytes than were sent; S3-compatible servers often mishandle AWS checksum trailers: reg remote modify ${result.remotes[0] ?? 'NAME'} checksums when_required (see docs/remotes.md), then re-run reg push`
      : integrity
      ? 'the remote stored different bytes than were sent; re-run reg push (objects are overwritten), and see docs/remotes.md'
      : (result.failures.find((f) => f.hint !== undefined)?.hint ?? 're-run `reg push`: it only uploads what is still missing') + ' (no directory manifest was uploaded for an incomplete directory)',
    details: result,
  });
}

/** Push found cache objects whose bytes do not match their name: exit 6, naming them, their users and the fix. */
function corruptCacheError(result: PushResult, secrets: readonly string[]): RegError {
  const n = result.corrupt.length;
  const corrupt = result.failures.filter((f) => f.code === CORRUPT_CODE);
  const others = result.failures.filter((f) => f.code !== CORRUPT_CODE);
  const lines = [
    `push refused ${n} corrupt object${n === 1 ? '' : 's'} in the local cache (bytes that do not match their hash); nothing corrupt was uploaded`,
    failureLines(corrupt),
    `the rest: ${result.pushed} pushed, ${result.skipped} already on the remote, ${others.length} not uploaded${others.length > 0 ? ':' : ''}`,
    ...(others.length > 0 ? [failureLines(others)] : []),
  ];
  const outputs = [...new Set(result.corrupt.flatMap((c) => c.usedBy.map((u) => u.output)))];
  const shown = outputs.slice(0, 3).join(' ') + (outputs.length > 3 ? ' ...' : '');
  return new RegError(CORRUPT_CODE, 'integrity', redact(lines.join('\n'), secrets), {
    hint: `put good bytes back into the cache, then push again: if the workspace copy is intact, \`reg add ${shown || 'PATH'}\` stores it again; else fetch them from a remote that has them (\`reg fetch -r REMOTE ${shown}\`, or \`reg verify --repair -r REMOTE\`). The corrupt copies are kept in the cache's quarantine/ directory.`,
    details: result,
  });
}

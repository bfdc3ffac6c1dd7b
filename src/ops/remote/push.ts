import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Context } from '../../context.js';
import { parseManifest } from '../../data/manifest.js';
import { RegError, isRegError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { openRepo, type Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { type RetryPolicy, type TransferFailure, type TransferTask } from '../../store/transfer.js';
import { resolveOutputs, type TrackedOutput } from '../data/outputs.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from './open-remote.js';
import { quarantineCorrupt, usersOf, type ObjectUse } from './output-objects.js';
import { redact } from './remote-config.js';
import { runTransfersWithProgress, withDetails } from './transfer-progress.js';

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

/** An object the push needs on the remote and where its bytes are locally. */
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
  /** Every missing object by key. */
  objects: Map<string, PlannedObject>;
  skipped: number;
  query: { strategy: string; requests: number };
}

/**
 * Works out which objects the remote lacks: first the outputs' own oids (a `.dir` on the remote
 * proves its whole directory is there: one check per unchanged dataset), then the members of the
 * directories that are missing, with one batched query (listing or per-object checks, whichever
 * is cheaper).
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
    const topRefs = tops.map((o) => ({ oid: o.out.md5!, legacy: o.legacy }));
    const topMissing = await store.missing(topRefs, { jobs: remote.jobs, signal: ctx.signal, onRequest, retry });
    strategy = store.lastQuery.strategy;
    const plans: OutputPlan[] = [];
    const objects = new Map<string, PlannedObject>();
    let skipped = 0;
    const memberRefs = new Map<string, ObjRef>();
    const dirMembers = new Map<string, { plan: OutputPlan; members: ObjRef[] }>();
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
      const bytes = readFileSync(manifestPath);
      const members = [...new Map(parseManifest(bytes, manifestPath).map((e) => [e.md5, { oid: e.md5, legacy: o.legacy }])).values()];
      objects.set(key, { ref, key, size: bytes.length, localPath: manifestPath, members: members.map(refKey) });
      for (const m of members) memberRefs.set(refKey(m), m);
      dirMembers.set(key, { plan, members });
    }
    // Members of missing directories and missing single files, asked in one batch.
    const memberMissing = memberRefs.size > 0 ? await store.missing([...memberRefs.values()], { jobs: remote.jobs, signal: ctx.signal, onRequest, retry }) : new Set<string>();
    if (memberRefs.size > 0 && store.lastQuery.strategy === 'list') strategy = 'list';
    else if (memberRefs.size > 0 && strategy === 'none') strategy = store.lastQuery.strategy;
    for (const [dirKey, { plan, members }] of dirMembers) {
      const manifest = objects.get(dirKey)!;
      manifest.members = [];
      for (const m of members) {
        const key = refKey(m);
        if (!memberMissing.has(key)) {
          plan.presentObjects++;
          skipped++;
          continue;
        }
        plan.missingKeys.push(key);
        manifest.members.push(key);
        if (!objects.has(key)) objects.set(key, { ref: m, key, size: 0 });
      }
    }
    // Where each missing object's bytes are in the local cache.
    await mapLimit([...objects.values()], 32, async (obj) => {
      if (obj.localPath === undefined) obj.localPath = repo.cache.locate(obj.ref.oid, obj.ref.legacy);
      if (obj.localPath !== undefined) obj.size = (await stat(obj.localPath)).size;
    });
    for (const obj of objects.values()) {
      if (obj.members) obj.unavailableMembers = obj.members.filter((k) => objects.get(k)?.localPath === undefined).length;
    }
    return { outputs: plans, objects, skipped, query: { strategy, requests } };
  } finally {
    ctx.progress({ type: 'end', phase });
  }
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
  const failures: TransferFailure[] = [];
  const tasks: TransferTask[] = [];
  for (const obj of plan.objects.values()) {
    if (obj.localPath === undefined) {
      failures.push({
        key: obj.key,
        error: obj.members ? 'the directory manifest is not in the local cache' : 'the object is not in the local cache',
        code: 'cache.missing-object',
        integrity: false,
      });
      continue;
    }
    if (obj.members && obj.unavailableMembers! > 0) {
      failures.push({
        key: obj.key,
        error: `not uploaded: ${obj.unavailableMembers} of its files are neither on the remote nor in the local cache`,
        code: 'transfer.dependency-failed',
        integrity: false,
      });
      continue;
    }
    const localPath = obj.localPath;
    tasks.push({
      key: obj.key,
      size: obj.size,
      requires: obj.members,
      run: async (onBytes, signal) => {
        try {
          await remote.store.upload(obj.ref, localPath, obj.size, onBytes, signal);
        } catch (err) {
          // The bytes read from the cache do not hash to their name: nothing reached the remote.
          if (isRegError(err) && err.code === 'store.content-mismatch') {
            throw quarantineCorrupt(repo, obj.ref, (err.details as { actual: string }).actual, 'push.corrupt-cache-object');
          }
          throw err;
        }
      },
    });
  }
  const totalBytes = tasks.reduce((s, t) => s + t.size, 0);
  let outcomeDone = new Set<string>(tasks.map((t) => t.key));
  let fatal: RegError | undefined;
  if (!options.dryRun && tasks.length > 0) {
    const outcome = await runTransfersWithProgress(ctx, tasks, remote, { phase: 'push', label: `pushing to ${remote.name}`, totalBytes });
    failures.push(...outcome.failed);
    outcomeDone = new Set(outcome.done);
    fatal = outcome.fatal;
  }
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
  const failedKeys = new Set(failures.map((f) => f.key));
  result.failures.push(...failures);
  result.failed += failures.length;
  for (const key of outcomeDone) {
    if (failedKeys.has(key)) continue;
    result.pushed++;
    result.bytes += plan.objects.get(key)?.size ?? 0;
  }
  for (const p of plan.outputs) {
    const row = outputRow(p.output, remote.name, 'up-to-date');
    for (const key of p.missingKeys) {
      if (failedKeys.has(key)) row.failedObjects++;
      else if (outcomeDone.has(key)) {
        row.objects++;
        row.bytes += plan.objects.get(key)?.size ?? 0;
      }
    }
    row.state = row.failedObjects > 0 ? 'failed' : row.objects > 0 ? 'pushed' : 'up-to-date';
    result.outputs.push(row);
  }
  return fatal;
}

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

export const MAX_LISTED_FAILURES = 20;

export function failureLines(failures: readonly TransferFailure[]): string {
  const shown = failures.slice(0, MAX_LISTED_FAILURES).map((f) => `  ${f.key}: ${f.error}`);
  if (failures.length > MAX_LISTED_FAILURES) shown.push(`  ... and ${failures.length - MAX_LISTED_FAILURES} more (see --json)`);
  return shown.join('\n');
}

const CORRUPT_CODE = 'push.corrupt-cache-object';

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

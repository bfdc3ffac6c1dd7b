import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHUNK_SIZE } from '../data/hash.js';
import { RegError } from '../errors.js';
import { packagePath } from '../package-info.js';
import { packRestores, runAnyHashTask, unpackRestoreOutcomes, type HashOutcome, type HashTask, type PackedRestoreOutcomes, type RestoreSpec } from './hash-task.js';
import { walkedPath } from './walk.js';

export interface HashProgress {
  (files: number, bytes: number): void;
}

const BATCH_FILES = 256;
const BATCH_BYTES = 64 * CHUNK_SIZE;
/** Below this much work, spawning workers costs more than it saves. */
const INLINE_MAX_FILES = 64;
const INLINE_MAX_BYTES = 16 * CHUNK_SIZE;

/**
 * A file to hash: its absolute path, or its path below `shared.root`. `legacy` and `cacheRoot`
 * default to hashMany's `shared` options, so a caller with 100k files can pass its own file
 * records (a walk's, which keep no absolute path) instead of building a task object per file.
 */
export type SizedTask = AbsoluteTask | (TaskFields & { relpath: string });

interface TaskFields {
  size: number;
  legacy?: boolean;
  cacheRoot?: string;
  /** A cache object to copy into the work tree (runRestoreTask) instead of a file to hash. */
  restore?: RestoreSpec;
}

export interface AbsoluteTask extends TaskFields {
  abs: string;
}

export interface SharedTaskOptions {
  legacy: boolean;
  cacheRoot?: string;
  /** The directory that tasks given by `relpath` are below (see walkedPath). */
  root?: string;
}

/** After an abort, how long workers get to stop at their next chunk and remove their temp files. */
const STOP_GRACE_MS = 400;

export interface HashManyOptions {
  onProgress?: HashProgress;
  /** Worker threads (default: every core). */
  jobs?: number;
  signal?: AbortSignal;
  shared?: SharedTaskOptions;
  /** After an abort, how long workers get to stop and clean up before they are terminated (default STOP_GRACE_MS). */
  stopGraceMs?: number;
  /**
   * Batches sent to each worker ahead (default 1). With 2 a worker has its next batch queued when it
   * finishes one, instead of waiting for the main thread to be scheduled (on a busy machine a
   * wait per batch); an error then stops the run up to two batches per worker later.
   */
  batchesInFlight?: number;
}

function taskPath(t: SizedTask, root: string | undefined): string {
  if ('abs' in t) return t.abs;
  if (root === undefined) throw new Error(`hash task ${JSON.stringify(t.relpath)} is given by relpath without shared.root`);
  return walkedPath(root, t.relpath);
}

/** hashEach, with the results in task order. */
export async function hashMany(tasks: readonly SizedTask[], options: HashManyOptions = {}): Promise<HashOutcome[]> {
  const results: HashOutcome[] = new Array(tasks.length);
  await hashEach(tasks, (r, i) => (results[i] = r), options);
  return results;
}

/**
 * Hashes files on all cores: batches of small files (or single big files) go to worker threads
 * that use synchronous I/O with one reused buffer. Each result is handed to `onResult` with its
 * task's index as its batch completes (batches may complete out of order), so no array of a
 * million results need be held; an error thrown by `onResult` stops the run and is rethrown.
 * An abort (`signal`) stops every task at its next chunk (temp files removed), then rejects with
 * the signal's reason.
 */
export async function hashEach(
  tasks: readonly SizedTask[],
  onResult: (result: HashOutcome, index: number) => void,
  options: HashManyOptions = {},
): Promise<void> {
  await hashEachOf({ count: tasks.length, totalBytes: tasks.reduce((s, t) => s + t.size, 0), at: (i) => tasks[i]! }, onResult, options);
}

/**
 * Tasks made one at a time as hashEachOf cuts its batches: `at(i)` is called once per index, in
 * order, and the task is dropped once its batch is sent. So a caller with a million files need
 * not build a million task objects (and their paths) first: at that count, task lists that lived
 * for the whole run outlasted V8's young generation and piled up in the old one as garbage, most
 * of a copy-mode checkout's peak memory.
 */
export interface TaskSource {
  count: number;
  /** The sum of the tasks' sizes (it decides how many workers to start, before any task is made). */
  totalBytes: number;
  at(index: number): SizedTask;
}

/**
 * hashEach over a TaskSource. An error thrown by `at` stops the run as one thrown by `onResult`
 * does (batches in flight finish, none starts) and is rethrown.
 */
export async function hashEachOf(
  tasks: TaskSource,
  onResult: (result: HashOutcome, index: number, task: HashTask) => void,
  { onProgress, jobs = availableParallelism(), signal, shared = { legacy: false }, stopGraceMs = STOP_GRACE_MS, batchesInFlight = 1 }: HashManyOptions = {},
): Promise<void> {
  const { count, totalBytes } = tasks;
  if (count === 0) return;
  signal?.throwIfAborted();
  const taskFrom = (t: SizedTask): HashTask => {
    const task: HashTask = { abs: taskPath(t, shared.root), legacy: t.legacy ?? shared.legacy, cacheRoot: t.cacheRoot ?? shared.cacheRoot, size: t.size };
    if (t.restore !== undefined) task.restore = t.restore;
    return task;
  };
  if (jobs <= 1 || (count <= INLINE_MAX_FILES && totalBytes <= INLINE_MAX_BYTES)) {
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    const stop = () => signal?.aborted === true;
    for (let i = 0; i < count; i++) {
      const task = taskFrom(tasks.at(i));
      const result = await runAnyHashTask(task, buffer, (n) => onProgress?.(0, n), stop);
      signal?.throwIfAborted();
      onResult(result, i, task);
      onProgress?.(1, 0);
    }
    return;
  }
  // Batches are cut as workers ask for them: only the batches in flight hold tasks. A task that
  // did not fit the last batch waits here for the next one (at() is called once per index).
  let nextTask = 0;
  let waiting: SizedTask | undefined;
  const nextBatch = (): { start: number; tasks: HashTask[] } | undefined => {
    if (nextTask >= count) return undefined;
    const start = nextTask;
    const batch: HashTask[] = [];
    let bytes = 0;
    while (nextTask < count && batch.length < BATCH_FILES) {
      const t = (waiting ??= tasks.at(nextTask));
      if (batch.length > 0 && bytes + t.size > BATCH_BYTES) break;
      bytes += t.size;
      batch.push(taskFrom(t));
      waiting = undefined;
      nextTask++;
    }
    return { start, tasks: batch };
  };
  const estimatedBatches = Math.max(Math.ceil(count / BATCH_FILES), Math.ceil(totalBytes / BATCH_BYTES));

  const workerCount = Math.min(jobs, estimatedBatches);
  // Small heaps: a worker holds one 1 MiB buffer and a batch of paths; V8's default young
  // generation per isolate would otherwise add tens of MB of RSS per worker.
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const workers = Array.from(
    { length: workerCount },
    () => new Worker(packagePath('dist/workspace/hash-worker.js'), { workerData: { stop: stopFlag }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } }),
  );
  let batchId = 0;
  let failure: { err: unknown } | undefined;
  let stopped: (() => void) | undefined;
  const stoppedInTime = new Promise<void>((resolve) => (stopped = resolve));
  const onAbort = () => {
    Atomics.store(stopFlag, 0, 1);
    setTimeout(() => stopped!(), stopGraceMs).unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const all = Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const inFlight = new Map<number, { start: number; tasks: HashTask[] }>();
            const dispatch = () => {
              let batch: ReturnType<typeof nextBatch>;
              try {
                batch = signal?.aborted || failure !== undefined ? undefined : nextBatch();
              } catch (err) {
                failure = { err };
              }
              if (batch === undefined) {
                if (inFlight.size === 0) resolve();
                return;
              }
              const id = batchId++;
              const restores = packRestores(batch.tasks);
              inFlight.set(id, batch);
              worker.postMessage(restores ? { id, restores } : { id, tasks: batch.tasks });
            };
            worker.on('message', (msg: { id: number; bytes: number; results?: HashOutcome[]; restored?: PackedRestoreOutcomes }) => {
              if (msg.bytes > 0) onProgress?.(0, msg.bytes);
              const active = inFlight.get(msg.id);
              if (active === undefined) return;
              if (msg.restored) msg.results = unpackRestoreOutcomes(msg.restored, (k) => active.tasks[k]!.restore!.expect);
              if (!msg.results) return;
              inFlight.delete(msg.id);
              // After a failure, batches in flight finish (their temp files handled by the worker) and no new ones start.
              if (failure === undefined) {
                try {
                  msg.results.forEach((r, k) => onResult(r, active.start + k, active.tasks[k]!));
                } catch (err) {
                  failure = { err };
                }
              }
              onProgress?.(active.tasks.length, 0);
              dispatch();
            });
            worker.on('error', (err) => reject(new RegError('hash.worker', 'failed', `hashing worker failed: ${err.message}`, { cause: err })));
            for (let k = 0; k < batchesInFlight; k++) dispatch();
          }),
      ),
    );
    // On abort, workers finish their current chunk, remove their temp files and report; a worker
    // stuck longer than the grace period is terminated below.
    await Promise.race([all, stoppedInTime.then(() => signal?.throwIfAborted())]);
    signal?.throwIfAborted();
    if (failure !== undefined) throw failure.err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHUNK_SIZE } from '../data/hash.js';
import { RegError } from '../errors.js';
import { packagePath } from '../package-info.js';
import { runAnyHashTask, type HashOutcome, type HashTask } from './hash-task.js';

export interface HashProgress {
  (files: number, bytes: number): void;
}

const BATCH_FILES = 256;
const BATCH_BYTES = 64 * CHUNK_SIZE;
/** Below this much work, spawning workers costs more than it saves. */
const INLINE_MAX_FILES = 64;
const INLINE_MAX_BYTES = 16 * CHUNK_SIZE;

export interface SizedTask extends HashTask {
  size: number;
}

/** After an abort, how long workers get to stop at their next chunk and remove their temp files. */
const STOP_GRACE_MS = 400;

/**
 * Hashes files on all cores: batches of small files (or single big files) go to worker threads
 * that use synchronous I/O with one reused buffer. Results come back in task order.
 * An abort (`signal`) stops every task at its next chunk (temp files removed), then rejects with
 * the signal's reason.
 */
export async function hashMany(tasks: readonly SizedTask[], onProgress?: HashProgress, jobs = availableParallelism(), signal?: AbortSignal): Promise<HashOutcome[]> {
  const totalBytes = tasks.reduce((s, t) => s + t.size, 0);
  if (tasks.length === 0) return [];
  signal?.throwIfAborted();
  if (jobs <= 1 || (tasks.length <= INLINE_MAX_FILES && totalBytes <= INLINE_MAX_BYTES)) {
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    const results: HashOutcome[] = [];
    const stop = () => signal?.aborted === true;
    for (const t of tasks) {
      results.push(await runAnyHashTask(t, buffer, (n) => onProgress?.(0, n), stop));
      signal?.throwIfAborted();
      onProgress?.(1, 0);
    }
    return results;
  }
  const batches: Array<{ start: number; tasks: HashTask[] }> = [];
  let current: { start: number; tasks: HashTask[] } = { start: 0, tasks: [] };
  let currentBytes = 0;
  tasks.forEach((t, i) => {
    if (current.tasks.length > 0 && (current.tasks.length >= BATCH_FILES || currentBytes + t.size > BATCH_BYTES)) {
      batches.push(current);
      current = { start: i, tasks: [] };
      currentBytes = 0;
    }
    current.tasks.push({ abs: t.abs, legacy: t.legacy, cacheRoot: t.cacheRoot, size: t.size });
    currentBytes += t.size;
  });
  batches.push(current);

  const results: HashOutcome[] = new Array(tasks.length);
  const workerCount = Math.min(jobs, batches.length);
  // Small heaps: a worker holds one 1 MiB buffer and a batch of paths; V8's default young
  // generation per isolate would otherwise add tens of MB of RSS per worker.
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const workers = Array.from(
    { length: workerCount },
    () => new Worker(packagePath('dist/workspace/hash-worker.js'), { workerData: { stop: stopFlag }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } }),
  );
  let nextBatch = 0;
  let stopped: (() => void) | undefined;
  const stoppedInTime = new Promise<void>((resolve) => (stopped = resolve));
  const onAbort = () => {
    Atomics.store(stopFlag, 0, 1);
    setTimeout(() => stopped!(), STOP_GRACE_MS).unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const all = Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let active: { id: number; start: number; count: number } | undefined;
            const dispatch = () => {
              if (nextBatch >= batches.length || signal?.aborted) {
                resolve();
                return;
              }
              const id = nextBatch++;
              const batch = batches[id]!;
              active = { id, start: batch.start, count: batch.tasks.length };
              worker.postMessage({ id, tasks: batch.tasks });
            };
            worker.on('message', (msg: { id: number; bytes: number; results?: HashOutcome[] }) => {
              if (msg.bytes > 0) onProgress?.(0, msg.bytes);
              if (!msg.results || !active) return;
              msg.results.forEach((r, k) => (results[active!.start + k] = r));
              onProgress?.(active.count, 0);
              dispatch();
            });
            worker.on('error', (err) => reject(new RegError('hash.worker', 'failed', `hashing worker failed: ${err.message}`, { cause: err })));
            dispatch();
          }),
      ),
    );
    // On abort, workers finish their current chunk, remove their temp files and report; a worker
    // stuck longer than the grace period is terminated below.
    await Promise.race([all, stoppedInTime.then(() => signal?.throwIfAborted())]);
    signal?.throwIfAborted();
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

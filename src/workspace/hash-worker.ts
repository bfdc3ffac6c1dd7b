import { parentPort, workerData } from 'node:worker_threads';
import { CHUNK_SIZE } from '../data/hash.js';
import { packRestoreOutcomes, runAnyHashTask, unpackRestores, type HashOutcome, type HashTask, type PackedRestores } from './hash-task.js';

const PROGRESS_EVERY = 32 * CHUNK_SIZE;
const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
/** Set to 1 by the main thread on Ctrl-C: the task in progress stops at its next chunk and removes its temp file. */
const stopFlag = (workerData as { stop?: Int32Array } | undefined)?.stop;
const stop = () => stopFlag !== undefined && Atomics.load(stopFlag, 0) === 1;

parentPort!.on('message', async (msg: { id: number; tasks?: HashTask[]; restores?: PackedRestores }) => {
  const tasks = msg.tasks ?? unpackRestores(msg.restores!);
  let pending = 0;
  const onBytes = (n: number) => {
    pending += n;
    if (pending >= PROGRESS_EVERY) {
      parentPort!.postMessage({ id: msg.id, bytes: pending });
      pending = 0;
    }
  };
  const results: HashOutcome[] = [];
  for (const task of tasks) results.push(stop() ? { error: 'interrupted', code: 'ABORT_ERR' } : await runAnyHashTask(task, buffer, onBytes, stop));
  if (msg.restores === undefined) parentPort!.postMessage({ id: msg.id, bytes: pending, results });
  else {
    const restored = packRestoreOutcomes(results);
    parentPort!.postMessage({ id: msg.id, bytes: pending, restored }, [restored.written.buffer as ArrayBuffer]);
  }
});

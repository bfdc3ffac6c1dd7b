import { parentPort, workerData } from 'node:worker_threads';
import { CHUNK_SIZE } from '../data/hash.js';
import { runAnyHashTask, type HashOutcome, type HashTask } from './hash-task.js';

const PROGRESS_EVERY = 32 * CHUNK_SIZE;
const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
/** Set to 1 by the main thread on Ctrl-C: the task in progress stops at its next chunk and removes its temp file. */
const stopFlag = (workerData as { stop?: Int32Array } | undefined)?.stop;
const stop = () => stopFlag !== undefined && Atomics.load(stopFlag, 0) === 1;

parentPort!.on('message', async (msg: { id: number; tasks: HashTask[] }) => {
  let pending = 0;
  const onBytes = (n: number) => {
    pending += n;
    if (pending >= PROGRESS_EVERY) {
      parentPort!.postMessage({ id: msg.id, bytes: pending });
      pending = 0;
    }
  };
  const results: HashOutcome[] = [];
  for (const task of msg.tasks) results.push(stop() ? { error: 'interrupted', code: 'ABORT_ERR' } : await runAnyHashTask(task, buffer, onBytes, stop));
  parentPort!.postMessage({ id: msg.id, bytes: pending, results });
});

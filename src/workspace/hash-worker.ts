import { parentPort } from 'node:worker_threads';
import { CHUNK_SIZE } from '../data/hash.js';
import { runAnyHashTask, type HashOutcome, type HashTask } from './hash-task.js';

const PROGRESS_EVERY = 32 * CHUNK_SIZE;
const buffer = Buffer.allocUnsafe(CHUNK_SIZE);

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
  for (const task of msg.tasks) results.push(await runAnyHashTask(task, buffer, onBytes));
  parentPort!.postMessage({ id: msg.id, bytes: pending, results });
});

import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The worker half of FollowingHasher (follow-hash.ts): md5s a file that the main thread is still
 * writing, in order, never past the length the main thread says is written (`{ upTo }`); on
 * `{ end }` it hashes the rest and answers `{ md5, size }` (or `{ error }`).
 */
const { path } = workerData as { path: string };
const READ_SIZE = 1 << 20;
const buffer = Buffer.allocUnsafe(READ_SIZE);
const hash = createHash('md5');
let fd = -1;
let hashed = 0;

function hashTo(limit: number): void {
  if (fd === -1) fd = openSync(path, 'r');
  while (hashed < limit) {
    const n = readSync(fd, buffer, 0, Math.min(READ_SIZE, limit - hashed), hashed);
    if (n === 0) throw new Error(`${path} ended at ${hashed} bytes, ${limit} were written`);
    const chunk = n === READ_SIZE ? buffer : buffer.subarray(0, n);
    hash.update(chunk);
    hashed += n;
  }
}

parentPort!.on('message', (msg: { upTo?: number; end?: number }) => {
  try {
    if (msg.upTo !== undefined) return hashTo(msg.upTo);
    hashTo(msg.end!);
    if (fd !== -1) closeSync(fd);
    fd = -1;
    parentPort!.postMessage({ md5: hash.digest('hex'), size: hashed });
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code });
  }
});

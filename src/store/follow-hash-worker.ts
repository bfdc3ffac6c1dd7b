import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The worker half of FollowingHasher (follow-hash.ts): md5s a file that the main thread is still
 * writing, in order, never past the length the main thread says is written (`{ upTo }`); on
 * `{ end }` it hashes the rest and answers `{ md5, size, copied }` (or `{ error }`).
 *
 * With `copyTo`, every chunk it has hashed is also written, from the same buffer, to that new
 * file (created exclusively): a copy holding exactly the bytes the digest covers. A failure to
 * write the copy (a full disk) only ends the copy: it is removed and `copied` is false. On
 * `{ dropCopy }` (the main thread's own write ran out of space) the copy is ended the same way,
 * after everything asked before it, and `{ dropped }` says whether there was one to end.
 */
const { path, copyTo } = workerData as { path: string; copyTo?: { path: string; mode: number } };
const READ_SIZE = 1 << 20;
const buffer = Buffer.allocUnsafe(READ_SIZE);
const hash = createHash('md5');
let fd = -1;
let hashed = 0;
let copyFd = -1;
let copying = copyTo !== undefined;

function writeCopy(bytes: Buffer, position: number): void {
  try {
    if (copyFd === -1) copyFd = openSync(copyTo!.path, 'wx', copyTo!.mode);
    let done = 0;
    while (done < bytes.length) done += writeSync(copyFd, bytes, done, bytes.length - done, position + done);
  } catch {
    dropCopy();
  }
}

function dropCopy(): void {
  copying = false;
  if (copyFd !== -1) closeSync(copyFd);
  copyFd = -1;
  rmSync(copyTo!.path, { force: true });
}

function hashTo(limit: number): void {
  if (fd === -1) fd = openSync(path, 'r');
  while (hashed < limit) {
    const n = readSync(fd, buffer, 0, Math.min(READ_SIZE, limit - hashed), hashed);
    if (n === 0) throw new Error(`${path} ended at ${hashed} bytes, ${limit} were written`);
    const chunk = n === READ_SIZE ? buffer : buffer.subarray(0, n);
    hash.update(chunk);
    if (copying) writeCopy(chunk, hashed);
    hashed += n;
  }
}

parentPort!.on('message', (msg: { upTo?: number; end?: number; dropCopy?: true }) => {
  if (msg.dropCopy) {
    const dropped = copying;
    if (copying) dropCopy();
    parentPort!.postMessage({ dropped });
    return;
  }
  try {
    if (msg.upTo !== undefined) return hashTo(msg.upTo);
    hashTo(msg.end!);
    if (fd !== -1) closeSync(fd);
    fd = -1;
    // An empty object never opened its copy: nothing to hand over.
    if (copying && copyFd === -1) copying = false;
    if (copyFd !== -1) closeSync(copyFd);
    copyFd = -1;
    parentPort!.postMessage({ md5: hash.digest('hex'), size: hashed, copied: copying });
  } catch (err) {
    if (copying) dropCopy();
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code });
  }
});

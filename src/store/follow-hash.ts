import { write as fsWrite, writev as fsWritev } from 'node:fs';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { packagePath } from '../package-info.js';
import { BodyCounter, type BodyLimit } from './body.js';

/** Objects at least this big are hashed by a FollowingHasher while they download (worker start-up costs ~30 ms). */
export const FOLLOW_HASH_MIN_BYTES = 64 << 20;
/** The worker is told about newly written bytes in steps of at least this much. */
const ADVANCE_STEP = 4 << 20;

type WorkerAnswer = { md5?: string; size?: number; copied?: boolean; dropped?: boolean; error?: string; code?: string };

/**
 * The md5 of a file as it is being written, computed on a worker thread that reads the written
 * prefix back (from the page cache) in order: a big download's hashing no longer competes with
 * receiving its bytes on the main thread. It hashes what is on disk, i.e. exactly what is
 * renamed into the cache once the digest matches.
 *
 * With `copyTo`, the worker also writes each chunk it hashed to a new file at that path (created
 * with `mode`): a second copy made while the download runs, holding exactly the hashed bytes.
 * `copied` says whether it is complete (a failed copy is removed by the worker; the caller removes
 * a complete one it does not keep).
 */
export class FollowingHasher {
  private readonly worker: Worker;
  private posted = 0;
  private failure: Error | undefined;
  private answer: ((msg: WorkerAnswer) => void) | undefined;
  private dropAnswer: ((dropped: boolean) => void) | undefined;
  /** A copy is wanted and has not been given up. */
  private copying: boolean;
  /** After digest(): the copy at `copyTo` holds the whole file. */
  copied = false;

  constructor(path: string, copyTo?: { path: string; mode: number }) {
    this.worker = new Worker(packagePath('dist/store/follow-hash-worker.js'), { workerData: { path, copyTo }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    this.copying = copyTo !== undefined;
    this.worker.on('message', (msg: WorkerAnswer) => {
      // The worker ends a copy before it answers: either way it is gone now.
      if (msg.dropped !== undefined) return this.dropAnswer?.(true);
      if (msg.error !== undefined) this.failure = Object.assign(new Error(msg.error), msg.code !== undefined ? { code: msg.code } : {});
      this.answer?.(msg);
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.dropAnswer?.(false);
      this.answer?.({ error: err.message });
    });
  }

  /** The first `written` bytes of the file are written and may be hashed. */
  advance(written: number): void {
    if (written - this.posted < ADVANCE_STEP) return;
    this.posted = written;
    this.worker.postMessage({ upTo: written });
  }

  /** The md5 of the file's first `size` bytes (all of it, once the writer has finished). */
  async digest(size: number): Promise<string> {
    if (this.failure) throw this.failure;
    const msg = await new Promise<WorkerAnswer>((resolvePromise) => {
      this.answer = resolvePromise;
      this.worker.postMessage({ end: size });
    });
    if (msg.md5 === undefined || msg.size !== size) throw this.failure ?? new Error(`hashing stopped at ${msg.size ?? 0} of ${size} bytes`);
    this.copied = msg.copied === true;
    return msg.md5;
  }

  /**
   * Out of space: the copy (only a head start for the checkout) is given up, once, and its file
   * removed, so that the object's own write can be tried again. True once the copy is gone,
   * whether this removed it or the worker already had (its own write of the copy ran out of
   * space too, and the removal freed that space after the object's write failed: that write was
   * refused, not worth giving up). False when the copy had been given up before, or the worker failed.
   */
  async giveUpCopy(): Promise<boolean> {
    if (!this.copying || this.failure !== undefined) return false;
    this.copying = false;
    const answered = await new Promise<boolean>((resolvePromise) => {
      this.dropAnswer = resolvePromise;
      this.worker.postMessage({ dropCopy: true });
    });
    return answered && this.failure === undefined;
  }

  dispose(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * Writes a stream's chunks to `fd` in order (several buffered chunks in one writev), reporting
 * after each write how many bytes are on disk; errors as soon as more than `limit.maxBytes`
 * arrive (a lying size, an endless body) without writing them.
 */
export class PositionedFileWriter extends Writable {
  bytesWritten = 0;
  private readonly counter: BodyCounter;
  /** The write on libuv's pool, if one is; its fd must stay open until it is done. */
  private inFlight: Promise<void> | undefined;
  private writeDone: (() => void) | undefined;

  constructor(
    private readonly fd: number,
    private readonly onWritten: (total: number) => void,
    private readonly onBytes?: (n: number) => void,
    limit?: BodyLimit,
    /** Out of space: frees some if it can (true), and the write is tried again. */
    private readonly onNoSpace?: () => Promise<boolean>,
  ) {
    super({ highWaterMark: 4 << 20 });
    this.counter = new BodyCounter(limit);
  }

  private take(bytes: number): Error | undefined {
    const over = this.counter.take(bytes);
    if (over === undefined) this.onBytes?.(bytes);
    return over;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const over = this.take(chunk.length);
    if (over) return cb(over);
    this.writeAll([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    const over = this.take(buffers.reduce((s, b) => s + b.length, 0));
    if (over) return cb(over);
    this.writeAll(buffers, cb);
  }

  /** Resolves once no write is in flight (the stream may have failed meanwhile): only then may the fd be closed. */
  settled(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  /** writev, continued after a short write until every byte is down (or the disk says why not). */
  private writeAll(buffers: Buffer[], cb: (err?: Error | null) => void): void {
    this.inFlight ??= new Promise<void>((resolvePromise) => (this.writeDone = resolvePromise));
    const finish = (err?: Error | null) => {
      this.inFlight = undefined;
      this.writeDone!();
      cb(err);
    };
    const done = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err && (err.code === 'ENOSPC' || err.code === 'EDQUOT') && this.onNoSpace !== undefined) {
        void this.onNoSpace().then((freed) => (freed ? write() : finish(err)));
        return;
      }
      if (err) return finish(err);
      if (n === 0) return finish(Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' }));
      this.bytesWritten += n;
      this.onWritten(this.bytesWritten);
      let rest = n;
      while (buffers.length > 0 && rest >= buffers[0]!.length) rest -= buffers.shift()!.length;
      if (buffers.length === 0) return finish();
      buffers[0] = buffers[0]!.subarray(rest);
      write();
    };
    const write = () => {
      if (buffers.length === 1) fsWrite(this.fd, buffers[0]!, 0, buffers[0]!.length, this.bytesWritten, done);
      else fsWritev(this.fd, buffers, this.bytesWritten, done);
    };
    write();
  }
}

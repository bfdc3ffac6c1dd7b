import { close as fsClose, open as fsOpen, rmSync, write as fsWrite, writev as fsWritev } from 'node:fs';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { packagePath } from '../package-info.js';

/** Objects at least this big are hashed by a FollowingHasher while they download (worker start-up costs ~30 ms). */
export const FOLLOW_HASH_MIN_BYTES = 64 << 20;
/** The worker is told about newly written bytes in steps of at least this much. */
const ADVANCE_STEP = 4 << 20;

type WorkerAnswer = { md5?: string; size?: number; error?: string; code?: string };

/**
 * The md5 of a file as it is being written, computed on a worker thread that reads the written
 * prefix back (from the page cache) in order: a big download's hashing no longer competes with
 * receiving its bytes on the main thread. It hashes what is on disk, i.e. exactly what is
 * renamed into the cache once the digest matches.
 */
export class FollowingHasher {
  private readonly worker: Worker;
  private posted = 0;
  private failure: Error | undefined;
  private answer: ((msg: WorkerAnswer) => void) | undefined;

  constructor(path: string) {
    this.worker = new Worker(packagePath('dist/store/follow-hash-worker.js'), { workerData: { path }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    this.worker.on('message', (msg: WorkerAnswer) => {
      if (msg.error !== undefined) this.failure = Object.assign(new Error(msg.error), msg.code !== undefined ? { code: msg.code } : {});
      this.answer?.(msg);
    });
    this.worker.on('error', (err) => {
      this.failure = err;
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
    return msg.md5;
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
  private received = 0;
  /** The write on libuv's pool, if one is; its fd must stay open until it is done. */
  private inFlight: Promise<void> | undefined;
  private writeDone: (() => void) | undefined;

  constructor(private readonly fd: number, private readonly onWritten: (total: number) => void, private readonly onBytes?: (n: number) => void, private readonly limit?: { maxBytes: number; tooBig: () => Error }, private readonly mirror?: MirrorFile) {
    super({ highWaterMark: 4 << 20 });
  }

  private take(bytes: number): Error | undefined {
    this.received += bytes;
    if (this.limit !== undefined && this.received > this.limit.maxBytes) return this.limit.tooBig();
    this.onBytes?.(bytes);
    return undefined;
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
    // The mirror writes the same buffers at the same position beside this write (never rejects).
    const mirrored = this.mirror?.write(buffers.slice(), this.bytesWritten);
    const finish = (err?: Error | null) => {
      const settle = () => {
        this.inFlight = undefined;
        this.writeDone!();
        cb(err);
      };
      if (mirrored === undefined) settle();
      else void mirrored.then(settle);
    };
    const done = (err: NodeJS.ErrnoException | null, n: number) => {
      // Out of space with a mirror still growing: the copy is only a head start for the checkout,
      // so it gives its space back and the object's own write is tried again.
      if (err && (err.code === 'ENOSPC' || err.code === 'EDQUOT') && this.mirror?.live === true) return void this.mirror.abandon().then(write);
      if (err) return finish(err);
      if (n === 0) return finish(Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' }));
      this.bytesWritten += n;
      this.onWritten(this.bytesWritten);
      dropWritten(buffers, n);
      if (buffers.length === 0) return finish();
      write();
    };
    const write = () => {
      if (buffers.length === 1) fsWrite(this.fd, buffers[0]!, 0, buffers[0]!.length, this.bytesWritten, done);
      else fsWritev(this.fd, buffers, this.bytesWritten, done);
    };
    write();
  }
}

/** Removes the first `n` written bytes from the front of `buffers` (after a writev, maybe short). */
function dropWritten(buffers: Buffer[], n: number): void {
  let rest = n;
  while (buffers.length > 0 && rest >= buffers[0]!.length) rest -= buffers.shift()!.length;
  if (buffers.length > 0 && rest > 0) buffers[0] = buffers[0]!.subarray(rest);
}

const openAsync = promisify(fsOpen);
const writevAsync = promisify(fsWritev);
const closeAsync = promisify(fsClose);

/**
 * A second file written from the same buffers as a PositionedFileWriter's, at the same positions,
 * on libuv's pool beside that write: a pull's early work-tree copy of a big object (the hash
 * worker only hashes). The file is created exclusively at the first write. A failed write (a full
 * disk) only ends the copy: the file is removed and the download goes on without it.
 */
export class MirrorFile {
  private fd = -1;
  private created = false;
  private failed = false;
  private written = 0;
  /** The write in progress (never rejects): its fd must stay open until it is done. */
  private pending: Promise<void> = Promise.resolve();

  constructor(readonly path: string, private readonly mode: number) {}

  /** Still being written (not dropped). */
  get live(): boolean {
    return !this.failed;
  }

  /** Writes `buffers` at `position`; never rejects (a failure drops the copy). */
  write(buffers: Buffer[], position: number): Promise<void> {
    this.pending = this.writeAt(buffers, position);
    return this.pending;
  }

  private async writeAt(buffers: Buffer[], position: number): Promise<void> {
    if (this.failed) return;
    try {
      if (!this.created) {
        this.fd = await openAsync(this.path, 'wx', this.mode);
        this.created = true;
      }
      let at = position;
      while (buffers.length > 0 && !this.failed) {
        const { bytesWritten: n } = await writevAsync(this.fd, buffers, at);
        if (n === 0) throw Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' });
        at += n;
        this.written += n;
        dropWritten(buffers, n);
      }
    } catch {
      await this.drop();
    }
  }

  /** Gives up the copy: waits for the write in progress, then closes and removes the file. */
  async abandon(): Promise<void> {
    this.failed = true;
    await this.pending;
    await this.drop();
  }

  /** Closes the copy; true when it holds exactly `size` bytes, else it is removed (the caller removes a complete one it does not keep). */
  async finish(size: number): Promise<boolean> {
    await this.pending;
    if (this.failed || !this.created || this.written !== size) {
      await this.drop();
      return false;
    }
    const fd = this.fd;
    this.fd = -1;
    await closeAsync(fd);
    return true;
  }

  private async drop(): Promise<void> {
    this.failed = true;
    if (this.fd !== -1) {
      const fd = this.fd;
      this.fd = -1;
      await closeAsync(fd).catch(() => undefined);
    }
    if (this.created) rmSync(this.path, { force: true });
  }
}

import { Readable, Transform, finished, type TransformCallback } from 'node:stream';
import { createRequire } from 'node:module';
import type { NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import { readBody } from './body.js';

// CommonJS loaded by `require` (no export scan; see s3.ts); the client loads the same module.
const { NodeHttpHandler, streamCollector } = createRequire(import.meta.url)('@smithy/node-http-handler') as typeof import('@smithy/node-http-handler');

/** The most of one response the SDK reads into memory: a listing page of 1000 keys is ~1 MB, error bodies less. */
export const MAX_COLLECTED_BYTES = 64 * 1024 * 1024;

/**
 * The client's `streamCollector`: what the SDK reads whole (listing pages, error bodies, every
 * response but a GetObject body, which reg streams itself) stops at MAX_COLLECTED_BYTES. The SDK's
 * own collector has no limit: a hostile endpoint's endless listing page was read until memory ran
 * out. Anything but a Node stream goes to the SDK's collector.
 */
export function boundedStreamCollector(stream: unknown): Promise<Uint8Array> {
  if (!(stream instanceof Readable)) return streamCollector(stream as Parameters<typeof streamCollector>[0]);
  return readBody(stream, undefined, undefined, {
    maxBytes: MAX_COLLECTED_BYTES,
    tooBig: () => Object.assign(new Error(`the server sent a response longer than ${MAX_COLLECTED_BYTES} bytes where reg expects a small one (a listing page, an error)`), { name: 'OversizedResponse' }),
  });
}
type NodeHttpHandler = InstanceType<typeof NodeHttpHandler>;

type HandleArgs = Parameters<NodeHttpHandler['handle']>;
type HandleResult = Awaited<ReturnType<NodeHttpHandler['handle']>>;

/** The error an idle request ends with: a TimeoutError, which the retry layer treats as transient. */
export function idleTimeoutError(ms: number, what: string): Error {
  return Object.assign(new Error(`no data ${what} for ${Math.round(ms / 100) / 10} s (read-timeout)`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

/**
 * The SDK's HTTP handler with an idle timeout that really ends a stalled request: the socket
 * timeout (no bytes moving either way: a connection that never answers, an upload the server
 * stopped reading) and a watch on the response body (a download that stalls half-way, which the
 * socket timeout no longer sees once the SDK has handed the body over). The SDK's own
 * `requestTimeout` only logs a warning, and a total deadline would cut long healthy transfers.
 */
export class IdleTimeoutHandler extends NodeHttpHandler {
  constructor(private readonly idleMs: number, options: NodeHttpHandlerOptions) {
    super({ ...options, socketTimeout: idleMs });
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): Promise<HandleResult> {
    const result = await super.handle(request, options);
    const body: unknown = result.response.body;
    if (body instanceof Readable) result.response.body = watchBody(body, this.idleMs);
    return result;
  }
}

/**
 * Fails the body with a TimeoutError when no byte arrives for `ms` while the reader wants more.
 * The body is returned as it is, watched from the side: a timer every `ms / 8` looks at the
 * socket's byte count, so nothing runs per chunk and no stream stage is added (for a 1 GiB
 * download that stage was 16,000 pushes and timer re-arms). While the body holds bytes the reader
 * has not taken, the silence is the reader's, not the server's. A body without a socket is passed
 * through a guard stream instead.
 */
export function watchBody(source: Readable, ms: number): Readable {
  const socket = (source as Readable & { socket?: { bytesRead?: number } | null }).socket;
  if (socket === null || socket === undefined || typeof socket.bytesRead !== 'number') return guardBody(source, ms);
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const read = socket.bytesRead ?? seen;
    if (read !== seen || source.readableLength > 0) {
      seen = read;
      quietSince = now;
    } else if (now - quietSince >= ms) {
      clearInterval(timer);
      source.destroy(idleTimeoutError(ms, 'received'));
    }
  }, Math.max(1, Math.floor(ms / 8)));
  timer.unref();
  finished(source, { writable: false }, () => clearInterval(timer));
  return source;
}

/** Passes the body through a stream that fails with a TimeoutError when no byte arrives for `ms` while the reader wants more. */
function guardBody(source: Readable, ms: number): Readable {
  const guard = new IdleGuard(ms);
  // Both ends are tied: a stall or a reader that gives up also destroys the socket's stream, and a
  // body that fails or closes early fails the guard. Not stream.pipeline: it costs an
  // AbortController and a DOMException with its stack trace per call, i.e. per request.
  finished(source, { writable: false }, (err) => {
    if (err) guard.destroy(err);
  });
  guard.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(guard);
  return guard;
}

class IdleGuard extends Transform {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    super();
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(idleTimeoutError(this.ms, 'received')), this.ms);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // While the reader is behind (push returns false), silence is the reader's, not the server's.
    if (this.push(chunk)) this.arm();
    else this.disarm();
    cb();
  }

  override _read(size: number): void {
    if (!this.writableFinished) this.arm();
    super._read(size);
  }

  override _flush(cb: TransformCallback): void {
    this.disarm();
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.disarm();
    cb(err);
  }
}

import { finished, type Readable } from 'node:stream';
import type { ReadLimit } from '../fsutil.js';

/** The most bytes a body may have, and the error for one that has more (the same shape as a file's ReadLimit). */
export type BodyLimit = ReadLimit;

/** Counts a body's bytes against its BodyLimit: the one place that decides a body ran too long. */
export class BodyCounter {
  received = 0;

  constructor(private readonly limit: BodyLimit | undefined) {}

  /** Counts `n` more bytes: the limit's error when they make the body too long, else undefined. */
  take(n: number): Error | undefined {
    this.received += n;
    return this.limit !== undefined && this.received > this.limit.maxBytes ? this.limit.tooBig() : undefined;
  }
}

/**
 * A response body read into memory, without stream.pipeline (which builds and aborts an
 * AbortController, with a DOMException and its stack trace, per call). An abort of `signal`
 * destroys the body.
 */
export function readBody(body: Readable, onBytes: ((n: number) => void) | undefined, signal: AbortSignal | undefined, limit?: BodyLimit): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    if (signal?.aborted) {
      body.destroy();
      reject(signal.reason);
      return;
    }
    const chunks: Buffer[] = [];
    const counter = new BodyCounter(limit);
    const onAbort = () => body.destroy(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (err: Error | undefined) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        body.destroy();
        reject(signal?.aborted ? signal.reason : err);
      } else resolvePromise(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, counter.received));
    };
    body.on('data', (c: Buffer) => {
      const over = counter.take(c.length);
      if (over) return void body.destroy(over);
      chunks.push(c);
      onBytes?.(c.length);
    });
    finished(body, { writable: false }, (err) => done(err ?? undefined));
  });
}

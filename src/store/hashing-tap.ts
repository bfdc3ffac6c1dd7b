import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ContentHash } from '../data/hash.js';
import { contentMismatchError } from './backend.js';
import { BodyCounter } from './body.js';

/** How long a body may be: more than `maxBytes` (a lying size, an endless body) is the error `tooBig()`. */
export interface HashingTapOptions {
  /** Hash with DVC 2's md5-dos2unix rule (legacy file objects). */
  legacy: boolean;
  onBytes?: (n: number) => void;
  /** Also keep the plain md5 of the bytes (an S3 ETag is compared with it; legacy oids differ). */
  plain?: boolean;
  /**
   * Verify on the way: the last chunk is held back until the digest is known and the stream
   * errors instead of delivering it on a mismatch, so a consumer never sees the whole body of
   * bytes that do not match their name.
   */
  expect?: { md5: string; key: string; where: string };
  /**
   * Errors as soon as more than `maxBytes` bytes have passed (a lying size, an endless body; a
   * consumer could otherwise complete a request with a corrupt prefix): with `tooBig()`, or by
   * default (only with `expect`) the content mismatch against `expect`.
   */
  limit?: { maxBytes: number; tooBig?: () => Error };
}

/** Pass-through stream that hashes what flows by (and optionally refuses a mismatch). */
export class HashingTap extends Transform {
  private readonly content: ContentHash;
  private readonly plainHash: Hash | undefined;
  private readonly counter: BodyCounter;
  private held: Buffer | undefined;
  /** Set once the stream has ended. */
  md5: string | undefined;
  plainMd5: string | undefined;
  /** The error this tap raised itself (mismatch, too many bytes), if any. */
  failure: Error | undefined;

  constructor(private readonly options: HashingTapOptions) {
    super();
    this.content = new ContentHash(options.legacy);
    this.plainHash = options.plain && options.legacy ? createHash('md5') : undefined;
    const { limit } = options;
    this.counter = new BodyCounter(limit && { maxBytes: limit.maxBytes, tooBig: () => this.tooBig(limit) });
  }

  // Not `size`: lib-storage takes a body's `size` property for its total length.
  get bytesRead(): number {
    return this.content.size;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.content.update(chunk);
    this.plainHash?.update(chunk);
    this.options.onBytes?.(chunk.length);
    const over = this.counter.take(chunk.length);
    if (over) return cb(over);
    if (this.options.expect === undefined) return cb(null, chunk);
    const previous = this.held;
    this.held = chunk;
    if (previous !== undefined) this.push(previous);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.md5 = this.content.digest();
    this.plainMd5 = this.plainHash ? this.plainHash.digest('hex') : this.options.legacy ? undefined : this.md5;
    const expect = this.options.expect;
    if (expect !== undefined && this.md5 !== expect.md5) return cb(this.fail(this.md5));
    if (this.held !== undefined) this.push(this.held);
    this.held = undefined;
    cb();
  }

  private tooBig(limit: NonNullable<HashingTapOptions['limit']>): Error {
    if (limit.tooBig === undefined) return this.fail(`(more than the ${limit.maxBytes} bytes expected)`);
    this.held = undefined;
    this.failure = limit.tooBig();
    return this.failure;
  }

  private fail(actual: string): Error {
    const expect = this.options.expect!;
    this.held = undefined;
    this.failure = contentMismatchError(expect.key, expect.where, expect.md5, actual);
    return this.failure;
  }
}

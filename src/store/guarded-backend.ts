import type { Readable } from 'node:stream';
import { RegError, diskError, isRegError } from '../errors.js';
import { BackendWrapper, isConditionalWritesUnsupported, isNotFound, isPreconditionFailed, type Backend, type GetOptions, type ListOptions, type ObjectInfo, type PutOptions, type ReadSmallOptions, type VersionedObject } from './backend.js';
import { remoteError, type RemoteIdentity } from './remote-errors.js';
import { DEFAULT_RETRY, RemoteHealth, retryOrThrow, withRetry, type RetryPolicy } from './transfer.js';

/**
 * The most keys the listings of one remote may hold at once. Every listing keeps the keys it has
 * yielded (to resume a broken listing without yielding one twice), callers keep what they list
 * (sync and publish a prefix's files, gc every object key: ~350 bytes a key there, measured),
 * and listings run in parallel. 5 million keys are ~1.7 GB, inside Node's default heap (4 GiB
 * with 16 GiB of memory or more). A server that lists without end, with a fresh continuation
 * token each time, would otherwise run reg out of memory.
 */
export const MAX_LISTED_KEYS = 5_000_000;

/** remote.bad-listing for a listing (or what gc keeps of all of them) past `limit` keys. */
export function tooManyListedKeys(description: string, where: string, limit: number): RegError {
  return new RegError('remote.bad-listing', 'transfer', `${description}: ${where} passed ${limit.toLocaleString('en-US')} keys, so reg stopped rather than run out of memory (a server that lists without end, or more objects than reg can hold in memory)`, {
    hint: 'look at what is on the remote (an S3 console, `aws s3 ls`, or ls for a directory remote); keys that do not belong there were put there by someone else',
    details: { limit },
  });
}

/**
 * Every call to a remote goes through here: transient failures are retried within the remote's
 * budget (shared by all requests, see RemoteHealth), and whatever still fails leaves as a
 * RegError of its class (remote.auth, remote.network ..., or disk.* for the local side), never as
 * a raw SDK or errno error. NotFoundError passes through: callers decide what absence means.
 * Optional Backend methods are forwarded one by one (only when the inner backend has them):
 * a new optional method must be added here too, or callers will not see it behind this wrapper.
 */
export class GuardedBackend extends BackendWrapper implements Backend {
  readonly readSmall?: (key: string, max: number) => Promise<Buffer | undefined>;
  /** A directory remote's file for a key: a path, no request, nothing to retry. */
  readonly localPath?: (key: string) => string;
  readonly readVersioned?: (key: string, options: ReadSmallOptions) => Promise<VersionedObject | undefined>;
  readonly putIfVersion?: (key: string, bytes: Buffer, expected: string | undefined, options?: PutOptions) => Promise<string>;
  /** Keys yielded by the listings in progress (see MAX_LISTED_KEYS). */
  private keysInListings = 0;

  constructor(
    inner: Backend,
    readonly identity: RemoteIdentity,
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    readonly health: RemoteHealth = new RemoteHealth(policy),
    private readonly onRetry?: (what: string, err: unknown, attempt: number) => void,
    private readonly maxListedKeys = MAX_LISTED_KEYS,
  ) {
    super(inner);
    if (inner.readSmall) {
      const readSmall = inner.readSmall.bind(inner);
      this.readSmall = (key, max) => this.call(`read ${key}`, () => readSmall(key, max));
    }
    if (inner.localPath) this.localPath = inner.localPath.bind(inner);
    if (inner.readVersioned) {
      const readVersioned = inner.readVersioned.bind(inner);
      this.readVersioned = (key, options) => this.call(`read ${key}`, () => readVersioned(key, options), options.signal);
    }
    if (inner.putIfVersion) {
      const putIfVersion = inner.putIfVersion.bind(inner);
      this.putIfVersion = (key, bytes, expected, options) => this.call(`put ${key}`, () => putIfVersion(key, bytes, expected, options), options?.signal);
    }
  }

  /** The error callers should see for `err`: a remote-class or disk RegError when it has a class. */
  readonly classify = (err: unknown): unknown => {
    if (isNotFound(err) || isRegError(err) || isPreconditionFailed(err) || isConditionalWritesUnsupported(err)) return err;
    const classified = remoteError(err, this.identity);
    return classified === err ? (diskError(err) ?? err) : classified;
  };

  private call<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(fn, this.policy, signal, { health: this.health, classify: this.classify, onRetry: (err, attempt) => this.onRetry?.(what, err, attempt) });
  }

  exists(key: string, options?: GetOptions): Promise<boolean> {
    return this.call(`check ${key}`, () => this.inner.exists(key, options), options?.signal);
  }

  head(key: string, options?: GetOptions): Promise<ObjectInfo | undefined> {
    return this.call(`check ${key}`, () => this.inner.head(key, options), options?.signal);
  }

  /**
   * A listing that breaks part-way is restarted; keys already yielded are not yielded again. When
   * the listings in progress have yielded more than maxListedKeys keys together, the one that
   * passes it stops with remote.bad-listing.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo[]> {
    let listed = 0;
    try {
      yield* this.listResumed(prefix, options, (n) => {
        listed += n;
        this.keysInListings += n;
        if (this.keysInListings > this.maxListedKeys) throw tooManyListedKeys(this.inner.description, `the listings in progress (at ${prefix || 'the remote\'s root'})`, this.maxListedKeys);
      });
    } finally {
      this.keysInListings -= listed;
    }
  }

  private async *listResumed(prefix: string, options: ListOptions, count: (n: number) => void): AsyncIterable<ObjectInfo[]> {
    const seen = new Set<string>();
    const first = this.health.now();
    const hooks = { health: this.health, classify: this.classify, onRetry: (err: unknown, attempt: number) => this.onRetry?.(`list ${prefix}`, err, attempt) };
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      this.health.assertAlive();
      const startedAt = this.health.now();
      try {
        for await (const page of this.inner.list(prefix, options)) {
          this.health.activity();
          const fresh = attempt === 1 ? page : page.filter((o) => !seen.has(o.key));
          if (attempt < this.policy.attempts) for (const o of fresh) seen.add(o.key);
          count(fresh.length);
          if (fresh.length > 0) yield fresh;
        }
        this.health.activity();
        return;
      } catch (err) {
        // A generator cannot resume after it threw: the only way on is a fresh listing.
        await retryOrThrow(err, { attempt, first, startedAt }, this.policy, options.signal, hooks);
      }
    }
  }

  get(key: string, options?: GetOptions): Promise<{ body: Readable; size?: number }> {
    return this.call(`get ${key}`, () => this.inner.get(key, options), options?.signal);
  }

  putFile(key: string, path: string, size: number, options: PutOptions = {}): Promise<void> {
    return this.put(key, options, (o) => this.inner.putFile(key, path, size, o));
  }

  putBytes(key: string, bytes: Buffer, options: PutOptions = {}): Promise<void> {
    return this.put(key, options, (o) => this.inner.putBytes(key, bytes, o));
  }

  /**
   * Bytes sent count as activity (a long upload is alive), and a failed attempt's bytes are
   * taken back before the next one, so the progress count stays true.
   */
  private put(key: string, options: PutOptions, send: (options: PutOptions) => Promise<void>): Promise<void> {
    let sent = 0;
    return this.call(
      `put ${key}`,
      () => {
        if (sent !== 0) options.onBytes?.(-sent);
        sent = 0;
        return send({
          ...options,
          onBytes: (n) => {
            sent += n;
            if (n > 0) this.health.activity();
            options.onBytes?.(n);
          },
        });
      },
      options.signal,
    );
  }

  delete(key: string): Promise<void> {
    return this.call(`delete ${key}`, () => this.inner.delete(key));
  }
}

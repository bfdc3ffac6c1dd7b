import type { Readable } from 'node:stream';
import { diskError, isRegError } from '../errors.js';
import { BackendWrapper, isConditionalWritesUnsupported, isNotFound, isPreconditionFailed, type Backend, type GetOptions, type ListOptions, type ObjectInfo, type PutOptions, type ReadSmallOptions, type VersionedObject } from './backend.js';
import { remoteError, type RemoteIdentity } from './remote-errors.js';
import { DEFAULT_RETRY, RemoteHealth, retryOrThrow, withRetry, type RetryPolicy } from './transfer.js';

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

  constructor(
    inner: Backend,
    readonly identity: RemoteIdentity,
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    readonly health: RemoteHealth = new RemoteHealth(policy),
    private readonly onRetry?: (what: string, err: unknown, attempt: number) => void,
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

  /** A listing that breaks part-way is restarted; keys already yielded are not yielded again. */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo[]> {
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

import { Transform, type Readable } from 'node:stream';
import { BackendWrapper, type Backend, type GetOptions, type ListOptions, type ObjectInfo, type PutOptions } from './backend.js';

/**
 * A backend wrapper that injects the failures real object stores produce — 503 SlowDown,
 * timeouts, connection resets (also in the middle of a download) — for tests of the retry
 * and ordering logic. Not used by reg itself.
 */
export interface FlakyOptions {
  /** Probability that a call fails (0..1). */
  failureRate: number;
  /** Deterministic pseudo-random sequence. */
  seed?: number;
  /** After this many successful puts, every further put fails (simulated network loss that outlasts the retries). */
  failPutsAfter?: number;
  /** Called when `failPutsAfter` is reached (e.g. to abort the operation). */
  onPutLimit?: () => void;
}

export interface FlakyStats {
  calls: number;
  injected: number;
  puts: number;
  putKeys: string[];
}

type Kind = 'throttle' | 'timeout' | 'reset';

export function injectedError(kind: Kind): Error {
  switch (kind) {
    case 'throttle':
      return Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    case 'timeout':
      return Object.assign(new Error('Connection timed out after 60000 ms'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
    case 'reset':
      return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
  }
}

export class FlakyBackend extends BackendWrapper implements Backend {
  readonly stats: FlakyStats = { calls: 0, injected: 0, puts: 0, putKeys: [] };
  private state: number;

  constructor(inner: Backend, readonly options: FlakyOptions) {
    super(inner);
    this.state = (options.seed ?? 12345) >>> 0;
  }

  private random(): number {
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private maybeFail(): void {
    this.stats.calls++;
    if (this.random() < this.options.failureRate) {
      this.stats.injected++;
      const kinds: Kind[] = ['throttle', 'timeout', 'reset'];
      throw injectedError(kinds[Math.floor(this.random() * kinds.length)]!);
    }
  }

  async exists(key: string, options?: GetOptions): Promise<boolean> {
    this.maybeFail();
    return this.inner.exists(key, options);
  }

  async head(key: string, options?: GetOptions): Promise<ObjectInfo | undefined> {
    this.maybeFail();
    return this.inner.head(key, options);
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo[]> {
    this.maybeFail();
    yield* this.inner.list(prefix, options);
  }

  async get(key: string, options?: GetOptions): Promise<{ body: Readable; size?: number }> {
    this.maybeFail();
    const r = await this.inner.get(key, options);
    if (this.random() >= this.options.failureRate) return r;
    // Connection reset in the middle of the body: half of the first chunk, then an error.
    this.stats.injected++;
    let cut = false;
    const body = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (cut) return cb();
        cut = true;
        this.push(chunk.subarray(0, chunk.length >> 1));
        cb(injectedError('reset'));
      },
      flush(cb) {
        cb(injectedError('reset'));
      },
    });
    r.body.on('error', (err) => body.destroy(err));
    r.body.pipe(body);
    return { body, size: r.size };
  }

  private beforePut(key: string): void {
    if (this.options.failPutsAfter !== undefined && this.stats.puts >= this.options.failPutsAfter) {
      if (this.stats.puts === this.options.failPutsAfter) {
        this.stats.puts++;
        this.options.onPutLimit?.();
      }
      throw Object.assign(new Error(`read ECONNRESET (injected: connection lost for good before ${key})`), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    }
    this.maybeFail();
  }

  async putFile(key: string, path: string, size: number, options?: PutOptions): Promise<void> {
    this.beforePut(key);
    await this.inner.putFile(key, path, size, options);
    this.afterPut(key);
  }

  async putBytes(key: string, bytes: Buffer, options?: PutOptions): Promise<void> {
    this.beforePut(key);
    await this.inner.putBytes(key, bytes, options);
    this.afterPut(key);
  }

  private afterPut(key: string): void {
    this.stats.puts++;
    this.stats.putKeys.push(key);
    // A failure after the bytes arrived (the response was lost): the retry re-sends them.
    if (this.random() < this.options.failureRate / 4) {
      this.stats.injected++;
      throw injectedError('reset');
    }
  }

  async delete(key: string): Promise<void> {
    this.maybeFail();
    return this.inner.delete(key);
  }
}

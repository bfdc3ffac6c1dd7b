import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errnoCode, integrityError } from '../errors.js';
import { isNotFound, readWholeObject, type Backend, type ObjectInfo } from './backend.js';

/**
 * A mutual-exclusion lock kept on a remote, for writers that must not interleave (two
 * `reg sync push` of one entry). It needs nothing from the server beyond read-after-write and
 * list-after-write consistency (AWS S3, directories, MinIO, Ceph ...), not conditional writes:
 *
 * 1. write our own lock object `<dir>/<id>.json` (state "trying");
 * 2. list `<dir>/`: if ours is the only live one, rewrite it as "held" — we own the lock;
 * 3. otherwise withdraw (delete ours); if another is "held", give up at once, else back off
 *    a random moment and try again (two contenders who saw each other both retry).
 *
 * Whoever sees itself alone owns the lock: any later contender writes before it lists, so it
 * sees the owner. A held lock is refreshed every minute; one not refreshed for ten minutes, or
 * left on this host by a process that no longer exists, is stale and removed.
 */
export interface LockInfo {
  id: string;
  host: string;
  pid: number;
  /** What the lock is for, in words (shown to whoever is refused). */
  purpose: string;
  state: 'trying' | 'held';
  /** When the owner last wrote it (ISO time, owner's clock). */
  at: string;
}

export const LOCK_STALE_MS = 10 * 60_000;
export const LOCK_REFRESH_MS = 60_000;
const ACQUIRE_ATTEMPTS = 8;

/**
 * More lock objects than writers could ever contend with at once: planted (or another tool's
 * files), not contenders. Each would be read on every attempt, one request after another.
 */
export const MAX_CONTENDERS = 64;

/** The lock is held by someone else (`holder`), contended for too long, or its directory holds `crowd` lock objects (over MAX_CONTENDERS). */
export class LockBusyError extends Error {
  constructor(readonly dir: string, readonly holder: LockInfo | undefined, readonly crowd?: number) {
    super(holder ? `locked by ${describeHolder(holder)}` : crowd !== undefined ? `${dir} holds ${crowd} lock objects` : `${dir} is being locked by another writer`);
    this.name = 'LockBusyError';
  }
}

export function describeHolder(h: LockInfo): string {
  return `${h.purpose} on ${h.host} (pid ${h.pid}) since ${h.at}`;
}

export interface HeldLock {
  key: string;
  info: LockInfo;
  release(): Promise<void>;
}

export interface LockOptions {
  signal?: AbortSignal;
  now?: () => number;
  /** Tests: a fixed backoff instead of a random one. */
  random?: () => number;
}

/** A lock object holds a few hundred bytes of JSON; a bigger one is read no further (unreadable). */
const MAX_LOCK_BYTES = 64 * 1024;

/**
 * Another contender's lock object; 'gone' when it vanished meanwhile (withdrawn), 'unreadable'
 * when it cannot be parsed (some S3-compatible servers let a reader see an object half-written).
 */
async function readLock(backend: Backend, key: string, signal?: AbortSignal): Promise<LockInfo | 'gone' | 'unreadable'> {
  // A RegError: the guarded backend passes it through as it is (it wraps other errors).
  const tooBig = integrityError('lock.too-big', `${key} is larger than a lock object`);
  const options = { ...(signal ? { signal } : {}), limit: { maxBytes: MAX_LOCK_BYTES, tooBig: () => tooBig } };
  let bytes: Buffer | undefined;
  try {
    bytes = backend.readVersioned ? (await backend.readVersioned(key, options))?.bytes : await readWholeObject(backend, key, options);
  } catch (err) {
    if (err === tooBig) return 'unreadable';
    if (isNotFound(err) || errnoCode(err) === 'ENOENT') return 'gone';
    throw err;
  }
  if (bytes === undefined) return 'gone';
  try {
    const info = JSON.parse(bytes.toString('utf8')) as LockInfo;
    return typeof info?.id === 'string' && typeof info.at === 'string' ? info : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(info: LockInfo, now: number): boolean {
  const at = Date.parse(info.at);
  if (!Number.isFinite(at) || now - at > LOCK_STALE_MS) return true;
  return info.host === hostname() && info.pid !== process.pid && !processAlive(info.pid);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

export async function acquireRemoteLock(backend: Backend, dir: string, purpose: string, options: LockOptions = {}): Promise<HeldLock> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const id = `${now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const key = `${dir}/${id}.json`;
  const info: LockInfo = { id, host: hostname(), pid: process.pid, purpose, state: 'trying', at: new Date(now()).toISOString() };
  const write = (state: LockInfo['state']) => {
    info.state = state;
    info.at = new Date(now()).toISOString();
    return backend.putBytes(key, Buffer.from(JSON.stringify(info) + '\n'), { signal: options.signal });
  };
  let lastHolder: LockInfo | undefined;
  for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS; attempt++) {
    options.signal?.throwIfAborted();
    await write('trying');
    const others: ObjectInfo[] = [];
    for await (const page of backend.list(`${dir}/`, { signal: options.signal })) {
      for (const o of page) if (o.key !== key && o.key.endsWith('.json')) others.push(o);
      if (others.length > MAX_CONTENDERS) {
        await backend.delete(key).catch(() => undefined);
        throw new LockBusyError(dir, undefined, others.length);
      }
    }
    const live: LockInfo[] = [];
    let unreadable = false;
    for (const other of others) {
      const theirs = await readLock(backend, other.key, options.signal);
      if (theirs === 'gone') continue;
      if (theirs === 'unreadable') {
        // Being written: a contender like any other, readable next round. Unreadable and not
        // written for LOCK_STALE_MS (garbage, or another tool's file): stale, or it would block
        // every push for good, --force included.
        const modified = other.modified ?? (await backend.head(other.key, { signal: options.signal }).catch(() => undefined))?.modified;
        if (modified !== undefined && now() - modified > LOCK_STALE_MS) await backend.delete(other.key).catch(() => undefined);
        else unreadable = true;
      } else if (isStale(theirs, now())) await backend.delete(other.key).catch(() => undefined);
      else live.push(theirs);
    }
    if (live.length === 0 && !unreadable) {
      await write('held');
      return held(backend, key, info, write);
    }
    await backend.delete(key).catch(() => undefined);
    const holder = live.find((l) => l.state === 'held');
    if (holder) throw new LockBusyError(dir, holder);
    lastHolder = live[0];
    await sleep(Math.floor((50 + random() * 250) * attempt), options.signal);
  }
  throw new LockBusyError(dir, lastHolder);
}

function held(backend: Backend, key: string, info: LockInfo, write: (state: LockInfo['state']) => Promise<void>): HeldLock {
  const refresh = setInterval(() => void write('held').catch(() => undefined), LOCK_REFRESH_MS);
  refresh.unref();
  let released = false;
  return {
    key,
    info,
    async release() {
      if (released) return;
      released = true;
      clearInterval(refresh);
      await backend.delete(key);
    },
  };
}

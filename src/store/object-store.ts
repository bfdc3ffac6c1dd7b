import { closeSync, createWriteStream, open as openCallback, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { chmod, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { md5OfBuffer } from '../data/hash.js';
import { integrityError, withPath } from '../errors.js';
import { mapLimit, removeStaleTemps, tempPathFor } from '../fsutil.js';
import { stampVerifiedFd, stampVerifiedPath } from '../workspace/hash-task.js';
import type { Backend, ObjectInfo, PutOptions } from './backend.js';
import type { Cache } from './cache.js';
import { FOLLOW_HASH_MIN_BYTES, FollowingHasher, PositionedFileWriter } from './follow-hash.js';
import { readBody, type BodyLimit } from './body.js';
import { HashingTap } from './hashing-tap.js';
import { DEFAULT_RETRY, fanOutSignal, withRetry, type RetryPolicy } from './transfer.js';
import { makeDirs } from '../make-dirs.js';

/** One content-addressed object: its oid and which layout it lives in (DVC 3 or legacy DVC 2). */
export interface ObjRef {
  oid: string;
  legacy: boolean;
}

const MODERN_BASE = 'files/md5/';
/** Objects up to this size are downloaded through memory. */
const SMALL_OBJECT = 1 << 20;
const KEY_RE = /^[0-9a-f]{2}\/[0-9a-f]{30}(\.dir)?$/;
/**
 * The most bytes a directory manifest may have when nothing else bounds it (about 10 million
 * files): a server that never ends a body must not fill the disk or the memory.
 */
export const MAX_MANIFEST_BYTES = 1 << 30;

/** `files/md5/XX/REST` for DVC 3 objects, `XX/REST` for legacy ones (dvc-compat.md §5.1). */
export function objectKey(oid: string, legacy: boolean): string {
  return `${legacy ? '' : MODERN_BASE}${oid.slice(0, 2)}/${oid.slice(2)}`;
}

export function refKey(ref: ObjRef): string {
  return objectKey(ref.oid, ref.legacy);
}

/** The ref an object key names (the inverse of refKey). */
export function refOfKey(key: string): ObjRef {
  const legacy = !key.startsWith(MODERN_BASE);
  const rest = legacy ? key : key.slice(MODERN_BASE.length);
  return { oid: rest.slice(0, 2) + rest.slice(3), legacy };
}

// dvc-objects constants (dvc-compat.md §5.3).
const LIST_PAGE = 1000;
const TRAVERSE_WEIGHT_MULTIPLIER = 5;
const TRAVERSE_THRESHOLD_SIZE = 500_000;

export interface QueryOptions {
  jobs: number;
  signal?: AbortSignal;
  /** Called once per remote request (listing page or existence check). */
  onRequest?: () => void;
  /** Retries of transient failures for each check / each prefix listing. */
  retry?: RetryPolicy;
}

export interface QueryStats {
  strategy: 'none' | 'head' | 'list';
  requests: number;
}

/**
 * The oid-addressed view of a backend, used for remotes: where an object lives, which of a set
 * of objects are missing (cheaply), uploads, and verified downloads into the cache.
 */
export class ObjectStore {
  lastQuery: QueryStats = { strategy: 'none', requests: 0 };
  private readonly madeDirs = new Set<string>();

  /** `listable: false`: the backend cannot list keys (HTTP), so presence is asked per object. */
  private readonly listable: boolean;

  constructor(readonly backend: Backend, options: { listable?: boolean } = {}) {
    this.listable = options.listable ?? backend.listable ?? true;
  }

  get description(): string {
    return this.backend.description;
  }

  has(ref: ObjRef, signal?: AbortSignal): Promise<boolean> {
    return this.backend.exists(refKey(ref), { signal });
  }

  /**
   * Keys of the wanted objects that the remote lacks. Chooses between per-object existence
   * checks and listing by comparing the estimated remote size with the number of wanted objects,
   * the way DVC does (§5.3), so a small push to a huge remote and a huge push to a small one
   * both stay cheap.
   */
  async missing(refs: readonly ObjRef[], parentOptions: QueryOptions): Promise<Set<string>> {
    return this.missingKeys(refs.map(refKey), parentOptions);
  }

  /**
   * missing() for object keys (`refKey` of each ref): the returned set holds the same string
   * instances as `keys`, so a caller holding a million keys does not get a second million.
   */
  async missingKeys(keys: readonly string[], parentOptions: QueryOptions): Promise<Set<string>> {
    const present = await this.presentKeys(keys, parentOptions);
    const missing = new Set<string>();
    for (const k of keys) if (!present.has(k)) missing.add(k);
    return missing;
  }

  /**
   * The wanted objects the remote has, by key, with what the check learnt about them (size,
   * and the md5 where the backend reports it: S3 single-part ETags). Same strategy as missing().
   */
  async present(refs: readonly ObjRef[], parentOptions: QueryOptions): Promise<Map<string, ObjectInfo>> {
    return this.presentKeys(refs.map(refKey), parentOptions);
  }

  private async presentKeys(keys: readonly string[], parentOptions: QueryOptions): Promise<Map<string, ObjectInfo>> {
    const fan = fanOutSignal(parentOptions.signal);
    try {
      return await this.presentAll(keys, { ...parentOptions, signal: fan.signal });
    } finally {
      fan.dispose();
    }
  }

  private async presentAll(allKeys: readonly string[], options: QueryOptions): Promise<Map<string, ObjectInfo>> {
    const stats: QueryStats = { strategy: 'none', requests: 0 };
    const count = () => {
      stats.requests++;
      options.onRequest?.();
    };
    const present = new Map<string, ObjectInfo>();
    for (const legacy of [false, true]) {
      const keys = new Set(allKeys.filter((k) => k.startsWith(MODERN_BASE) !== legacy));
      if (keys.size === 0) continue;
      for (const [k, info] of await this.presentIn(legacy ? '' : MODERN_BASE, keys, options, stats, count)) present.set(k, info);
    }
    this.lastQuery = stats;
    return present;
  }

  private async presentIn(base: string, wanted: ReadonlySet<string>, options: QueryOptions, stats: QueryStats, count: () => void): Promise<Map<string, ObjectInfo>> {
    const retry = options.retry ?? DEFAULT_RETRY;
    const found = new Map<string, ObjectInfo>();
    const head = async (candidates: string[]) => {
      stats.strategy = stats.strategy === 'list' ? 'list' : 'head';
      await mapLimit(candidates, options.jobs, async (k) => {
        const info = await withRetry(() => this.backend.head(k, { signal: options.signal }), retry, options.signal);
        count();
        if (info !== undefined) found.set(k, info);
      });
      return found;
    };
    if (wanted.size === 1 || !this.listable) return head([...wanted]);
    const prefixLen = this.backend.traversePrefixLen;
    const buckets = 16 ** prefixLen;
    // Estimate the remote size from the keys of oids starting with `0` x prefixLen.
    const estimatePrefix = `${base}00/${'0'.repeat(prefixLen - 2)}`;
    const limit = Math.ceil(Math.max(TRAVERSE_THRESHOLD_SIZE, (wanted.size / TRAVERSE_WEIGHT_MULTIPLIER) * LIST_PAGE) / buckets);
    const seen = new Map<string, ObjectInfo>();
    await withRetry(async () => {
      seen.clear();
      for await (const page of this.backend.list(estimatePrefix, { limit, signal: options.signal })) {
        count();
        for (const o of page) seen.set(o.key, o);
      }
    }, retry, options.signal);
    const remoteSize = Math.max(1, seen.size) * buckets;
    const pages = remoteSize / LIST_PAGE;
    const weight = remoteSize > TRAVERSE_THRESHOLD_SIZE ? pages * TRAVERSE_WEIGHT_MULTIPLIER : pages;
    if (wanted.size < weight) {
      const unseen: string[] = [];
      for (const k of wanted) {
        if (seen.has(k)) found.set(k, seen.get(k)!);
        else unseen.push(k);
      }
      return head(unseen);
    }

    stats.strategy = 'list';
    // A listing that fails part-way is restarted (keys already seen stay seen: they exist).
    const listAll = (prefix: string) =>
      withRetry(async () => {
        for await (const page of this.backend.list(prefix, { signal: options.signal })) {
          count();
          for (const o of page) {
            if (wanted.has(o.key) && KEY_RE.test(o.key.slice(base.length))) found.set(o.key, o);
          }
        }
      }, retry, options.signal);
    if (pages < 256 / options.jobs && base !== '') {
      await listAll(base);
    } else {
      // 256 two-hex-char prefixes in parallel (legacy remotes always: the root also holds files/).
      const prefixes = Array.from({ length: 256 }, (_, i) => `${base}${i.toString(16).padStart(2, '0')}/`);
      await mapLimit(prefixes, options.jobs, listAll);
    }
    return found;
  }

  /**
   * Uploads an object, hashing its bytes as they are read: bytes that do not hash to the oid
   * fail with `store.content-mismatch` and never appear under the object's key.
   */
  async upload(ref: ObjRef, localPath: string, size: number, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<void> {
    await this.backend.putFile(refKey(ref), localPath, size, { onBytes, signal, ...expectedContent(ref) });
  }

  async uploadBytes(ref: ObjRef, bytes: Buffer, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<void> {
    await this.backend.putBytes(refKey(ref), bytes, { onBytes, signal, ...expectedContent(ref) });
  }

  /**
   * Downloads an object into the cache: streamed to a temp file next to its final place, hashed
   * on the way (legacy file objects with the dos2unix rule over 1 MiB chunks, manifests and
   * DVC 3 objects with plain md5), renamed into place only when the hash matches the oid, then
   * made read-only. A mismatch is an integrity error naming the remote key; nothing is kept.
   * `maxBytes` (the size a pointer records; manifests default to MAX_MANIFEST_BYTES) stops a body
   * that runs longer, as soon as it does (a lying Content-Length, an endless body).
   */
  async download(ref: ObjRef, cache: Cache, onBytes?: (n: number) => void, signal?: AbortSignal, maxBytes?: number): Promise<{ path: string; size: number }> {
    const key = refKey(ref);
    const limit = maxBytes ?? (ref.oid.endsWith('.dir') ? MAX_MANIFEST_BYTES : undefined);
    const tooBig = () => this.oversized(key, limit!);
    const target = cache.objectPath(ref.oid, ref.legacy);
    const dir = dirname(target);
    if (!this.madeDirs.has(dir)) {
      await makeDirs(dir);
      removeStaleTemps(dir);
      this.madeDirs.add(dir);
    }
    const tmp = tempPathFor(target);
    const legacyHash = ref.legacy && !ref.oid.endsWith('.dir');
    /** Where a copy for the work tree is being written alongside (Cache.earlyCopyTarget), until the cache adopts it. */
    let earlyCopy: { path: string; mode: number } | undefined;
    try {
      const small = await this.backend.readSmall?.(key, SMALL_OBJECT);
      if (small !== undefined) {
        await this.publishSmall(ref, key, small, legacyHash, tmp, target);
        onBytes?.(small.length);
        return { path: target, size: small.length };
      }
      const { body, size } = await this.backend.get(key, { signal });
      if (limit !== undefined && size !== undefined && size > limit) {
        body.destroy();
        throw tooBig();
      }
      if (size !== undefined && size <= SMALL_OBJECT) {
        // Small objects: read into memory, hash, one synchronous write (no stream plumbing and no
        // thread-pool round trips per object: at 20k objects these cost more than the bytes).
        const bytes = await readBody(body, onBytes, signal, limit === undefined ? undefined : { maxBytes: limit, tooBig });
        await this.publishSmall(ref, key, bytes, legacyHash, tmp, target);
        return { path: target, size: bytes.length };
      }
      const bound = limit !== undefined ? { limit: { maxBytes: limit, tooBig } } : {};
      let got: { md5: string; size: number; copied?: boolean };
      if (size !== undefined && size >= FOLLOW_HASH_MIN_BYTES && !legacyHash) {
        earlyCopy = cache.earlyCopyTarget(target);
        got = await downloadHashedBehind(body, tmp, signal, onBytes, bound.limit, earlyCopy);
      } else {
        const hasher = new HashingTap({ legacy: legacyHash, onBytes, ...bound });
        await pipeline(body, hasher, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), { signal });
        got = { md5: hasher.md5!, size: hasher.bytesRead };
      }
      this.check(ref, key, got.md5);
      await chmod(tmp, 0o444).catch(() => undefined);
      stampVerifiedPath(tmp);
      await rename(tmp, target);
      cache.noteVerified(target);
      if (earlyCopy !== undefined && got.copied === true) {
        cache.adoptEarlyCopy(target, earlyCopy.path);
        earlyCopy = undefined;
      }
      return { path: target, size: got.size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw withPath(err, tmp);
    } finally {
      if (earlyCopy !== undefined) await rm(earlyCopy.path, { force: true });
    }
  }

  /**
   * Verifies in-memory bytes against the oid, then writes them once to `tmp` (read-only, stamped
   * verified) and renames it into place. The file's creation and the rename go through libuv's
   * pool: each waits on the filesystem's journal (hundreds of microseconds on a busy disk) and,
   * made synchronously, would hold up every other download's socket for that long; the write of
   * at most SMALL_OBJECT bytes into a fresh file, the stamp and the close stay synchronous.
   */
  private async publishSmall(ref: ObjRef, key: string, bytes: Buffer, legacyHash: boolean, tmp: string, target: string): Promise<void> {
    this.check(ref, key, md5OfBuffer(bytes, legacyHash));
    const fd = await openExclusive(tmp, 0o444);
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      stampVerifiedFd(fd);
    } finally {
      closeSync(fd);
    }
    await rename(tmp, target);
  }

  /** An object's bytes in memory (directory manifests), verified against the oid like download(). */
  async readVerified(ref: ObjRef, signal?: AbortSignal): Promise<Buffer> {
    const key = refKey(ref);
    const { body } = await this.backend.get(key, { signal });
    const bytes = await readBody(body, undefined, signal, { maxBytes: MAX_MANIFEST_BYTES, tooBig: () => this.oversized(key, MAX_MANIFEST_BYTES) });
    this.check(ref, key, md5OfBuffer(bytes, ref.legacy && !ref.oid.endsWith('.dir')));
    return bytes;
  }

  private oversized(key: string, maxBytes: number): Error {
    return integrityError('remote.oversized-object', `object ${key} on ${this.description} is longer than the ${maxBytes} bytes it may have (a lying size or an endless body); the download was stopped and nothing was kept`, {
      hint: 'the remote serves other bytes than this version names; from a clone whose cache has good bytes, run `reg verify --remote NAME --repair`',
      details: { key, maxBytes, remote: this.description },
    });
  }

  private check(ref: ObjRef, key: string, md5: string): void {
    const expected = ref.oid.replace(/\.dir$/, '');
    if (md5 !== expected) {
      throw integrityError('remote.corrupt-object', `object ${key} on ${this.description} is corrupt: its content hashes to ${md5}, not ${expected}`, {
        hint: 'the copy on the remote is damaged; from a clone whose cache has good bytes, run `reg verify --remote NAME --repair` to replace it',
        details: { key, expected, actual: md5, remote: this.description },
      });
    }
  }
}

/**
 * A big object's body written to `tmp` while a worker thread hashes the written prefix behind
 * it (FollowingHasher): receiving and hashing run on two cores instead of one. With `copyTo`
 * the worker also writes the bytes it hashed to that file (`copied` once it holds them all); out
 * of space, that copy is given up before the object's own write fails.
 */
async function downloadHashedBehind(body: Readable, tmp: string, signal: AbortSignal | undefined, onBytes: ((n: number) => void) | undefined, limit: BodyLimit | undefined, copyTo?: { path: string; mode: number }): Promise<{ md5: string; size: number; copied: boolean }> {
  const fd = await openExclusive(tmp, 0o644);
  let hasher: FollowingHasher | undefined;
  let writer: PositionedFileWriter | undefined;
  try {
    const follower = (hasher = new FollowingHasher(tmp, copyTo));
    writer = new PositionedFileWriter(fd, (written) => follower.advance(written), onBytes, limit, copyTo === undefined ? undefined : () => follower.giveUpCopy());
    await pipeline(body, writer, { signal });
    const md5 = await follower.digest(writer.bytesWritten);
    return { md5, size: writer.bytesWritten, copied: follower.copied };
  } finally {
    // A failed pipeline may leave a write on the pool: closing its fd first could let a file opened meanwhile take the number.
    await writer?.settled();
    closeSync(fd);
    await hasher?.dispose();
  }
}

const openFd = promisify(openCallback);

/** open(path, 'wx', mode) on libuv's pool, as a plain descriptor (not a FileHandle). */
function openExclusive(path: string, mode: number): Promise<number> {
  return openFd(path, 'wx', mode);
}

/** What an object's bytes must hash to: plain md5 for DVC 3 objects and manifests, md5-dos2unix for legacy files. */
export function expectedContent(ref: ObjRef): Pick<PutOptions, 'expectMd5' | 'legacy'> {
  const isDir = ref.oid.endsWith('.dir');
  return { expectMd5: isDir ? ref.oid.slice(0, -4) : ref.oid, legacy: ref.legacy && !isDir };
}

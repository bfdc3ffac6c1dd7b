import type { Readable } from 'node:stream';
import { md5OfBuffer } from '../data/hash.js';
import { integrityError, type RegError } from '../errors.js';
import { readBody, type BodyLimit } from './body.js';

/**
 * A place that stores bytes under '/'-separated keys: a local directory or an S3 prefix.
 * Backends move bytes only; which keys exist and what the bytes must hash to is decided by
 * the oid-addressed layer above (object-store.ts).
 */
export interface ObjectInfo {
  /** Key relative to the backend root ('/'-separated). */
  key: string;
  /** Byte size; listings of directory remotes leave it out (it would cost one stat per object). */
  size?: number;
  /**
   * MD5 of the stored bytes when the backend knows it without reading them (an S3 single-part
   * ETag without SSE-KMS); absent otherwise (multipart ETags, directory remotes).
   */
  md5?: string;
  /** Last write time (ms since the epoch) when the backend reports it: S3 listings and HEADs, directory HEADs. */
  modified?: number;
}

export interface PutOptions {
  signal?: AbortSignal;
  /** Called with the number of bytes sent since the last call (progress). */
  onBytes?: (n: number) => void;
  /**
   * The bytes must hash to this (hex md5, hashed while they are read for upload): on a mismatch
   * the put fails with `store.content-mismatch` and no object appears under `key` — a directory
   * remote never renames its temp file, S3 never receives the whole body.
   */
  expectMd5?: string;
  /** With expectMd5: hash with DVC 2's md5-dos2unix rule (legacy file objects). */
  legacy?: boolean;
  /** The object's media type where the backend stores one (S3: Content-Type, so a static site renders). */
  contentType?: string;
}

export interface GetOptions {
  signal?: AbortSignal;
}

/** Reading a small object whole (manifests, locks, site files): never more than `limit` bytes of it. */
export interface ReadSmallOptions extends GetOptions {
  limit: BodyLimit;
}

export interface ListOptions {
  /** Stop after this many keys (used to estimate the remote size cheaply). */
  limit?: number;
  signal?: AbortSignal;
}

export interface Backend {
  /** Human-readable location with secrets removed (for messages). */
  readonly description: string;
  /**
   * Key-prefix length worth listing in parallel (3 for object stores, 2 for directories),
   * the same constants DVC uses (dvc-compat.md §5.3).
   */
  readonly traversePrefixLen: number;
  /** True for backends where one existence check is a network round trip. */
  readonly remote: boolean;

  exists(key: string, options?: GetOptions): Promise<boolean>;
  /** Size of the object, or undefined when it does not exist. */
  head(key: string, options?: GetOptions): Promise<ObjectInfo | undefined>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, not a directory:
   * `files/md5/00/0` lists the keys of oids starting `000`), page by page.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo[]>;
  /** A stream of the object's bytes; rejects with a NotFoundError when it does not exist. */
  get(key: string, options?: GetOptions): Promise<{ body: Readable; size?: number }>;
  /** Stores a file's bytes under `key`, atomically (readers never see a partial object). */
  putFile(key: string, path: string, size: number, options?: PutOptions): Promise<void>;
  putBytes(key: string, bytes: Buffer, options?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Optional fast path for small objects: the whole body when it is at most `max` bytes, else
   * undefined (callers then use get). Backends where a stream per object is costly offer it.
   */
  readSmall?(key: string, max: number): Promise<Buffer | undefined>;
  /** The object's file, for backends that are local directories (verify re-hashes it in place). */
  localPath?(key: string): string;
  /**
   * Why this backend cannot store objects (an HTTP(S) remote, an anonymous S3 remote), or
   * undefined when it can. Pushes refuse such a remote before they start.
   */
  readonly readOnly?: string;
  /** False when the backend cannot list keys (HTTP): existence is then asked per object. */
  readonly listable?: boolean;
  /** S3: a time-limited GET URL for `key` that needs no credentials (SigV4 presigning). */
  presignGet?(key: string, expiresInSeconds: number): Promise<string>;
  /**
   * Optional, for small objects updated in place (sync manifests): the bytes and a version tag
   * (S3: the ETag; directories: the MD5 of the bytes), or undefined when the object does not exist.
   */
  readVersioned?(key: string, options: ReadSmallOptions): Promise<VersionedObject | undefined>;
  /**
   * Optional compare-and-swap: stores `bytes` only if the object is still at version `expected`
   * (undefined: only if it does not exist), atomically; returns the new version. Rejects with a
   * PreconditionFailedError when the object changed, and with a ConditionalWritesUnsupportedError
   * when the server turns out to ignore conditions (callers then fall back to re-checking).
   */
  putIfVersion?(key: string, bytes: Buffer, expected: string | undefined, options?: PutOptions): Promise<string>;
  /** Releases sockets etc. */
  close(): void;
}

/** Base of backends that wrap another one (fault injection, retries): the inner backend's identity. */
export abstract class BackendWrapper {
  constructor(readonly inner: Backend) {}
  get description(): string {
    return this.inner.description;
  }
  get traversePrefixLen(): number {
    return this.inner.traversePrefixLen;
  }
  get remote(): boolean {
    return this.inner.remote;
  }
  close(): void {
    this.inner.close();
  }
}

export interface VersionedObject {
  bytes: Buffer;
  version: string;
}

/** A conditional write found the object changed (or present) since it was read. */
export class PreconditionFailedError extends Error {
  readonly preconditionFailed = true;
  constructor(readonly key: string, where: string) {
    super(`${key} on ${where} changed since it was read`);
    this.name = 'PreconditionFailedError';
  }
}

export function isPreconditionFailed(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { preconditionFailed?: unknown }).preconditionFailed === true;
}

/** The server accepted a conditional write but ignored the condition (detected by a probe). */
export class ConditionalWritesUnsupportedError extends Error {
  readonly conditionalWritesUnsupported = true;
  constructor(where: string) {
    super(`${where} ignores conditional writes (If-Match / If-None-Match)`);
    this.name = 'ConditionalWritesUnsupportedError';
  }
}

export function isConditionalWritesUnsupported(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { conditionalWritesUnsupported?: unknown }).conditionalWritesUnsupported === true;
}

/** The object does not exist on the backend (not retriable). */
export class NotFoundError extends Error {
  readonly notFound = true;
  constructor(readonly key: string, where: string) {
    super(`${key} does not exist in ${where}`);
    this.name = 'NotFoundError';
  }
}

export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { notFound?: unknown }).notFound === true;
}

/**
 * The whole object at `key` (small objects: markers, manifests, site files), or undefined when it
 * does not exist; `limit.tooBig()` is thrown as soon as it runs longer than `limit.maxBytes` (a
 * bucket's writer decides its size, not reg's memory).
 */
export async function readWholeObject(backend: Backend, key: string, options: ReadSmallOptions): Promise<Buffer | undefined> {
  try {
    const { body, size } = await backend.get(key, { ...(options.signal ? { signal: options.signal } : {}) });
    if (size !== undefined && size > options.limit.maxBytes) {
      body.destroy();
      throw options.limit.tooBig();
    }
    return await readBody(body, undefined, options.signal, options.limit);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The bytes read for an upload do not hash to the name they were to be stored under. */
export function contentMismatchError(key: string, where: string, expected: string, actual: string): RegError {
  return integrityError('store.content-mismatch', `refusing to upload ${key} to ${where}: the local bytes hash to ${actual}, not ${expected}`, {
    details: { key, expected, actual },
  });
}

/** Checks in-memory bytes against PutOptions.expectMd5 before they are sent. */
export function checkPutBytes(key: string, where: string, bytes: Buffer, options: PutOptions): void {
  if (options.expectMd5 === undefined) return;
  const actual = md5OfBuffer(bytes, options.legacy);
  if (actual !== options.expectMd5) throw contentMismatchError(key, where, options.expectMd5, actual);
}

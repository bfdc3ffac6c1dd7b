import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { createRequire } from 'node:module';
import type { PutObjectCommandInput, S3ClientConfig } from '@aws-sdk/client-s3';
import { RegError, integrityError } from '../errors.js';
import { ConditionalWritesUnsupportedError, NotFoundError, PreconditionFailedError, checkPutBytes, type Backend, type GetOptions, type ListOptions, type ObjectInfo, type PutOptions, type ReadSmallOptions, type VersionedObject } from './backend.js';
import { readBody } from './body.js';
import { HashingTap } from './hashing-tap.js';
import { type S3Options } from './s3-config.js';
import { watchingAgents } from './response-watch.js';
import { IdleTimeoutHandler, boundedStreamCollector } from './s3-http.js';

/**
 * The SDK ships CommonJS. `require` loads it as it is; an ESM `import` of it first scans the
 * source for its export names (cjs-module-lexer over the 270 kB client bundle), ~80 ms of CPU
 * in every process that talks to S3.
 */
const require = createRequire(import.meta.url);
const { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } = require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
type S3Client = InstanceType<typeof S3Client>;
type GetObjectCommand = InstanceType<typeof GetObjectCommand>;
export { parseS3Url, type ChecksumMode, type S3Options } from './s3-config.js';

/** Objects up to this size are sent from memory (the SDK can replay them on retry). */
export const BUFFERED_PUT_MAX = 1 << 20;
/** Above this size, multipart upload (lib-storage) with bounded part buffers. */
/** A logger that is not the SDK's NoOpLogger, which some SDK code replaces with the console. */
const QUIET_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export const MULTIPART_THRESHOLD = 64 << 20;
export const PART_SIZE = 16 << 20;
const PART_QUEUE = 2;
/** When an aborted upload's key is looked at, in ms after the abort, until something is found there. */
const TRUNCATED_RECHECK_MS = [0, 100, 300, 600];

/** Seconds: the defaults of the connect-timeout and read-timeout remote options. */
export const DEFAULT_CONNECT_TIMEOUT = 10;
export const DEFAULT_READ_TIMEOUT = 60;

/**
 * S3 (and S3-compatible) backend over @aws-sdk/client-s3. Requests are sent without SDK retries:
 * the caller's retry layer (GuardedBackend) retries within one budget, so the two never multiply.
 * Multipart parts are the exception (a separate client retries a failed part, not the whole file).
 * Every request has a connect timeout and an idle timeout that aborts it (IdleTimeoutHandler).
 */
export class S3Backend implements Backend {
  readonly traversePrefixLen = 3;
  readonly remote = true;
  readonly description: string;
  private readonly client: S3Client;
  /** Streamed single-part PUTs (the body cannot be replayed): the same single-attempt client. */
  private readonly streamClient: S3Client;
  private readonly partClient: S3Client;
  private readonly verifyEtag: boolean;
  private bucketChecked: Promise<void> | undefined;
  private readonly requestHandler: IdleTimeoutHandler;
  /** The direct GetObject route, learnt from the first GetObject the SDK sent (see fastGet). */
  private getRoute: GetRoute | undefined;

  constructor(readonly options: S3Options, credentialProvider?: S3ClientConfig['credentials']) {
    this.description = `s3://${options.bucket}${options.prefix ? '/' + options.prefix : ''}${options.endpointUrl ? ` (${options.endpointUrl})` : ''}`;
    const readTimeoutMs = (options.readTimeout ?? DEFAULT_READ_TIMEOUT) * 1000;
    const { httpAgent, httpsAgent } = watchingAgents({ readTimeoutMs, maxSockets: options.maxSockets, sslVerify: options.sslVerify });
    const requestHandler = (this.requestHandler = new IdleTimeoutHandler(readTimeoutMs, {
      httpAgent,
      httpsAgent,
      connectionTimeout: (options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT) * 1000,
    }));
    const base: S3ClientConfig = {
      region: options.region,
      endpoint: options.endpointUrl,
      forcePathStyle: options.pathStyle ?? false,
      followRegionRedirects: options.region === undefined,
      requestChecksumCalculation: options.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      responseChecksumValidation: options.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      requestHandler,
      streamCollector: boundedStreamCollector,
      // With its default logger (NoOpLogger) the SDK's retry middleware writes to the console
      // ("An error was encountered in a non-retryable streaming request.", once per failed upload
      // attempt, even under -q); reg reports every failure itself.
      logger: QUIET_LOGGER,
      ...(options.anonymous
        ? // Unsigned requests: the no-auth scheme resolves no identity and signs nothing.
          { httpAuthSchemeProvider: () => [{ schemeId: 'smithy.api#noAuth' }], httpAuthSchemes: [{ schemeId: 'smithy.api#noAuth', identityProvider: () => async () => ({}), signer: { sign: async (request) => request } }] }
        : credentialProvider ? { credentials: credentialProvider } : options.profile ? { profile: options.profile } : {}),
    };
    this.client = new S3Client({ ...base, maxAttempts: 1 });
    this.streamClient = this.client;
    this.partClient = new S3Client({ ...base, maxAttempts: options.maxAttempts ?? 3, retryMode: 'standard' });
    // SSE-KMS / SSE-C objects have ETags that are not the MD5 of the body.
    this.verifyEtag = options.sse !== 'aws:kms' && options.sseKmsKeyId === undefined;
  }

  private fullKey(key: string): string {
    return this.options.prefix ? `${this.options.prefix}/${key}` : key;
  }

  private relKey(full: string): string {
    return this.options.prefix ? full.slice(this.options.prefix.length + 1) : full;
  }

  async exists(key: string, options: GetOptions = {}): Promise<boolean> {
    return (await this.head(key, options)) !== undefined;
  }

  async head(key: string, options: GetOptions = {}): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.fullKey(key) }), { abortSignal: options.signal });
      return { key, size: r.ContentLength ?? 0, ...this.etagMd5(r.ETag), ...(r.LastModified ? { modified: r.LastModified.getTime() } : {}) };
    } catch (err) {
      if (!isS3NotFound(err)) throw err;
      // A HEAD has no error body: "no such key" and "no such bucket" look the same. Ask once.
      await this.checkBucket(options.signal);
      return undefined;
    }
  }

  private checkBucket(signal?: AbortSignal): Promise<void> {
    this.bucketChecked ??= this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), { abortSignal: signal }).then(
      () => undefined,
      (err: unknown) => {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (err as { name?: string }).name === 'NoSuchBucket') {
          throw Object.assign(new Error(`bucket ${this.options.bucket} does not exist`), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
        }
        if (status === 403) return; // may not list the bucket: the objects may still be reachable
        this.bucketChecked = undefined; // transient: ask again next time
        throw err;
      },
    );
    return this.bucketChecked;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo[]> {
    // No Delimiter: some S3-compatible servers drop prefixes that only hold sub-prefixes.
    let token: string | undefined;
    let count = 0;
    const limit = options.limit ?? Infinity;
    // A listing must advance: a server that hands back a token it gave before would be asked forever.
    const tokens = new Set<string>();
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.options.bucket,
          Prefix: this.fullKey(prefix),
          ContinuationToken: token,
          MaxKeys: Math.min(1000, Math.max(1, limit - count)),
        }),
        { abortSignal: options.signal },
      );
      const page = (r.Contents ?? []).filter((o) => o.Key !== undefined).map((o) => ({ key: this.relKey(o.Key!), size: o.Size ?? 0, ...this.etagMd5(o.ETag), ...(o.LastModified ? { modified: o.LastModified.getTime() } : {}) }));
      count += page.length;
      if (page.length > 0) yield page;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
      if (token !== undefined) {
        if (tokens.has(token) || (r.IsTruncated && token === '')) {
          throw new RegError('remote.bad-listing', 'transfer', `${this.description}: the listing of ${prefix || 'the remote'} does not advance (the server repeats the continuation token ${JSON.stringify(token.slice(0, 64))})`, {
            hint: 'the S3-compatible server is broken or hostile; check endpoint-url (reg remote list) and the server',
          });
        }
        tokens.add(token);
      }
    } while (token !== undefined && count < limit);
  }

  async get(key: string, options: GetOptions = {}): Promise<{ body: Readable; size?: number }> {
    if (this.getRoute !== undefined && PLAIN_KEY.test(key)) return this.fastGet(this.getRoute, key, options);
    try {
      const command = new GetObjectCommand({ Bucket: this.options.bucket, Key: this.fullKey(key) });
      if (this.getRoute === undefined && PLAIN_KEY.test(key) && this.options.region !== undefined) this.learnGetRoute(command, key);
      const r = await this.client.send(command, { abortSignal: options.signal });
      if (!(r.Body instanceof Readable)) throw new Error(`unexpected response body type for ${key}`);
      return { body: r.Body, size: r.ContentLength };
    } catch (err) {
      if (isS3NotFound(err)) throw new NotFoundError(key, this.description);
      throw err;
    }
  }

  /**
   * Records, from a GetObject the SDK sends, what every further GetObject needs: the signed
   * request as it went out (endpoint, path up to the key, query, user agent) and the SigV4 signer
   * with its signing properties. Only for plain SigV4 (not SigV4a, not S3 Express sessions) and a
   * configured region (no region redirects to follow).
   */
  private learnGetRoute(command: GetObjectCommand, key: string): void {
    command.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const scheme = (context as { __smithy_context?: { selectedHttpAuthScheme?: SelectedAuthScheme } }).__smithy_context?.selectedHttpAuthScheme;
        const request = args.request as GetRoute['template'];
        const keyPath = `/${key}`;
        const props = scheme?.httpAuthOption.signingProperties as SigningProperties | undefined;
        if (this.getRoute === undefined && scheme?.httpAuthOption.schemeId === 'aws.auth#sigv4' && props?.config?.signer !== undefined && typeof props.signingRegion === 'string' && typeof props.signingName === 'string' && typeof request?.path === 'string' && request.path.endsWith(keyPath) && request.body === undefined) {
          // The SDK builds this SigV4 signer again for every request; one serves them all (it asks the credential provider on each signature).
          const signer = props.config.signer((context as { endpointV2?: { properties?: { authSchemes?: unknown[] } } }).endpointV2?.properties?.authSchemes?.[0]);
          signer.catch(() => undefined);
          this.getRoute = { template: request, basePath: request.path.slice(0, -keyPath.length), signer, config: props.config, signingRegion: props.signingRegion, signingName: props.signingName };
        }
        return result;
      },
      { step: 'deserialize', name: 'regLearnGetRoute', priority: 'low' },
    );
  }

  /**
   * GetObject without the SDK's per-request middleware (endpoint rules, serde, retry bookkeeping,
   * logging filters: a third of a pull's CPU at 20k small objects): the learnt request with the
   * key swapped in, signed by the SDK's own signer and credentials, sent through the same HTTP
   * handler (agents, connect and idle timeouts). Error responses become errors shaped like the
   * SDK's (name from the S3 error code, $metadata.httpStatusCode, $fault, $response), so retry
   * and classification treat both routes alike.
   */
  private async fastGet(route: GetRoute, key: string, options: GetOptions): Promise<{ body: Readable; size?: number }> {
    const t = route.template;
    const request = {
      method: 'GET',
      protocol: t.protocol,
      hostname: t.hostname,
      ...(t.port !== undefined ? { port: t.port } : {}),
      path: `${route.basePath}/${key}`,
      query: { ...t.query },
      headers: pickHeaders(t.headers, ['host', 'user-agent', 'x-amz-user-agent']),
    };
    // As the SDK signs: its clock-skew correction, the endpoint's signing region and name.
    const signed = await (await route.signer).sign(request, { signingDate: new Date(Date.now() + (route.config.systemClockOffset ?? 0)), signingRegion: route.signingRegion, signingService: route.signingName });
    const { response } = await this.requestHandler.handle(signed as Parameters<IdleTimeoutHandler['handle']>[0], { abortSignal: options.signal });
    const body = response.body as Readable;
    if (response.statusCode >= 200 && response.statusCode < 300) {
      const length = response.headers['content-length'];
      return { body, size: length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : undefined };
    }
    const err = await s3ErrorFromResponse(response.statusCode, response.headers, body, response);
    if (isS3NotFound(err)) throw new NotFoundError(key, this.description);
    throw err;
  }

  private putParams(key: string): PutObjectCommandInput {
    const o = this.options;
    return {
      Bucket: o.bucket,
      Key: this.fullKey(key),
      ...(o.sse ? { ServerSideEncryption: o.sse as PutObjectCommandInput['ServerSideEncryption'] } : {}),
      ...(o.sseKmsKeyId ? { SSEKMSKeyId: o.sseKmsKeyId } : {}),
      ...(o.acl ? { ACL: o.acl as PutObjectCommandInput['ACL'] } : {}),
    };
  }

  async putBytes(key: string, bytes: Buffer, options: PutOptions = {}): Promise<void> {
    checkPutBytes(key, this.description, bytes, options);
    const r = await this.client.send(new PutObjectCommand({ ...this.putParams(key), ...(options.contentType ? { ContentType: options.contentType } : {}), Body: bytes, ContentLength: bytes.length }), { abortSignal: options.signal });
    options.onBytes?.(bytes.length);
    await this.checkEtag(key, r.ETag, createHash('md5').update(bytes).digest('hex'));
  }

  async putFile(key: string, path: string, size: number, options: PutOptions = {}): Promise<void> {
    if (size <= BUFFERED_PUT_MAX) {
      await this.putBytes(key, await readFile(path), options);
      return;
    }
    if (size > (this.options.multipartThreshold ?? MULTIPART_THRESHOLD)) await this.putMultipart(key, path, options);
    else await this.putStreamed(key, path, size, options);
  }

  /**
   * Streamed single PUT, hashed as it is read. With expectMd5 the last chunk is held back until
   * the digest is known and, on a mismatch, the request is aborted short of its Content-Length
   * (S3 then stores nothing). Servers that keep a truncated body anyway (s3rver) get it deleted
   * again. Legacy objects are hashed in a first pass: their oid is not the md5 of the body.
   */
  private async putStreamed(key: string, path: string, size: number, options: PutOptions): Promise<void> {
    let bodyMd5 = options.expectMd5;
    if (options.expectMd5 !== undefined && options.legacy) {
      const first = new HashingTap({ legacy: true, plain: true, expect: { md5: options.expectMd5, key, where: this.description } });
      await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), first, new Writable({ write: (_c, _e, cb) => cb() }), { signal: options.signal });
      bodyMd5 = first.plainMd5;
    }
    const tap = new HashingTap({
      legacy: false,
      onBytes: options.onBytes,
      ...(bodyMd5 !== undefined ? { expect: { md5: bodyMd5, key, where: this.description }, limit: { maxBytes: size } } : {}),
    });
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    file.on('error', (err) => tap.destroy(err));
    // The SDK pipes the body into the request and does not notice when the body fails: abort it.
    const stop = new AbortController();
    tap.on('error', (err) => stop.abort(err));
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    file.pipe(tap);
    try {
      const r = await this.streamClient.send(new PutObjectCommand({ ...this.putParams(key), Body: tap, ContentLength: size }), { abortSignal: signal });
      // The returned ETag is compared with the md5 of what was sent: catches servers that store
      // the body differently from what was sent.
      await this.checkEtag(key, r.ETag, tap.md5!);
    } catch (err) {
      if (tap.failure === undefined) throw err;
      await this.removeTruncated(key, bodyMd5!, options.signal);
      throw tap.failure;
    } finally {
      file.destroy();
      tap.destroy();
    }
  }

  /**
   * After an aborted PUT: deletes what a lenient server kept under the key, unless it is the good
   * object. Such a server (s3rver) may still be working through the dead request and create the
   * object after a first look finds nothing, so an empty key is looked at again for a while. A look
   * the remote does not answer, or an interrupt, ends the looking: the refusal stands either way.
   */
  private async removeTruncated(key: string, goodMd5: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      for (const wait of TRUNCATED_RECHECK_MS) {
        if (wait > 0) await delay(wait, undefined, { signal });
        const info = await this.head(key, { signal });
        if (info === undefined) continue;
        if (info.md5 !== undefined && info.md5 !== goodMd5) await this.delete(key);
        return;
      }
    } catch {
      // nothing more to learn from this remote now
    }
  }

  /**
   * Multipart: parts are buffered (PART_SIZE x PART_QUEUE per upload) so the SDK can retry them.
   * The body is hashed as lib-storage reads it; it only yields the last part once the body has
   * ended, so a mismatch fails the body first and the upload is aborted before
   * CompleteMultipartUpload: no object appears. Multipart ETags are not MD5s.
   */
  private async putMultipart(key: string, path: string, options: PutOptions): Promise<void> {
    const tap = new HashingTap({
      legacy: options.legacy ?? false,
      ...(options.expectMd5 !== undefined ? { expect: { md5: options.expectMd5, key, where: this.description } } : {}),
    });
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    file.on('error', (err) => tap.destroy(err));
    file.pipe(tap);
    // Loaded here: only multipart uploads need it.
    const { Upload } = require('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client: this.partClient,
      params: { ...this.putParams(key), Body: tap },
      partSize: this.options.partSize ?? PART_SIZE,
      queueSize: PART_QUEUE,
      leavePartsOnError: false,
    });
    let loaded = 0;
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined && p.loaded > loaded) {
        options.onBytes?.(p.loaded - loaded);
        loaded = p.loaded;
      }
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      // Aborting the upload may fail too (s3rver does not implement it): the tap's error is the cause.
      throw tap.failure ?? err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      file.destroy();
      tap.destroy();
    }
  }

  /** `{ md5 }` when the ETag is the MD5 of the stored bytes (single part, no SSE-KMS), else `{}`. */
  private etagMd5(etag: string | undefined): { md5?: string } {
    const clean = etag?.replace(/"/g, '').toLowerCase();
    return this.verifyEtag && clean !== undefined && /^[0-9a-f]{32}$/.test(clean) ? { md5: clean } : {};
  }

  /**
   * A single-part ETag is the MD5 of the stored bytes: if it differs from what was sent, the
   * object is removed again (so a later push does not take it as present) and the upload fails.
   */
  private async checkEtag(key: string, etag: string | undefined, expected: string): Promise<void> {
    if (!this.verifyEtag || etag === undefined) return;
    const clean = etag.replace(/"/g, '').toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(clean)) return;
    if (clean !== expected) {
      const removed = await this.delete(key).then(() => true, () => false);
      throw integrityError('s3.etag-mismatch', `${this.description}: the server stored different bytes for ${this.fullKey(key)} (ETag ${clean}, sent md5 ${expected}); ${removed ? 'the bad object was deleted' : 'deleting the bad object failed too: delete it by hand'}`, {
        hint: this.options.checksums === 'when_supported'
          ? 'this S3-compatible server mishandles AWS checksum trailers; run: reg remote modify <name> checksums when_required'
          : 'the object on the remote is corrupt; re-run the push (it overwrites the object)',
        details: { key: this.fullKey(key), etag: clean, md5: expected },
      });
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.fullKey(key) }));
  }

  /** A SigV4 presigned GET URL (the presigner and its SDK version line are loaded on first use). */
  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.options.bucket, Key: this.fullKey(key) }), { expiresIn: expiresInSeconds });
  }

  async readVersioned(key: string, options: ReadSmallOptions): Promise<VersionedObject | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.fullKey(key) }), { abortSignal: options.signal });
      if (!(r.Body instanceof Readable)) throw new Error(`unexpected response body type for ${key}`);
      if (r.ContentLength !== undefined && r.ContentLength > options.limit.maxBytes) {
        r.Body.destroy();
        throw options.limit.tooBig();
      }
      return { bytes: await readBody(r.Body, undefined, options.signal, options.limit), version: r.ETag ?? '' };
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw err;
    }
  }

  /** If-None-Match: * to create, If-Match: ETag to replace; only once a probe showed the server honours them. */
  async putIfVersion(key: string, bytes: Buffer, expected: string | undefined, options: PutOptions = {}): Promise<string> {
    if (!(await this.conditionalWrites(options.signal))) throw new ConditionalWritesUnsupportedError(this.description);
    try {
      const r = await this.client.send(
        new PutObjectCommand({ ...this.putParams(key), Body: bytes, ContentLength: bytes.length, ...(expected === undefined ? { IfNoneMatch: '*' } : { IfMatch: expected }) }),
        { abortSignal: options.signal },
      );
      options.onBytes?.(bytes.length);
      return r.ETag ?? '';
    } catch (err) {
      if (isConditionFailure(err)) throw new PreconditionFailedError(this.fullKey(key), this.description);
      throw err;
    }
  }

  private conditionalProbe: Promise<boolean> | undefined;

  /**
   * Whether the server honours If-Match and If-None-Match on PUT. Many S3-compatible servers
   * accept the headers and ignore them, so this is tested, never assumed: a scratch object is
   * written, then overwritten under a condition that must fail; a server that stores it anyway
   * ignores conditions.
   */
  private conditionalWrites(signal?: AbortSignal): Promise<boolean> {
    this.conditionalProbe ??= (async () => {
      const key = this.fullKey(`.reg-probe/conditional-${randomBytes(8).toString('hex')}`);
      const put = (extra: Partial<PutObjectCommandInput>) =>
        this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: Buffer.from('probe\n'), ContentLength: 6, ...extra }), { abortSignal: signal });
      await put({});
      try {
        for (const condition of [{ IfMatch: '"00000000000000000000000000000000"' }, { IfNoneMatch: '*' }]) {
          try {
            await put(condition);
            return false; // stored despite a condition that cannot hold
          } catch (err) {
            if (!isConditionFailure(err)) {
              const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
              if (status === 400 || status === 501) return false; // refused the header: no support
              throw err;
            }
          }
        }
        return true;
      } finally {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key })).catch(() => undefined);
      }
    })().catch((err: unknown) => {
      this.conditionalProbe = undefined; // transient: probe again next time
      throw err;
    });
    return this.conditionalProbe;
  }

  close(): void {
    this.client.destroy();
    this.partClient.destroy();
  }
}

/** Keys the direct GetObject route sends as they are: the cache layout's `files/md5/`, hex, slashes and `.dir`: nothing URI escaping would change. */
const PLAIN_KEY = /^[0-9a-z/]+(\.dir)?$/;

interface SelectedAuthScheme {
  httpAuthOption: { schemeId: string; signingProperties?: Record<string, unknown> };
}

interface RequestSigner {
  sign(request: unknown, options: { signingDate: Date; signingRegion: string; signingService: string }): Promise<unknown>;
}

/** What the SDK's SigV4 auth scheme keeps in its signing properties (the resolved client config, region and service). */
interface SigningProperties {
  config?: { signer(authScheme: unknown): Promise<RequestSigner>; systemClockOffset?: number };
  signingRegion?: unknown;
  signingName?: unknown;
}

interface GetRoute {
  template: { protocol: string; hostname: string; port?: number; path: string; query: Record<string, string | string[] | null>; headers: Record<string, string>; body?: unknown };
  /** The request path before `/<key relative to the prefix>` (the bucket and prefix, encoded as the SDK encoded them). */
  basePath: string;
  signer: Promise<RequestSigner>;
  config: NonNullable<SigningProperties['config']>;
  signingRegion: string;
  signingName: string;
}

function pickHeaders(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (names.includes(k.toLowerCase())) out[k] = v;
  return out;
}

/** Error bodies read at most this far (S3 error documents are a few hundred bytes). */
const ERROR_BODY_MAX = 64 * 1024;

/**
 * An S3 error response as the SDK would have thrown it: `name` from the XML error's Code (else
 * `Unknown`), `message` from its Message, `$fault`, `$metadata` (status, request ids),
 * `$response` (headers: x-amz-bucket-region) and `Region` from the body where present.
 */
async function s3ErrorFromResponse(status: number, headers: Record<string, string>, body: Readable | undefined, response: unknown): Promise<Error> {
  let text = '';
  if (body !== undefined) {
    try {
      for await (const chunk of body) {
        text += (chunk as Buffer).toString('utf8');
        if (text.length > ERROR_BODY_MAX) break;
      }
    } catch {
      // the status says enough
    } finally {
      body.destroy();
    }
  }
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1]?.replace(/&lt;|&gt;|&quot;|&apos;|&amp;/g, (e) => ({ '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'", '&amp;': '&' })[e]!);
  const code = field('Code');
  // The SDK's names for a body without an error code: `Unknown`, message `UnknownError`.
  const name = code ?? 'Unknown';
  const region = field('Region');
  return Object.assign(new Error(field('Message') ?? (code ?? 'UnknownError')), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId: headers['x-amz-request-id'], extendedRequestId: headers['x-amz-id-2'], attempts: 1, totalRetryDelay: 0 },
    $response: response,
    ...(region !== undefined ? { Region: region } : {}),
  });
}

/** 412 Precondition Failed, or 409 ConditionalRequestConflict (a concurrent conditional write won). */
function isConditionFailure(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.name === 'ConditionalRequestConflict' || e?.$metadata?.httpStatusCode === 412 || e?.$metadata?.httpStatusCode === 409;
}

function isS3NotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === 'NoSuchBucket') return false;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

import { type Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { type Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { RegError } from '../errors.js';
import { NotFoundError, type Backend, type GetOptions, type ObjectInfo } from './backend.js';
import { watchSocketBody, watchingAgents } from './response-watch.js';
import { isRetriable } from './transfer.js';

/**
 * A read-only remote served over HTTP(S): any static file server or bucket website holding a
 * remote's layout (`files/md5/XX/REST`), e.g. a directory remote behind nginx. HEAD and GET only;
 * it cannot list, so presence is asked per object (ObjectStore does that for `listable: false`).
 * Downloads are verified by the object store like every other backend's. A body that breaks
 * off is resumed with a ranged GET (If-Range on the validator the first response gave), so a
 * large object does not start over after a reset.
 */
export interface HttpOptions {
  /** Base URL (`https://host/path`); keys are appended below it. */
  url: string;
  /** Seconds without data moving before a request is aborted (default 60). */
  readTimeout?: number;
  /** Seconds to connect (default 10). */
  connectTimeout?: number;
  /** Sockets to keep open (the transfer concurrency). */
  maxSockets: number;
  /** false disables TLS verification; a CA bundle (PEM) replaces the default ones. */
  sslVerify?: boolean | { caBundle: Buffer };
}

const MAX_REDIRECTS = 5;
/** Times one download may be resumed with a ranged GET after its body broke off. */
const MAX_RESUMES = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** The URL without user info, query or fragment (for messages). */
export function describeHttpUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/** The refusal of every write to a read-only remote (exit 3). */
export function readOnlyRemoteError(name: string, description: string, reason: string): RegError {
  return new RegError('remote.read-only', 'config', `remote "${name}" (${description}) is read-only: ${reason}`, {
    hint: `push to a remote reg can write (an S3 bucket with credentials or a directory), e.g. the one this remote mirrors: reg push -r OTHER; list them with reg remote list`,
  });
}

/** An HTTP status as an error shaped like the SDK's, so retries and messages treat both alike. */
function statusError(status: number, statusMessage: string | undefined, url: string): Error {
  const names: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 408: 'RequestTimeout', 429: 'TooManyRequests', 500: 'InternalError', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout' };
  return Object.assign(new Error(`HTTP ${status}${statusMessage ? ` ${statusMessage}` : ''} for ${describeHttpUrl(url)}`), {
    name: names[status] ?? (status >= 500 ? 'ServerError' : 'HttpError'),
    $metadata: { httpStatusCode: status },
  });
}

function timeoutError(what: string, seconds: number, option: string): Error {
  return Object.assign(new Error(`${what} for ${seconds} s (${option})`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

interface Validator {
  /** Value for If-Range: the strong ETag, else Last-Modified. */
  ifRange: string;
}

export class HttpBackend implements Backend {
  readonly traversePrefixLen = 3;
  readonly remote = true;
  readonly listable = false;
  readonly readOnly = 'reg reads HTTP(S) remotes with HEAD and GET only';
  readonly description: string;
  private readonly base: URL;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private readonly readTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(readonly options: HttpOptions) {
    const base = new URL(options.url);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = '';
    base.hash = '';
    this.base = base;
    this.description = describeHttpUrl(options.url);
    this.readTimeoutMs = (options.readTimeout ?? 60) * 1000;
    this.connectTimeoutMs = (options.connectTimeout ?? 10) * 1000;
    ({ httpAgent: this.httpAgent, httpsAgent: this.httpsAgent } = watchingAgents({ readTimeoutMs: this.readTimeoutMs, maxSockets: options.maxSockets, sslVerify: options.sslVerify }));
  }

  /** The URL of a key: each '/'-separated segment percent-encoded below the base path. */
  urlOf(key: string): URL {
    const u = new URL(this.base.href);
    u.pathname = this.base.pathname + key.split('/').map(encodeURIComponent).join('/');
    return u;
  }

  /**
   * One request, following redirects: resolves with the final response (its body unread).
   * Aborted when no byte moves for read-timeout seconds, or the connection is not up within
   * connect-timeout.
   */
  private send(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, redirects = 0): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      let failure: Error | undefined;
      const req = request(url, { method, headers: { 'user-agent': 'reg', ...headers }, agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent, signal });
      const fail = (err: Error) => {
        failure ??= err;
        req.destroy(err);
      };
      req.setTimeout(this.readTimeoutMs, () => fail(timeoutError(`no answer from ${this.description}`, this.readTimeoutMs / 1000, 'read-timeout')));
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => fail(timeoutError(`no connection to ${url.host}`, this.connectTimeoutMs / 1000, 'connect-timeout')), this.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(timer));
        req.once('close', () => clearTimeout(timer));
      });
      req.on('error', (err) => reject(failure ?? err));
      req.on('response', (res) => {
        // From here on a stalled body is a stalled response: keep the idle timeout armed, and watch for a trickle.
        res.on('error', () => undefined);
        watchSocketBody(res, res.socket, this.readTimeoutMs);
        const status = res.statusCode ?? 0;
        if (REDIRECTS.has(status) && res.headers.location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) return reject(statusError(status, `(more than ${MAX_REDIRECTS} redirects)`, url.href));
          const next = new URL(res.headers.location, url);
          if (next.protocol !== 'http:' && next.protocol !== 'https:') return reject(statusError(status, `(redirect to unsupported ${next.protocol} URL)`, url.href));
          this.send(method, next, headers, signal, redirects + 1).then(resolve, reject);
          return;
        }
        resolve(Object.assign(res, { timedOut: () => failure }));
      });
      req.end();
    });
  }

  async exists(key: string, options: GetOptions = {}): Promise<boolean> {
    return (await this.head(key, options)) !== undefined;
  }

  async head(key: string, options: GetOptions = {}): Promise<ObjectInfo | undefined> {
    const url = this.urlOf(key);
    const res = await this.send('HEAD', url, {}, options.signal);
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 404 || status === 410) return undefined;
    if (status < 200 || status >= 300) throw statusError(status, res.statusMessage, url.href);
    const length = Number(res.headers['content-length']);
    return Number.isSafeInteger(length) && length >= 0 ? { key, size: length } : { key };
  }

  // eslint-disable-next-line require-yield
  async *list(): AsyncIterable<ObjectInfo[]> {
    throw new RegError('remote.list-unsupported', 'config', `${this.description} is an HTTP(S) remote: it cannot list its objects`, {
      hint: 'reg asks an HTTP(S) remote for each object by name (HEAD); commands that must list a remote need an S3 or directory remote',
    });
  }

  async get(key: string, options: GetOptions = {}): Promise<{ body: Readable; size?: number }> {
    const url = this.urlOf(key);
    const res = await this.send('GET', url, { 'accept-encoding': 'identity' }, options.signal);
    const status = res.statusCode ?? 0;
    if (status === 404 || status === 410) {
      res.resume();
      throw new NotFoundError(key, this.description);
    }
    if (status !== 200) {
      res.resume();
      throw statusError(status, res.statusMessage, url.href);
    }
    const length = Number(res.headers['content-length']);
    const size = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    const validator = validatorOf(res);
    const body = Readable.from(this.resumingBody(url, res, size, validator, options.signal), { objectMode: false, highWaterMark: 1 << 20 });
    return { body, ...(size !== undefined ? { size } : {}) };
  }

  /**
   * The bytes of a GET; when the body breaks off (reset, stall, early end) and the server
   * supports ranges, the rest is asked for with `Range: bytes=N-` and `If-Range`, and only a
   * 206 starting at N continues it. Anything else fails with the original error.
   */
  private async *resumingBody(url: URL, first: IncomingMessage, size: number | undefined, validator: Validator | undefined, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    let res = first;
    let received = 0;
    let resumes = 0;
    for (;;) {
      try {
        try {
          for await (const chunk of res) {
            received += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        } catch (err) {
          throw (res as IncomingMessage & { timedOut?: () => Error | undefined }).timedOut?.() ?? err;
        }
        if (size !== undefined && received < size) {
          throw Object.assign(new Error(`the body of ${describeHttpUrl(url.href)} ended after ${received} of ${size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        }
        return;
      } catch (err) {
        res.destroy();
        if (signal?.aborted || validator === undefined || size === undefined || resumes >= MAX_RESUMES || !isRetriable(err)) throw err;
        resumes++;
        const next = await this.send('GET', url, { 'accept-encoding': 'identity', range: `bytes=${received}-`, 'if-range': validator.ifRange }, signal).catch(() => undefined);
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(next?.headers['content-range'] ?? ''));
        if (next === undefined || next.statusCode !== 206 || range === null || Number(range[1]) !== received) {
          next?.resume();
          throw err;
        }
        res = next;
      }
    }
  }

  putFile(): Promise<void> {
    return Promise.reject(this.writeRefused());
  }

  putBytes(): Promise<void> {
    return Promise.reject(this.writeRefused());
  }

  delete(): Promise<void> {
    return Promise.reject(this.writeRefused());
  }

  private writeRefused(): RegError {
    return new RegError('remote.read-only', 'config', `${this.description} is read-only: ${this.readOnly}`, {
      hint: 'push to a remote reg can write (an S3 bucket with credentials or a directory): reg push -r OTHER',
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** A validator that makes a ranged GET safe (the object has not changed in between), if the response has one. */
function validatorOf(res: IncomingMessage): Validator | undefined {
  if (!/\bbytes\b/i.test(String(res.headers['accept-ranges'] ?? ''))) return undefined;
  const etag = res.headers.etag;
  if (etag && !etag.startsWith('W/')) return { ifRange: etag };
  const modified = res.headers['last-modified'];
  return modified ? { ifRange: modified } : undefined;
}

import { isAbsolute, relative } from 'node:path';
import { RegError, errnoCode, isRegError } from '../errors.js';
import { isConditionalWritesUnsupported, isNotFound, isPreconditionFailed } from './backend.js';

/**
 * What went wrong talking to a remote, in classes that each have one fix: the raw S3 / network /
 * filesystem error becomes a RegError with exit 4, a stable `remote.<class>` code, a message naming
 * the remote and the cause, and a hint for that class. Retry decisions use the same classes.
 */
export type RemoteErrorClass =
  | 'auth'
  | 'no-such-bucket'
  | 'region'
  | 'network'
  | 'tls'
  | 'throttled'
  | 'server-error'
  | 'not-found'
  | 'rejected'
  | 'missing-directory'
  | 'permission'
  | 'no-space'
  | 'read-only'
  | 'io';

/** What the messages and hints may say about the remote (never a secret). */
export interface RemoteIdentity {
  name: string;
  /** Location without secrets: s3://bucket/prefix (endpoint) or the directory. */
  description: string;
  kind: 's3' | 'directory' | 'http';
  /** Directory remotes: the root, to tell remote-side errno errors from local ones. */
  root?: string;
  /** S3: the endpoint URL when not AWS itself. */
  endpoint?: string;
  /** S3: where the credentials come from, in words (for auth hints). */
  credentials?: string;
  /** S3: the profile in use, if any. */
  profile?: string;
  /** Values to strip from every message. */
  secrets: readonly string[];
}

/** A transient failure retried until the budget ran out; the last error is the cause. */
export class RetriesExhaustedError extends Error {
  constructor(readonly attempts: number, readonly elapsedMs: number, readonly last: unknown) {
    super(`giving up after ${attempts} attempt${attempts === 1 ? '' : 's'} over ${Math.round(elapsedMs / 100) / 10} s: ${describeError(last)}`);
    this.name = 'RetriesExhausted';
  }
}

const AUTH_NAMES = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired',
  'InvalidToken', 'InvalidClientTokenId', 'UnrecognizedClientException', 'AccountProblem', 'AllAccessDisabled', 'InvalidSecurity',
  'RequestTimeTooSkewed', 'CredentialsProviderError', 'InvalidIdentityToken', 'Forbidden', 'InvalidPayer', 'NotSignedUp',
]);
const BUCKET_NAMES = new Set(['NoSuchBucket', 'InvalidBucketName']);
const REGION_NAMES = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException', 'MovedPermanently', 'TemporaryRedirect', 'InvalidRegion']);
const THROTTLE_NAMES = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottled', 'RequestThrottledException',
  'TooManyRequestsException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'BandwidthLimitExceeded',
  'EC2ThrottledException', 'PriorRequestNotComplete', 'TransactionInProgressException',
]);
const SERVER_NAMES = new Set(['InternalError', 'ServiceUnavailable', 'InternalServerError', 'BadGateway', 'GatewayTimeout']);
const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'IncompleteBody', 'NetworkingError', 'IdleTimeout']);
const NETWORK_ERRNO = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH', 'EHOSTDOWN',
  'ENETUNREACH', 'ENETDOWN', 'ENETRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT', 'EPROTO', 'ERR_HTTP_INVALID_HEADER_VALUE', 'HPE_INVALID_CONSTANT', 'ERR_STREAM_DESTROYED',
]);
/** Failures to open a connection at all (as opposed to one that broke): "the remote is unreachable". */
const CONNECT_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO_TLS',
]);
const REMOTE_DISK: Readonly<Record<string, RemoteErrorClass>> = {
  EACCES: 'permission', EPERM: 'permission', ENOSPC: 'no-space', EDQUOT: 'no-space', EROFS: 'read-only', EIO: 'io',
  ENOENT: 'missing-directory', ENOTDIR: 'missing-directory', ESTALE: 'io',
};
/** Classes that make every further request fail the same way: stop the whole transfer. */
const FATAL = new Set<RemoteErrorClass>(['auth', 'no-such-bucket', 'region', 'tls', 'missing-directory', 'permission', 'no-space', 'read-only']);
const RETRIABLE = new Set<RemoteErrorClass>(['network', 'throttled', 'server-error']);

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  path?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  Region?: string;
  cause?: unknown;
  $response?: { headers?: Record<string, string | undefined> };
}

/** The region a redirect or a region error names (x-amz-bucket-region or the error body's Region). */
function regionNamed(e: ErrorShape | undefined): string | undefined {
  const r = e?.Region ?? e?.$response?.headers?.['x-amz-bucket-region'];
  return typeof r === 'string' && /^[a-z0-9-]+$/.test(r) ? r : undefined;
}

function status(e: ErrorShape): number | undefined {
  return e.$metadata?.httpStatusCode;
}

function isUnder(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The class of a failure talking to a remote, or undefined when it is not a remote condition
 * (a bug, a local disk error, an integrity error). RegErrors keep the class of their code.
 */
export function classifyRemoteError(err: unknown, remote?: Pick<RemoteIdentity, 'kind' | 'root'>): RemoteErrorClass | undefined {
  if (isRegError(err)) return err.code.startsWith('remote.') ? (err.code.slice('remote.'.length) as RemoteErrorClass) : undefined;
  if (err instanceof RetriesExhaustedError) return classifyRemoteError(err.last, remote) ?? 'network';
  if (isNotFound(err)) return 'not-found';
  if (isPreconditionFailed(err) || isConditionalWritesUnsupported(err)) return undefined;
  if (typeof err !== 'object' || err === null) return undefined;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) {
    // Bugs, except the few network failures Node reports as TypeError (fetch's "fetch failed").
    return errnoCode((err as ErrorShape).cause) && NETWORK_ERRNO.has(errnoCode((err as ErrorShape).cause)!) ? 'network' : undefined;
  }
  const e = err as ErrorShape;
  const name = e.name ?? '';
  const code = errnoCode(err);
  // A server writes this text (an S3 error body's Message): its head is enough to classify, and the
  // patterns below are quadratic on some long inputs (a 1 MiB message took minutes).
  const msg = (e.message ?? '').slice(0, MAX_MESSAGE_CHARS);
  const http = status(e);
  if (name === 'AbortError') return undefined;
  if (code && REMOTE_DISK[code] && typeof e.path === 'string') {
    if (remote?.kind !== 'directory' || remote.root === undefined || !isUnder(e.path, remote.root)) return undefined; // a local path: reported as a disk error
    const c = REMOTE_DISK[code];
    // A missing root is a missing remote; one object vanishing under it (deleted meanwhile) is not.
    return c === 'missing-directory' && relative(remote.root, e.path) !== '' ? 'not-found' : c;
  }
  if (BUCKET_NAMES.has(name)) return 'no-such-bucket';
  if (REGION_NAMES.has(name) || (regionNamed(e) !== undefined && http !== undefined && http >= 300 && http < 500) || /region is missing|region.*(?:invalid|wrong|expect)|wrong region/i.test(msg) || http === 301) return 'region';
  if (AUTH_NAMES.has(name) || /could not load credentials|credential.*(?:not found|missing|expired)/i.test(msg) || http === 401 || http === 403) return 'auth';
  if ((code && TLS_CODES.has(code)) || /certificate|self[- ]signed|ssl routines|wrong version number/i.test(msg)) return 'tls';
  if (THROTTLE_NAMES.has(name) || http === 429) return 'throttled';
  if (name === 'NotImplemented' || http === 501) return 'rejected';
  if (SERVER_NAMES.has(name) || (http !== undefined && http >= 500)) return 'server-error';
  if (NETWORK_NAMES.has(name) || (code && NETWORK_ERRNO.has(code)) || http === 408) return 'network';
  if (/socket hang up|premature close|ECONNRESET|ECONNREFUSED|ETIMEDOUT|timed? ?out|network|EAI_AGAIN|ENOTFOUND/i.test(msg)) return 'network';
  if (e.$retryable) return 'server-error';
  if (http !== undefined && http >= 400) return http === 404 ? 'not-found' : 'rejected';
  return undefined;
}

/** Throttling, 5xx, timeouts, resets, refused connections: worth another attempt. */
export function isRetriableRemoteError(err: unknown, remote?: Pick<RemoteIdentity, 'kind' | 'root'>): boolean {
  if (isRegError(err) || err instanceof RetriesExhaustedError) return false;
  const c = classifyRemoteError(err, remote);
  return c !== undefined && RETRIABLE.has(c);
}

/** A failure to connect at all (refused, DNS, unreachable, connect timeout). */
export function isConnectFailure(err: unknown): boolean {
  const code = errnoCode(err);
  if (code && CONNECT_ERRNO.has(code)) return true;
  const msg = (err as ErrorShape | undefined)?.message ?? '';
  return /connect ECONNREFUSED|getaddrinfo|did not establish a connection|connection timed? ?out|timed out while connecting|socket connection timeout/i.test(msg);
}

/** Every further request to this remote would fail the same way (bad credentials, no bucket, disk full ...). */
export function isFatalRemoteClass(c: RemoteErrorClass | undefined): boolean {
  return c !== undefined && FATAL.has(c);
}

export function isFatalRemoteError(err: unknown): boolean {
  return isRegError(err) && (err.code.startsWith('disk.') || (err.code.startsWith('remote.') && isFatalRemoteClass(err.code.slice('remote.'.length) as RemoteErrorClass)));
}

const HTTP_REASONS: Readonly<Record<number, string>> = { 301: 'Moved Permanently (wrong region?)', 307: 'Temporary Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

/** The most of a server's error text reg looks at or repeats. */
const MAX_MESSAGE_CHARS = 1024;

/** The first line of `text`, cut to MAX_MESSAGE_CHARS (with an ellipsis). */
function firstLine(text: string): string {
  const line = text.slice(0, MAX_MESSAGE_CHARS + 1).split('\n')[0]!;
  return line.length > MAX_MESSAGE_CHARS ? `${line.slice(0, MAX_MESSAGE_CHARS - 1)}…` : line;
}

/** A one-line description of a remote error (no stack, no request ids; a server's text cut to 1024 characters). */
export function describeError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as ErrorShape;
  const http = status(e);
  const name = e.name && e.name !== 'Error' && e.name !== 'RegError' && e.name !== 'RetriesExhausted' && !/^\d+$/.test(e.name) ? e.name : undefined;
  let msg = (firstLine(e.message ?? '') || '')
    // The SDK's timeout messages, in the words of reg's options.
    .replace(/^@smithy\/node-http-handler - /, '')
    .replace(/the request socket timed out after (\d+) ms of inactivity \(configured by client requestHandler\)\.?/, (_m, ms: string) => `no data moved for ${Number(ms) / 1000} s (read-timeout)`)
    .replace(/the request socket did not establish a connection with the server within the configured timeout of (\d+) ms\.?/, (_m, ms: string) => `no connection within ${Number(ms) / 1000} s (connect-timeout)`);
  if (msg === '' || msg === 'UnknownError' || msg === name) {
    // Responses without a body (HEAD) carry only their status.
    const known = http !== undefined ? HTTP_REASONS[http] : undefined;
    if (known || name === 'Unknown' || name === undefined) return http !== undefined ? `HTTP ${http}${known ? ` ${known}` : ''}` : (name ?? 'unknown error');
    msg = name;
  }
  const parts = [msg];
  if (name && !msg.includes(name)) parts.unshift(`${name}:`);
  if (http !== undefined && !msg.includes(String(http))) parts.push(`(HTTP ${http})`);
  return parts.join(' ');
}

/** What a failure list says about one object: the class and cause for remote errors, else the message. */
export function failureText(err: unknown): string {
  if (isRegError(err)) {
    const d = err.details as { class?: string; cause?: string } | undefined;
    if (err.code.startsWith('remote.') && typeof d?.cause === 'string') {
      const c = d.class as RemoteErrorClass;
      return `${CLASS_TEXT[c] ?? 'request failed'}: ${d.cause}`;
    }
    return err.message;
  }
  return describeError(err);
}

/** Replaces the user-info of every URL in `text` (`s3://KEY:SECRET@bucket`, `https://user:pass@host`) by ***. */
export function redactUrlCredentials(text: string): string {
  // The password may hold an unescaped "/" (AWS secret keys do).
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#@:]*:[^\s@]*?|[^\s/?#@]+)@/gi, '$1***@');
}

function redactText(text: string, secrets: readonly string[]): string {
  let out = redactUrlCredentials(text);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

const CLASS_TEXT: Readonly<Record<RemoteErrorClass, string>> = {
  auth: 'access refused',
  'no-such-bucket': 'the bucket does not exist',
  region: 'wrong or missing region',
  network: 'cannot reach the server',
  tls: 'the TLS connection was refused',
  throttled: 'the server is throttling requests',
  'server-error': 'the server failed',
  'not-found': 'not found',
  rejected: 'the server rejected the request',
  'missing-directory': 'the remote directory does not exist',
  permission: 'permission denied',
  'no-space': 'no space left on the remote',
  'read-only': 'the remote filesystem is read-only',
  io: 'I/O error on the remote',
};

function authHint(err: unknown, r: RemoteIdentity): string {
  const e = (err instanceof RetriesExhaustedError ? err.last : err) as ErrorShape;
  const name = e?.name ?? '';
  const msg = e?.message ?? '';
  const source = r.credentials ?? 'the default AWS credential chain';
  const check = `aws sts get-caller-identity${r.profile ? ` --profile ${r.profile}` : ''}${r.endpoint ? ` (for ${r.endpoint}: use the keys that server issued)` : ''}`;
  const set = `use a profile (reg remote modify --local ${r.name} profile PROFILE) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`;
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(msg)) {
    return `no credentials were found (looked in ${source}): ${set}; for an SSO profile run aws sso login --profile PROFILE first`;
  }
  if (/expired|TokenRefreshRequired/i.test(name) || /expired/i.test(msg)) {
    return `the session credentials from ${source} have expired: refresh them (aws sso login${r.profile ? ` --profile ${r.profile}` : ''}, or new temporary keys) and retry`;
  }
  if (name === 'RequestTimeTooSkewed') return 'this machine\'s clock is off by more than 15 minutes: synchronise it (e.g. timedatectl set-ntp true) and retry';
  const permissions = 'the bucket policy / IAM permissions (s3:ListBucket, s3:GetObject, s3:PutObject)';
  if (name === 'AccessDenied' || name === 'AllAccessDisabled') {
    return `the credentials from ${source} were accepted but may not use ${r.description}: check ${permissions}, or pick another identity: ${set}`;
  }
  if (!AUTH_NAMES.has(name) || name === 'Forbidden') {
    // A refusal without a reason (HEAD requests have no error body): bad keys or missing permissions.
    return `the server refused the credentials from ${source}, or they may not use ${r.description}: check them with ${check} and ${permissions}; to use others, ${set}`;
  }
  return `the credentials from ${source} were rejected: check them with ${check}; to use others, ${set}`;
}

function regionHint(err: unknown, r: RemoteIdentity): string {
  const e = (err instanceof RetriesExhaustedError ? err.last : err) as ErrorShape;
  const said = regionNamed(e);
  if (/region is missing/i.test(e?.message ?? '')) {
    return `no region is configured (remote option region, AWS_REGION, or the profile's region): reg remote modify ${r.name} region REGION (e.g. eu-west-1; aws s3api get-bucket-location --bucket BUCKET tells it)`;
  }
  return `set the bucket's region: reg remote modify ${r.name} region ${said ?? 'REGION'}${said ? ' (the server named it)' : ' (aws s3api get-bucket-location --bucket BUCKET tells it)'}`;
}

export function remoteHint(c: RemoteErrorClass, err: unknown, r: RemoteIdentity): string {
  const path = typeof (err as ErrorShape)?.path === 'string' ? (err as ErrorShape).path! : (r.root ?? r.description);
  switch (c) {
    case 'auth':
      return authHint(err, r);
    case 'no-such-bucket':
      return `check the bucket in the URL (reg remote list); fix it with reg remote modify ${r.name} url s3://BUCKET/prefix${r.endpoint ? '' : ' (for a server other than AWS, also set endpoint-url)'}`;
    case 'region':
      return regionHint(err, r);
    case 'network': {
      const where = r.endpoint ?? (r.kind === 's3' ? 'AWS S3' : r.description);
      const cause = err instanceof RetriesExhaustedError ? err.last : err;
      return isConnectFailure(cause)
        ? `check that the server at ${where} is running and can be reached from here (network, VPN, proxy, firewall), and the endpoint-url (reg remote list -v); a slow network may need reg remote modify ${r.name} connect-timeout 30`
        : `the connection to ${where} broke or stalled: check the network; on a slow link raise reg remote modify ${r.name} read-timeout 120 (or retry-budget); re-running transfers only what is still missing`;
    }
    case 'tls':
      return `the server's certificate was not accepted: give its CA bundle (reg remote modify ${r.name} ssl-verify /path/to/ca.pem), or for a test server ssl-verify false`;
    case 'throttled':
      return `the server is rate-limiting: retry later, or use fewer parallel transfers (-j 4, or reg remote modify ${r.name} jobs 4)`;
    case 'server-error':
      return 'the server had an internal failure: retry later (re-running transfers only what is still missing)';
    case 'not-found':
      return `the object is not on ${r.name}: push it from a clone whose cache has it (reg push), or check the remote URL with reg remote list`;
    case 'rejected':
      return `the server refused the request: check the remote's settings (reg remote list -v); S3-compatible servers may need path-style true or checksums when_required`;
    case 'missing-directory':
      return `${r.root ?? r.description} does not exist: mount the share or create the directory (mkdir -p), or fix the URL (reg remote list; reg remote modify ${r.name} url PATH)`;
    case 'permission':
      return `fix the permissions of ${path} (ls -ld it and its parents) or use a remote directory you may write to`;
    case 'no-space':
      return `free space on the disk holding ${r.root ?? r.description}, then re-run (only what is still missing is sent)`;
    case 'read-only':
      return `the filesystem holding ${r.root ?? r.description} is mounted read-only: remount it read-write or use another remote`;
    case 'io':
      return `the disk or network share holding ${r.root ?? r.description} reported an I/O error: check it before retrying`;
  }
}

/**
 * The RegError (exit 4) for a failure talking to `remote`: `remote.<class>`, or `remote.error` for a
 * condition without a class. RegErrors pass through; bugs (TypeError ...) are returned unchanged.
 */
export function remoteError(err: unknown, remote: RemoteIdentity): unknown {
  if (isRegError(err)) return err;
  const c = classifyRemoteError(err, remote);
  if (c === undefined) {
    if (typeof err !== 'object' || err === null || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) return err;
    if ((err as ErrorShape).name === 'AbortError') return err;
    if (errnoCode(err) && typeof (err as ErrorShape).path === 'string') return err; // local disk: the caller names it
  }
  const what = c ? CLASS_TEXT[c] : 'request failed';
  const message = redactText(`remote ${remote.name} (${remote.description}): ${what}: ${describeError(err)}`, remote.secrets);
  return new RegError(`remote.${c ?? 'error'}`, 'transfer', message, {
    hint: redactText(c ? remoteHint(c, err, remote) : `retry; if it persists check the remote's settings (reg remote list -v)`, remote.secrets),
    details: { remote: remote.name, class: c ?? 'error', cause: redactText(describeError(err), remote.secrets) },
    cause: err,
  });
}

import { statSync, type Stats } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Context } from '../../context.js';
import { RegError, configError, errnoCode, isRegError } from '../../errors.js';
import { readRegularFileOrThrowSync } from '../../fsutil.js';
import type { Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import { HttpBackend, isHttpUrl, readOnlyRemoteError } from '../../store/http.js';
import { LocalBackend } from '../../store/local.js';
import { ObjectStore } from '../../store/object-store.js';
import { parseS3Url, type ChecksumMode } from '../../store/s3-config.js';
import { LazyS3Backend } from '../../store/s3-lazy.js';
import { GuardedBackend } from '../../store/guarded-backend.js';
import { describeError, type RemoteIdentity } from '../../store/remote-errors.js';
import { DEFAULT_BUDGET_MS, DEFAULT_RETRY, DEFAULT_UNREACHABLE_MS, RemoteHealth, type RetryPolicy } from '../../store/transfer.js';
import { REMOTE_OPTIONS, SECRET_REMOTE_OPTIONS, assertNoTrackedSecrets, defaultRemoteName, isDirectoryUrl, normalizeName, redact, remotesOf, requireRemote, shownFile, splitUrlCredentials } from './remote-config.js';

/** Opening a configured remote for transfers: backend, object store, concurrency, secrets to redact. */
export interface OpenRemoteOptions {
  /** Remote name; default: core.remote. */
  remote?: string;
  jobs?: number;
  /** Attempts and backoff (the budgets default to the remote's retry-budget option). */
  retry?: RetryPolicy;
  /** Wraps the backend (tests inject failures; tools can instrument). */
  wrapBackend?: (backend: Backend) => Backend;
  /** The caller will store objects: a read-only remote (HTTP(S), anonymous S3) is refused here. */
  write?: boolean;
}

export interface OpenedRemote {
  name: string;
  store: ObjectStore;
  jobs: number;
  /** Secret values to strip from messages. */
  secrets: string[];
  /** Where the credentials come from, in words (never the values): shown by reg doctor. */
  credentialSource: string;
  /** Why the remote cannot store objects, when it cannot (see Backend.readOnly). */
  readOnly?: string;
  /** S3 remotes: presigned GET URLs (see Backend.presignGet). */
  presignGet?: (key: string, expiresInSeconds: number) => Promise<string>;
  /** What error messages may say about the remote. */
  identity: RemoteIdentity;
  /** Retry policy and the budget shared by every request to this remote. */
  retry: RetryPolicy;
  health: RemoteHealth;
  /** A raw failure as the RegError users see (remote.* exit 4, disk.* exit 1), else unchanged. */
  classify(err: unknown): unknown;
  close(): void;
}

export function resolveRemoteName(repo: Repo, name: string | undefined): string {
  if (name !== undefined) return normalizeName(name);
  const d = defaultRemoteName(repo);
  if (d === undefined) {
    const known = Object.keys(remotesOf(repo.config.data));
    throw configError('remote.no-default', 'no remote given and no default remote is set', {
      hint: known.length ? `pass -r NAME (known: ${known.join(', ')}) or set one: reg remote default ${known[0]}` : 'add one: reg remote add origin s3://bucket/prefix --default',
    });
  }
  return d;
}

export function defaultJobs(ctx: Context): number {
  return 4 * (ctx.cores ?? availableParallelism());
}

export function openRemote(repo: Repo, ctx: Context, options: OpenRemoteOptions): OpenedRemote {
  assertNoTrackedSecrets(repo);
  const name = resolveRemoteName(repo, options.remote);
  const opts = requireRemote(repo, name);
  const str = (k: string): string | undefined => {
    const v = opts[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'object') throw configError('remote.bad-option', `remotes.${name}.${k} must be a single value`, { hint: `reg remote modify ${name} ${k} VALUE` });
    return String(v);
  };
  const bool = (k: string): boolean | undefined => {
    const v = opts[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    const s = String(v).toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw configError('remote.bad-option', `remotes.${name}.${k} must be true or false, got ${JSON.stringify(v)}`, { hint: `reg remote modify ${name} ${k} true` });
  };
  const int = (k: string): number | undefined => {
    const s = str(k);
    if (s === undefined) return undefined;
    const max = REMOTE_OPTIONS[k]?.max ?? Number.MAX_SAFE_INTEGER;
    if (!/^[0-9]+$/.test(s) || Number(s) < 1 || Number(s) > max) {
      throw configError('remote.bad-option', `remotes.${name}.${k} must be an integer from 1 to ${max}, got ${JSON.stringify(s)}`, { hint: `reg remote modify ${name} ${k} ${Math.min(8, max)}` });
    }
    return Number(s);
  };
  const unknown = Object.keys(opts).filter((k) => !REMOTE_OPTIONS[k]);
  if (unknown.length > 0) {
    throw configError('remote.unknown-option', `remotes.${name}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, {
      hint: `valid options: ${Object.keys(REMOTE_OPTIONS).join(', ')}`,
    });
  }
  const url = str('url');
  if (url === undefined) throw configError('remote.no-url', `remote "${name}" has no url`, { hint: `reg remote modify ${name} url s3://bucket/prefix` });
  const jobs = options.jobs ?? int('jobs') ?? defaultJobs(ctx);
  const secrets = SECRET_REMOTE_OPTIONS.map((k) => str(k)).filter((v): v is string => v !== undefined);
  const env = ctx.env;
  let backend: Backend;
  let credentialSource = 'none needed (a directory remote)';
  let identity: RemoteIdentity;
  if (isDirectoryUrl(url)) {
    const path = url.toLowerCase().startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
    const root = resolve(repo.regDir, path);
    backend = new LocalBackend(root);
    identity = { name, description: root, kind: 'directory', root, secrets };
  } else if (url.toLowerCase().startsWith('s3://')) {
    // Credentials inside a URL (only possible in the local config: the tracked one is refused above).
    const inUrl = [splitUrlCredentials(url), splitUrlCredentials(str('endpoint-url') ?? '')].find((c) => c.user !== undefined && c.password !== undefined);
    for (const c of [inUrl?.user, inUrl?.password]) if (c) secrets.push(c);
    const { bucket, prefix } = parseS3Url(splitUrlCredentials(url).url);
    let endpointUrl = (str('endpoint-url') && splitUrlCredentials(str('endpoint-url')!).url) ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    if (endpointUrl !== undefined && !/^https?:\/\//i.test(endpointUrl)) endpointUrl = `${bool('use-ssl') === false ? 'http' : 'https'}://${endpointUrl}`;
    const checksums = (str('checksums') ?? (endpointUrl !== undefined ? 'when_required' : 'when_supported')) as ChecksumMode;
    if (checksums !== 'when_required' && checksums !== 'when_supported') {
      throw configError('remote.bad-option', `remotes.${name}.checksums must be when_required or when_supported`, { hint: `reg remote modify ${name} checksums when_required` });
    }
    const accessKeyId = str('access-key-id') ?? inUrl?.user;
    const secretAccessKey = str('secret-access-key') ?? inUrl?.password;
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw configError('remote.partial-keys', `remote "${name}": access-key-id and secret-access-key must be set together (in ${shownFile(true)})`, { hint: `reg remote modify --local ${name} secret-access-key VALUE` });
    }
    const profile = str('profile') ?? env.AWS_PROFILE;
    const credentialPath = optionFile(repo, name, 'credential-path', str('credential-path'));
    const configPath = optionFile(repo, name, 'config-path', str('config-path'));
    let credentials: ConstructorParameters<typeof LazyS3Backend>[1];
    if (accessKeyId && secretAccessKey) {
      credentials = { accessKeyId, secretAccessKey, ...(str('session-token') ? { sessionToken: str('session-token')! } : {}) };
      credentialSource = `access-key-id / secret-access-key of remote "${name}" in ${shownFile(true)}`;
    } else if (str('profile') === undefined && credentialPath === undefined && configPath === undefined && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
      credentialSource = `environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY${env.AWS_SESSION_TOKEN ? ', AWS_SESSION_TOKEN' : ''})`;
    } else if (credentialPath !== undefined || configPath !== undefined) {
      credentials = lazyChain(profile, credentialPath, configPath);
      credentialSource = `shared AWS files of remote "${name}" (${[credentialPath && `credential-path ${str('credential-path')}`, configPath && `config-path ${str('config-path')}`].filter(Boolean).join(', ')}), profile ${profile ?? 'default'}`;
    } else {
      credentialSource = defaultChainSource(env, profile);
    }
    if (accessKeyId) secrets.push(accessKeyId);
    const sslVerify = sslVerifyOption(repo, name, opts['ssl-verify']);
    const region = str('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpointUrl !== undefined ? 'us-east-1' : undefined);
    const anonymous = bool('anonymous') ?? false;
    if (anonymous) {
      credentials = undefined;
      credentialSource = `none: anonymous (unsigned) requests, remote "${name}" is read-only`;
    }
    backend = new LazyS3Backend(
      {
        bucket,
        prefix,
        endpointUrl,
        region,
        profile,
        pathStyle: bool('path-style'),
        checksums,
        sslVerify,
        sse: str('sse'),
        sseKmsKeyId: str('sse-kms-key-id'),
        acl: str('acl'),
        readTimeout: int('read-timeout'),
        connectTimeout: int('connect-timeout'),
        maxSockets: jobs,
        anonymous,
      },
      credentials,
    );
    identity = {
      name,
      description: redact(`s3://${bucket}${prefix ? '/' + prefix : ''}${endpointUrl ? ` (${endpointUrl})` : ''}`, secrets),
      kind: 's3',
      ...(endpointUrl ? { endpoint: redact(endpointUrl, secrets) } : {}),
      credentials: credentialSource,
      ...(profile ? { profile } : {}),
      secrets,
    };
  } else if (isHttpUrl(url)) {
    backend = new HttpBackend({ url, readTimeout: int('read-timeout'), connectTimeout: int('connect-timeout'), maxSockets: jobs, sslVerify: sslVerifyOption(repo, name, opts['ssl-verify']) });
    credentialSource = 'none: an HTTP(S) remote is read without credentials';
    identity = { name, description: redact(backend.description, secrets), kind: 'http', credentials: credentialSource, secrets };
  } else {
    throw configError('remote.unsupported-scheme', `remote "${name}": unsupported URL ${redact(url, secrets)}`, { hint: 'reg supports s3://, directory paths and https:// (read-only)' });
  }
  // Capabilities are read from the backend itself: wrappers (fault injection, retries) need not forward them.
  const raw = backend;
  if (options.write && raw.readOnly !== undefined) {
    raw.close();
    throw readOnlyRemoteError(name, redact(raw.description, secrets), raw.readOnly);
  }
  if (options.wrapBackend) backend = options.wrapBackend(backend);
  const budgetMs = (int('retry-budget') ?? DEFAULT_BUDGET_MS / 1000) * 1000;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  retry.budgetMs = options.retry?.budgetMs ?? budgetMs;
  retry.unreachableMs = options.retry?.unreachableMs ?? Math.min(DEFAULT_UNREACHABLE_MS, retry.budgetMs);
  const health = new RemoteHealth(retry);
  const guarded = new GuardedBackend(backend, identity, retry, health, (what, err, attempt) =>
    ctx.progress({ type: 'log', level: 'debug', message: redact(`${name}: retrying ${what} (attempt ${attempt + 1}): ${describeError(err)}`, secrets) }),
  );
  const store = new ObjectStore(guarded, { listable: raw.listable });
  return {
    name,
    store,
    jobs,
    secrets,
    credentialSource,
    identity,
    retry,
    health,
    classify: guarded.classify,
    ...(raw.readOnly !== undefined ? { readOnly: raw.readOnly } : {}),
    ...(raw.presignGet ? { presignGet: (key: string, seconds: number) => raw.presignGet!(key, seconds) } : {}),
    close: () => guarded.close(),
  };
}

/** `ssl-verify`: false, true, or a CA bundle path (relative to .reg/), read here (see optionFile). */
function sslVerifyOption(repo: Repo, name: string, value: unknown): boolean | { caBundle: Buffer } | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  const s = String(value).toLowerCase();
  if (s === 'false' || s === 'true') return s === 'true';
  const abs = resolve(repo.regDir, String(value));
  const refuse = (what: string) => optionFileError(name, 'ssl-verify', String(value), abs, what);
  try {
    // Read once, in the checks' own open: nothing can be swapped in between.
    return { caBundle: readRegularFileOrThrowSync(abs, { maxBytes: MAX_OPTION_FILE_BYTES, tooBig: () => refuse(TOO_BIG) }, { followLinks: true, notAFile: () => refuse(NOT_A_FILE) }) };
  } catch (err) {
    if (isRegError(err)) throw err;
    throw refuse(cannotRead(err));
  }
}

/** CA bundles and AWS shared files hold kilobytes. */
const MAX_OPTION_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The absolute path of the file `remotes.NAME.KEY` names (relative to .reg/), when the option is
 * set: a regular file (a symlink to one is fine: ~/.aws is often linked) of at most 16 MiB. Anything
 * else is exit 3 naming the option: the shared config is tracked, and a teammate's
 * `ssl-verify: /dev/zero` was read until memory ran out, a FIFO blocked every command that opened
 * the remote.
 */
function optionFile(repo: Repo, name: string, key: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const abs = resolve(repo.regDir, value);
  const refuse = (what: string) => optionFileError(name, key, value, abs, what);
  let st: Stats;
  try {
    st = statSync(abs);
  } catch (err) {
    throw refuse(cannotRead(err));
  }
  if (!st.isFile()) throw refuse(NOT_A_FILE);
  if (st.size > MAX_OPTION_FILE_BYTES) throw refuse(TOO_BIG);
  return abs;
}

const NOT_A_FILE = 'is not a regular file';
const TOO_BIG = 'is larger than 16 MiB';
const cannotRead = (err: unknown) => `cannot be read (${errnoCode(err) ?? (err as Error).message})`;

function optionFileError(name: string, key: string, value: string, abs: string, what: string): RegError {
  return configError('remote.bad-file-option', `remotes.${name}.${key}: ${value} ${what}`, {
    hint: `name a regular file (relative paths start at .reg/): reg remote modify ${name} ${key} PATH (--local for a file only on this machine), or reg remote modify --unset ${name} ${key}`,
    details: { remote: name, option: key, path: abs },
  });
}

/** Which link of the AWS SDK's default chain will answer, as far as the environment tells (no network). */
function defaultChainSource(env: Context['env'], profile: string | undefined): string {
  if (profile !== undefined) return `AWS profile "${profile}" (shared files ${env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}, ${env.AWS_CONFIG_FILE ?? '~/.aws/config'})`;
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return 'web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)';
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return 'container credentials (ECS/EKS task role)';
  return `the AWS default chain: profile "default" in ${env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'} or ${env.AWS_CONFIG_FILE ?? '~/.aws/config'}, else the instance metadata service`;
}

/** The AWS default chain with explicit shared-file paths (credential-path / config-path). */
function lazyChain(profile: string | undefined, filepath: string | undefined, configFilepath: string | undefined) {
  let provider: (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>) | undefined;
  return async () => {
    if (!provider) {
      const mod = (await import('@aws-sdk/credential-provider-node')) as unknown as { defaultProvider: (init: Record<string, unknown>) => typeof provider };
      provider = mod.defaultProvider({ profile, ...(filepath ? { filepath } : {}), ...(configFilepath ? { configFilepath } : {}) });
    }
    return provider!();
  };
}

/** Adds the remote's name and location to a transfer error and strips secrets. */
export function remoteFailure(code: string, exit: 'transfer' | 'integrity', message: string, hint: string, details: unknown, secrets: readonly string[]): RegError {
  return new RegError(code, exit, redact(message, secrets), { hint, details });
}

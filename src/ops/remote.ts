import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { isMap, isSeq, type Document } from 'yaml';
import { CONFIG_FILE, LOCAL_CONFIG_FILE, getPath, isPlainObject, parseConfigDocument, type ConfigData } from '../config.js';
import type { Context } from '../context.js';
import { RegError, configError, usageError } from '../errors.js';
import { writeFileAtomicSync } from '../fsutil.js';
import { REG_DIR, openRepo, type Repo } from '../repo.js';
import type { Backend } from '../store/backend.js';
import { LocalBackend } from '../store/local.js';
import { ObjectStore } from '../store/object-store.js';
import { parseS3Url, type ChecksumMode } from '../store/s3-config.js';
import { LazyS3Backend } from '../store/s3-lazy.js';

/**
 * Remotes: `remotes.NAME.*` in `.reg/config.yaml` (shared) and `.reg/config.local.yaml`
 * (per-user, gitignored: profiles and secrets), `core.remote` names the default.
 */
type OptionType = 'string' | 'bool' | 'int' | 'checksums' | 'bool-or-path' | 'path';

interface OptionSpec {
  type: OptionType;
  help: string;
  secret?: boolean;
}

export const REMOTE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', help: 's3://bucket/prefix or a directory path' },
  'endpoint-url': { type: 'string', help: 'S3-compatible server, e.g. https://minio.example.org:9000' },
  region: { type: 'string', help: 'AWS region of the bucket' },
  profile: { type: 'string', help: 'AWS profile (shared config/credentials files, SSO)' },
  'path-style': { type: 'bool', help: 'address buckets as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT' },
  checksums: { type: 'checksums', help: 'when_required (default with endpoint-url) or when_supported (default on AWS)' },
  jobs: { type: 'int', help: 'parallel transfers (default 4 x CPU cores)' },
  'credential-path': { type: 'path', help: 'AWS shared credentials file' },
  'config-path': { type: 'path', help: 'AWS config file' },
  'ssl-verify': { type: 'bool-or-path', help: 'false to skip TLS verification, or a CA bundle path' },
  'use-ssl': { type: 'bool', help: 'https (default) or http when endpoint-url has no scheme' },
  sse: { type: 'string', help: 'server-side encryption: AES256 or aws:kms' },
  'sse-kms-key-id': { type: 'string', help: 'KMS key for sse aws:kms' },
  acl: { type: 'string', help: 'canned ACL for uploaded objects' },
  'read-timeout': { type: 'int', help: 'seconds without data before a request is retried (default 60)' },
  'connect-timeout': { type: 'int', help: 'seconds to connect (default 10)' },
  'access-key-id': { type: 'string', help: 'static key (only in config.local.yaml: use --local)', secret: true },
  'secret-access-key': { type: 'string', help: 'static secret (only in config.local.yaml: use --local)', secret: true },
  'session-token': { type: 'string', help: 'session token (only in config.local.yaml: use --local)', secret: true },
};

export const SECRET_REMOTE_OPTIONS = Object.keys(REMOTE_OPTIONS).filter((k) => REMOTE_OPTIONS[k]!.secret);
const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const REDACTED = '***';

export function configFiles(repo: Repo): { repo: string; local: string } {
  return { repo: join(repo.regDir, CONFIG_FILE), local: join(repo.regDir, LOCAL_CONFIG_FILE) };
}

function shownFile(local: boolean): string {
  return `${REG_DIR}/${local ? LOCAL_CONFIG_FILE : CONFIG_FILE}`;
}

function remotesOf(data: ConfigData): Record<string, Record<string, unknown>> {
  const r = getPath(data, ['remotes']);
  if (r === undefined || r === null) return {};
  if (!isPlainObject(r)) throw configError('config.remotes', '.reg/config.yaml: "remotes" must be a mapping of remote names to options', { hint: 'see docs/remotes.md' });
  const out: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(r)) out[k] = isPlainObject(v) ? v : {};
  return out;
}

export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  if (!NAME_RE.test(n)) throw usageError('remote.bad-name', `invalid remote name "${name}"`, { hint: 'use letters, digits, ".", "_" and "-" (names are case-insensitive)' });
  return n;
}

/** Secrets must never be in the tracked config: refuse to use any remote while they are. */
export function assertNoTrackedSecrets(repo: Repo): void {
  for (const [name, opts] of Object.entries(remotesOf(repo.config.repo))) {
    const found = SECRET_REMOTE_OPTIONS.filter((k) => opts[k] !== undefined);
    if (found.length > 0) {
      throw configError('config.secret-in-tracked-file', `${shownFile(false)} (tracked by Git) contains ${found.map((k) => `remotes.${name}.${k}`).join(', ')}; credentials may only be stored in ${shownFile(true)}`, {
        hint: `move them: ${found.map((k) => `reg remote modify --local ${name} ${k} VALUE`).join(' && ')}, then delete them from ${shownFile(false)} (${found.map((k) => `reg remote modify ${name} ${k} --unset`).join(', ')}); if the file was ever committed, rotate the keys`,
      });
    }
  }
}

/** Replaces every known secret value in `text` by ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, `$1${REDACTED}@`);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

function isDirectoryUrl(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || url.toLowerCase().startsWith('file://');
}

function checkUrl(url: string): void {
  if (url === '') throw usageError('remote.bad-url', 'the remote URL is empty', { hint: 'use s3://bucket/prefix or a directory path' });
  if (isDirectoryUrl(url)) return;
  if (url.toLowerCase().startsWith('s3://')) {
    parseS3Url(url);
    if (!/^s3:\/\/[^/]+/.test(url)) throw usageError('remote.bad-url', `${url}: no bucket name`, { hint: 'use s3://bucket/prefix' });
    return;
  }
  throw usageError('remote.unsupported-scheme', `unsupported remote URL ${redact(url, [])}`, { hint: 'reg supports s3:// (AWS and S3-compatible servers) and directory paths' });
}

/** Directory URLs are stored relative to `.reg/` (like DVC stores them relative to `.dvc/`). */
function storedUrl(repo: Repo, ctx: Context, url: string): string {
  if (!isDirectoryUrl(url)) return url;
  const path = url.toLowerCase().startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  if (isAbsolute(path)) return path;
  return relative(repo.regDir, resolve(ctx.cwd, path)).split('\\').join('/') || '.';
}

function coerceValue(option: string, raw: string): string | number | boolean {
  const spec = REMOTE_OPTIONS[option]!;
  const bool = () => {
    const v = raw.toLowerCase();
    if (v === 'true' || v === 'yes' || v === '1') return true;
    if (v === 'false' || v === 'no' || v === '0') return false;
    return undefined;
  };
  switch (spec.type) {
    case 'bool': {
      const b = bool();
      if (b === undefined) throw usageError('remote.bad-value', `${option} must be true or false, got "${raw}"`);
      return b;
    }
    case 'bool-or-path':
      return bool() ?? raw;
    case 'int': {
      if (!/^[0-9]+$/.test(raw) || Number(raw) < 1) throw usageError('remote.bad-value', `${option} must be a positive integer, got "${raw}"`);
      return Number(raw);
    }
    case 'checksums': {
      const v = raw.toLowerCase().replace(/-/g, '_');
      if (v !== 'when_required' && v !== 'when_supported') throw usageError('remote.bad-value', `checksums must be when_required or when_supported, got "${raw}"`, { hint: 'when_required suits S3-compatible servers (MinIO, Ceph, s3rver...); when_supported is the AWS default' });
      return v;
    }
    default:
      return raw;
  }
}

/** Sets or deletes a key in a config file, keeping comments; edited collections become block style. */
function editConfig(path: string, keyPath: readonly string[], value: unknown): void {
  const doc = parseConfigDocument(path);
  if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as never;
  if (value === undefined) {
    if (doc.hasIn(keyPath)) doc.deleteIn(keyPath);
  } else doc.setIn(keyPath, value);
  unflow(doc, keyPath);
  writeFileAtomicSync(path, doc.toString({ indentSeq: false, lineWidth: 0 }));
}

function unflow(doc: Document, keyPath: readonly string[]): void {
  for (let i = 0; i <= keyPath.length - 1; i++) {
    const node = i === 0 ? doc.contents : doc.getIn(keyPath.slice(0, i), true);
    if ((isMap(node) || isSeq(node)) && node.flow && node.items.length > 0) node.flow = false;
  }
}

export interface RemoteAddOptions {
  name: string;
  url: string;
  default?: boolean;
  local?: boolean;
  force?: boolean;
}

export interface RemoteChange {
  name: string;
  file: string;
  option?: string;
  /** The stored value (secrets shown as ***). */
  value?: string | number | boolean;
  default?: boolean;
}

export async function remoteAdd(ctx: Context, options: RemoteAddOptions): Promise<RemoteChange> {
  const repo = openRepo(ctx);
  const name = normalizeName(options.name);
  checkUrl(options.url);
  const files = configFiles(repo);
  const existing = remotesOf(repo.config.data)[name];
  if (existing !== undefined && !options.force) {
    throw usageError('remote.exists', `remote "${name}" already exists (url ${redact(String(existing.url ?? ''), [])})`, {
      hint: `change it with: reg remote modify ${name} url ${options.url}  (or replace it with --force)`,
    });
  }
  const file = options.local ? files.local : files.repo;
  if (existing !== undefined) {
    editConfig(files.repo, ['remotes', name], undefined);
    editConfig(files.local, ['remotes', name], undefined);
  }
  const url = storedUrl(repo, ctx, options.url);
  editConfig(file, ['remotes', name, 'url'], url);
  if (options.default) editConfig(file, ['core', 'remote'], name);
  return { name, file: shownFile(Boolean(options.local)), option: 'url', value: url, default: Boolean(options.default) };
}

export interface RemoteModifyOptions {
  name: string;
  option: string;
  value?: string;
  unset?: boolean;
  local?: boolean;
}

export async function remoteModify(ctx: Context, options: RemoteModifyOptions): Promise<RemoteChange> {
  const repo = openRepo(ctx);
  const name = normalizeName(options.name);
  requireRemote(repo, name);
  const option = options.option.toLowerCase().replace(/_/g, '-');
  const spec = REMOTE_OPTIONS[option];
  if (!spec) {
    throw usageError('remote.unknown-option', `unknown remote option "${options.option}"`, {
      hint: `valid options: ${Object.keys(REMOTE_OPTIONS).join(', ')}`,
    });
  }
  const files = configFiles(repo);
  if (options.unset) {
    editConfig(options.local ? files.local : files.repo, ['remotes', name, option], undefined);
    return { name, file: shownFile(Boolean(options.local)), option };
  }
  if (options.value === undefined) throw usageError('remote.no-value', `no value given for ${option}`, { hint: `reg remote modify ${name} ${option} VALUE (or --unset)` });
  if (spec.secret && !options.local) {
    throw configError('remote.secret-not-local', `${option} is a credential and may not be written to ${shownFile(false)}, which is tracked by Git`, {
      hint: `store it in ${shownFile(true)} (gitignored): reg remote modify --local ${name} ${option} VALUE  — or better, use an AWS profile: reg remote modify --local ${name} profile NAME`,
    });
  }
  let value = coerceValue(option, options.value);
  if (option === 'url') {
    checkUrl(options.value);
    value = storedUrl(repo, ctx, options.value);
  }
  if ((spec.type === 'path' || (spec.type === 'bool-or-path' && typeof value === 'string')) && !isAbsolute(String(value))) {
    value = relative(repo.regDir, resolve(ctx.cwd, String(value)));
  }
  editConfig(options.local ? files.local : files.repo, ['remotes', name, option], value);
  return { name, file: shownFile(Boolean(options.local)), option, value: spec.secret ? REDACTED : value };
}

export interface RemoteInfo {
  name: string;
  url: string;
  default: boolean;
  /** Every option (merged repo + local); secrets shown as ***. */
  options: Record<string, unknown>;
  /** Options that come from config.local.yaml. */
  localOptions: string[];
}

export interface RemoteListResult {
  default?: string;
  remotes: RemoteInfo[];
}

export async function remoteList(ctx: Context): Promise<RemoteListResult> {
  const repo = openRepo(ctx);
  const def = defaultRemoteName(repo);
  const local = remotesOf(repo.config.local);
  const remotes = Object.entries(remotesOf(repo.config.data))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, opts]) => {
      const options: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(opts)) options[k] = REMOTE_OPTIONS[k]?.secret ? REDACTED : typeof v === 'string' ? redact(v, []) : v;
      return { name, url: String(options.url ?? ''), default: name === def, options, localOptions: Object.keys(local[name] ?? {}) };
    });
  return { ...(def !== undefined ? { default: def } : {}), remotes };
}

export interface RemoteRemoveResult {
  name: string;
  files: string[];
  wasDefault: boolean;
}

export async function remoteRemove(ctx: Context, options: { name: string }): Promise<RemoteRemoveResult> {
  const repo = openRepo(ctx);
  const name = normalizeName(options.name);
  requireRemote(repo, name);
  const files = configFiles(repo);
  const touched: string[] = [];
  let wasDefault = false;
  for (const [path, data, isLocal] of [[files.repo, repo.config.repo, false], [files.local, repo.config.local, true]] as const) {
    let changed = false;
    if (remotesOf(data)[name] !== undefined) {
      editConfig(path, ['remotes', name], undefined);
      changed = true;
    }
    const core = getPath(data, ['core', 'remote']);
    if (typeof core === 'string' && core.toLowerCase() === name) {
      editConfig(path, ['core', 'remote'], undefined);
      wasDefault = true;
      changed = true;
    }
    if (changed) touched.push(shownFile(isLocal));
  }
  return { name, files: touched, wasDefault };
}

export interface RemoteDefaultResult {
  default?: string;
  file?: string;
  changed: boolean;
}

/** Shows (no name), sets or unsets `core.remote`. */
export async function remoteDefault(ctx: Context, options: { name?: string; unset?: boolean; local?: boolean }): Promise<RemoteDefaultResult> {
  const repo = openRepo(ctx);
  const files = configFiles(repo);
  const file = options.local ? files.local : files.repo;
  if (options.unset) {
    editConfig(file, ['core', 'remote'], undefined);
    return { changed: true, file: shownFile(Boolean(options.local)) };
  }
  if (options.name === undefined) {
    const d = defaultRemoteName(repo);
    return { ...(d !== undefined ? { default: d } : {}), changed: false };
  }
  const name = normalizeName(options.name);
  requireRemote(repo, name);
  editConfig(file, ['core', 'remote'], name);
  return { default: name, file: shownFile(Boolean(options.local)), changed: true };
}

function defaultRemoteName(repo: Repo): string | undefined {
  const d = getPath(repo.config.data, ['core', 'remote']);
  return typeof d === 'string' && d !== '' ? d.toLowerCase() : undefined;
}

function requireRemote(repo: Repo, name: string): Record<string, unknown> {
  const all = remotesOf(repo.config.data);
  const r = all[name];
  if (r === undefined) {
    const known = Object.keys(all);
    throw usageError('remote.unknown', `no remote named "${name}"`, {
      hint: known.length ? `known remotes: ${known.join(', ')}` : 'add one: reg remote add NAME s3://bucket/prefix --default',
    });
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Opening a remote for transfers

export interface OpenRemoteOptions {
  /** Remote name; default: core.remote. */
  remote?: string;
  jobs?: number;
  /** Wraps the backend (tests inject failures; tools can instrument). */
  wrapBackend?: (backend: Backend) => Backend;
}

export interface OpenedRemote {
  name: string;
  store: ObjectStore;
  jobs: number;
  /** Secret values to strip from messages. */
  secrets: string[];
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
    if (!/^[0-9]+$/.test(s) || Number(s) < 1) throw configError('remote.bad-option', `remotes.${name}.${k} must be a positive integer, got ${JSON.stringify(s)}`, { hint: `reg remote modify ${name} ${k} 8` });
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
  if (isDirectoryUrl(url)) {
    const path = url.toLowerCase().startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
    backend = new LocalBackend(resolve(repo.regDir, path));
  } else if (url.toLowerCase().startsWith('s3://')) {
    const { bucket, prefix } = parseS3Url(url);
    let endpointUrl = str('endpoint-url') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    if (endpointUrl !== undefined && !/^https?:\/\//i.test(endpointUrl)) endpointUrl = `${bool('use-ssl') === false ? 'http' : 'https'}://${endpointUrl}`;
    const checksums = (str('checksums') ?? (endpointUrl !== undefined ? 'when_required' : 'when_supported')) as ChecksumMode;
    if (checksums !== 'when_required' && checksums !== 'when_supported') {
      throw configError('remote.bad-option', `remotes.${name}.checksums must be when_required or when_supported`, { hint: `reg remote modify ${name} checksums when_required` });
    }
    const accessKeyId = str('access-key-id');
    const secretAccessKey = str('secret-access-key');
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw configError('remote.partial-keys', `remote "${name}": access-key-id and secret-access-key must be set together (in ${shownFile(true)})`, { hint: `reg remote modify --local ${name} secret-access-key VALUE` });
    }
    const profile = str('profile') ?? env.AWS_PROFILE;
    const credentialPath = str('credential-path');
    const configPath = str('config-path');
    let credentials: ConstructorParameters<typeof LazyS3Backend>[1];
    if (accessKeyId && secretAccessKey) credentials = { accessKeyId, secretAccessKey, ...(str('session-token') ? { sessionToken: str('session-token')! } : {}) };
    else if (str('profile') === undefined && credentialPath === undefined && configPath === undefined && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
    } else if (credentialPath !== undefined || configPath !== undefined) {
      credentials = lazyChain(profile, credentialPath && resolve(repo.regDir, credentialPath), configPath && resolve(repo.regDir, configPath));
    }
    if (accessKeyId) secrets.push(accessKeyId);
    const sslVerify = opts['ssl-verify'] === undefined ? undefined : typeof opts['ssl-verify'] === 'boolean' ? opts['ssl-verify'] : String(opts['ssl-verify']).toLowerCase() === 'false' ? false : String(opts['ssl-verify']).toLowerCase() === 'true' ? true : resolve(repo.regDir, String(opts['ssl-verify']));
    const region = str('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpointUrl !== undefined ? 'us-east-1' : undefined);
    backend = new LazyS3Backend(
      {
        bucket,
        prefix,
        endpointUrl,
        region,
        profile,
        pathStyle: bool('path-style'),
        checksums,
        credentialPath,
        configPath,
        sslVerify,
        sse: str('sse'),
        sseKmsKeyId: str('sse-kms-key-id'),
        acl: str('acl'),
        readTimeout: int('read-timeout'),
        connectTimeout: int('connect-timeout'),
        maxSockets: jobs,
      },
      credentials,
    );
  } else {
    throw configError('remote.unsupported-scheme', `remote "${name}": unsupported URL ${redact(url, secrets)}`, { hint: 'reg supports s3:// and directory paths' });
  }
  if (options.wrapBackend) backend = options.wrapBackend(backend);
  const store = new ObjectStore(backend);
  return { name, store, jobs, secrets, close: () => backend.close() };
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

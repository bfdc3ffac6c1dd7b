import { isAbsolute, relative, resolve } from 'node:path';
import { isMap, isSeq, type Document } from 'yaml';
import { getPath, parseConfigDocument } from '../../config.js';
import type { Context } from '../../context.js';
import { compareCodeUnits } from '../../data/order.js';
import { configError, usageError } from '../../errors.js';
import { writeFileAtomicSync } from '../../fsutil.js';
import { openRepo, type Repo } from '../../repo.js';
import { isHttpUrl } from '../../store/http.js';
import { parseS3Url } from '../../store/s3-config.js';
import { REDACTED, REMOTE_OPTIONS, configFiles, defaultRemoteName, isDirectoryUrl, normalizeName, redact, remotesOf, requireRemote, shownFile, splitUrlCredentials } from './remote-config.js';

/** The `reg remote` verbs: add, modify, list, remove, default. */
function checkUrl(url: string): void {
  if (url === '') throw usageError('remote.bad-url', 'the remote URL is empty', { hint: 'use s3://bucket/prefix or a directory path' });
  if (isDirectoryUrl(url)) return;
  if (isHttpUrl(url)) {
    if (!URL.canParse(url) || new URL(url).host === '') throw usageError('remote.bad-url', `${redact(url, [])}: not a valid URL`, { hint: 'use https://host/path (the URL the remote\'s files/md5/... layout is served under)' });
    return;
  }
  if (url.toLowerCase().startsWith('s3://')) {
    if (!/^s3:\/\/[^/]+/.test(url)) throw usageError('remote.bad-url', `${redact(url, [])}: no bucket name`, { hint: 'use s3://bucket/prefix' });
    parseS3Url(url);
    return;
  }
  throw usageError('remote.unsupported-scheme', `unsupported remote URL ${redact(url, [])}`, { hint: 'reg supports s3:// (AWS and S3-compatible servers), directory paths, and https:// or http:// (read-only)' });
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
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw usageError('remote.bad-value', `${option} must be an integer from 1 to ${max}, got "${raw}"`);
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
  /** Something the user should know (credentials moved out of a URL). */
  note?: string;
}

/**
 * A URL that carries credentials (`s3://KEY:SECRET@bucket/p`, `https://user:pass@host`) is stored
 * without them; the key and secret go to the gitignored local config as access-key-id and
 * secret-access-key, so they never reach the tracked file, and the note says so. A user name
 * without a password is refused: it is not a credential reg can use.
 */
function storeUrlCredentials(repo: Repo, name: string, option: string, raw: string): { url: string; note?: string } {
  if (option !== 'endpoint-url' && (isDirectoryUrl(raw) || !raw.toLowerCase().startsWith('s3://'))) return { url: raw };
  const c = splitUrlCredentials(raw);
  if (c.user === undefined && c.password === undefined) return { url: raw };
  if (c.user === undefined || c.password === undefined) {
    throw usageError('remote.url-credentials', `the ${option} ${redact(raw, [])} carries a user name or password but not both`, {
      hint: `give the URL without credentials and store keys in ${shownFile(true)}: reg remote modify --local ${name} access-key-id KEY && reg remote modify --local ${name} secret-access-key SECRET (or use a profile)`,
    });
  }
  const local = configFiles(repo).local;
  editConfig(local, ['remotes', name, 'access-key-id'], c.user);
  editConfig(local, ['remotes', name, 'secret-access-key'], c.password);
  return {
    url: c.url,
    note: `the credentials in the ${option} were moved to ${shownFile(true)} (gitignored) as access-key-id and secret-access-key; the URL is stored without them`,
  };
}

export async function remoteAdd(ctx: Context, options: RemoteAddOptions): Promise<RemoteChange> {
  const repo = openRepo(ctx);
  const name = normalizeName(options.name);
  checkUrl(options.url);
  const files = configFiles(repo);
  const existing = remotesOf(repo.config.data)[name];
  if (existing !== undefined && !options.force) {
    throw usageError('remote.exists', `remote "${name}" already exists (url ${redact(String(existing.url ?? ''), [])})`, {
      hint: `change it with: reg remote modify ${name} url ${redact(options.url, [])}  (or replace it with --force)`,
    });
  }
  const file = options.local ? files.local : files.repo;
  if (existing !== undefined) {
    editConfig(files.repo, ['remotes', name], undefined);
    editConfig(files.local, ['remotes', name], undefined);
  }
  const stripped = storeUrlCredentials(repo, name, 'url', options.url);
  const url = storedUrl(repo, ctx, stripped.url);
  editConfig(file, ['remotes', name, 'url'], url);
  if (options.default) editConfig(file, ['core', 'remote'], name);
  return { name, file: shownFile(Boolean(options.local)), option: 'url', value: url, default: Boolean(options.default), ...(stripped.note ? { note: stripped.note } : {}) };
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
  let note: string | undefined;
  if (option === 'url' || option === 'endpoint-url') {
    if (option === 'url') checkUrl(options.value);
    const stripped = storeUrlCredentials(repo, name, option, options.value);
    note = stripped.note;
    value = option === 'url' ? storedUrl(repo, ctx, stripped.url) : stripped.url;
  }
  if ((spec.type === 'path' || (spec.type === 'bool-or-path' && typeof value === 'string')) && !isAbsolute(String(value))) {
    value = relative(repo.regDir, resolve(ctx.cwd, String(value)));
  }
  editConfig(options.local ? files.local : files.repo, ['remotes', name, option], value);
  return { name, file: shownFile(Boolean(options.local)), option, value: spec.secret ? REDACTED : value, ...(note ? { note } : {}) };
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
    .sort(([a], [b]) => compareCodeUnits(a, b))
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

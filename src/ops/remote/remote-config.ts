import { join } from 'node:path';
import { CONFIG_FILE, LOCAL_CONFIG_FILE, getPath, isPlainObject, type ConfigData } from '../../config.js';
import { configError, usageError } from '../../errors.js';
import { REG_DIR, type Repo } from '../../repo.js';
import { splitUrlCredentials } from '../../policy/secrets.js';
import { redactUrlCredentials } from '../../store/remote-errors.js';

export { splitUrlCredentials } from '../../policy/secrets.js';

/**
 * Remote settings as stored: `remotes.NAME.*` in `.reg/config.yaml` (shared) and
 * `.reg/config.local.yaml` (per-user, gitignored: profiles and secrets), `core.remote` names the
 * default. Shared by the `reg remote` verbs and by openRemote.
 */
type OptionType = 'string' | 'bool' | 'int' | 'checksums' | 'bool-or-path' | 'path';

interface OptionSpec {
  type: OptionType;
  help: string;
  secret?: boolean;
  /**
   * The largest value an 'int' takes: the shared config is a teammate's, and a read-timeout of a
   * month turns the stall guard off (past 2^31 ms Node even fires timers at once).
   */
  max?: number;
}

export const REMOTE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', help: 's3://bucket/prefix, a directory path, or https://host/path (read-only)' },
  'endpoint-url': { type: 'string', help: 'S3-compatible server, e.g. https://minio.example.org:9000' },
  region: { type: 'string', help: 'AWS region of the bucket' },
  profile: { type: 'string', help: 'AWS profile (shared config/credentials files, SSO)' },
  'path-style': { type: 'bool', help: 'address buckets as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT' },
  checksums: { type: 'checksums', help: 'when_required (default with endpoint-url) or when_supported (default on AWS)' },
  jobs: { type: 'int', help: 'parallel transfers (default 4 x CPU cores)', max: 512 },
  'credential-path': { type: 'path', help: 'AWS shared credentials file' },
  'config-path': { type: 'path', help: 'AWS config file' },
  'ssl-verify': { type: 'bool-or-path', help: 'false to skip TLS verification, or a CA bundle path' },
  'use-ssl': { type: 'bool', help: 'https (default) or http when endpoint-url has no scheme' },
  sse: { type: 'string', help: 'server-side encryption: AES256 or aws:kms' },
  'sse-kms-key-id': { type: 'string', help: 'KMS key for sse aws:kms' },
  acl: { type: 'string', help: 'canned ACL for uploaded objects' },
  anonymous: { type: 'bool', help: 'S3: unsigned requests for a public bucket (no credentials; read-only)' },
  'read-timeout': { type: 'int', help: 'seconds without data moving before a request is aborted and retried (default 60)', max: 3600 },
  'connect-timeout': { type: 'int', help: 'seconds to connect (default 10)', max: 600 },
  'retry-budget': { type: 'int', help: 'seconds the remote may fail every request before the transfer gives up (default 120; 15 when it cannot be reached at all)', max: 86_400 },
  'access-key-id': { type: 'string', help: 'static key (only in config.local.yaml: use --local)', secret: true },
  'secret-access-key': { type: 'string', help: 'static secret (only in config.local.yaml: use --local)', secret: true },
  'session-token': { type: 'string', help: 'session token (only in config.local.yaml: use --local)', secret: true },
};

export const SECRET_REMOTE_OPTIONS = Object.keys(REMOTE_OPTIONS).filter((k) => REMOTE_OPTIONS[k]!.secret);
const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
export const REDACTED = '***';

export function configFiles(repo: Repo): { repo: string; local: string } {
  return { repo: join(repo.regDir, CONFIG_FILE), local: join(repo.regDir, LOCAL_CONFIG_FILE) };
}

export function shownFile(local: boolean): string {
  return `${REG_DIR}/${local ? LOCAL_CONFIG_FILE : CONFIG_FILE}`;
}

export function remotesOf(data: ConfigData): Record<string, Record<string, unknown>> {
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
    const inUrl = URL_OPTIONS.filter((k) => typeof opts[k] === 'string' && splitUrlCredentials(opts[k] as string).user !== undefined);
    if (inUrl.length > 0) {
      throw configError('config.secret-in-tracked-file', `${shownFile(false)} (tracked by Git) has credentials inside ${inUrl.map((k) => `remotes.${name}.${k}`).join(', ')} (user:password@ in the URL)`, {
        hint: `set the URL again and reg moves the credentials to ${shownFile(true)}: ${inUrl.map((k) => `reg remote modify ${name} ${k} URL`).join(' && ')}; if the file was ever committed, rotate the keys`,
      });
    }
    const found = SECRET_REMOTE_OPTIONS.filter((k) => opts[k] !== undefined);
    if (found.length > 0) {
      throw configError('config.secret-in-tracked-file', `${shownFile(false)} (tracked by Git) contains ${found.map((k) => `remotes.${name}.${k}`).join(', ')}; credentials may only be stored in ${shownFile(true)}`, {
        hint: `move them: ${found.map((k) => `reg remote modify --local ${name} ${k} VALUE`).join(' && ')}, then delete them from ${shownFile(false)} (${found.map((k) => `reg remote modify ${name} ${k} --unset`).join(', ')}); if the file was ever committed, rotate the keys`,
      });
    }
  }
}

/** Replaces every known secret value in `text`, and the user and password of any URL, by ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = redactUrlCredentials(text);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

/** URL-valued options that must never carry credentials in the tracked config. */
export const URL_OPTIONS = ['url', 'endpoint-url'] as const;


export function isDirectoryUrl(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || url.toLowerCase().startsWith('file://');
}


export function defaultRemoteName(repo: Repo): string | undefined {
  const d = getPath(repo.config.data, ['core', 'remote']);
  return typeof d === 'string' && d !== '' ? d.toLowerCase() : undefined;
}

export function requireRemote(repo: Repo, name: string): Record<string, unknown> {
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

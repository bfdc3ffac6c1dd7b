import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, statfsSync, statSync } from 'node:fs';
import { copyFile, link, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { readBody } from '../../store/body.js';
import type { Context } from '../../context.js';
import { errnoCode, isRegError } from '../../errors.js';
import { gitText } from '../../git/read.js';
import { registryPolicy } from '../../policy/areas.js';
import { findSecrets } from '../../policy/secrets.js';
import { PACKAGE_NAME, VERSION } from '../../package-info.js';
import { openRepo, type Repo } from '../../repo.js';
import { LINK_TYPES, type LinkType } from '../../store/cache.js';
import { hooksStatus } from '../hooks/hooks.js';
import { hooksNotice } from '../hooks/hooks-notice.js';
import { openRemote, resolveRemoteName } from '../remote/open-remote.js';
import { redact } from '../remote/remote-config.js';
import { check, configTextForScan } from './check.js';
import { makeDirs } from '../../make-dirs.js';

/**
 * `reg doctor`: checks the environment and the repository and says what to fix. Every check is
 * independent: one failing (or throwing) never hides the others. The remote probe is bounded in
 * time; nothing secret is ever part of the result.
 */

export type DoctorStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  /** Stable id: node, git, reg-on-path, hooks, config, secrets, remote, credentials, cache. */
  id: string;
  status: DoctorStatus;
  /** What was found. */
  summary: string;
  /** What to do (warn/fail). */
  fix?: string;
  details?: Record<string, unknown>;
}

export interface DoctorOptions {
  /** The remote to probe (default: core.remote). */
  remote?: string;
  /** Upper bound for the remote probe, milliseconds (default 20 000). */
  timeoutMs?: number;
  /** Skip the remote probe (no network). */
  offline?: boolean;
  /** The running Node.js version (the CLI passes process.versions.node; ops never read process.*). */
  nodeVersion: string;
}

export interface DoctorResult {
  checks: DoctorCheck[];
  /** No check failed (warnings allowed). */
  ok: boolean;
  failed: number;
  warnings: number;
}

/** The floor of reg's dependencies (htmlparser2 12, through sanitize-html), as package.json's engines says. */
export const MIN_NODE = [20, 19, 0];
export const MIN_GIT = [2, 25, 0];
const DEFAULT_PROBE_MS = 20_000;

export async function doctor(ctx: Context, options: DoctorOptions): Promise<DoctorResult> {
  const checks: DoctorCheck[] = [];
  const run = async (id: string, fn: () => Promise<DoctorCheck | DoctorCheck[]> | DoctorCheck | DoctorCheck[]) => {
    try {
      const r = await fn();
      checks.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      const e = err as Error & { hint?: string };
      checks.push({ id, status: 'fail', summary: e?.message ?? String(err), ...(e?.hint ? { fix: e.hint } : {}) });
    }
  };
  await run('node', () => nodeCheck(options.nodeVersion));
  await run('git', () => gitCheck(ctx));
  await run('reg-on-path', () => regOnPathCheck(ctx, VERSION));
  let repo: Repo | undefined;
  await run('config', () => {
    repo = openRepo(ctx);
    registryPolicy(repo.config.data);
    return { id: 'config', status: 'ok', summary: `${repo.root}: .reg/config.yaml${existsSync(join(repo.regDir, 'config.local.yaml')) ? ' and config.local.yaml' : ''} valid` };
  });
  if (repo !== undefined) {
    const r = repo;
    await run('hooks', () => hooksCheck(ctx, r));
    await run('secrets', () => secretsCheck(ctx, r));
    await run('remote', () => remoteChecks(ctx, r, options));
    await run('cache', () => cacheCheck(r));
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  return { checks, ok: failed === 0, failed, warnings: checks.filter((c) => c.status === 'warn').length };
}

function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function atLeast(v: number[], min: number[]): boolean {
  for (let i = 0; i < 3; i++) if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  return true;
}

function nodeCheck(version: string): DoctorCheck {
  const v = parseVersion(version);
  if (v && atLeast(v, MIN_NODE)) return { id: 'node', status: 'ok', summary: `Node.js ${version}` };
  return { id: 'node', status: 'fail', summary: `Node.js ${version} is older than ${MIN_NODE.join('.')}`, fix: `install Node.js ${MIN_NODE.slice(0, 2).join('.')} or later` };
}

function spawnText(file: string, args: string[], env: Context['env'], cwd: string, timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { env: env as NodeJS.ProcessEnv, cwd, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolvePromise({ code, stdout, stderr: stderr || (err && code === -1 ? err.message : '') });
    });
  });
}

async function gitCheck(ctx: Context): Promise<DoctorCheck> {
  const r = await spawnText('git', ['--version'], ctx.env, ctx.cwd);
  if (r.code !== 0) return { id: 'git', status: 'fail', summary: `git is not runnable: ${r.stderr.trim() || `exit ${r.code}`}`, fix: 'install git and put it on PATH' };
  const v = parseVersion(r.stdout);
  if (v && atLeast(v, MIN_GIT)) return { id: 'git', status: 'ok', summary: r.stdout.trim() };
  return { id: 'git', status: 'fail', summary: `${r.stdout.trim()} is older than ${MIN_GIT.join('.')}`, fix: `upgrade git to ${MIN_GIT.join('.')} or later` };
}

/** The first `reg` on PATH (what the hook shims run), and whether it is this program. */
async function regOnPathCheck(ctx: Context, ownVersion: string): Promise<DoctorCheck> {
  const install = `npm install -g ${PACKAGE_NAME} (or npm link in a clone of reg)`;
  const found = (ctx.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, 'reg'))
    .find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
  if (found === undefined) {
    return { id: 'reg-on-path', status: 'fail', summary: 'no `reg` command on PATH: the git hooks call it, so commits and pushes are refused', fix: install };
  }
  const r = await spawnText(found, ['--version'], ctx.env, ctx.cwd);
  const out = r.stdout.trim();
  if (r.code !== 0 || !out.includes(PACKAGE_NAME)) {
    return {
      id: 'reg-on-path',
      status: 'fail',
      summary: `${found} is not this reg (\`reg --version\` says ${JSON.stringify(out || r.stderr.trim())}); the npm package named "reg" is an unrelated tool`,
      fix: `npm uninstall -g reg; ${install}`,
      details: { path: found },
    };
  }
  if (parseVersion(out)?.join('.') !== parseVersion(ownVersion)?.join('.')) {
    return { id: 'reg-on-path', status: 'warn', summary: `${found} is reg ${out}, this is ${ownVersion}: the hooks run the one on PATH`, fix: install, details: { path: found } };
  }
  return { id: 'reg-on-path', status: 'ok', summary: `${found} (${out})`, details: { path: found } };
}

async function hooksCheck(ctx: Context, repo: Repo): Promise<DoctorCheck> {
  if (!registryPolicy(repo.config.data).installHooks) return { id: 'hooks', status: 'skip', summary: 'hooks.install is false: this clone does not use the git hooks' };
  const st = await hooksStatus(ctx);
  const note = hooksNotice({ cwd: ctx.cwd, env: { ...ctx.env, CI: '' } });
  const states = Object.fromEntries(st.hooks.map((h) => [h.name, h.state]));
  if (note !== undefined) return { id: 'hooks', status: 'fail', summary: `git hooks not installed in ${st.hooksDir} (${st.hooks.map((h) => `${h.name}: ${h.state}`).join(', ')})`, fix: 'reg hooks install', details: states };
  const outdated = st.hooks.filter((h) => h.state === 'outdated').map((h) => h.name);
  if (outdated.length > 0) return { id: 'hooks', status: 'warn', summary: `hooks from another reg version: ${outdated.join(', ')}`, fix: 'reg hooks install (updates them)', details: states };
  return { id: 'hooks', status: 'ok', summary: `pre-commit and pre-push run reg (${st.hooksDir})`, details: states };
}

async function secretsCheck(ctx: Context, repo: Repo): Promise<DoctorCheck> {
  const hits = (await check(ctx)).findings.filter((f) => f.rule.startsWith('secret')).map((f) => `${f.file}${f.line !== undefined ? `:${f.line}` : ''}`);
  // DVC's own config is tracked too in a migrated repository.
  const tracked = (await gitText(repo.root, ['ls-files', '-z', '--', '.dvc/config'])).split('\0').filter(Boolean);
  for (const file of tracked) {
    for (const hit of findSecrets(configTextForScan(repo, file) ?? '')) hits.push(`${file}:${hit.line}`);
  }
  if (hits.length === 0) return { id: 'secrets', status: 'ok', summary: 'no secrets in the tracked config files' };
  return {
    id: 'secrets',
    status: 'fail',
    summary: `secrets in tracked files: ${hits.join(', ')}`,
    fix: 'move them to .reg/config.local.yaml (reg remote modify --local NAME KEY VALUE), commit the removal, and rotate the keys if they were ever pushed',
  };
}

async function remoteChecks(ctx: Context, repo: Repo, options: DoctorOptions): Promise<DoctorCheck[]> {
  let name: string;
  try {
    name = resolveRemoteName(repo, options.remote);
  } catch (err) {
    if (!isRegError(err)) throw err;
    return [{ id: 'remote', status: 'warn', summary: err.message, fix: err.hint ?? 'reg remote add NAME URL --default' }];
  }
  const remote = openRemote(repo, ctx, { remote: name, jobs: 1 });
  const credentials: DoctorCheck = { id: 'credentials', status: 'ok', summary: remote.credentialSource };
  if (options.offline) {
    remote.close();
    return [{ id: 'remote', status: 'skip', summary: `remote ${name} (${remote.store.description}) not probed (--offline)` }, credentials];
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_MS;
  const where = `remote ${name} (${remote.store.description})`;
  const started = Date.now();
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
  });
  const step = { name: 'HEAD' };
  try {
    if (remote.readOnly !== undefined) {
      // Nothing may be written: a HEAD of a key that should not exist shows the remote answers.
      await Promise.race([remote.store.backend.head(`.reg-doctor/probe-${randomBytes(8).toString('hex')}`, { signal: abort.signal }), deadline]);
      return [{ id: 'remote', status: 'ok', summary: `${where}: answers HEAD requests (${Date.now() - started} ms); read-only: ${remote.readOnly}` }, credentials];
    }
    await Promise.race([probe(remote.store.backend, abort.signal, step), deadline]);
    return [{ id: 'remote', status: 'ok', summary: `${where}: HEAD, put, get and delete of a probe object work (${Date.now() - started} ms)` }, credentials];
  } catch (err) {
    const message = redact(err instanceof Error ? err.message : String(err), remote.secrets);
    const hint = isRegError(err) && err.hint ? err.hint : remoteHint(remote.store.backend.remote);
    return [{ id: 'remote', status: 'fail', summary: `${where}: ${step.name} failed: ${message}`, fix: hint, details: { step: step.name } }, { ...credentials, status: 'warn', summary: `${credentials.summary} (unverified: the remote probe failed)` }];
  } finally {
    clearTimeout(timer);
    remote.close();
  }
}

function remoteHint(network: boolean): string {
  return network
    ? 'check the endpoint-url and that it is reachable, the bucket name and region, and the credentials (reg remote list shows the settings)'
    : 'check that the directory exists and is writable (reg remote list shows the path)';
}

/** HEAD of a key that should not exist, then put, get (bytes compared) and delete of a small probe object. */
async function probe(backend: import('../../store/backend.js').Backend, signal: AbortSignal, step: { name: string }): Promise<void> {
  const key = `.reg-doctor/probe-${randomBytes(8).toString('hex')}`;
  const bytes = Buffer.from(`reg doctor probe ${new Date().toISOString()}\n`);
  step.name = 'HEAD';
  await backend.head(key, { signal });
  step.name = 'put';
  await backend.putBytes(key, bytes, { signal });
  try {
    step.name = 'get';
    // Read one byte past the probe at most: a server that sends more (or without end) has failed the check.
    const longer = new Error('the remote sends back more bytes than were written');
    const got = await readBody((await backend.get(key, { signal })).body, undefined, signal, { maxBytes: bytes.length, tooBig: () => longer });
    if (!got.equals(bytes)) throw new Error('the bytes read back differ from the bytes written');
  } finally {
    step.name = 'delete';
    await backend.delete(key);
  }
}

/** Linux statfs magic numbers of the filesystems reg users meet. */
const FS_NAMES: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x2fc12fc1: 'zfs',
  0xca451a4e: 'bcachefs',
  0x01021994: 'tmpfs',
  0x858458f6: 'ramfs',
  0x794c7630: 'overlayfs',
  0x6969: 'nfs',
  0xff534d42: 'cifs/smb',
  0xfe534d42: 'smb2',
  0x65735546: 'fuse',
  0x4d44: 'vfat',
  0x5346544e: 'ntfs',
  0x73717368: 'squashfs',
};

async function cacheCheck(repo: Repo): Promise<DoctorCheck> {
  const root = repo.cache.root;
  const linkTypes = repo.linkTypes;
  try {
    await makeDirs(root);
    readdirSync(root);
  } catch (err) {
    return { id: 'cache', status: 'fail', summary: `the cache ${root} is not readable: ${errnoCode(err) ?? (err as Error).message}`, fix: 'fix its permissions, or point cache.dir in .reg/config.local.yaml at a directory you can write' };
  }
  let fs = 'unknown';
  try {
    const type = statfsSync(root).type;
    fs = FS_NAMES[type] ?? `type 0x${type.toString(16)}`;
  } catch {
    // statfs is not available everywhere
  }
  const works: Record<LinkType, boolean> = { reflink: false, hardlink: false, symlink: false, copy: false };
  const scratch = join(repo.regDir, 'tmp');
  await makeDirs(scratch);
  const dir = await mkdtemp(join(scratch, 'doctor-'));
  const src = join(root, `.doctor-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(src, 'reg doctor link probe\n');
    for (const type of LINK_TYPES) {
      const dest = join(dir, type);
      try {
        if (type === 'reflink') await copyFile(src, dest, constants.COPYFILE_FICLONE_FORCE);
        else if (type === 'hardlink') await link(src, dest);
        else if (type === 'symlink') await symlink(src, dest);
        else await copyFile(src, dest);
        works[type] = true;
      } catch {
        works[type] = false;
      }
    }
  } catch (err) {
    return { id: 'cache', status: 'fail', summary: `cannot write in the cache ${root}: ${errnoCode(err) ?? (err as Error).message}`, fix: 'fix its permissions, or point cache.dir in .reg/config.local.yaml at a directory you can write' };
  } finally {
    await rm(src, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
  const used = linkTypes.find((t) => works[t]);
  const summary = `${root} on ${fs}; link types that work into the workspace: ${LINK_TYPES.filter((t) => works[t]).join(', ') || 'none'}; cache.type ${linkTypes.join(',')} uses ${used ?? 'none'}`;
  const details = { path: root, filesystem: fs, linkTypes: works, used: used ?? null };
  if (used === undefined) return { id: 'cache', status: 'fail', summary, fix: 'add copy to cache.type in .reg/config.yaml', details };
  if (used === 'copy' && works.reflink === false && linkTypes[0] === 'reflink') {
    return { id: 'cache', status: 'ok', summary: `${summary} (no reflinks on this filesystem: checkouts copy the bytes)`, details };
  }
  return { id: 'cache', status: 'ok', summary, details };
}

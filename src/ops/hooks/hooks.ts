import { chmodSync, existsSync, lstatSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { RegError, usageError } from '../../errors.js';
import { readRegularFileSync, writeFileAtomicSync } from '../../fsutil.js';
import { packagePath } from '../../package-info.js';
import { openRepo, type Repo } from '../../repo.js';
import { gitText } from '../../git/read.js';
import { workTree } from '../../workspace/safe-fs.js';

export const HOOK_NAMES = ['pre-commit', 'pre-push', 'post-checkout', 'post-merge'] as const;
export type HookName = (typeof HOOK_NAMES)[number];
export const HOOK_MARKER = '# reg-managed-hook:';
export const CHAINED_SUFFIX = '.local';

/**
 * A hook's text as reg looks into it (its own shim's marker, a call to reg): followed through a
 * link as git runs it, but only a regular file of at most 1 MiB, opened without blocking. A
 * committed hook (core.hooksPath at `.githooks/`, `.husky/`) that is a link to `/dev/zero` or a
 * FIFO would otherwise be read forever or hang. Undefined for anything else.
 */
export function readHookText(abs: string): string | undefined {
  return readRegularFileSync(abs, { maxBytes: 1 << 20, followLinks: true })?.toString('utf8');
}

/** The package's `hooks/` directory with the shim scripts. */
export function shimsDir(): string {
  return packagePath('hooks/');
}

export function shimText(name: HookName): string {
  return readFileSync(join(shimsDir(), name), 'utf8');
}

export type HookState =
  /** Our shim, current. */
  | 'installed'
  /** Our shim, from another reg version. */
  | 'outdated'
  /** Someone else's hook. */
  | 'foreign'
  | 'absent';

export interface HookInfo {
  name: HookName;
  /** Path of the hook file (relative to the repo root when inside it). */
  path: string;
  state: HookState;
  /** A pre-existing hook kept as `<name>.local` and run first by the shim. */
  chained: boolean;
}

export interface HooksResult {
  hooksDir: string;
  /** core.hooksPath, when set. */
  hooksPath?: string;
  hooks: HookInfo[];
  /** What install/uninstall did per hook. */
  actions: Array<{ name: HookName; action: 'installed' | 'updated' | 'unchanged' | 'chained' | 'removed' | 'restored' | 'absent' | 'kept-foreign' }>;
}

async function hooksDirOf(repo: Repo): Promise<{ dir: string; hooksPath?: string }> {
  const hooksPath = await repo.git.configGet('core.hooksPath');
  const out = (await gitText(repo.root, ['rev-parse', '--git-path', 'hooks'])).trim();
  const dir = isAbsolute(out) ? out : resolve(repo.root, out);
  return { dir, ...(hooksPath !== undefined ? { hooksPath } : {}) };
}

/**
 * A hooks directory inside the work tree (core.hooksPath at a committed `.githooks/`) is checked
 * (and created) through the work-tree gateway before a shim is written or a hook renamed: a
 * commit that makes it, or a directory above it, a symlink cannot send the writes elsewhere.
 * `.git/hooks` and directories outside the work tree are the user's own choice.
 */
function confineHooksDir(repo: Repo, dir: string): void {
  const rel = relative(repo.root, dir).split('\\').join('/');
  if (rel === '' || rel === '..' || rel.startsWith('../') || isAbsolute(rel) || /^\.git(\/|$)/i.test(rel)) return;
  workTree(repo).ensureDir(rel);
}

function shown(repo: Repo, abs: string): string {
  const rel = relative(repo.root, abs);
  return rel.startsWith('..') || isAbsolute(rel) ? abs : rel.split('\\').join('/');
}

function inspect(repo: Repo, dir: string, name: HookName): HookInfo {
  const abs = join(dir, name);
  const chained = existsSync(abs + CHAINED_SUFFIX);
  if (!existsSync(abs)) return { name, path: shown(repo, abs), state: 'absent', chained };
  const text = readHookText(abs) ?? '';
  const state: HookState = !text.includes(HOOK_MARKER) ? 'foreign' : text === shimText(name) ? 'installed' : 'outdated';
  return { name, path: shown(repo, abs), state, chained };
}

export interface HooksOptions {
  /** Subset of hooks (default: all four). */
  hooks?: HookName[];
  /** install: also install into a husky-managed hooks directory. */
  force?: boolean;
}

function selected(options: HooksOptions): HookName[] {
  const list = options.hooks && options.hooks.length ? options.hooks : [...HOOK_NAMES];
  for (const h of list) if (!(HOOK_NAMES as readonly string[]).includes(h)) throw usageError('hooks.unknown', `unknown hook ${h}`, { hint: `reg manages ${HOOK_NAMES.join(', ')}` });
  return list;
}

export async function hooksStatus(ctx: Context): Promise<HooksResult> {
  const repo = openRepo(ctx);
  const { dir, hooksPath } = await hooksDirOf(repo);
  return { hooksDir: shown(repo, dir), ...(hooksPath ? { hooksPath } : {}), hooks: HOOK_NAMES.map((n) => inspect(repo, dir, n)), actions: [] };
}

/**
 * Installs the shims into the hooks directory (core.hooksPath respected). An existing foreign hook
 * is never overwritten: it is renamed to `<name>.local` and the shim runs it first. Idempotent.
 */
export async function hooksInstall(ctx: Context, options: HooksOptions = {}): Promise<HooksResult> {
  const repo = openRepo(ctx);
  const { dir, hooksPath } = await hooksDirOf(repo);
  if (hooksPath !== undefined && /(^|\/)\.husky(\/|$)/.test(hooksPath) && !options.force) {
    throw new RegError('hooks.husky', 'policy', `core.hooksPath is ${hooksPath}: this repository manages its hooks with husky`, {
      hint: 'add `reg hook pre-commit` (and `reg hook pre-push "$@"` etc.) to the files in .husky/ instead (see docs/registry.md), or pass --force to install anyway',
    });
  }
  const actions: HooksResult['actions'] = [];
  const names = selected(options);
  confineHooksDir(repo, dir);
  for (const name of names) {
    const abs = join(dir, name);
    const info = inspect(repo, dir, name);
    const text = shimText(name);
    if (info.state === 'installed') {
      actions.push({ name, action: 'unchanged' });
      continue;
    }
    if (info.state === 'foreign') {
      if (info.chained) {
        throw new RegError('hooks.chain-conflict', 'policy', `${info.path} is not reg's hook and ${info.path}${CHAINED_SUFFIX} already exists`, {
          hint: `merge the two by hand (the shim runs ${name}${CHAINED_SUFFIX} first), remove ${info.path}, then re-run reg hooks install`,
        });
      }
      renameSync(abs, abs + CHAINED_SUFFIX);
    }
    try {
      writeFileAtomicSync(abs, text, 0o755);
    } catch (err) {
      // The shim could not be written (a full disk): the user's hook goes back where git runs it, untouched, not left disabled as .local.
      if (info.state === 'foreign') renameSync(abs + CHAINED_SUFFIX, abs);
      throw err;
    }
    // A linked hook (committed `.githooks/pre-push -> ~/x`) keeps its target's mode: chmod would follow the link.
    if (info.state === 'foreign' && !lstatSync(abs + CHAINED_SUFFIX).isSymbolicLink()) chmodSync(abs + CHAINED_SUFFIX, 0o755);
    chmodSync(abs, 0o755);
    actions.push({ name, action: info.state === 'foreign' ? 'chained' : info.state === 'outdated' ? 'updated' : 'installed' });
  }
  return { hooksDir: shown(repo, dir), ...(hooksPath ? { hooksPath } : {}), hooks: HOOK_NAMES.map((n) => inspect(repo, dir, n)), actions };
}

/** Removes reg's shims; a chained `<name>.local` hook is put back in place. Foreign hooks are left alone. */
export async function hooksUninstall(ctx: Context, options: HooksOptions = {}): Promise<HooksResult> {
  const repo = openRepo(ctx);
  const { dir, hooksPath } = await hooksDirOf(repo);
  const actions: HooksResult['actions'] = [];
  const names = selected(options);
  if (existsSync(dir)) confineHooksDir(repo, dir);
  for (const name of names) {
    const abs = join(dir, name);
    const info = inspect(repo, dir, name);
    if (info.state === 'foreign') {
      actions.push({ name, action: 'kept-foreign' });
      continue;
    }
    if (info.state === 'absent' && !info.chained) {
      actions.push({ name, action: 'absent' });
      continue;
    }
    if (info.state !== 'absent') rmSync(abs, { force: true });
    if (info.chained) {
      renameSync(abs + CHAINED_SUFFIX, abs);
      actions.push({ name, action: 'restored' });
    } else actions.push({ name, action: 'removed' });
  }
  return { hooksDir: shown(repo, dir), ...(hooksPath ? { hooksPath } : {}), hooks: HOOK_NAMES.map((n) => inspect(repo, dir, n)), actions };
}

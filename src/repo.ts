import { existsSync, lstatSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { loadConfig, configString, type LoadedConfig, CONFIG_FILE } from './config.js';
import type { Context } from './context.js';
import { RegError, usageError } from './errors.js';
import { GitPort } from './git/git.js';
import { findGitRoot } from './git/root.js';
import { Cache, parseLinkTypes, type LinkType } from './store/cache.js';
import { REG_STATE_DIRS, regState } from './workspace/safe-fs.js';

export { findGitRoot };

export const REG_DIR = '.reg';

export interface Repo {
  root: string;
  regDir: string;
  config: LoadedConfig;
  cache: Cache;
  git: GitPort;
  /** `.reg/tmp/stat`: the per-output stat caches. */
  statDir: string;
  linkTypes: LinkType[];
}

/** The nearest ancestor of `start` holding `.git` (a directory, or a file for worktrees/submodules). */
export function requireGitRoot(ctx: Context): string {
  const root = findGitRoot(ctx.cwd);
  if (root === undefined) {
    throw new RegError('repo.not-git', 'config', `${ctx.cwd} is not inside a Git work tree`, { hint: 'run `git init` first (reg keeps its pointers in Git)' });
  }
  return root;
}

/**
 * `.reg` must be a real directory when it exists: a committed `.reg` symlink would send reg's
 * config, cache, state and stash writes anywhere.
 */
export function assertRegDirIsDirectory(regDir: string): void {
  const st = lstatSync(regDir, { throwIfNoEntry: false });
  if (st === undefined || st.isDirectory()) return;
  const what = st.isSymbolicLink() ? 'a symbolic link' : 'not a directory';
  throw new RegError(st.isSymbolicLink() ? 'repo.reg-symlink' : 'repo.reg-not-a-directory', 'config', `${regDir} is ${what}`, {
    hint: `reg keeps its own files in a real ${REG_DIR}/ directory: replace it by a directory (git rm ${REG_DIR} if it was committed)`,
  });
}

export function openRepo(ctx: Context): Repo {
  const root = requireGitRoot(ctx);
  const regDir = join(root, REG_DIR);
  if (!existsSync(join(regDir, CONFIG_FILE)) && !existsSync(regDir)) {
    throw new RegError('repo.not-reg', 'config', `${root} is not a reg repository (no ${REG_DIR}/ directory)`, { hint: 'run `reg init` at the top of the Git repository' });
  }
  assertRegDirIsDirectory(regDir);
  const config = loadConfig(regDir, ctx.env);
  const cacheDirSetting = configString(config.data, ['cache', 'dir'], join(regDir, CONFIG_FILE));
  const cacheRoot = cacheDirSetting ? resolve(regDir, cacheDirSetting) : join(regDir, 'cache');
  const repo: Repo = {
    root,
    regDir,
    config,
    cache: new Cache(cacheRoot),
    git: new GitPort(root),
    statDir: join(regDir, 'tmp', 'stat'),
    linkTypes: parseLinkTypes(configString(config.data, ['cache', 'type'], join(regDir, CONFIG_FILE)), `${join(regDir, CONFIG_FILE)}: cache.type`),
  };
  // The stat cache, stash records and tmp/ state are written on ordinary commands: a committed link there is refused up front.
  for (const dir of REG_STATE_DIRS) regState(repo).isDir(dir);
  return repo;
}

/** `abs` relative to the repo root with '/' separators; refuses paths outside the repo. */
export function repoRelative(repo: { root: string }, abs: string, shownAs = abs): string {
  const rel = relative(repo.root, abs);
  if (rel === '' ) return '';
  if (rel.startsWith('..') || resolve(repo.root, rel) !== resolve(abs)) {
    throw usageError('target.outside-repo', `${shownAs} is outside the repository ${repo.root}`, { hint: 'reg only tracks data inside its Git work tree' });
  }
  return rel.split(sep).join('/');
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

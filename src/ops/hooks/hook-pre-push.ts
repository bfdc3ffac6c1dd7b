import type { Context } from '../../context.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo } from '../../repo.js';
import { gitRun, gitText, ZERO_OID } from '../../git/read.js';
import { ensureHistoryData, pointersChangedIn, type HistoryDataPointer, type HistoryDataResult } from '../remote/history-data.js';

export interface PrePushOptions {
  /** The git remote being pushed to (first hook argument). */
  gitRemote: string;
  /** What git writes on stdin: `<local ref> <local sha> <remote ref> <remote sha>` lines. */
  refLines: string;
  /** Override `hooks.pre-push` from the config. */
  mode?: 'push' | 'check';
  /**
   * Used when `refLines` holds no ref update (the pre-commit framework's first push of a root
   * commit, a hand-run hook): every pointer in the history reachable from this ref is checked.
   * Default HEAD. The hook never passes a push it cannot see.
   */
  reachableFrom?: string;
}

export type PrePushPointer = HistoryDataPointer;

export interface PrePushResult extends HistoryDataResult {
  mode: 'push' | 'check';
  /** What was checked: the commits of the ref updates git reported, or (none reported) everything reachable from a ref. */
  range: { kind: 'ref-updates' } | { kind: 'reachable'; ref: string };
  commits: number;
}

interface RefUpdate {
  localRef: string;
  localSha: string;
  remoteRef: string;
  remoteSha: string;
}

export function parseRefLines(text: string): RefUpdate[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 4)
    .map(([localRef, localSha, remoteRef, remoteSha]) => ({ localRef: localRef!, localSha: localSha!, remoteRef: remoteRef!, remoteSha: remoteSha! }));
}

async function objectExists(root: string, sha: string): Promise<boolean> {
  return (await gitRun(root, ['cat-file', '-e', `${sha}^{commit}`], undefined, { allowFail: true })).code === 0;
}

/** Commits the push sends: local..remote, or (new branch) everything not yet on any ref of that remote. */
export async function commitsBeingPushed(root: string, gitRemote: string, updates: RefUpdate[]): Promise<string[]> {
  const commits = new Set<string>();
  for (const u of updates) {
    if (ZERO_OID.test(u.localSha)) continue; // branch deletion
    const args = ['rev-list', u.localSha];
    if (!ZERO_OID.test(u.remoteSha) && (await objectExists(root, u.remoteSha))) args.push(`^${u.remoteSha}`);
    else args.push('--not', `--remotes=${gitRemote}`);
    for (const c of (await gitText(root, args)).split('\n').filter(Boolean)) commits.add(c);
  }
  return [...commits];
}

/** Commits to check: those of the reported ref updates, or, when git reported none, all reachable from `reachableFrom`. */
async function commitsToCheck(root: string, options: PrePushOptions, result: Pick<PrePushResult, 'range' | 'ok' | 'error' | 'warnings'>): Promise<string[] | undefined> {
  const updates = parseRefLines(options.refLines);
  if (updates.length > 0) return commitsBeingPushed(root, options.gitRemote, updates);
  const ref = options.reachableFrom ?? 'HEAD';
  result.range = { kind: 'reachable', ref };
  const tip = await gitRun(root, ['rev-parse', '--verify', '-q', `${ref}^{commit}`], undefined, { allowFail: true });
  if (tip.code !== 0) {
    result.ok = false;
    result.error = `git reported no ref being pushed and ${ref} does not name a commit, so reg cannot tell which data the push needs`;
    return undefined;
  }
  result.warnings.push(`git reported no ref being pushed (the pre-commit framework does so for a first push); checked every pointer reachable from ${ref}`);
  return (await gitText(root, ['rev-list', tip.stdout.toString('utf8').trim()])).split('\n').filter(Boolean);
}

/**
 * `reg hook pre-push`: every pointer in the commits being pushed must have its data on the
 * default remote. In `push` mode missing objects are uploaded first; in `check` mode, or when
 * uploading fails, the push is refused with the list. When git reports no ref update, the hook
 * fails closed: it checks everything reachable from the pushed ref (or HEAD).
 */
export async function prePushHook(ctx: Context, options: PrePushOptions): Promise<PrePushResult> {
  const repo = openRepo(ctx);
  const mode = options.mode ?? registryPolicy(repo.config.data).prePush;
  const scope: Pick<PrePushResult, 'range' | 'ok' | 'error' | 'warnings'> = { range: { kind: 'ref-updates' }, ok: true, warnings: [] };
  const commits = await commitsToCheck(repo.root, options, scope);
  if (commits === undefined) return { mode, commits: 0, pointers: [], uploaded: 0, missing: [], ...scope };
  const data = await ensureHistoryData(repo, ctx, await pointersChangedIn(repo.root, commits), mode);
  return { ...data, mode, range: scope.range, commits: commits.length, warnings: [...scope.warnings, ...data.warnings] };
}

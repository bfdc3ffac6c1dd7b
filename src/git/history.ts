import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RegError, usageError } from '../errors.js';
import { gitRun, gitText } from './read.js';

export { BlobReader, type BlobContent } from './read.js';

/**
 * Reading Git history in bulk, without touching the working tree or the index: which commits
 * changed a set of paths (one `git log --raw`), what a revision's tree holds (one `git ls-tree`),
 * and blob contents through one long-lived `git cat-file --batch` process. No per-commit process.
 *
 * Measured on a generated repository (2,000 commits, 1,000 of them changing one pointer; see
 * docs/architecture.md): `git log --raw` + `cat-file --batch` read every version in ~60 ms, an
 * isomorphic-git walk of the same history took ~6.5 s, so this module drives the git binary.
 */

/** A commit as `git log` describes it. */
export interface CommitInfo {
  commit: string;
  parents: string[];
  /** Author date, ISO 8601 with the author's offset. */
  date: string;
  author: string;
  email: string;
  subject: string;
}

/** One path a commit changed (against its parent; for merges, against every parent). */
export interface PathChange {
  path: string;
  /** Git's status letter: A added, M modified, D deleted, T type changed (merges: the combined letters). */
  status: string;
  /** The blob the commit has at `path`; undefined when the commit deleted it. */
  blob?: string;
  /** File mode the commit has at `path` (`100644`, `120000` for a symlink...). */
  mode: string;
}

export interface CommitChanges extends CommitInfo {
  changes: PathChange[];
}

/** Which history to read: tips given as commit ids, or whole ref families. */
export interface RevSelection {
  /** Commit ids (already resolved: see resolveCommits). */
  commits?: readonly string[];
  branches?: boolean;
  tags?: boolean;
  remotes?: boolean;
  head?: boolean;
  /** Every ref (`--all`: branches, tags, remote-tracking branches, refs/stash, notes...). */
  all?: boolean;
  /** Commits the reflogs remember (`--reflog`). */
  reflog?: boolean;
}

function selectionArgs(sel: RevSelection): string[] {
  const args: string[] = [];
  if (sel.all) args.push('--all');
  if (sel.reflog) args.push('--reflog');
  if (sel.branches) args.push('--branches');
  if (sel.tags) args.push('--tags');
  if (sel.remotes) args.push('--remotes');
  for (const c of sel.commits ?? []) args.push(assertObjectId(c));
  if (sel.head) args.push('HEAD');
  return args;
}

const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function assertObjectId(id: string): string {
  if (!OBJECT_ID.test(id)) throw new RegError('git.bad-object-id', 'failed', `not a full object id: ${JSON.stringify(id)}`);
  return id;
}

export interface ResolvedRev {
  rev: string;
  /** The commit the rev names; undefined when it names nothing (or nothing that is a commit). */
  commit?: string;
  /** Why it did not resolve: `missing` or `ambiguous` (a short id matching several objects). */
  problem?: 'missing' | 'ambiguous';
}

/**
 * Resolves revisions (branches, tags, short ids, `HEAD~3`, `v1^{commit}`...) to commit ids in one
 * `git cat-file --batch-check`: revisions go in on stdin, so a rev starting with `-` is never
 * taken for an option.
 */
export async function resolveCommits(root: string, revs: readonly string[]): Promise<ResolvedRev[]> {
  if (revs.length === 0) return [];
  for (const rev of revs) {
    if (rev === '' || /[\n\r\0]/.test(rev)) throw usageError('rev.invalid', `invalid revision ${JSON.stringify(rev)}`, { hint: 'name a branch, a tag or a commit id' });
  }
  const out = await gitText(root, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], revs.map((r) => `${r}^{commit}`).join('\n') + '\n');
  const lines = out.split('\n');
  return revs.map((rev, i) => {
    const words = (lines[i] ?? '').split(' ');
    const last = words[words.length - 1];
    if (last === 'commit' && words.length === 2 && OBJECT_ID.test(words[0]!)) return { rev, commit: words[0]! };
    return { rev, problem: last === 'ambiguous' ? 'ambiguous' : 'missing' };
  });
}

/** resolveCommits, as usage errors naming the first rev that does not resolve. */
export async function resolveCommitsOrThrow(root: string, revs: readonly string[]): Promise<string[]> {
  return (await resolveCommits(root, revs)).map((r) => {
    if (r.commit !== undefined) return r.commit;
    throw usageError(
      r.problem === 'ambiguous' ? 'rev.ambiguous' : 'rev.unknown',
      r.problem === 'ambiguous' ? `revision ${r.rev} is ambiguous (several objects start with it)` : `unknown revision ${r.rev}`,
      { hint: r.problem === 'ambiguous' ? 'give more characters of the commit id' : 'name a branch, a tag or a commit of this repository (git log --oneline, git tag)' },
    );
  });
}

/** HEAD's commit, or undefined in a repository without commits. */
export async function headCommit(root: string): Promise<string | undefined> {
  return (await resolveCommits(root, ['HEAD']))[0]!.commit;
}

export type RefKind = 'branch' | 'tag' | 'remote';

export interface RefTip {
  /** Short name: `main`, `v1`, `origin/main`. */
  name: string;
  kind: RefKind;
  /** The commit the ref points at (annotated tags peeled). */
  commit: string;
}

/** Every branch, tag and (optionally) remote-tracking branch with the commit it points at. */
export async function listRefs(root: string, kinds: { branches?: boolean; tags?: boolean; remotes?: boolean }): Promise<RefTip[]> {
  const patterns: Array<[string, RefKind]> = [];
  if (kinds.branches) patterns.push(['refs/heads/', 'branch']);
  if (kinds.tags) patterns.push(['refs/tags/', 'tag']);
  if (kinds.remotes) patterns.push(['refs/remotes/', 'remote']);
  if (patterns.length === 0) return [];
  const out = await gitText(root, ['for-each-ref', '--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)', ...patterns.map(([p]) => p)]);
  const tips: RefTip[] = [];
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [oid, type, peeled, peeledType, ...rest] = line.split(' ');
    const refname = rest.join(' ');
    const match = patterns.find(([p]) => refname.startsWith(p));
    if (!match) continue;
    const commit = type === 'commit' ? oid : peeledType === 'commit' ? peeled : undefined;
    if (commit === undefined || commit === '' || refname.endsWith('/HEAD')) continue;
    tips.push({ name: refname.slice(match[0].length), kind: match[1], commit });
  }
  return tips;
}

/**
 * The blob each (commit, path) pair has, in one `git cat-file --batch-check`; undefined where
 * the commit has no such path (or has a tree there).
 */
export async function blobsAt(root: string, pairs: ReadonlyArray<{ commit: string; path: string }>): Promise<Array<string | undefined>> {
  if (pairs.length === 0) return [];
  const ok = pairs.map((p) => OBJECT_ID.test(p.commit) && !/[\n\r\0]/.test(p.path));
  const input = pairs.filter((_, i) => ok[i]).map((p) => `${p.commit}:${p.path}`).join('\n') + '\n';
  const lines = ok.some(Boolean) ? (await gitText(root, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], input)).split('\n') : [];
  let k = 0;
  return pairs.map((_, i) => {
    if (!ok[i]) return undefined;
    const [oid, type] = (lines[k++] ?? '').split(' ');
    return type === 'blob' && oid !== undefined && OBJECT_ID.test(oid) ? oid : undefined;
  });
}

/** `git rev-list --parents` of the selection: every commit with its parents (for ancestry questions). */
export async function commitGraph(root: string, sel: RevSelection): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const args = selectionArgs(sel);
  if (args.length === 0) return graph;
  const out = await gitText(root, ['rev-list', '--parents', ...args, '--']);
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [c, ...parents] = line.split(' ');
    graph.set(c!, parents);
  }
  return graph;
}

/** The commits reachable from `tip` in a graph from commitGraph (tip included). */
export function ancestorsOf(graph: ReadonlyMap<string, readonly string[]>, tip: string): Set<string> {
  const seen = new Set<string>();
  const stack = [tip];
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    for (const p of graph.get(c) ?? []) if (!seen.has(p)) stack.push(p);
  }
  return seen;
}

/** Every pointer file anywhere in a tree (filter the result with isPointerPath: not under `.dvc/` or `.reg/`). */
export const ALL_POINTERS_PATHSPEC = ':(glob)**/*.dvc';

export interface LogQuery extends RevSelection {
  /** Exact paths (literal pathspecs) and/or `:(glob)` pathspecs; required (history of everything is never asked for). */
  pathspecs: readonly string[];
}

/**
 * Every commit of the selection that changed one of the paths, newest first (`--date-order`:
 * never a parent before its child), each with the changes to those paths and the blobs it has
 * there. `--full-history` so a version that lived only on a merged side branch is not hidden;
 * merges are listed only when they produce a blob that none of their parents had (`-c`).
 * One process, however long the history.
 */
export async function commitsChanging(root: string, query: LogQuery): Promise<CommitChanges[]> {
  const revs = selectionArgs(query);
  if (revs.length === 0 || query.pathspecs.length === 0) return [];
  const args = [
    'log', '-z', '--format=%x01%H%x00%P%x00%aI%x00%an%x00%ae%x00%s', '--raw', '--no-abbrev', '-c',
    '--full-history', '--no-renames', '--date-order', ...revs, '--', ...query.pathspecs,
  ];
  const r = await gitRun(root, args, undefined, { allowFail: true });
  if (r.code !== 0) {
    // A repository without any commit has no history at all.
    if (/does not have any commits|bad default revision|unknown revision or path/.test(r.stderr) && (await headCommit(root)) === undefined) return [];
    throw new RegError('git.failed', 'failed', `git log failed: ${r.stderr.trim()}`);
  }
  return parseRawLog(r.stdout);
}

/**
 * Parses `git log -z --format=%x01<6 NUL-terminated fields> --raw -c` output sequentially: every
 * header field ends with NUL (so a subject holding \x01 cannot confuse it), then zero or more raw
 * entries `:<modes> <oids> <status>\0<path>\0` (`::...` for merges). Commits without an entry are
 * dropped.
 */
export function parseRawLog(buf: Buffer): CommitChanges[] {
  const commits: CommitChanges[] = [];
  let pos = 0;
  const field = (): string => {
    const end = buf.indexOf(0, pos);
    const stop = end === -1 ? buf.length : end;
    const s = buf.toString('utf8', pos, stop);
    pos = stop + 1;
    return s;
  };
  while (pos < buf.length) {
    if (buf[pos] !== 0x01) {
      pos++;
      continue;
    }
    pos++;
    const commit = field();
    const parents = field().split(' ').filter(Boolean);
    const date = field();
    const author = field();
    const email = field();
    const subject = field();
    const changes: PathChange[] = [];
    for (;;) {
      while (pos < buf.length && (buf[pos] === 0x0a || buf[pos] === 0)) pos++;
      if (pos >= buf.length || buf[pos] !== 0x3a /* : */) break;
      const meta = field();
      const path = field();
      let colons = 0;
      while (meta[colons] === ':') colons++;
      const words = meta.slice(colons).split(' ');
      // colons parents' modes + result mode, then as many oids, then the status letters.
      const mode = words[colons]!;
      const blob = words[2 * colons + 1]!;
      const status = words[words.length - 1]!;
      changes.push({ path, status, mode, blob: /^0+$/.test(blob) ? undefined : blob });
    }
    // --full-history also shows merges that took one parent's version: they changed nothing of their own.
    if (changes.length > 0) commits.push({ commit, parents, date, author, email, subject, changes });
  }
  return commits;
}

export interface TreeEntry {
  path: string;
  mode: string;
  type: string;
  oid: string;
}

/**
 * The blobs of a commit's tree, recursively (`git ls-tree -r`), or only at `paths` (ls-tree's
 * literal path prefixes). `filter` picks paths cheaply before an entry object is made (pointer
 * files among thousands of other files).
 */
export async function treeFiles(root: string, commit: string, filter: (path: string) => boolean = () => true, paths: readonly string[] = []): Promise<TreeEntry[]> {
  const out = await gitText(root, ['ls-tree', '-r', '-z', '--full-tree', assertObjectId(commit), '--', ...paths]);
  const entries: TreeEntry[] = [];
  for (const rec of out.split('\0')) {
    if (rec === '') continue;
    const tab = rec.indexOf('\t');
    const path = rec.slice(tab + 1);
    if (!filter(path)) continue;
    const [mode, type, oid] = rec.slice(0, tab).split(' ');
    entries.push({ path, mode: mode!, type: type!, oid: oid! });
  }
  return entries;
}

/** What the local Git knows of one Git remote's branches, and since when. */
export interface GitRemoteState {
  name: string;
  url?: string;
  /** Remote-tracking branches (`refs/remotes/<name>/*`, HEAD excluded). */
  branches: number;
  /**
   * When the branches were last fetched (ms since the epoch), as far as Git recorded it: the
   * latest reflog update of `refs/remotes/<name>/*`, or FETCH_HEAD when it was written by a fetch
   * from this remote (a fetch that changed nothing only rewrites FETCH_HEAD). Undefined: never.
   */
  fetchedAt?: number;
}

/** Every Git remote with its remote-tracking branches and the time they were last fetched. */
export async function gitRemoteStates(root: string): Promise<GitRemoteState[]> {
  const urls = new Map<string, string>();
  const cfg = await gitRun(root, ['config', '-z', '--get-regexp', '^remote\\..*\\.url$'], undefined, { allowFail: true });
  for (const rec of cfg.stdout.toString('utf8').split('\0')) {
    const nl = rec.indexOf('\n');
    if (nl === -1) continue;
    const m = /^remote\.(.*)\.url$/.exec(rec.slice(0, nl));
    if (m) urls.set(m[1]!, rec.slice(nl + 1));
  }
  if (urls.size === 0) return [];
  const refs = (await gitText(root, ['for-each-ref', '--format=%(refname)', 'refs/remotes/'])).split('\n').filter((r) => r !== '' && !r.endsWith('/HEAD'));
  const [logsDir, fetchHead] = (await gitText(root, ['rev-parse', '--git-path', 'logs/refs/remotes', '--git-path', 'FETCH_HEAD'])).split('\n').map((p) => resolve(root, p));
  let fetchHeadText = '';
  let fetchHeadTime: number | undefined;
  try {
    fetchHeadText = readFileSync(fetchHead!, 'utf8');
    fetchHeadTime = statSync(fetchHead!).mtimeMs;
  } catch {
    // never fetched
  }
  return [...urls].map(([name, url]) => {
    const prefix = `refs/remotes/${name}/`;
    let fetchedAt = latestMtime(join(logsDir!, ...name.split('/')));
    if (fetchHeadTime !== undefined && fetchHeadText.split('\n').some((l) => l.endsWith(` of ${url}`) || l.endsWith(` of ${url.replace(/\/+$/, '')}`))) {
      fetchedAt = Math.max(fetchedAt ?? 0, fetchHeadTime);
    }
    return { name, url, branches: refs.filter((r) => r.startsWith(prefix)).length, ...(fetchedAt !== undefined ? { fetchedAt } : {}) };
  });
}

/** The newest mtime of the files below `dir` (reflogs), or undefined. */
function latestMtime(dir: string): number | undefined {
  let latest: number | undefined;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? latestMtime(p) : e.isFile() ? statSync(p).mtimeMs : undefined;
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  return latest;
}

/** HEAD of every other work tree of this repository (linked worktrees), as commit ids. */
export async function worktreeHeads(root: string): Promise<string[]> {
  const r = await gitRun(root, ['worktree', 'list', '--porcelain'], undefined, { allowFail: true });
  if (r.code !== 0) return [];
  return r.stdout.toString('utf8').split('\n').flatMap((l) => {
    const m = /^HEAD ([0-9a-f]{40}([0-9a-f]{24})?)$/.exec(l);
    return m ? [m[1]!] : [];
  });
}

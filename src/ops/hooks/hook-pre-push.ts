import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Context } from '../../context.js';
import { isLegacy, parsePointer } from '../../data/pointer.js';
import { isRegError } from '../../errors.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo, type Repo } from '../../repo.js';
import { type TransferTask } from '../../store/transfer.js';
import { gitRun, gitText, readBlobs, ZERO_OID } from '../../git/read.js';
import { POINTER_SUFFIX, type TrackedOutput } from '../data/outputs.js';
import { planPush, push } from '../remote/push.js';
import { openRemote, resolveRemoteName } from '../remote/open-remote.js';
import { redact } from '../remote/remote-config.js';
import { runTransfersWithProgress } from '../remote/transfer-progress.js';

export interface PrePushOptions {
  /** The git remote being pushed to (first hook argument). */
  gitRemote: string;
  /** What git writes on stdin: `<local ref> <local sha> <remote ref> <remote sha>` lines. */
  refLines: string;
  /** Override `hooks.pre-push` from the config. */
  mode?: 'push' | 'check';
}

export interface PrePushPointer {
  pointer: string;
  path: string;
  oid: string;
  /** A commit being pushed that introduces this version. */
  commit: string;
  remote?: string;
  state: 'present' | 'uploaded' | 'missing';
  /** Why it is missing (upload failure, not in the local cache, no remote). */
  reason?: string;
}

export interface PrePushResult {
  mode: 'push' | 'check';
  commits: number;
  pointers: PrePushPointer[];
  uploaded: number;
  missing: PrePushPointer[];
  /** The push may go ahead. */
  ok: boolean;
  /** Set when the push is refused for a reason other than missing objects. */
  error?: string;
  warnings: string[];
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

/** `.dvc` files added or modified by each commit, with their blob ids (one `git diff-tree --stdin`). */
async function pointersIn(root: string, commits: string[]): Promise<Array<{ commit: string; path: string; blob: string }>> {
  const out: Array<{ commit: string; path: string; blob: string }> = [];
  if (commits.length === 0) return out;
  const raw = await gitText(root, ['diff-tree', '--stdin', '-r', '--root', '--no-renames', '-z', '--diff-filter=AM'], commits.join('\n') + '\n');
  const tokens = raw.split('\0');
  let commit = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith(':')) {
      const path = tokens[++i] ?? '';
      if (!path.endsWith(POINTER_SUFFIX) || path.startsWith('.dvc/') || path.startsWith('.reg/')) continue;
      out.push({ commit, path, blob: t.split(' ')[3]! });
    } else if (t.trim() !== '') commit = t.trim();
  }
  return out;
}

function trackedFromText(repo: Repo, pointerRel: string, text: string): TrackedOutput | undefined {
  const p = parsePointer(text, pointerRel);
  const out = p.outs[0];
  if (p.outs.length !== 1 || out === undefined || out.md5 === undefined) return undefined;
  const dataRel = posix.normalize(posix.join(posix.dirname(pointerRel), out.path));
  return {
    pointerRel,
    pointerAbs: join(repo.root, pointerRel),
    dataRel,
    dataAbs: join(repo.root, dataRel),
    out,
    legacy: isLegacy(out),
    isDir: out.md5.endsWith('.dir'),
    text,
  };
}

/**
 * `reg hook pre-push`: every pointer in the commits being pushed must have its data on the
 * default remote. In `push` mode missing objects are uploaded first (the push op for the
 * versions in the workspace, the same transfer queue for older versions); in `check` mode, or
 * when uploading fails, the push is refused with the list.
 */
export async function prePushHook(ctx: Context, options: PrePushOptions): Promise<PrePushResult> {
  const repo = openRepo(ctx);
  const mode = options.mode ?? registryPolicy(repo.config.data).prePush;
  const result: PrePushResult = { mode, commits: 0, pointers: [], uploaded: 0, missing: [], ok: true, warnings: [] };
  const commits = await commitsBeingPushed(repo.root, options.gitRemote, parseRefLines(options.refLines));
  result.commits = commits.length;
  const found = await pointersIn(repo.root, commits);
  if (found.length === 0) return result;
  const blobs = await readBlobs(repo.root, found.map((f) => f.blob));
  const byKey = new Map<string, { o: TrackedOutput; row: PrePushPointer }>();
  for (const f of found) {
    let o: TrackedOutput | undefined;
    try {
      o = trackedFromText(repo, f.path, blobs.get(f.blob)?.toString('utf8') ?? '');
    } catch (err) {
      if (!isRegError(err)) throw err;
      result.warnings.push(`${f.path} at ${f.commit.slice(0, 8)} is not a valid pointer (${err.message}); skipped`);
      continue;
    }
    if (!o || o.out.push === false) continue;
    const key = `${o.out.remote ?? ''}\0${o.legacy}\0${o.out.md5}`;
    if (byKey.has(key)) continue;
    byKey.set(key, { o, row: { pointer: f.path, path: o.dataRel, oid: o.out.md5!, commit: f.commit, state: 'present' } });
  }
  result.pointers = [...byKey.values()].map((v) => v.row);
  if (byKey.size === 0) return result;

  const groups = new Map<string, Array<{ o: TrackedOutput; row: PrePushPointer }>>();
  for (const v of byKey.values()) {
    let name: string;
    try {
      name = resolveRemoteName(repo, v.o.out.remote);
    } catch (err) {
      if (!isRegError(err)) throw err;
      result.ok = false;
      result.error = `the commits being pushed reference data (${byKey.size} pointer${byKey.size > 1 ? 's' : ''}) but no reg remote is configured: ${err.message}`;
      for (const x of byKey.values()) x.row.state = 'missing';
      result.missing = result.pointers;
      return result;
    }
    v.row.remote = name;
    groups.set(name, [...(groups.get(name) ?? []), v]);
  }

  for (const [remoteName, items] of groups) {
    const missing = await missingOf(repo, ctx, remoteName, items);
    if (missing.length === 0) continue;
    if (mode === 'push') {
      await uploadMissing(repo, ctx, remoteName, missing, result);
      const still = new Set((await missingOf(repo, ctx, remoteName, missing)).map((m) => m.row));
      for (const m of missing) {
        if (still.has(m.row)) {
          m.row.state = 'missing';
          m.row.reason ??= repo.cache.locate(m.o.out.md5!, m.o.legacy) === undefined ? 'not in the local cache either' : 'upload failed';
        } else {
          m.row.state = 'uploaded';
          result.uploaded++;
        }
      }
    } else {
      for (const m of missing) {
        m.row.state = 'missing';
        m.row.reason = repo.cache.locate(m.o.out.md5!, m.o.legacy) === undefined ? 'not on the remote, not in the local cache' : 'not on the remote (run reg push)';
      }
    }
  }
  result.missing = result.pointers.filter((p) => p.state === 'missing');
  result.ok = result.missing.length === 0;
  return result;
}

async function missingOf(repo: Repo, ctx: Context, remoteName: string, items: Array<{ o: TrackedOutput; row: PrePushPointer }>) {
  const remote = openRemote(repo, ctx, { remote: remoteName });
  try {
    const plan = await planPush(repo, ctx, items.map((i) => i.o), remote);
    const missingPointers = new Set(plan.outputs.filter((p) => p.missingKeys.length > 0).map((p) => p.output));
    return items.filter((i) => missingPointers.has(i.o));
  } finally {
    remote.close();
  }
}

/** Uploads through `push` for versions the workspace pointers still name, then older versions by the same queue. */
async function uploadMissing(repo: Repo, ctx: Context, remoteName: string, missing: Array<{ o: TrackedOutput; row: PrePushPointer }>, result: PrePushResult): Promise<void> {
  const current: string[] = [];
  const older: TrackedOutput[] = [];
  for (const m of missing) {
    const abs = join(repo.root, m.o.pointerRel);
    let same = false;
    if (existsSync(abs)) {
      try {
        same = parsePointer(readFileSync(abs, 'utf8'), m.o.pointerRel).outs[0]?.md5 === m.o.out.md5;
      } catch {
        same = false;
      }
    }
    if (same) current.push(m.o.pointerRel);
    else older.push(m.o);
  }
  if (current.length > 0) {
    try {
      await push(ctx, { targets: current, remote: remoteName });
    } catch (err) {
      if (!isRegError(err)) throw err;
      result.warnings.push(`reg push: ${err.message}`);
    }
  }
  if (older.length === 0) return;
  const remote = openRemote(repo, ctx, { remote: remoteName });
  try {
    const plan = await planPush(repo, ctx, older, remote);
    const tasks: TransferTask[] = [];
    for (const obj of plan.objects.values()) {
      if (obj.localPath === undefined || (obj.members && obj.unavailableMembers! > 0)) continue;
      const localPath = obj.localPath;
      tasks.push({ key: obj.key, size: obj.size, requires: obj.members, run: (onBytes, signal) => remote.store.upload(obj.ref, localPath, obj.size, onBytes, signal) });
    }
    const phase = 'pre-push';
    const outcome = await runTransfersWithProgress(ctx, tasks, { phase, label: `uploading older data versions to ${remote.name}`, jobs: remote.jobs, secrets: remote.secrets });
    for (const f of outcome.failed) result.warnings.push(`upload of ${f.key} failed: ${redact(f.error, remote.secrets)}`);
  } finally {
    remote.close();
  }
}

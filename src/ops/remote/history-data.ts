import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { isLegacy, MAX_POINTER_BYTES, parsePointer, pointerTooLarge } from '../../data/pointer.js';
import { isRegError } from '../../errors.js';
import { gitText, readBlobs } from '../../git/read.js';
import type { Repo } from '../../repo.js';
import { POINTER_SUFFIX, pointerDataRel, readPointerFile, type TrackedOutput } from '../data/outputs.js';
import { workTree } from '../../workspace/safe-fs.js';
import { openRemote, resolveRemoteName } from './open-remote.js';
import { planPush, push, uploadPlan } from './push.js';
import { redact } from './remote-config.js';

/**
 * "Every pointer in these commits has its data on the remote": what the pre-push hook and
 * `reg check --ci` enforce. Pointers are read from the commits (so older versions count too);
 * anything that cannot be verified (an unreadable pointer, no remote) counts as missing.
 */

/** A `.dvc` file as committed: the commit, its path and its blob. */
export interface CommittedPointer {
  commit: string;
  path: string;
  blob: string;
}

export interface HistoryDataPointer {
  pointer: string;
  path: string;
  oid: string;
  /** A commit that introduces (or holds) this version. */
  commit: string;
  remote?: string;
  state: 'present' | 'uploaded' | 'missing';
  /** Why it is missing (upload failure, not in the local cache, no remote, unreadable pointer). */
  reason?: string;
}

export interface HistoryDataResult {
  pointers: HistoryDataPointer[];
  uploaded: number;
  missing: HistoryDataPointer[];
  /** Everything is on the remote. */
  ok: boolean;
  /** Set when the check failed for a reason other than missing objects. */
  error?: string;
  warnings: string[];
}

function isPointerPath(path: string): boolean {
  return path.endsWith(POINTER_SUFFIX) && !path.startsWith('.dvc/') && !path.startsWith('.reg/');
}

/** `.dvc` files added or modified by each commit, with their blob ids (one `git diff-tree --stdin`). */
export async function pointersChangedIn(root: string, commits: string[]): Promise<CommittedPointer[]> {
  const out: CommittedPointer[] = [];
  if (commits.length === 0) return out;
  const raw = await gitText(root, ['diff-tree', '--stdin', '-r', '--root', '--no-renames', '-z', '--diff-filter=AM'], commits.join('\n') + '\n');
  const tokens = raw.split('\0');
  let commit = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith(':')) {
      const path = tokens[++i] ?? '';
      if (!isPointerPath(path)) continue;
      out.push({ commit, path, blob: t.split(' ')[3]! });
    } else if (t.trim() !== '') commit = t.trim();
  }
  return out;
}

/** Every `.dvc` file in a commit's tree (what a checkout of that commit needs). */
export async function pointersAt(root: string, commit: string): Promise<CommittedPointer[]> {
  const raw = await gitText(root, ['ls-tree', '-r', '-z', '--full-tree', commit]);
  const out: CommittedPointer[] = [];
  for (const line of raw.split('\0')) {
    const tab = line.indexOf('\t');
    if (tab === -1) continue;
    const [, type, blob] = line.slice(0, tab).split(' ');
    const path = line.slice(tab + 1);
    if (type === 'blob' && isPointerPath(path)) out.push({ commit, path, blob: blob! });
  }
  return out;
}

/**
 * The outputs of a pointer blob that name data (an output without md5 has none yet), each `path:`
 * validated like a workspace pointer's (pointerDataRel; the disk checks do not apply to history).
 */
function trackedFromText(repo: Repo, pointerRel: string, text: string): TrackedOutput[] {
  const p = parsePointer(text, pointerRel);
  const fs = workTree(repo);
  return p.outs.flatMap((out, index) => {
    if (out.md5 === undefined) return [];
    const dataRel = pointerDataRel(pointerRel, out.path, p.pathLocations?.[index] ?? pointerRel, (rel) => fs.problem(rel)?.reason);
    return [{
      pointerRel,
      pointerAbs: join(repo.root, pointerRel),
      index,
      dataRel,
      dataAbs: join(repo.root, dataRel),
      out,
      legacy: isLegacy(out),
      isDir: out.md5.endsWith('.dir'),
      text,
    }];
  });
}

type Item = { o: TrackedOutput; row: HistoryDataPointer };

/**
 * Makes sure the data of these committed pointers is on the reg remote. `push` uploads what is
 * missing first (the push op for versions the workspace pointers still name, the same transfer
 * queue for older ones); `check` only reports.
 */
export async function ensureHistoryData(repo: Repo, ctx: Context, found: CommittedPointer[], mode: 'push' | 'check'): Promise<HistoryDataResult> {
  const result: HistoryDataResult = { pointers: [], uploaded: 0, missing: [], ok: true, warnings: [] };
  if (found.length === 0) return result;
  const blobs = await readBlobs(repo.root, found.map((f) => f.blob), MAX_POINTER_BYTES);
  const byKey = new Map<string, Item>();
  const unreadable: HistoryDataPointer[] = [];
  for (const f of found) {
    let outs: TrackedOutput[];
    try {
      const content = blobs.get(f.blob);
      if (content === 'too-large') throw pointerTooLarge(f.path);
      outs = trackedFromText(repo, f.path, Buffer.isBuffer(content) ? content.toString('utf8') : '');
    } catch (err) {
      if (!isRegError(err)) throw err;
      // Fail closed: a pointer reg cannot read names data reg cannot check.
      unreadable.push({ pointer: f.path, path: f.path.replace(/\.dvc$/, ''), oid: '?', commit: f.commit, state: 'missing', reason: `not a valid pointer, so its data cannot be checked (${err.message}); fix or remove it in that commit` });
      continue;
    }
    for (const o of outs) {
      if (o.out.push === false) continue;
      const key = `${o.out.remote ?? ''}\0${o.legacy}\0${o.out.md5}`;
      if (byKey.has(key)) continue;
      byKey.set(key, { o, row: { pointer: f.path, path: o.dataRel, oid: o.out.md5!, commit: f.commit, state: 'present' } });
    }
  }
  result.pointers = [...byKey.values()].map((v) => v.row);
  const finish = (): HistoryDataResult => {
    result.pointers.push(...unreadable);
    result.missing = result.pointers.filter((p) => p.state === 'missing');
    result.ok &&= result.missing.length === 0;
    return result;
  };
  if (byKey.size === 0) return finish();

  const groups = new Map<string, Item[]>();
  for (const v of byKey.values()) {
    let name: string;
    try {
      name = resolveRemoteName(repo, v.o.out.remote);
    } catch (err) {
      if (!isRegError(err)) throw err;
      result.ok = false;
      result.error = `the commits reference data (${byKey.size} pointer${byKey.size > 1 ? 's' : ''}) but no reg remote is configured: ${err.message}`;
      for (const x of byKey.values()) x.row.state = 'missing';
      return finish();
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
  return finish();
}

async function missingOf(repo: Repo, ctx: Context, remoteName: string, items: Item[]): Promise<Item[]> {
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
async function uploadMissing(repo: Repo, ctx: Context, remoteName: string, missing: Item[], result: HistoryDataResult): Promise<void> {
  const current: string[] = [];
  const older: TrackedOutput[] = [];
  for (const m of missing) {
    const abs = join(repo.root, m.o.pointerRel);
    let same = false;
    if (existsSync(abs)) {
      try {
        const outs = parsePointer(readPointerFile(abs, m.o.pointerRel), m.o.pointerRel).outs;
        same = outs.length === 1 && outs[0]!.md5 === m.o.out.md5;
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
    const outcome = await uploadPlan(repo, ctx, plan, remote, { phase: 'pre-push', label: `uploading older data versions to ${remote.name}`, skipUnavailable: true });
    if (outcome.fatal) result.warnings.push(outcome.fatal.message + (outcome.fatal.hint ? ` (${outcome.fatal.hint})` : ''));
    else for (const f of outcome.failures) result.warnings.push(`upload of ${f.key} failed: ${redact(f.error, remote.secrets)}`);
  } finally {
    remote.close();
  }
}

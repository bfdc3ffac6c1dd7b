import type { Context } from '../../context.js';
import { RegError, configError, errnoCode, isMissingPath, isRegError, usageError } from '../../errors.js';
import { ignoreFileLimit, readFdUpTo, withFileNoFollowSync } from '../../fsutil.js';
import { ignoredPaths } from '../../git/read.js';
import { openRepo, type Repo } from '../../repo.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { workTree, type SafeFs } from '../../workspace/safe-fs.js';
import { gitignoreOf, ignoreData } from '../data/add.js';
import { checkoutOutputs, type MissingObjects } from '../data/checkout.js';
import { POINTER_SUFFIX, pointerTextOutputs, readPointerBytesIfAny, type TrackedOutput } from '../data/outputs.js';
import type { StashRecord } from '../data/stash.js';
import { downloadObjects, fetchError } from '../remote/fetch.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { PointerReader, commitSides, outputFromPointerText, selectTarget, targetPath, type PointerAt } from './pointers.js';

export interface RestoreOptions extends RemoteAccessOptions {
  /** Entries to roll back: data paths, their `.dvc` files, or directories holding entries (relative to the current directory). */
  targets: string[];
  /** The revision to take the pointers from. */
  rev: string;
  /** Overwrite workspace bytes that exist nowhere else (they are saved to a stash first). */
  force?: boolean;
}

export interface RestoredOutput {
  /** Repo-relative data path. */
  path: string;
  /** Repo-relative `.dvc` file. */
  pointer: string;
  /** The oid the work-tree pointer named before (null: no pointer, or one that could not be read). */
  from: string | null;
  /** The oid at the revision. */
  to: string;
  action: 'restored' | 'already-at-rev';
  /** The pointer did not exist in the work tree (the entry was deleted after the revision). */
  created: boolean;
  written: number;
  removed: number;
  unchanged: number;
  /** The `.gitignore` given the data's line (entries that did not exist only). */
  gitignore?: string;
}

export interface RestoreResult {
  rev: string;
  commit: string;
  outputs: RestoredOutput[];
  /** Workspace bytes that --force overwrote, saved in the cache first. */
  stash?: StashRecord;
  /** Objects downloaded (verified) and manifests fetched alone. */
  objects: { fetched: number; manifests: number };
  /** The remotes objects were fetched from (empty when the cache had everything). */
  remotes: string[];
}

/** One entry to roll back: its pointer text at the revision and what it is now. */
interface Rollback {
  output: TrackedOutput;
  pointerText: Buffer;
  from: string | null;
  created: boolean;
  same: boolean;
}

/**
 * Rolls entries back to a revision: writes each pointer's text from that revision byte for byte
 * and checks its data out through checkout (same refusal and stash rules), after fetching the
 * objects the cache lacks (verified). Every refusal happens before anything is written: an
 * entry absent at the revision, a hostile pointer there, data that cannot be obtained, unsaved
 * bytes in the way (without `force`).
 */
export async function restore(ctx: Context, options: RestoreOptions): Promise<RestoreResult> {
  if (options.targets.length === 0) throw usageError('restore.no-targets', 'name the entries to roll back', { hint: 'reg restore raw_datasets/mnist --rev v1' });
  if (options.rev === undefined || options.rev === '') throw usageError('restore.no-rev', 'name the revision to roll back to with --rev', { hint: 'reg log ENTRY lists its versions' });
  const repo = openRepo(ctx);
  const side = (await commitSides(repo, [options.rev]))[0]!;
  if (side.kind !== 'commit') throw new Error('commitSides returned a non-commit side');
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    const atRev = await reader.pointersAtCommit(side.commit);
    const selected = new Map<string, PointerAt>();
    for (const target of options.targets) {
      for (const at of selectAtRev(atRev, targetPath(repo, ctx, target), target, options.rev)) selected.set(at.pointerRel, at);
    }
    const rollbacks: Rollback[] = [];
    for (const at of selected.values()) rollbacks.push(await planRollback(repo, reader, at, options.rev));
    const pending = rollbacks.filter((r) => !r.same);
    for (const r of pending) {
      // The manifest is needed to plan the checkout: from the cache, else alone from the remote (verified).
      if (r.output.isDir) await facts.manifest({ oid: r.output.out.md5!, legacy: r.output.legacy }, r.output.out.remote);
    }
    let fetched = 0;
    const remotes = new Set<string>();
    const obtain = async (missing: MissingObjects[]) => {
      const byRemote = new Map<string, Map<string, { ref: ObjRef; size: number }>>();
      for (const m of missing) {
        const name = remoteFor(facts, m.output);
        const refs = byRemote.get(name) ?? new Map<string, { ref: ObjRef; size: number; maxBytes?: number }>();
        // No object of the output holds more than its recorded size: a body running past it is stopped.
        const bound = m.output.out.size !== undefined ? { maxBytes: m.output.out.size } : {};
        for (const e of m.objects) {
          const ref = { oid: e.md5, legacy: m.output.legacy };
          refs.set(refKey(ref), { ref, size: m.output.isDir ? 0 : (m.output.out.size ?? 0), ...bound });
        }
        byRemote.set(name, refs);
      }
      for (const [name, refs] of byRemote) {
        const remote = facts.remote(name);
        remotes.add(remote.name);
        const list = [...refs.values()];
        const done = await downloadObjects(ctx, remote, repo.cache, list, { phase: 'restore', label: `fetching ${list.length} object${list.length === 1 ? '' : 's'} from ${remote.name}` });
        fetched += done.fetched.size;
        if (done.fatal) throw done.fatal;
        if (done.failures.length > 0) {
          const outputs = missing.map((m) => m.output.dataRel);
          const failed = fetchError('restore', { remotes: [remote.name], fetched: done.fetched.size, skipped: 0, failed: done.failures.length, bytes: 0, outputs: [], failures: done.failures }, remote.secrets, { failures: done.failures, outputs });
          throw new RegError(failed.code, failed.exit, `${failed.message}\nnothing was changed: the pointers and data of ${outputs.join(', ')} are as they were`, { hint: failed.hint, details: failed.details });
        }
      }
    };
    // Files the pointer writes replaced, put back when the checkout fails or is interrupted, so
    // the pointers never claim a version whose data is not all there (and a re-run restores it).
    const putBack: Array<{ rel: string; undo: () => void }> = [];
    const writePointers = async () => {
      const fs = workTree(repo);
      const created = pending.filter((r) => r.created);
      const ignored = created.length > 0 ? await ignoredPaths(repo.root, created.map((r) => r.output.dataRel)) : new Set<string>();
      for (const r of pending) {
        putBack.push(undoWrite(fs, r.output.pointerRel));
        fs.writeFile(r.output.pointerRel, r.pointerText);
        if (r.created) {
          putBack.push(undoWrite(fs, gitignoreOf(r.output.dataRel)));
          gitignores.set(r.output.pointerRel, ignoreData(fs, r.output.dataRel, ignored.has(r.output.dataRel)));
        }
      }
    };
    const gitignores = new Map<string, string | undefined>();
    let checkedOut: Awaited<ReturnType<typeof checkoutOutputs>>;
    try {
      checkedOut = pending.length === 0
        ? { outputs: [] }
        : await checkoutOutputs(repo, ctx, pending.map((r) => r.output), {
            force: options.force,
            stashReason: `restore --rev ${options.rev} --force`,
            obtain,
            beforeWrite: writePointers,
          });
    } catch (err) {
      if (putBack.length > 0) undoPointers(ctx, putBack, pending.map((r) => r.output.dataRel));
      throw err;
    }
    const byPointer = new Map(checkedOut.outputs.map((o) => [o.pointer, o]));
    const outputs: RestoredOutput[] = rollbacks.map((r) => {
      const o = r.output;
      const done = byPointer.get(o.pointerRel);
      const gitignore = gitignores.get(o.pointerRel);
      return {
        path: o.dataRel,
        pointer: o.pointerRel,
        from: r.from,
        to: o.out.md5!,
        action: r.same ? 'already-at-rev' : 'restored',
        created: r.created,
        written: done?.written ?? 0,
        removed: done?.removed ?? 0,
        unchanged: done?.unchanged ?? 0,
        ...(gitignore !== undefined ? { gitignore } : {}),
      };
    });
    return {
      rev: options.rev,
      commit: side.commit,
      outputs,
      ...(checkedOut.stash ? { stash: checkedOut.stash } : {}),
      objects: { fetched, manifests: facts.fetchedManifests },
      remotes: [...remotes],
    };
  } finally {
    facts.close();
    reader.close();
  }
}

/**
 * The pointers at the revision a target names: an entry (by data path or `.dvc` file) or a
 * directory holding entries. A pointer there that cannot be used and is named by the target is
 * the error (exit 3); a path inside an entry, or nothing at all, is a usage error.
 */
function selectAtRev(atRev: readonly PointerAt[], rel: string, target: string, rev: string): PointerAt[] {
  const prefix = rel === '' ? '' : rel + '/';
  const broken = atRev.find((p) => p.error && (p.pointerRel === rel + POINTER_SUFFIX || p.pointerRel.startsWith(prefix)));
  if (broken) throw broken.error!;
  const usable = atRev.filter((p) => p.output !== undefined);
  const sel = selectTarget(usable.map((p) => p.output!), rel);
  if (sel.inside) {
    const entry = sel.inside.output.dataRel;
    throw usageError('restore.inside-entry', `${target} is inside the entry ${entry} at ${rev}: restore rolls back whole entries`, {
      hint: `roll back the entry: reg restore ${entry} --rev ${rev}; or copy out that part: reg get ${target} --rev ${rev} -o PATH`,
    });
  }
  if (sel.outputs.length === 0) {
    throw usageError('restore.not-at-rev', `${target} is not tracked by reg at ${rev}`, {
      hint: `see the versions of an entry with: reg log ${target} (reg ls --rev ${rev} lists the entries at ${rev})`,
    });
  }
  const pointers = new Set(sel.outputs.map((o) => o.pointerRel));
  return usable.filter((p) => pointers.has(p.pointerRel));
}

/** Reads the pointer text at the revision and validates it against the work tree as it is now; compares it with the work tree's pointer. */
async function planRollback(repo: Repo, reader: PointerReader, at: PointerAt, rev: string): Promise<Rollback> {
  const pointerRel = at.pointerRel;
  const blob = await reader.blobs.read(at.blob!);
  if (!Buffer.isBuffer(blob)) throw new RegError('history.missing-blob', 'failed', `${pointerRel} at ${rev}: blob ${at.blob} cannot be read (${blob})`, { hint: 'the clone is incomplete; fetch the full history with git fetch --unshallow' });
  const fs = workTree(repo);
  const outputs = pointerTextOutputs(repo, pointerRel, fs.abs(pointerRel), blob.toString('utf8'), `${pointerRel} at ${rev}`);
  const pointerProblem = fs.problem(pointerRel);
  if (pointerProblem) throw configError('restore.pointer-path', `${pointerRel} at ${rev}: a pointer cannot be written there: ${pointerProblem.reason}`, { hint: 'the revision holds a hostile pointer file; nothing was changed' });
  const obstacle = fs.obstacleAbove(pointerRel);
  if (obstacle) {
    throw new RegError(obstacle.symlink ? 'path.symlink' : 'path.not-a-directory', 'conflict', `cannot write ${pointerRel}: ${obstacle.path} is ${obstacle.symlink ? 'a symbolic link' : 'not a directory'}; nothing was changed`, {
      hint: `reg never writes through symlinks: replace ${obstacle.path} by a real directory, then retry`,
      details: { path: obstacle.path },
    });
  }
  const output = outputs[0]!;
  if (output.out.md5 === undefined) {
    throw usageError('restore.not-committed', `${pointerRel} has no hash at ${rev} (the entry had not been added yet)`, { hint: `name a version that has data: reg log ${output.dataRel}` });
  }
  // Read as every pointer is (a regular file, never through a symlink): a symlink, directory or device there is refused.
  const current = readPointerBytesIfAny(fs.abs(pointerRel), pointerRel);
  let from: string | null = null;
  if (current !== undefined) {
    try {
      from = outputFromPointerText(pointerRel, current.toString('utf8')).out.md5 ?? null;
    } catch (err) {
      if (!isRegError(err)) throw err;
    }
  }
  return { output, pointerText: blob, from, created: current === undefined, same: current !== undefined && current.equals(blob) };
}

/** The remote an output's objects come from; a clear refusal when none is configured. */
function remoteFor(facts: ObjectFacts, o: TrackedOutput): string {
  try {
    return facts.remoteNameFor(o.out.remote);
  } catch (err) {
    if (!isRegError(err)) throw err;
    throw new RegError('restore.not-obtainable', 'config', `${o.dataRel}: the data of this version is not in the cache and no remote is configured to fetch it from; nothing was changed`, {
      hint: 'add the remote the data was pushed to (reg remote add NAME URL --default), or restore in a clone whose cache has it',
      details: { cause: err.message },
    });
  }
}

/** What is at `rel` now (a regular file, or nothing) and how to put it back; anything else (never read through) is left as the write made it. */
function undoWrite(fs: SafeFs, rel: string): { rel: string; undo: () => void } {
  const abs = fs.existing(rel);
  let before: { bytes: Buffer; mode: number } | 'other' | undefined;
  try {
    // Pointers and .gitignore files only, each read (and refused when too big) by its own reader first.
    const limit = ignoreFileLimit('restore.too-large', rel, abs ?? rel);
    before = abs === undefined ? undefined : withFileNoFollowSync(abs, (fd, st) => (st.isFile() ? { bytes: readFdUpTo(fd, limit, st.size), mode: st.mode } : 'other'));
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') before = 'other';
    else if (!isMissingPath(err)) throw err;
  }
  if (before === undefined) return { rel, undo: () => fs.remove(rel) };
  if (before === 'other') return { rel, undo: () => undefined };
  const { bytes, mode } = before;
  return { rel, undo: () => fs.writeFile(rel, bytes, mode & 0o7777) };
}

/** After a failed or interrupted checkout: every pointer (and .gitignore) back as it was, newest first; says what could not be. */
function undoPointers(ctx: Context, putBack: ReadonlyArray<{ rel: string; undo: () => void }>, entries: readonly string[]): void {
  const failed: string[] = [];
  for (const p of [...putBack].reverse()) {
    try {
      p.undo();
    } catch {
      failed.push(p.rel);
    }
  }
  ctx.progress({
    type: 'log',
    level: 'warn',
    message: failed.length === 0
      ? `restore did not finish: the pointers of ${entries.join(', ')} were put back as they were (their data may be partly at the new version); run the command again`
      : `restore did not finish and ${failed.join(', ')} could not be put back: run the command again, or reg checkout ${entries.join(' ')}`,
  });
}

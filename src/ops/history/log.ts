import type { Context } from '../../context.js';
import { isRegError, usageError } from '../../errors.js';
import { ancestorsOf, blobsAt, commitGraph, commitsChanging, headCommit, listRefs, resolveCommitsOrThrow, type CommitChanges, type CommitInfo, type RefTip, type RevSelection } from '../../git/history.js';
import { mapLimit } from '../../fsutil.js';
import { openRepo } from '../../repo.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { POINTER_SUFFIX } from '../data/outputs.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { PointerReader, selectTarget, targetPath } from './pointers.js';

export interface LogOptions extends RemoteAccessOptions {
  /** The entry: its data path or its `.dvc` file. */
  target: string;
  /** Also read remote-tracking branches (default: local branches, tags and HEAD). */
  all?: boolean;
  /** Read only the history of these revisions instead. */
  revs?: string[];
  /** Ask the remote whether each version's data is there (one existence check per distinct oid). */
  checkRemote?: boolean;
}

/** The refs whose tip holds this version of the entry. */
export interface VersionRefs {
  head: boolean;
  branches: string[];
  tags: string[];
  /** Remote-tracking branches (`origin/main`), with --all. */
  remotes: string[];
  /** Revisions given with `revs`. */
  revs: string[];
}

/** One commit that changed the entry's pointer (commit fields as in CommitInfo: date is the author date). */
export interface LogVersion extends CommitInfo {
  /** What the commit did to the pointer. */
  change: 'added' | 'modified' | 'deleted';
  /** The pointer file (repo-relative). */
  pointer: string;
  /** The data path this version's pointer names. */
  path?: string;
  oid?: string;
  size?: number;
  nfiles?: number;
  isDir: boolean;
  /** A DVC 2 pointer (no `hash: md5`; files hashed with md5-dos2unix). */
  legacy: boolean;
  refs: VersionRefs;
  /** With checkRemote: the remote asked and whether it holds the version's data. */
  remote?: { name: string; present: boolean };
  /** The pointer text of this version could not be used (the other versions are unaffected). */
  error?: { code: string; message: string; hint?: string };
}

export interface LogResult {
  /** The entry's data path (repo-relative). */
  path: string;
  pointer: string;
  /** What history was read: `branches`, `tags`, `HEAD`, `remotes`, or the revisions given. */
  scope: string[];
  /** Newest first. */
  versions: LogVersion[];
  /** With checkRemote: versions whose data the remote lacks. */
  missingOnRemote?: number;
}

/**
 * Every version of one entry across Git history, newest first: one row per commit that changed
 * its pointer (one `git log --raw` over the selected refs, blobs through one `git cat-file`),
 * with the refs whose tip holds that version. Reads no data and no manifest.
 */
export async function log(ctx: Context, options: LogOptions): Promise<LogResult> {
  const repo = openRepo(ctx);
  const dataRel = targetPath(repo, ctx, options.target);
  if (dataRel === '' || /[\n\r]/.test(dataRel)) throw usageError('log.target', `reg log needs one entry (a data path or its .dvc file), got ${JSON.stringify(options.target)}`);
  const pointerRel = dataRel + POINTER_SUFFIX;
  const selection: RevSelection = {};
  const tips: Array<RefTip | { name: string; kind: 'rev' | 'head'; commit: string }> = [];
  let scope: string[];
  if (options.revs && options.revs.length > 0) {
    const commits = await resolveCommitsOrThrow(repo.root, options.revs);
    options.revs.forEach((rev, i) => tips.push({ name: rev, kind: 'rev', commit: commits[i]! }));
    selection.commits = commits;
    scope = [...options.revs];
  } else {
    Object.assign(selection, { branches: true, tags: true, remotes: Boolean(options.all) });
    tips.push(...(await listRefs(repo.root, selection)));
    const head = await headCommit(repo.root);
    if (head !== undefined) {
      selection.head = true;
      tips.push({ name: 'HEAD', kind: 'head', commit: head });
    }
    scope = ['branches', 'tags', ...(options.all ? ['remotes'] : []), ...(head !== undefined ? ['HEAD'] : [])];
  }

  const commits = await commitsChanging(repo.root, { ...selection, pathspecs: [`:(literal)${pointerRel}`] });
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    // Every blob requested at once: one round trip to git cat-file instead of one per version.
    await reader.blobs.readMany(commits.flatMap((c) => c.changes.flatMap((ch) => (ch.path === pointerRel && ch.blob !== undefined && ch.mode !== '120000' ? [ch.blob] : []))));
    const { versions, blobOf, pointerRemote } = await versionRows(reader, commits, pointerRel);
    if (versions.length === 0) throw await noVersions(reader, options.target, dataRel, scope);
    await attachRefs(repo.root, selection, tips, pointerRel, versions, blobOf);
    const result: LogResult = { path: dataRel, pointer: pointerRel, scope, versions };
    if (options.checkRemote) result.missingOnRemote = await checkRemote(facts, versions, pointerRemote, options.jobs ?? 16);
    return result;
  } finally {
    reader.close();
    facts.close();
  }
}

/** Version rows of one pointer, with the pointer blob and `remote:` of each row (for refs and remote checks). */
export interface VersionRows {
  /** Newest first; refs empty (attached by the caller when it wants them). */
  versions: LogVersion[];
  blobOf: Map<LogVersion, string>;
  pointerRemote: Map<LogVersion, string | undefined>;
}

/**
 * One row per commit of `commits` (as commitsChanging returns them, newest first) that changed
 * `pointerRel`, its pointer parsed as untrusted text (a bad version becomes that row's error).
 * Blobs are read through the reader (prefetch them with `reader.blobs.readMany` for one round trip).
 */
export async function versionRows(reader: PointerReader, commits: readonly CommitChanges[], pointerRel: string): Promise<VersionRows> {
  const versions: LogVersion[] = [];
  const blobOf = new Map<LogVersion, string>();
  const pointerRemote = new Map<LogVersion, string | undefined>();
  for (const c of commits) {
    const change = c.changes.find((ch) => ch.path === pointerRel);
    if (!change) continue;
    const { changes: _changes, ...info } = c;
    const row: LogVersion = {
      ...info,
      change: change.blob === undefined ? 'deleted' : /^A+$/.test(change.status) ? 'added' : 'modified',
      pointer: pointerRel,
      isDir: false,
      legacy: false,
      refs: { head: false, branches: [], tags: [], remotes: [], revs: [] },
    };
    if (change.blob !== undefined) {
      blobOf.set(row, change.blob);
      const at = await reader.pointerFromBlob(pointerRel, change.blob, c.commit, change.mode);
      if (at.output) {
        const o = at.output;
        Object.assign(row, { path: o.dataRel, oid: o.out.md5, size: o.out.size, nfiles: o.out.nfiles, isDir: o.isDir, legacy: o.legacy });
        pointerRemote.set(row, o.out.remote);
      } else if (at.error) row.error = { code: at.error.code, message: at.error.message, hint: at.error.hint };
    }
    versions.push(row);
  }
  return { versions, blobOf, pointerRemote };
}

/**
 * A ref is attached to the version its tip holds: the newest row with the tip's pointer blob
 * that is an ancestor of the tip (the commit graph is read only when the same blob occurs in
 * several rows, e.g. after a rollback).
 */
async function attachRefs(root: string, selection: RevSelection, tips: Array<{ name: string; kind: string; commit: string }>, pointerRel: string, versions: LogVersion[], blobOf: ReadonlyMap<LogVersion, string>): Promise<void> {
  const blobs = await blobsAt(root, tips.map((t) => ({ commit: t.commit, path: pointerRel })));
  // Rows are newest first, so the first ancestor found among candidates is the newest.
  const rowsByBlob = new Map<string, LogVersion[]>();
  for (const v of versions) {
    const b = blobOf.get(v);
    if (b === undefined) continue;
    const rows = rowsByBlob.get(b);
    if (rows) rows.push(v);
    else rowsByBlob.set(b, [v]);
  }
  let graph: Map<string, string[]> | undefined;
  for (let i = 0; i < tips.length; i++) {
    const tip = tips[i]!;
    const blob = blobs[i];
    if (blob === undefined) continue;
    const candidates = rowsByBlob.get(blob) ?? [];
    let row: LogVersion | undefined;
    if (candidates.length === 1) row = candidates[0];
    else if (candidates.length > 1) {
      graph ??= await commitGraph(root, selection);
      const ancestors = ancestorsOf(graph, tip.commit);
      row = candidates.find((v) => ancestors.has(v.commit));
    }
    if (!row) continue;
    switch (tip.kind) {
      case 'head': row.refs.head = true; break;
      case 'branch': row.refs.branches.push(tip.name); break;
      case 'tag': row.refs.tags.push(tip.name); break;
      case 'remote': row.refs.remotes.push(tip.name); break;
      default: row.refs.revs.push(tip.name);
    }
  }
}

/** One existence check per distinct (remote, object): a `.dir` present proves its directory (push uploads it last). */
async function checkRemote(facts: ObjectFacts, versions: LogVersion[], pointerRemote: ReadonlyMap<LogVersion, string | undefined>, jobs: number): Promise<number> {
  const asked = new Map<string, Promise<boolean>>();
  const rows = versions.filter((v) => v.oid !== undefined && v.error === undefined);
  await mapLimit(rows, jobs, async (v) => {
    const ref: ObjRef = { oid: v.oid!, legacy: v.legacy };
    const name = facts.remoteNameFor(pointerRemote.get(v));
    const key = `${name}\0${refKey(ref)}`;
    let p = asked.get(key);
    if (p === undefined) {
      p = facts.onRemote(ref, name);
      asked.set(key, p);
    }
    v.remote = { name, present: await p };
  });
  return versions.filter((v) => v.remote && !v.remote.present).length;
}

async function noVersions(reader: PointerReader, target: string, dataRel: string, scope: string[]) {
  let hint = `the entry's pointer would be ${dataRel}${POINTER_SUFFIX}; check the path (reg status lists the entries)`;
  try {
    const here = (await reader.pointersAt({ kind: 'workspace' })).flatMap((p) => (p.output ? [p.output] : []));
    const sel = selectTarget(here, dataRel);
    const own = sel.outputs.find((o) => o.dataRel === dataRel || o.pointerRel === dataRel + POINTER_SUFFIX);
    if (own) hint = `${own.pointerRel} is not committed yet: git add ${own.pointerRel} && git commit`;
    else if (sel.inside) hint = `it is inside ${sel.inside.output.dataRel}; run reg log ${sel.inside.output.dataRel}`;
    else if (sel.outputs.length > 0) hint = `it holds several entries; name one: ${sel.outputs.slice(0, 5).map((o) => o.dataRel).join(', ')}`;
  } catch (err) {
    if (!isRegError(err)) throw err;
  }
  return usageError('log.no-versions', `${target} has no version in the history of ${scope.join(', ')}`, { hint });
}

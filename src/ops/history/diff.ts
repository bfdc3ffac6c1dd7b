import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { compareCodePoints, diffCanonicalManifests, type ManifestEntry } from '../../data/manifest.js';
import { hashFile } from '../../data/hash.js';
import { isRegError, usageError } from '../../errors.js';
import { allSettledOrThrow } from '../../fsutil.js';
import { headCommit, resolveCommits } from '../../git/history.js';
import { openRepo, type Repo } from '../../repo.js';
import { scanWorkspace } from '../data/scan.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { fillSizes, filesOfVersion, filesWithin, type VersionFile } from './listing.js';
import { PointerReader, commitSides, notTrackedAt, selectTarget, targetPath, type HistoryOutput, type PointerAt, type Side } from './pointers.js';

export interface DiffOptions extends RemoteAccessOptions {
  /** The old side: a revision (default HEAD). */
  from?: string;
  /** The new side: a revision (default: the workspace, i.e. the data in the work tree). */
  to?: string;
  /** Data paths, `.dvc` files, directories holding entries, or paths inside a directory entry (default: every output). */
  targets?: string[];
  /** Sizes the local cache cannot give are read from the remote's object metadata (one request per object). */
  sizes?: boolean;
}

/** A file of the diff. `path` is repo-relative; `size` is null when neither side's source knows it. */
export interface DiffFile {
  path: string;
  md5: string;
  size: number | null;
}

export interface DiffModifiedFile extends DiffFile {
  oldMd5: string;
  oldSize: number | null;
}

export interface DiffRenamedFile {
  from: string;
  to: string;
  md5: string;
  size: number | null;
}

export interface DiffTotals {
  added: number;
  modified: number;
  deleted: number;
  renamed: number;
  /** Bytes of added files, of deleted files, and of modified files (new size), counting known sizes only. */
  addedBytes: number;
  deletedBytes: number;
  modifiedBytes: number;
  /** Changed files whose size is unknown (not in the cache; use sizes/--sizes to ask the remote). */
  unknownSizes: number;
}

/** One side's version of an output. */
export interface DiffVersion {
  pointer: string;
  path: string;
  oid?: string;
  size?: number;
  nfiles?: number;
  isDir: boolean;
  legacy: boolean;
  /** Workspace sides only: `data` when the files in the work tree were compared, `pointer` when the data is absent and the pointer's version stood in. */
  source?: 'data' | 'pointer';
}

export type OutputDiffStatus = 'added' | 'deleted' | 'modified' | 'unchanged' | 'error';

export interface OutputDiff {
  /** The output's data path (the new side's when both exist). */
  path: string;
  pointer: string;
  status: OutputDiffStatus;
  old: DiffVersion | null;
  new: DiffVersion | null;
  /** Set when targets named paths inside the output: only files at or below them were compared. */
  within?: string[];
  added: DiffFile[];
  modified: DiffModifiedFile[];
  deleted: DiffFile[];
  renamed: DiffRenamedFile[];
  totals: DiffTotals;
  /** One side is DVC 2 (md5-dos2unix), the other DVC 3: see docs/architecture.md, "Comparing versions". */
  mixedHashes?: true;
  error?: { code: string; message: string; hint?: string };
}

export interface DiffSideInfo {
  /** The revision as given (`HEAD` by default for the old side), or null for the workspace. */
  rev: string | null;
  /** The commit it resolved to; null for the workspace or a repository without commits. */
  commit: string | null;
}

export interface DiffResult {
  from: DiffSideInfo;
  to: DiffSideInfo;
  outputs: OutputDiff[];
  totals: DiffTotals & { outputs: Record<OutputDiffStatus, number> };
  /** Some output differs (what `--exit-code` reports). */
  changed: boolean;
}

const emptyTotals = (): DiffTotals => ({ added: 0, modified: 0, deleted: 0, renamed: 0, addedBytes: 0, deletedBytes: 0, modifiedBytes: 0, unknownSizes: 0 });

/**
 * File-level differences between two versions of every output (or the named ones): old side a
 * revision (default HEAD), new side a revision or the workspace's data (hashed through the stat
 * cache). Reads pointers and manifests only, never data objects; two outputs with the same oid
 * are equal without reading their manifests.
 */
export async function diff(ctx: Context, options: DiffOptions = {}): Promise<DiffResult> {
  const repo = openRepo(ctx);
  const oldRev = options.from ?? 'HEAD';
  // A repository without commits: the old side is empty, everything in the workspace is added.
  const noCommits = options.from === undefined && (await headCommit(repo.root)) === undefined;
  const sides = await commitSides(repo, [...(noCommits ? [] : [oldRev]), ...(options.to === undefined ? [] : [options.to])]);
  const oldSide: Side | undefined = noCommits ? undefined : sides[0];
  const newSide: Side = options.to === undefined ? { kind: 'workspace' } : sides[sides.length - 1]!;
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    const [oldPointers, newPointers] = await Promise.all([oldSide ? reader.pointersAt(oldSide) : Promise.resolve([]), reader.pointersAt(newSide)]);
    const pairs = selectPairs(repo, ctx, options.targets ?? [], oldPointers, newPointers, [oldSide, newSide].filter((s): s is Side => s !== undefined));
    const outputs: OutputDiff[] = [];
    for (const pair of pairs) {
      ctx.signal?.throwIfAborted();
      outputs.push(await diffOutput(repo, ctx, facts, pair, newSide, options));
    }
    const totals = { ...emptyTotals(), outputs: { added: 0, deleted: 0, modified: 0, unchanged: 0, error: 0 } };
    for (const o of outputs) {
      totals.outputs[o.status]++;
      for (const k of Object.keys(o.totals) as Array<keyof DiffTotals>) totals[k] += o.totals[k];
    }
    return {
      from: { rev: oldSide ? oldRev : 'HEAD', commit: oldSide?.kind === 'commit' ? oldSide.commit : null },
      to: newSide.kind === 'commit' ? { rev: newSide.rev, commit: newSide.commit } : { rev: null, commit: null },
      outputs,
      totals,
      changed: outputs.some((o) => o.status !== 'unchanged'),
    };
  } finally {
    reader.close();
    facts.close();
  }
}

interface Pair {
  pointerRel: string;
  old?: PointerAt;
  new?: PointerAt;
  /** Paths inside the output the targets named; undefined = the whole output. */
  within?: string[];
}

/** Pairs the two sides' pointers by pointer path, keeping those the targets name (all when none). */
function selectPairs(repo: Repo, ctx: Context, targets: readonly string[], oldPointers: PointerAt[], newPointers: PointerAt[], sides: Side[]): Pair[] {
  const byPointer = new Map<string, Pair>();
  for (const p of oldPointers) byPointer.set(p.pointerRel, { pointerRel: p.pointerRel, old: p });
  for (const p of newPointers) byPointer.set(p.pointerRel, { ...(byPointer.get(p.pointerRel) ?? { pointerRel: p.pointerRel }), new: p });
  const all = [...byPointer.values()].sort((a, b) => compareCodePoints(a.pointerRel, b.pointerRel));
  if (targets.length === 0) return all;
  const chosen = new Map<string, Pair>();
  for (const target of targets) {
    const rel = targetPath(repo, ctx, target);
    let found = false;
    for (const side of ['old', 'new'] as const) {
      const outputs = all.flatMap((p) => (p[side]?.output ? [p[side]!.output!] : []));
      const sel = selectTarget(outputs, rel);
      for (const o of sel.outputs) {
        const prev = chosen.get(o.pointerRel);
        // A target naming the whole output wins over targets naming paths inside it.
        let within: string[] | undefined;
        if (sel.inside && (prev === undefined || prev.within !== undefined)) within = [...new Set([...(prev?.within ?? []), sel.inside.subpath])];
        chosen.set(o.pointerRel, { ...byPointer.get(o.pointerRel)!, within });
        found = true;
      }
    }
    // A pointer that failed to parse can still be named by its own path.
    for (const p of all) {
      if ((p.old?.error || p.new?.error) && (p.pointerRel === `${rel}.dvc` || rel === '' || p.pointerRel.startsWith(rel + '/'))) {
        chosen.set(p.pointerRel, p);
        found = true;
      }
    }
    if (!found) throw notTrackedAt(target, sides);
  }
  return [...chosen.values()].sort((a, b) => compareCodePoints(a.pointerRel, b.pointerRel));
}

function versionOf(o: HistoryOutput): DiffVersion {
  return { pointer: o.pointerRel, path: o.dataRel, oid: o.out.md5, size: o.out.size, nfiles: o.out.nfiles, isDir: o.isDir, legacy: o.legacy };
}

interface SideFiles {
  dataRel: string;
  legacy: boolean;
  files: VersionFile[];
  /** The remote the version's objects live on (for --sizes). */
  remote?: string;
}

async function diffOutput(repo: Repo, ctx: Context, facts: ObjectFacts, pair: Pair, newSide: Side, options: DiffOptions): Promise<OutputDiff> {
  const oldOut = pair.old?.output;
  const newOut = pair.new?.output;
  const row: OutputDiff = {
    path: (newOut ?? oldOut)?.dataRel ?? pair.pointerRel.replace(/\.dvc$/, ''),
    pointer: pair.pointerRel,
    status: 'unchanged',
    old: oldOut ? versionOf(oldOut) : null,
    new: newOut ? versionOf(newOut) : null,
    ...(pair.within !== undefined ? { within: pair.within } : {}),
    added: [],
    modified: [],
    deleted: [],
    renamed: [],
    totals: emptyTotals(),
  };
  const error = pair.old?.error ?? pair.new?.error;
  if (error) {
    row.status = 'error';
    row.error = { code: error.code, message: error.message, hint: error.hint };
    return row;
  }
  try {
    let newFiles: SideFiles | undefined;
    if (newOut && newSide.kind === 'workspace') {
      // Hash the work tree's data with the old side's hash kind, so md5s compare like for like.
      const legacy = oldOut?.legacy ?? newOut.legacy;
      const ws = await scanWorkspace(repo, ctx, join(repo.root, newOut.dataRel), newOut.dataRel, { legacy, store: false, label: newOut.dataRel });
      if (ws.exists) {
        row.new = { ...row.new!, oid: ws.oid, size: ws.size, nfiles: ws.isDir ? ws.nfiles : undefined, isDir: ws.isDir, legacy, source: 'data' };
        newFiles = { dataRel: newOut.dataRel, legacy, files: ws.isDir ? ws.files.map((f) => ({ relpath: f.relpath, md5: f.md5, size: f.size })) : [{ relpath: '', md5: ws.oid!, size: ws.size }] };
      } else row.new = { ...row.new!, source: 'pointer' };
    }
    if (oldOut && row.new && row.old!.oid !== undefined && row.old!.oid === row.new.oid && row.old!.legacy === row.new.legacy && row.old!.path === row.new.path) return row;
    let oldFiles: SideFiles | undefined;
    if (newFiles === undefined && pair.within === undefined && (await compareManifestTexts(facts, row, oldOut, newOut))) {
      // Sizes only need each side's hash kind and remote, not its file list.
      oldFiles = sideOf(oldOut!, []);
      newFiles = sideOf(newOut!, []);
    } else {
      oldFiles = oldOut ? sideOf(oldOut, await filesOfVersion(facts, oldOut)) : undefined;
      newFiles ??= newOut ? sideOf(newOut, await filesOfVersion(facts, newOut)) : undefined;
      if (oldFiles && newFiles && oldFiles.legacy !== newFiles.legacy) row.mixedHashes = true;
      compareFiles(row, oldFiles, newFiles, pair.within);
      if (row.mixedHashes) await dropCrlfOnlyChanges(repo, row, oldFiles!);
    }
    await fillDiffSizes(facts, row, oldFiles, newFiles, options);
    row.status = !oldOut ? 'added' : !newOut ? 'deleted' : row.added.length + row.modified.length + row.deleted.length + row.renamed.length > 0 || row.old!.path !== row.new!.path ? 'modified' : 'unchanged';
    return row;
  } catch (err) {
    if (!isRegError(err) || err.exit !== 'config') throw err;
    // A malformed manifest belongs to this output alone; integrity and transfer errors stop the command.
    row.status = 'error';
    row.error = { code: err.code, message: err.message, hint: err.hint };
    return row;
  }
}

function sideOf(o: HistoryOutput, files: VersionFile[]): SideFiles {
  return { dataRel: o.dataRel, legacy: o.legacy, files, remote: o.out.remote };
}

/**
 * Two versions of the same directory output, compared straight from their manifests' text
 * (diffCanonicalManifests: one merge, no object per unchanged file). False when that does not
 * apply (not two directories at one path with one hash kind, or a manifest not in DVC's exact
 * form): compareFiles then compares the parsed manifests.
 */
async function compareManifestTexts(facts: ObjectFacts, row: OutputDiff, oldOut: HistoryOutput | undefined, newOut: HistoryOutput | undefined): Promise<boolean> {
  if (!oldOut?.isDir || !newOut?.isDir || oldOut.out.md5 === undefined || newOut.out.md5 === undefined) return false;
  if (oldOut.legacy !== newOut.legacy || oldOut.dataRel !== newOut.dataRel) return false;
  const [before, after] = await allSettledOrThrow([
    facts.manifestBytes({ oid: oldOut.out.md5, legacy: oldOut.legacy }, oldOut.out.remote),
    facts.manifestBytes({ oid: newOut.out.md5, legacy: newOut.legacy }, newOut.out.remote),
  ]);
  const changes = diffCanonicalManifests(before.bytes, after.bytes);
  if (changes === undefined) return false;
  const dataRel = newOut.dataRel;
  const file = (e: ManifestEntry): DiffFile => ({ path: fullPath(dataRel, e.relpath), md5: e.md5, size: null });
  row.modified = changes.modified.map((m) => ({ ...file(m), oldMd5: m.oldMd5, oldSize: null }));
  pairRenames(row, changes.added.map(file), changes.deleted.map(file));
  return true;
}

/** Repo-relative path of a file of an output. */
function fullPath(dataRel: string, relpath: string): string {
  return relpath === '' ? dataRel : `${dataRel}/${relpath}`;
}

/**
 * Added / modified / deleted by path, then renames: a deleted and an added file with the same md5
 * pair up; when an md5 was deleted at several paths and added at several, the deleted paths and
 * the added paths are each sorted (code-point order) and paired in that order, the rest staying
 * added or deleted. A path present on both sides is never part of a rename.
 */
function compareFiles(row: OutputDiff, oldFiles: SideFiles | undefined, newFiles: SideFiles | undefined, within: readonly string[] | undefined): void {
  const olds = oldFiles ? filesWithin(oldFiles.files, within) : [];
  const news = newFiles ? filesWithin(newFiles.files, within) : [];
  // A merge join over both lists sorted by key (manifests already are: no sort, no hashing, no
  // allocation for the 100k unchanged files of a big directory). Keys are the paths inside the
  // output when both sides name the same data path, else repo-relative paths. Native string order
  // is used for the join; the reported lists are put in code-point order below.
  const sameRoot = oldFiles !== undefined && newFiles !== undefined && oldFiles.dataRel === newFiles.dataRel;
  const oldKey = sameRoot ? (f: VersionFile) => f.relpath : (f: VersionFile) => fullPath(oldFiles!.dataRel, f.relpath);
  const newKey = sameRoot ? oldKey : (f: VersionFile) => fullPath(newFiles!.dataRel, f.relpath);
  const before = sortedBy(olds, oldKey);
  const after = sortedBy(news, newKey);
  const added: DiffFile[] = [];
  const deleted: DiffFile[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const o = before[i];
    const n = after[j];
    const order = o === undefined ? 1 : n === undefined ? -1 : oldKey(o) === newKey(n) ? 0 : oldKey(o) < newKey(n) ? -1 : 1;
    if (order < 0) {
      deleted.push({ path: fullPath(oldFiles!.dataRel, o!.relpath), md5: o!.md5, size: o!.size ?? null });
      i++;
    } else if (order > 0) {
      added.push({ path: fullPath(newFiles!.dataRel, n!.relpath), md5: n!.md5, size: n!.size ?? null });
      j++;
    } else {
      if (o!.md5 !== n!.md5) row.modified.push({ path: fullPath(newFiles!.dataRel, n!.relpath), md5: n!.md5, size: n!.size ?? null, oldMd5: o!.md5, oldSize: o!.size ?? null });
      i++;
      j++;
    }
  }
  pairRenames(row, added, deleted);
}

/**
 * Sets the row's added, deleted and renamed files from the files only one side has (and puts the
 * modified ones in path order): a deleted and an added file with the same md5 are a rename.
 */
function pairRenames(row: OutputDiff, added: DiffFile[], deleted: DiffFile[]): void {
  sortByPath(added);
  sortByPath(deleted);
  sortByPath(row.modified);
  const addedByMd5 = new Map<string, { files: DiffFile[]; next: number }>();
  for (const f of added) {
    const group = addedByMd5.get(f.md5);
    if (group) group.files.push(f);
    else addedByMd5.set(f.md5, { files: [f], next: 0 });
  }
  const paired = new Set<DiffFile>();
  for (const d of deleted) {
    const group = addedByMd5.get(d.md5);
    if (group === undefined || group.next >= group.files.length) continue;
    const to = group.files[group.next++]!;
    paired.add(d).add(to);
    row.renamed.push({ from: d.path, to: to.path, md5: d.md5, size: to.size ?? d.size });
  }
  row.added = paired.size === 0 ? added : added.filter((f) => !paired.has(f));
  row.deleted = paired.size === 0 ? deleted : deleted.filter((f) => !paired.has(f));
}

/** The list itself when already sorted by key (native string order), else a sorted copy. */
function sortedBy<T>(items: readonly T[], key: (t: T) => string): readonly T[] {
  for (let i = 1; i < items.length; i++) {
    if (key(items[i - 1]!) > key(items[i]!)) return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
  return items;
}

/** Sorts by path in code-point order, skipping the sort when the list already is (manifest order). */
function sortByPath<T extends { path: string }>(list: T[]): void {
  for (let i = 1; i < list.length; i++) {
    if (compareCodePoints(list[i - 1]!.path, list[i]!.path) > 0) {
      list.sort((a, b) => compareCodePoints(a.path, b.path));
      return;
    }
  }
}

/**
 * DVC 2 hashed text files with CRLF endings as if they had LF (md5-dos2unix), DVC 3 hashes raw
 * bytes. Across the two kinds a modified file whose DVC 3 object is in the local cache is hashed
 * again with the DVC 2 rule: if that equals the DVC 2 md5, only line endings can differ, which
 * DVC 2 itself did not count as a change, so the file is not reported.
 */
async function dropCrlfOnlyChanges(repo: Repo, row: OutputDiff, oldFiles: SideFiles): Promise<void> {
  const kept: DiffModifiedFile[] = [];
  for (const m of row.modified) {
    const [legacyMd5, modernMd5] = oldFiles.legacy ? [m.oldMd5, m.md5] : [m.md5, m.oldMd5];
    const path = repo.cache.locate(modernMd5, false);
    if (path !== undefined && (await hashFile(path, true)).md5 === legacyMd5) continue;
    kept.push(m);
  }
  row.modified = kept;
}

async function fillDiffSizes(facts: ObjectFacts, row: OutputDiff, oldFiles: SideFiles | undefined, newFiles: SideFiles | undefined, options: DiffOptions): Promise<void> {
  type Ask = { md5: string; size?: number; set: (n: number) => void };
  const newAsks: Ask[] = [];
  const oldAsks: Ask[] = [];
  for (const f of [...row.added, ...row.modified, ...row.renamed]) if (f.size === null) newAsks.push({ md5: f.md5, set: (n) => (f.size = n) });
  for (const f of row.deleted) if (f.size === null) oldAsks.push({ md5: f.md5, set: (n) => (f.size = n) });
  for (const m of row.modified) if (m.oldSize === null) oldAsks.push({ md5: m.oldMd5, set: (n) => (m.oldSize = n) });
  for (const [side, asks] of [[newFiles, newAsks], [oldFiles, oldAsks]] as const) {
    if (!side || asks.length === 0) continue;
    await fillSizes(facts, asks, side.legacy, { remote: options.sizes, remoteName: options.sizes ? facts.remoteNameFor(side.remote) : undefined });
    for (const a of asks) if (a.size !== undefined) a.set(a.size);
  }
  const t = row.totals;
  t.added = row.added.length;
  t.modified = row.modified.length;
  t.deleted = row.deleted.length;
  t.renamed = row.renamed.length;
  for (const f of row.added) f.size === null ? t.unknownSizes++ : (t.addedBytes += f.size);
  for (const f of row.deleted) f.size === null ? t.unknownSizes++ : (t.deletedBytes += f.size);
  for (const f of row.modified) f.size === null ? t.unknownSizes++ : (t.modifiedBytes += f.size);
}

/**
 * Splits `reg diff` arguments into revisions and targets the way git does: with `--`, what comes
 * before is revisions and what follows is paths; without it, up to two leading arguments that name
 * commits are revisions. An argument that names both a commit and an existing path is refused.
 */
export async function splitDiffArgs(ctx: Context, args: readonly string[], afterDashDash?: number): Promise<{ revs: string[]; targets: string[] }> {
  const repo = openRepo(ctx);
  if (afterDashDash !== undefined) {
    const revs = args.slice(0, args.length - afterDashDash);
    if (revs.length > 2) throw usageError('diff.too-many-revs', `reg diff takes at most two revisions, got ${revs.length}: ${revs.join(' ')}`, { hint: 'reg diff [A [B]] [--] [targets...]' });
    return { revs, targets: args.slice(args.length - afterDashDash) };
  }
  const candidates = args.slice(0, 2);
  const resolved = await resolveCommits(repo.root, candidates.filter((a) => a !== '' && !/[\n\r\0]/.test(a)));
  const revs: string[] = [];
  for (const arg of candidates) {
    const r = resolved.find((x) => x.rev === arg);
    if (r?.commit === undefined) break;
    const abs = resolve(ctx.cwd, arg);
    if (existsSync(abs) || existsSync(abs + '.dvc')) {
      throw usageError('diff.ambiguous', `${arg} names both a revision and a path`, { hint: `separate revisions from paths with --: reg diff ${arg} -- PATH or reg diff -- ${arg}` });
    }
    revs.push(arg);
  }
  return { revs, targets: args.slice(revs.length) };
}

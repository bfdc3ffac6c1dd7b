import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Context } from '../../context.js';
import { manifestOidOf, type ManifestEntry } from '../../data/manifest.js';
import { RegError, integrityError, isRegError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { openRepo, type Repo } from '../../repo.js';
import { EMPTY_MD5, type LinkType } from '../../store/cache.js';
import type { WrittenStat } from '../../workspace/hash-task.js';
import { workTree, type SafeFs } from '../../workspace/safe-fs.js';
import { StatCache } from '../../workspace/stat-cache.js';
import { fileFromStats, walkedPath } from '../../workspace/walk.js';
import { FILE_JOBS } from './link.js';
import { resolveOutputs, type TrackedOutput } from './outputs.js';
import { scanWorkspace } from './scan.js';
import { saveToStash, type StashRecord } from './stash.js';
import { CacheIndex } from './status.js';

export interface CheckoutOptions {
  targets: string[];
  /** Overwrite/remove workspace bytes that exist nowhere else (they are saved to a stash first). */
  force?: boolean;
  /** Re-create every file from the cache with the configured link type, even unchanged ones. */
  relink?: boolean;
}

export interface CheckoutOutput {
  path: string;
  pointer: string;
  action: 'restored' | 'unchanged' | 'skipped';
  reason?: string;
  written: number;
  removed: number;
  unchanged: number;
  linkTypes: LinkType[];
}

export interface CheckoutResult {
  outputs: CheckoutOutput[];
  /** Workspace bytes that --force overwrote, saved in the cache first. */
  stash?: StashRecord;
}

/**
 * A workspace file checkout would overwrite or delete whose bytes are not in the cache, or a
 * symlink to a directory where checkout must write (it is replaced by a real directory, never
 * written through).
 */
export interface AtRiskFile {
  path: string;
  abs: string;
  size: number;
  reason: 'modified' | 'not-in-pointer' | 'replaced' | 'symlinked-dir';
  /** For symlinked-dir: where the link points. */
  linkTarget?: string;
}

interface Plan {
  o: TrackedOutput;
  entries: ManifestEntry[];
  /** The manifest object is canonical: its oid is also manifestOidOf(entries). */
  canonical?: boolean;
  write: ManifestEntry[];
  remove: string[];
  /** The workspace path holds the wrong kind (file vs directory) and must go first. */
  replaceRoot: boolean;
  /** Symlinks to directories (relpaths, '' = the output path) to remove before writing. */
  unlink: string[];
  /** Temp files of killed runs to clean up (relpaths). */
  staleTemps: string[];
  unchanged: number;
  skipped?: string;
  /** Entries to write whose objects the cache lacks. */
  missing: ManifestEntry[];
  /** The directory manifest itself is not in the cache (nothing else was planned). */
  manifestMissing?: boolean;
}

/** Objects found corrupt while restoring, with the files that needed them. */
type CorruptObjects = Map<string, { legacy: boolean; uses: string[]; outputs: string[] }>;

/**
 * Makes workspace data match the pointers: restores missing/changed files from the cache and
 * removes files the manifest does not list. Refuses (changing nothing) if that would destroy
 * bytes that are not in the cache, unless `force`, which first saves them to a stash.
 */
export async function checkout(ctx: Context, options: CheckoutOptions): Promise<CheckoutResult> {
  const repo = openRepo(ctx);
  const outputs = await resolveOutputs(repo, ctx, options.targets, 'download');
  return checkoutOutputs(repo, ctx, outputs, { force: options.force, relink: options.relink, stashReason: 'checkout --force' });
}

/** Objects a checkout needs that the cache lacks, for one output. */
export interface MissingObjects {
  output: TrackedOutput;
  objects: ManifestEntry[];
}

export interface CheckoutOutputsOptions {
  force?: boolean;
  relink?: boolean;
  /** Recorded in the stash `force` saves. */
  stashReason: string;
  /**
   * Downloads file objects the cache lacks (directory manifests must already be in the cache).
   * Called after the unsaved-bytes refusal, before anything is stashed or written; objects still
   * missing afterwards fail the checkout with nothing changed.
   */
  obtain?: (missing: MissingObjects[]) => Promise<void>;
  /** Runs once every check passed (and the stash is saved), before the first work-tree write. */
  beforeWrite?: () => Promise<void> | void;
}

/**
 * Checks out the given outputs (from work-tree pointers, or in-memory ones such as a version
 * from history that `reg restore` is about to write): plan every output, refuse before any write
 * when objects are missing or unsaved bytes would be destroyed (unless `force`: stash them), then write.
 */
export async function checkoutOutputs(repo: Repo, ctx: Context, outputs: readonly TrackedOutput[], options: CheckoutOutputsOptions): Promise<CheckoutResult> {
  const fs = workTree(repo);
  const cacheIndex = new CacheIndex(repo);
  const plans: Plan[] = [];
  const atRisk: AtRiskFile[] = [];
  for (const o of outputs) {
    ctx.signal?.throwIfAborted();
    plans.push(await planOutput(repo, ctx, o, cacheIndex, Boolean(options.relink), atRisk));
  }
  const wanted = plans.filter((p) => p.missing.length > 0);
  if (wanted.length > 0 && options.obtain) {
    if (atRisk.length > 0 && !options.force) throw wouldLoseData(atRisk);
    await options.obtain(wanted.map((p) => ({ output: p.o, objects: p.missing })));
    for (const p of wanted) p.missing = p.missing.filter((e) => !repo.cache.has(e.md5, p.o.legacy));
  }
  const notInCache = plans.flatMap((p) => (p.manifestMissing || (!p.o.isDir && p.missing.length > 0) ? [p.o.dataRel] : p.missing.length > 0 ? [`${p.o.dataRel} (${p.missing.length} objects)`] : []));
  if (notInCache.length > 0) {
    throw new RegError('checkout.not-in-cache', 'failed', `${notInCache.length === 1 ? 'this output is' : 'these outputs are'} not (fully) in the cache: ${notInCache.join(', ')}`, {
      hint: 'download the data first with `reg pull` (or `reg fetch`); nothing was changed',
      details: { outputs: notInCache },
    });
  }
  let stash: StashRecord | undefined;
  if (atRisk.length > 0) {
    if (!options.force) throw wouldLoseData(atRisk);
    stash = await saveToStash(repo, ctx, atRisk, options.stashReason);
  }
  await options.beforeWrite?.();
  const results: CheckoutOutput[] = [];
  const corrupt: CorruptObjects = new Map();
  for (const plan of plans) results.push(await applyPlan(repo, ctx, fs, plan, corrupt));
  if (corrupt.size > 0) throw corruptionError(repo, fs, corrupt);
  return { outputs: results, ...(stash ? { stash } : {}) };
}

function wouldLoseData(atRisk: readonly AtRiskFile[]): RegError {
  const list = atRisk.slice(0, 20).map((f) => `  ${f.path} (${f.reason === 'symlinked-dir' ? `a symlink to ${f.linkTarget}: reg never writes through it` : f.reason})`).join('\n');
  return new RegError('checkout.would-lose-data', 'conflict', `checkout would destroy changes that exist nowhere else:\n${list}${atRisk.length > 20 ? `\n  ... and ${atRisk.length - 20} more` : ''}`, {
    hint: 'copy them elsewhere first, or re-run with --force: the changed files are stashed in the cache first (reg stash list; reg stash apply <id> --to DIR brings them back). `reg status` says whether the pointer is newer than your data',
    details: { files: atRisk.map(({ path, size, reason }) => ({ path, size, reason })) },
  });
}

/**
 * Quarantines the corrupt objects (so a fetch can replace them) and builds the exit-6 error naming
 * them and their files. A workspace file that is a hard link to a corrupt object (left by a run
 * killed between a link and its check) is removed first: its bytes are the object's, which the
 * quarantine keeps, and the next checkout writes the good copy there.
 */
function corruptionError(repo: Repo, fs: SafeFs, corrupt: CorruptObjects): RegError {
  const objects = [...corrupt].map(([oid, { legacy, uses }]) => {
    let quarantined: string | undefined;
    try {
      const object = repo.cache.locate(oid, legacy);
      if (object !== undefined) for (const use of uses) if (sameInode(fs.existing(use), object)) fs.remove(use);
      quarantined = repo.cache.quarantine(oid, legacy);
    } catch (err) {
      if (!isRegError(err)) throw err;
    }
    return { oid, files: uses, ...(quarantined ? { quarantined } : {}) };
  });
  const lines = objects.slice(0, 20).map((o) => `  ${o.oid}: needed by ${o.files.slice(0, 3).join(', ')}${o.files.length > 3 ? `, ... (${o.files.length} files)` : ''}`).join('\n');
  const outputs = [...new Set([...corrupt.values()].flatMap((c) => c.outputs))];
  return integrityError('checkout.corrupt-object', `${objects.length === 1 ? 'a cache object is' : `${objects.length} cache objects are`} corrupt (their bytes do not match their hash); those files were not written:\n${lines}`, {
    hint: `the corrupt objects were moved to ${repo.cache.root}/quarantine/; get good copies with \`reg pull ${outputs.join(' ')}\` (or \`reg fetch\` then \`reg checkout\`)`,
    details: { objects },
  });
}

async function planOutput(repo: Repo, ctx: Context, o: TrackedOutput, cacheIndex: CacheIndex, relink: boolean, atRisk: AtRiskFile[]): Promise<Plan> {
  const empty: Plan = { o, entries: [], write: [], remove: [], replaceRoot: false, unlink: [], staleTemps: [], unchanged: 0, missing: [] };
  const oid = o.out.md5;
  if (oid === undefined) return { ...empty, skipped: 'the pointer has no hash yet (run reg add)' };
  if (o.isDir && !cacheIndex.has(oid, o.legacy)) return { ...empty, manifestMissing: true };
  const { entries, canonical } = o.isDir ? repo.cache.readManifestForm(oid, o.legacy) : { entries: [{ relpath: '', md5: oid }], canonical: false };
  const ws = await scanWorkspace(repo, ctx, o.dataAbs, o.dataRel, { legacy: o.legacy, store: false, label: o.dataRel });
  const inCache = (md5: string) => cacheIndex.has(md5, o.legacy);
  // A completeness mark (left by add, or by a status that found every object) vouches for every
  // object of the manifest, as it does for status: planning a checkout need not list the whole cache.
  const complete = o.isDir && repo.cache.isMarkedComplete(oid, o.legacy);
  const shown = (rel: string) => (rel === '' ? o.dataRel : `${o.dataRel}/${rel}`);
  const plan: Plan = { ...empty, entries, canonical, staleTemps: ws.staleTemps };
  for (const link of ws.symlinkedDirs) {
    // A link is in the way when something must be written at or below it (the output path itself always).
    if (link !== '' && !entries.some((e) => e.relpath === link || e.relpath.startsWith(link + '/'))) continue;
    const abs = link === '' ? o.dataAbs : `${o.dataAbs}/${link}`;
    atRisk.push({ path: shown(link), abs, size: 0, reason: 'symlinked-dir', linkTarget: readlinkSync(abs) });
    plan.unlink.push(link);
  }
  if (ws.exists && ws.isDir !== o.isDir) {
    plan.replaceRoot = true;
    for (const f of ws.files) if (!inCache(f.md5)) atRisk.push({ path: shown(f.relpath), abs: walkedPath(o.dataAbs, f.relpath), size: f.size, reason: 'replaced' });
    plan.write = entries;
  } else {
    const current = new Map(ws.files.map((f) => [f.relpath, f]));
    for (const e of entries) {
      const f = current.get(e.relpath);
      if (f === undefined) plan.write.push(e);
      else if (f.md5 !== e.md5) {
        plan.write.push(e);
        // A hard link to the entry's own object holds the cache's bytes, not unsaved ones: that
        // object is corrupt (a run killed between a link and its check left the link), and the
        // write below finds it, quarantines it (the bytes are kept) and takes the link away.
        if (!inCache(f.md5) && !sameInode(walkedPath(o.dataAbs, f.relpath), repo.cache.locate(e.md5, o.legacy))) atRisk.push({ path: shown(f.relpath), abs: walkedPath(o.dataAbs, f.relpath), size: f.size, reason: 'modified' });
      } else if (relink) plan.write.push(e);
      else plan.unchanged++;
      current.delete(e.relpath);
    }
    for (const f of current.values()) {
      plan.remove.push(f.relpath);
      if (!inCache(f.md5)) atRisk.push({ path: shown(f.relpath), abs: walkedPath(o.dataAbs, f.relpath), size: f.size, reason: 'not-in-pointer' });
    }
  }
  plan.missing = complete ? [] : plan.write.filter((e) => !inCache(e.md5));
  return plan;
}

async function applyPlan(repo: Repo, ctx: Context, fs: SafeFs, plan: Plan, corrupt: CorruptObjects): Promise<CheckoutOutput> {
  const { o } = plan;
  const base = { path: o.dataRel, pointer: o.pointerRel, linkTypes: repo.linkTypes };
  if (plan.skipped) return { ...base, action: 'skipped', reason: plan.skipped, written: 0, removed: 0, unchanged: 0 };
  const rel = (relpath: string) => (relpath === '' ? o.dataRel : `${o.dataRel}/${relpath}`);
  for (const t of plan.staleTemps) fs.remove(rel(t));
  // Links go first (the link itself, never what it points to): nothing below is written through them.
  for (const link of plan.unlink) fs.remove(rel(link));
  if (plan.replaceRoot) fs.removeTree(o.dataRel);
  for (const r of plan.remove) fs.remove(rel(r));
  fs.removeEmptyDirs(plan.remove.flatMap((r) => parentDirs(r).map(rel)));
  const phase = 'checkout';
  if (plan.write.length > 0) ctx.progress({ type: 'start', phase, label: `checking out ${o.dataRel}`, total: plan.write.length });
  const everyFileWritten = plan.unchanged === 0 && plan.write.length === plan.entries.length;
  const statCache = (everyFileWritten ? StatCache.replacing : StatCache.load)(repo.statDir, o.dataRel, o.legacy);
  // Every hard link to an object moves the ctime of all its links: files sharing an object are
  // stat'ed again for the stat cache once all are linked (recorded again, their rows keep their place).
  const shared = repo.linkTypes.includes('hardlink') ? objectsUsedTwice(plan.write) : new Set<string>();
  const linkedShared: Array<{ relpath: string; target: string; md5: string }> = [];
  let writtenCount = 0;
  const noteCorrupt = (e: ManifestEntry, err: unknown) => {
    if (!isRegError(err) || err.code !== 'cache.corrupt-object') throw err;
    const c = corrupt.get(e.md5) ?? { legacy: o.legacy, uses: [], outputs: [] };
    c.uses.push(rel(e.relpath));
    if (!c.outputs.includes(o.dataRel)) c.outputs.push(o.dataRel);
    corrupt.set(e.md5, c);
  };
  const noteWritten = (e: ManifestEntry, stat: WrittenStat) => {
    writtenCount++;
    statCache.record({ relpath: e.relpath, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, mode: stat.mode }, e.md5);
  };
  const writeOne = async (e: ManifestEntry) => {
    ctx.signal?.throwIfAborted();
    const target = fs.prepareWrite(rel(e.relpath));
    let written: { type: LinkType; stat: WrittenStat };
    try {
      written = await repo.cache.materializeStat(e.md5, o.legacy, target, repo.linkTypes, !o.isDir && Boolean(o.out.isexec));
    } catch (err) {
      noteCorrupt(e, err);
      return;
    }
    noteWritten(e, written.stat);
    if (written.type === 'hardlink' && shared.has(e.md5)) linkedShared.push({ relpath: e.relpath, target, md5: e.md5 });
    ctx.progress({ type: 'advance', phase, done: 1 });
  };
  try {
    let rest = plan.write;
    // With reflink,copy (the default) the first file finds out whether this filesystem clones.
    if (!o.legacy && rest.length > 1 && !repo.cache.copiesFirst(repo.linkTypes) && repo.linkTypes.includes('copy') && repo.linkTypes[0] === 'reflink') {
      await writeOne(rest[0]!);
      rest = rest.slice(1);
    }
    if (!o.legacy && repo.cache.copiesFirst(repo.linkTypes)) {
      // Copy mode: the files are copied in batches on worker threads (Cache.copyMany). The empty
      // file has no object, and a big object a pull wrote an early copy of has its copy renamed into place.
      const byItself = (e: ManifestEntry) => e.md5 === EMPTY_MD5 || repo.cache.hasEarlyCopy(e.md5);
      const copies = rest.filter((e) => !byItself(e));
      for (const e of rest) if (byItself(e)) await writeOne(e);
      const executable = !o.isDir && Boolean(o.out.isexec);
      // Each job (and its path) is made as the workers take it: a million of them never exist at once.
      await repo.cache.copyMany(
        { count: copies.length, at: (i) => ({ oid: copies[i]!.md5, dest: fs.prepareWrite(rel(copies[i]!.relpath)), executable }) },
        (i, outcome) => ('stat' in outcome ? noteWritten(copies[i]!, outcome.stat) : noteCorrupt(copies[i]!, outcome.error)),
        { signal: ctx.signal, cores: ctx.cores, onFiles: (done) => ctx.progress({ type: 'advance', phase, done }) },
      );
    } else await mapLimit(rest, FILE_JOBS, writeOne);
    for (const f of linkedShared) statCache.record(fileFromStats(f.relpath, statSync(f.target)), f.md5);
    // The workspace now holds the pointer's version: `reg status` measures later edits (and later pointer changes) from it.
    if (o.out.md5 !== undefined) statCache.setBase(o.out.md5);
    // Every row is this checkout's, one per entry: the rows are the manifest's tree, named here so
    // the first status after a checkout need not sort and serialise a million entries to name it.
    // By the pointer's oid when the object is canonical (as DVC and reg write it); else from the
    // entries (a manifest spaced otherwise has another oid than its entries').
    if (o.isDir && everyFileWritten && writtenCount === plan.entries.length) {
      statCache.rememberTree(plan.canonical && o.out.md5 !== undefined ? o.out.md5 : manifestOidOf(plan.entries), plan.entries.length);
    }
  } finally {
    statCache.save();
    if (plan.write.length > 0) ctx.progress({ type: 'end', phase });
  }
  if (o.isDir) fs.ensureDir(o.dataRel);
  const changed = writtenCount > 0 || plan.remove.length > 0 || plan.replaceRoot || plan.unlink.length > 0;
  return { ...base, action: changed ? 'restored' : 'unchanged', written: writtenCount, removed: plan.remove.length, unchanged: plan.unchanged };
}

/** Both paths name one inode (a hard link of the other); false when either is missing. */
function sameInode(a: string | undefined, b: string | undefined): boolean {
  const sa = a === undefined ? undefined : lstatSync(a, { throwIfNoEntry: false });
  const sb = sa === undefined || b === undefined ? undefined : lstatSync(b, { throwIfNoEntry: false });
  return sa !== undefined && sb !== undefined && sa.ino === sb.ino && sa.dev === sb.dev;
}

/** The md5s that more than one of `entries` uses. */
function objectsUsedTwice(entries: readonly ManifestEntry[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.md5)) twice.add(e.md5);
    else seen.add(e.md5);
  }
  return twice;
}

/** The directories above a relpath, deepest first ('a/b/c' -> ['a/b', 'a']). */
function parentDirs(relpath: string): string[] {
  const out: string[] = [];
  for (let d = posix.dirname(relpath); d !== '.' && d !== ''; d = posix.dirname(d)) out.push(d);
  return out;
}

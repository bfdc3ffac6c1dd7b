import { existsSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Context } from '../../context.js';
import { getPath } from '../../config.js';
import { md5Hex, parseManifest, type ManifestEntry } from '../../data/manifest.js';
import { RegError, configError, isRegError, usageError } from '../../errors.js';
import { mapLimit, yieldToEventLoop } from '../../fsutil.js';
import { allIndexEntries } from '../../git/read.js';
import { gitRemoteStates, worktreeHeads, type GitRemoteState, type RevSelection } from '../../git/history.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo, type Repo } from '../../repo.js';
import { isNotFound, type Backend } from '../../store/backend.js';
import { MAX_LISTED_KEYS, tooManyListedKeys } from '../../store/guarded-backend.js';
import { QUARANTINE_DIR, readCacheFile } from '../../store/cache.js';
import { MAX_MANIFEST_BYTES, objectKey, type ObjRef } from '../../store/object-store.js';
import { describeError, fanOutSignal, type RetryPolicy } from '../../store/transfer.js';
import { listCacheOids } from '../data/scan.js';
import { readStashRecordText, STASH_DIR } from '../data/stash.js';
import { redact } from '../remote/remote-config.js';
import { ObjectFacts } from './manifests.js';
import { PointerReader, isPointerPath } from './pointers.js';
import { VersionCollector } from './versions.js';

export interface GcOptions {
  /** Delete (default: a dry run that only reports). */
  yes?: boolean;
  /** Collect on a remote instead of the local cache: its name, or true for the default remote. */
  remote?: string | true;
  /**
   * Narrowing: protect only the work tree's pointers, plus the tips of every local branch
   * (allBranches) and of every tag (allTags). Without any of them the whole history of every ref
   * is protected. Stashes, recent objects and the quarantine are protected either way.
   */
  workspace?: boolean;
  allBranches?: boolean;
  allTags?: boolean;
  /** Objects written more recently than this are kept: `14d`, `36h`, `90m`, `0` (default: gc.grace in .reg/config.yaml, else 14d). */
  grace?: string;
  /** Also delete temp files of interrupted runs in the cache (older than an hour). */
  temp?: boolean;
  /** Also delete quarantined (corrupt) objects older than the grace period. */
  quarantine?: boolean;
  /** Parallel requests on a remote. */
  jobs?: number;
  retry?: RetryPolicy;
  wrapBackend?: (backend: Backend) => Backend;
  /** Called with every key the Deleter removes (auditing). */
  onDelete?: (key: string) => void;
  /** "Now" in ms (tests). */
  now?: number;
}

/** A use of an object that gc knows of: which entry (and file) at which version. */
export interface GcUse {
  entry: string;
  /** The file inside a directory entry ('' or absent for the entry itself or its manifest). */
  file?: string;
  /** `<commit> (<refs>)`, `reflog <commit>`, ... */
  version: string;
}

export interface GcObject {
  key: string;
  oid: string;
  manifest: boolean;
  size: number | null;
  /** Last write time (ISO 8601), when known. */
  modified: string | null;
  /** Versions known to have used it (none of them protected); empty when unknown. */
  usedBy: GcUse[];
}

/** A version (an entry at a commit, in the work tree or a stash) that gc considered. */
export interface GcVersion {
  entry: string;
  pointer: string;
  oid: string;
  version: string;
}

export interface GcResult {
  target: { kind: 'cache'; path: string } | { kind: 'remote'; name: string; location: string };
  dryRun: boolean;
  grace: { text: string; ms: number };
  scope: {
    /** What history is protected: `all refs` (every branch, remote-tracking branch, tag), or the narrowed tips. */
    history: string[];
    narrowed: boolean;
    stashes: number;
  };
  /** Objects kept: referenced by a protected version (or a surviving manifest), or too recent. */
  kept: { referenced: number; recent: number; versions: number };
  /** With a narrowed scope: versions the default scope would protect that this run does not. */
  noLongerProtected: GcVersion[];
  /**
   * Directory versions in scope whose manifest is nowhere gc can look (never pushed, not in this
   * cache): the files only they list are not known, so not protected (the grace period covers the
   * files of a push that was interrupted before its manifest).
   */
  unknownManifests: Array<{ version: string; reason: string }>;
  /** Objects deleted (with yes) or that would be deleted. */
  objects: GcObject[];
  count: number;
  bytes: number;
  /** Keys actually deleted, in order (manifests first). */
  deleted: string[];
  temp?: { count: number; bytes: number };
  quarantine?: { count: number; bytes: number };
  /** Remote gc: the Git remotes and when their branches were last fetched. */
  gitRemotes?: GitRemoteState[];
}

const DAY_MS = 86_400_000;
const DEFAULT_GRACE = '14d';
const TEMP_AGE_MS = 3_600_000;
const MODERN_KEY = /^files\/md5\/[0-9a-f]{2}\/[0-9a-f]{30}(\.dir)?$/;
const LEGACY_KEY = /^[0-9a-f]{2}\/[0-9a-f]{30}(\.dir)?$/;
const OID = /^[0-9a-f]{32}(\.dir)?$/;
const LENIENT_OID = /md5:\s*['"]?([0-9a-f]{32}(?:\.dir)?)/g;

/** Parses a grace period: `<n>` days, or `<n>` with s, m, h, d or w. */
export function parseGrace(value: string | number, source: string): { text: string; ms: number } {
  const text = String(value).trim();
  const m = /^(\d+)\s*([smhdw]?)$/.exec(text);
  if (!m) throw configError('gc.bad-grace', `${source}: grace period ${JSON.stringify(text)} is not a duration`, { hint: 'write it like 14d, 36h, 90m or 0' });
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS, '': DAY_MS }[m[2] as 's' | 'm' | 'h' | 'd' | 'w' | ''];
  return { text: m[2] === '' && m[1] !== '0' ? `${m[1]}d` : text, ms: Number(m[1]) * unit };
}

/**
 * Deletes what no protected version needs, from the local cache or a remote; a dry run unless
 * `yes`. Protected: every object a pointer references in the selected history (default: every
 * commit of every ref), in the work tree or the index, in a stash; every file a surviving
 * manifest lists; every object newer than the grace period; the quarantine. Manifests are deleted
 * before their files, so an interrupted run never leaves a manifest with missing files.
 */
export async function gc(ctx: Context, options: GcOptions = {}): Promise<GcResult> {
  const repo = openRepo(ctx);
  const now = options.now ?? Date.now();
  const configured = getPath(repo.config.data, ['gc', 'grace']);
  const grace = options.grace !== undefined ? parseGrace(options.grace, '--grace') : configured !== undefined && configured !== null ? parseGrace(configured as string, '.reg/config.yaml: gc.grace') : parseGrace(DEFAULT_GRACE, 'default');
  const narrowed = Boolean(options.workspace || options.allBranches || options.allTags);
  if (options.remote !== undefined && (options.temp || options.quarantine)) {
    throw usageError('gc.cache-only-option', '--temp and --quarantine clean the local cache; they do not apply to a remote', { hint: 'run them without --remote' });
  }
  const facts = new ObjectFacts(repo, ctx, { jobs: options.jobs, retry: options.retry, wrapBackend: options.wrapBackend });
  const reader = new PointerReader(repo);
  // Every parallel listing and HEAD request listens on the signal: more than Node's warning threshold.
  const fan = fanOutSignal(ctx.signal);
  try {
    const remote = options.remote !== undefined ? facts.remote(facts.remoteNameFor(options.remote === true ? undefined : options.remote)) : undefined;
    const result: GcResult = {
      target: remote ? { kind: 'remote', name: remote.name, location: redact(remote.store.description, remote.secrets) } : { kind: 'cache', path: repo.cache.root },
      dryRun: !options.yes,
      grace,
      scope: { history: [], narrowed, stashes: 0 },
      kept: { referenced: 0, recent: 0, versions: 0 },
      noLongerProtected: [],
      unknownManifests: [],
      objects: [],
      count: 0,
      bytes: 0,
      deleted: [],
    };
    const syncedPrefixes = remote ? syncedAreaPrefixes(repo) : [];
    if (remote) {
      result.gitRemotes = await gitRemoteStates(repo.root);
      refuseStaleRefs(result.gitRemotes, grace, now);
    }

    // 1. What is protected.
    const versions = new Versions(reader);
    const defaultSel: RevSelection = { all: true, head: true, commits: await worktreeHeads(repo.root) };
    if (narrowed) {
      result.scope.history = [...(options.allBranches ? ['tips of local branches'] : []), ...(options.allTags ? ['tags'] : [])];
      await versions.collect((c) => c.addTips({ branches: options.allBranches, tags: options.allTags }));
    } else {
      result.scope.history = ['every commit of every branch, remote-tracking branch and tag', 'HEAD of every work tree'];
      await versions.collect((c) => c.addHistory(defaultSel));
    }
    await versions.addWorkspace(repo);
    result.scope.stashes = versions.addStashes(repo);
    result.kept.versions = versions.list.length;

    const protectedOids = new Set<string>(versions.oids);
    const manifests = new ManifestSource(repo, facts, remote?.name);
    const unreadable: Unreadable[] = [];
    const expanded = new Set<string>();
    const expand = async (oid: string, legacy: boolean, what: string, remoteHint: string | undefined) => {
      if (expanded.has(oid)) return;
      expanded.add(oid);
      const got = await manifests.read({ oid, legacy }, remoteHint);
      if ('entries' in got) for (const e of got.entries) protectedOids.add(e.md5);
      else if (got.missing) result.unknownManifests.push({ version: what, reason: got.reason });
      else unreadable.push({ what, reason: got.reason, integrity: got.integrity, malformed: got.malformed === true });
    };
    await mapLimit(versions.dirs(), 8, (v) => expand(v.oid, v.legacy, `${v.entry} at ${v.version}`, v.remote));

    // 2. What the store holds, and what of it is unprotected and old enough.
    const store = remote ? await listRemote(remote.store.backend, syncedPrefixes, remote.jobs, fan.signal) : listCache(repo);
    const unprotected = store.filter((o) => !protectedOids.has(o.oid));
    result.kept.referenced = store.length - unprotected.length;
    const timed = remote ? await withTimes(remote.store.backend, unprotected, remote.jobs, fan.signal) : unprotected.map((o) => ({ ...o, ...cacheTimes(repo, o.key) }));
    let doomed = timed.filter((o) => o.modified !== undefined && now - o.modified >= grace.ms);
    result.kept.recent = timed.length - doomed.length;

    // 3. Every manifest that stays keeps its files (a fresh push's manifest may list old objects).
    const doomedKeys = new Set(doomed.map((o) => o.key));
    const surviving = store.filter((o) => o.manifest && !doomedKeys.has(o.key) && !expanded.has(o.oid));
    await mapLimit(surviving, 8, (o) => expand(o.oid, o.legacy, `${o.key} (kept on ${remote ? remote.name : 'the cache'})`, undefined));
    if (unreadable.length > 0) throw membersUnknown(unreadable);
    const before = doomed.length;
    doomed = doomed.filter((o) => !protectedOids.has(o.oid));
    result.kept.referenced += before - doomed.length;

    // 4. What the narrowed scope gives up, and who used the doomed objects (reflogs, other refs).
    const known = new Versions(reader);
    if (narrowed) await known.collect((c) => c.addHistory(defaultSel));
    await known.collect((c) => c.addHistory({ reflog: true }, 'reflog '));
    const kept = new Set(versions.list.map((v) => v.oid));
    if (narrowed) result.noLongerProtected = dedupeVersions(known.list.filter((v) => !kept.has(v.oid) && !v.version.startsWith('reflog ')));
    const uses = await attribute(known.list.filter((v) => !kept.has(v.oid)), manifests, new Set(doomed.map((o) => o.oid)));
    result.objects = doomed
      .sort((a, b) => Number(b.manifest) - Number(a.manifest) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((o) => ({ key: o.key, oid: o.oid, manifest: o.manifest, size: o.size ?? null, modified: o.modified !== undefined ? new Date(o.modified).toISOString() : null, usedBy: uses.get(o.oid) ?? [] }));
    result.count = result.objects.length;
    result.bytes = result.objects.reduce((s, o) => s + (o.size ?? 0), 0);

    const extras = remote ? [] : cacheExtras(repo, options, grace.ms, now);
    if (options.temp) result.temp = summarize(extras.filter((x) => x.kind === 'temp'));
    if (options.quarantine) result.quarantine = summarize(extras.filter((x) => x.kind === 'quarantine'));
    if (!options.yes) return result;

    // 5. Delete: manifests, then files, then the extras asked for; every key through the Deleter.
    const deleter = new Deleter(remote ? { kind: 'remote', backend: remote.store.backend } : { kind: 'cache', root: repo.cache.root }, options.onDelete);
    const jobs = remote ? remote.jobs : 1;
    try {
      // Ctrl-C stops between deletions (the ones in flight finish): what is left stays consistent.
      // Cache deletions are synchronous: every 64 the event loop runs, so the signal is seen.
      const remove = async (key: string) => {
        if (!remote && deleter.deleted.length % 64 === 63) await yieldToEventLoop();
        ctx.signal?.throwIfAborted();
        return deleter.delete(key);
      };
      await mapLimit(result.objects.filter((o) => o.manifest), jobs, (o) => remove(o.key));
      await mapLimit(result.objects.filter((o) => !o.manifest), jobs, (o) => remove(o.key));
      for (const x of extras) await remove(x.key);
    } catch (err) {
      result.deleted = deleter.deleted;
      if (ctx.signal?.aborted) throw err;
      const cause = isRegError(err) ? err : undefined;
      throw new RegError('gc.delete-failed', cause?.exit ?? (remote ? 'transfer' : 'failed'), redact(`gc stopped after deleting ${deleter.deleted.length} of ${result.count} objects: ${cause?.message ?? describeError(err)}`, remote?.secrets ?? []), {
        hint: `${cause?.hint ? `${cause.hint}; then ` : ''}run reg gc again: what is left is consistent (manifests are deleted before their files)`,
        details: { deleted: deleter.deleted },
        cause: err,
      });
    }
    result.deleted = deleter.deleted;
    return result;
  } finally {
    fan.dispose();
    reader.close();
    facts.close();
  }
}

/** The one way gc deletes anything: each key is checked against the layouts gc may touch, then removed and recorded. */
export class Deleter {
  readonly deleted: string[] = [];

  constructor(
    private readonly target: { kind: 'cache'; root: string } | { kind: 'remote'; backend: Backend },
    private readonly audit?: (key: string) => void,
  ) {}

  async delete(key: string): Promise<void> {
    if (this.target.kind === 'remote') {
      if (!MODERN_KEY.test(key) && !LEGACY_KEY.test(key)) throw new RegError('gc.bad-key', 'failed', `refusing to delete ${key}: not an object key`);
      await this.target.backend.delete(key);
    } else {
      if (!MODERN_KEY.test(key) && !LEGACY_KEY.test(key) && !TEMP_KEY.test(key) && !QUARANTINE_KEY.test(key)) throw new RegError('gc.bad-key', 'failed', `refusing to delete ${key}: not a cache object, temp file or quarantine entry`);
      try {
        unlinkSync(join(this.target.root, ...key.split('/')));
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
      }
    }
    this.deleted.push(key);
    this.audit?.(key);
  }
}

const TEMP_KEY = /^(?:[^/]+\/)*\.[^/]+\.[0-9a-f]{12}\.tmp$/;
const QUARANTINE_KEY = new RegExp(`^${QUARANTINE_DIR}/(?:files/md5/)?[0-9a-f]{2}/[0-9a-f]{30}(?:\\.dir)?\\.[^/]+$`);

interface Version {
  entry: string;
  pointer: string;
  oid: string;
  legacy: boolean;
  isDir: boolean;
  remote?: string;
  version: string;
}

/** Versions found so far, with the oids they protect (also those written in pointers that do not parse). */
class Versions {
  /** Oids of pointers that could not be used, read leniently: protected anyway. */
  private readonly loose = new Set<string>();
  private readonly stashes: Version[] = [];
  private fromCollector: Version[] = [];
  private readonly collector: Promise<VersionCollector>;

  constructor(reader: PointerReader) {
    this.collector = VersionCollector.create(reader, async (at) => {
      if (at.blob === undefined) return;
      const content = await reader.blobs.read(at.blob);
      if (Buffer.isBuffer(content)) this.addLoose(content.toString('utf8'));
    });
  }

  get list(): Version[] {
    return [...this.fromCollector, ...this.stashes];
  }

  get oids(): Set<string> {
    return new Set([...this.list.map((v) => v.oid), ...this.loose]);
  }

  dirs(): Version[] {
    return [...new Map(this.list.filter((v) => v.isDir).map((v) => [v.oid, v])).values()];
  }

  /** Runs a collection step, then keeps what it found. */
  async collect(step: (c: VersionCollector) => Promise<void>): Promise<void> {
    const c = await this.collector;
    await step(c);
    this.fromCollector = c.found.flatMap(({ output: o, version }) =>
      o.out.md5 === undefined ? [] : [{ entry: o.dataRel, pointer: o.pointerRel, oid: o.out.md5, legacy: o.legacy, isDir: o.isDir, ...(o.out.remote !== undefined ? { remote: o.out.remote } : {}), version }],
    );
  }

  /** The work tree's pointers and the versions staged in the index. */
  async addWorkspace(repo: Repo): Promise<void> {
    await this.collect(async (c) => {
      for (const at of await c.reader.pointersAt({ kind: 'workspace' })) {
        if (at.output) await c.add(at, 'the workspace');
        // One that does not parse still protects the oids written in it; one that is not a regular file was never read.
        else if (at.text !== undefined) this.addLoose(at.text);
      }
      for (const e of await allIndexEntries(repo.root)) {
        if ((e.mode === '100644' || e.mode === '100755') && isPointerPath(e.path)) await c.add(await c.reader.pointerFromBlob(e.path, e.oid, 'the index', e.mode), 'the index');
      }
    });
  }

  /** Stash records (`.reg/stash/*.json`): their manifest and every file they list. Returns how many. */
  addStashes(repo: Repo): number {
    const dir = join(repo.regDir, STASH_DIR);
    const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')) : [];
    for (const name of names) {
      const file = join(dir, name);
      let record: { id?: unknown; oid?: unknown; files?: unknown };
      try {
        const text = readStashRecordText(file, relative(repo.root, file));
        if (text === undefined) continue;
        record = JSON.parse(text) as typeof record;
        if (typeof record !== 'object' || record === null) throw new Error('not a JSON object');
      } catch (err) {
        throw configError('gc.bad-stash', `${relative(repo.root, file)} cannot be read (${(err as Error).message}), so gc cannot tell which objects it keeps; nothing was deleted`, { hint: 'fix or remove the stash record (reg stash list), then retry' });
      }
      const files = Array.isArray(record.files) ? (record.files as Array<{ md5?: unknown; path?: unknown }>) : [];
      const version = `stash ${typeof record.id === 'string' ? record.id : name.slice(0, -5)}`;
      const pointer = relative(repo.root, file);
      if (typeof record.oid === 'string' && OID.test(record.oid)) this.stashes.push({ entry: 'stash', pointer, oid: record.oid, legacy: false, isDir: true, version });
      for (const f of files) {
        if (typeof f?.md5 === 'string' && OID.test(f.md5)) this.stashes.push({ entry: String(f.path ?? ''), pointer, oid: f.md5, legacy: false, isDir: false, version });
      }
    }
    return names.length;
  }

  /** A pointer that does not parse (or names a bad path) still protects every oid written in it. */
  private addLoose(text: string): void {
    for (const m of text.matchAll(LENIENT_OID)) this.loose.add(m[1]!);
  }
}

function dedupeVersions(list: readonly Version[]): GcVersion[] {
  const seen = new Map<string, GcVersion>();
  for (const v of list) if (!seen.has(`${v.pointer}\0${v.oid}`)) seen.set(`${v.pointer}\0${v.oid}`, { entry: v.entry, pointer: v.pointer, oid: v.oid, version: v.version });
  return [...seen.values()];
}

/** A manifest's entries, or why not: `missing` where gc can look, or unreadable (corrupt, unparseable, unreachable). */
type ManifestRead = { entries: ManifestEntry[] } | { reason: string; missing: boolean; integrity: boolean; malformed?: boolean };

/** A directory version whose members gc cannot know: corrupt bytes, a malformed (or hostile) manifest, or a remote that did not answer. */
interface Unreadable {
  what: string;
  reason: string;
  integrity: boolean;
  malformed: boolean;
}

/** Manifests for gc: from the cache (hash checked), else read into memory from a remote; never written anywhere. */
class ManifestSource {
  private readonly loaded = new Map<string, Promise<ManifestRead>>();

  constructor(private readonly repo: Repo, private readonly facts: ObjectFacts, private readonly targetRemote: string | undefined) {}

  read(ref: ObjRef, remoteHint: string | undefined): Promise<ManifestRead> {
    let p = this.loaded.get(ref.oid);
    if (p === undefined) {
      p = this.load(ref, remoteHint);
      this.loaded.set(ref.oid, p);
    }
    return p;
  }

  /** Entries already read (for attribution: no new reads). */
  async known(oid: string): Promise<ManifestEntry[] | undefined> {
    const p = this.loaded.get(oid);
    if (p) {
      const got = await p;
      return 'entries' in got ? got.entries : undefined;
    }
    const path = this.repo.cache.locate(oid, false) ?? this.repo.cache.locate(oid, true);
    if (path === undefined) return undefined;
    try {
      return parseManifest(readCacheFile(path, MAX_MANIFEST_BYTES), path);
    } catch {
      return undefined;
    }
  }

  private async load(ref: ObjRef, remoteHint: string | undefined): Promise<ManifestRead> {
    let cacheProblem: string | undefined;
    for (const legacy of ref.legacy ? [true, false] : [false, true]) {
      const path = this.repo.cache.locate(ref.oid, legacy);
      if (path === undefined) continue;
      const bytes = readCacheFile(path, MAX_MANIFEST_BYTES);
      if (md5Hex(bytes) !== ref.oid.slice(0, -4)) {
        cacheProblem = `the cache copy ${path} is corrupt`;
        continue;
      }
      try {
        return { entries: parseManifest(bytes, path) };
      } catch (err) {
        if (!isRegError(err)) throw err;
        return { reason: err.message, missing: false, integrity: false, malformed: err.exit === 'config' };
      }
    }
    let name: string;
    try {
      name = this.targetRemote ?? this.facts.remoteNameFor(remoteHint);
    } catch {
      return cacheProblem !== undefined ? { reason: cacheProblem, missing: false, integrity: true } : { reason: 'not in the cache, and no remote is configured to read it from', missing: true, integrity: false };
    }
    const remote = this.facts.remote(name);
    const sides = ref.legacy ? [true, false] : [false];
    for (const legacy of sides) {
      try {
        const bytes = await remote.store.readVerified({ oid: ref.oid, legacy });
        return { entries: parseManifest(bytes, `${objectKey(ref.oid, legacy)} on ${remote.name}`) };
      } catch (err) {
        if (isNotFound(err)) continue;
        if (isRegError(err)) return { reason: err.message, missing: false, integrity: err.exitCode === 6, malformed: err.exit === 'config' };
        return { reason: redact(`cannot read it from ${remote.name}: ${describeError(err)}`, remote.secrets), missing: false, integrity: false };
      }
    }
    if (cacheProblem !== undefined) return { reason: `${cacheProblem}, and it is not on the remote ${remote.name}`, missing: false, integrity: true };
    return { reason: `neither in the cache nor on the remote ${remote.name}`, missing: true, integrity: false };
  }
}

function membersUnknown(list: readonly Unreadable[]): RegError {
  const lines = list.slice(0, 10).map((u) => `  ${u.what}: ${u.reason}`).join('\n');
  // A remote that did not answer may answer on a retry (exit 4); else a malformed or hostile manifest is exit 3, corrupt bytes exit 6.
  const exit = list.some((u) => !u.integrity && !u.malformed) ? 'transfer' : list.some((u) => u.malformed) ? 'config' : 'integrity';
  return new RegError('gc.members-unknown', exit, `gc cannot tell which files ${list.length === 1 ? 'this directory version keeps' : `these ${list.length} directory versions keep`}, so it deletes nothing:\n${lines}${list.length > 10 ? `\n  ... and ${list.length - 10} more` : ''}`, {
    hint: 'repair them (reg verify --repair, from a clone that has good copies) or retry when the remote is reachable; or narrow the scope (--workspace, --all-branches, --all-tags) to leave those versions out',
    details: { manifests: list },
  });
}

export interface StoredObject {
  key: string;
  oid: string;
  legacy: boolean;
  manifest: boolean;
  size?: number;
  modified?: number;
}

function stored(key: string, legacy: boolean, info: { size?: number; modified?: number } = {}): StoredObject {
  const name = legacy ? key : key.slice('files/md5/'.length);
  const oid = name.slice(0, 2) + name.slice(3);
  return { key, oid, legacy, manifest: oid.endsWith('.dir'), ...(info.size !== undefined ? { size: info.size } : {}), ...(info.modified !== undefined ? { modified: info.modified } : {}) };
}

/** Every object file of the cache (both layouts), by key. */
function listCache(repo: Repo): StoredObject[] {
  const out: StoredObject[] = [];
  for (const legacy of [false, true]) {
    for (const oid of listCacheOids(repo.cache.root, legacy)) {
      const key = objectKey(oid, legacy);
      if (OID.test(oid) && (legacy ? LEGACY_KEY : MODERN_KEY).test(key)) out.push(stored(key, legacy));
    }
  }
  return out;
}

function cacheTimes(repo: Repo, key: string): { size?: number; modified?: number } {
  const st = lstatSync(join(repo.cache.root, ...key.split('/')), { throwIfNoEntry: false });
  return st?.isFile() ? { size: st.size, modified: st.mtimeMs } : {};
}

/** Temp files (older than an hour) and quarantined objects (older than the grace period) in the cache. */
function cacheExtras(repo: Repo, options: GcOptions, graceMs: number, now: number): Array<{ key: string; kind: 'temp' | 'quarantine'; size: number }> {
  const out: Array<{ key: string; kind: 'temp' | 'quarantine'; size: number }> = [];
  if (!options.temp && !options.quarantine) return out;
  const walk = (rel: string) => {
    let entries;
    try {
      entries = readdirSync(join(repo.cache.root, ...rel.split('/').filter(Boolean)), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const key = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        walk(key);
        continue;
      }
      if (!e.isFile()) continue;
      const st = lstatSync(join(repo.cache.root, ...key.split('/')));
      if (options.quarantine && QUARANTINE_KEY.test(key) && now - st.mtimeMs >= graceMs) out.push({ key, kind: 'quarantine', size: st.size });
      else if (options.temp && !key.startsWith(`${QUARANTINE_DIR}/`) && TEMP_KEY.test(key) && now - st.mtimeMs >= TEMP_AGE_MS) out.push({ key, kind: 'temp', size: st.size });
    }
  };
  walk('');
  return out;
}

function summarize(list: ReadonlyArray<{ size: number }>): { count: number; bytes: number } {
  return { count: list.length, bytes: list.reduce((s, x) => s + x.size, 0) };
}

/**
 * Every object key on a remote (`files/md5/` and the DVC 2 layout), leaving out anything under a
 * synced area's prefix. Listings give sizes (and on S3 write times). More than `maxKeys` of them
 * is remote.bad-listing. Exported for its test.
 */
export async function listRemote(backend: Backend, syncedPrefixes: readonly string[], jobs: number, signal: AbortSignal | undefined, maxKeys = MAX_LISTED_KEYS): Promise<StoredObject[]> {
  const out = new Map<string, StoredObject>();
  const underSynced = (key: string) => syncedPrefixes.some((p) => key === p || key.startsWith(p + '/'));
  const listPrefix = async (prefix: string, legacy: boolean) => {
    for await (const page of backend.list(prefix, { signal })) {
      for (const o of page) {
        if ((legacy ? LEGACY_KEY : MODERN_KEY).test(o.key) && !underSynced(o.key)) out.set(o.key, stored(o.key, legacy, o));
      }
      // Each listing ends, but gc keeps every key of all 257.
      if (out.size > maxKeys) throw tooManyListedKeys(backend.description, 'the object keys gc keeps', maxKeys);
    }
  };
  const prefixes: Array<[string, boolean]> = [['files/md5/', false], ...Array.from({ length: 256 }, (_, i): [string, boolean] => [`${i.toString(16).padStart(2, '0')}/`, true])];
  await mapLimit(prefixes.filter(([p]) => !underSynced(p.slice(0, -1))), jobs, ([p, legacy]) => listPrefix(p, legacy));
  return [...out.values()];
}

/** Size and write time of each object that the listing did not give (directory remotes: one stat each). */
async function withTimes(backend: Backend, objects: readonly StoredObject[], jobs: number, signal?: AbortSignal): Promise<StoredObject[]> {
  return mapLimit(objects, jobs, async (o) => {
    if (o.modified !== undefined && o.size !== undefined) return o;
    const info = await backend.head(o.key, { signal });
    return info === undefined ? o : { ...o, ...(info.size !== undefined ? { size: info.size } : {}), ...(info.modified !== undefined ? { modified: info.modified } : {}) };
  });
}

/** Key prefixes of every synced area: nothing under them is ever deleted by gc. */
function syncedAreaPrefixes(repo: Repo): string[] {
  const prefixes: string[] = [];
  for (const area of registryPolicy(repo.config.data).areas) {
    if (area.mode !== 'synced') continue;
    if (area.prefix === '') {
      throw new RegError('gc.synced-root', 'policy', `the synced area ${area.name}/ is mirrored at the root of its remote, so gc cannot tell its files from objects; remote gc refused`, {
        hint: `give the area its own prefix (areas.${area.name}.prefix in .reg/config.yaml)`,
      });
    }
    prefixes.push(area.prefix);
  }
  return prefixes;
}

/** Remote gc needs an up-to-date view of every Git remote's branches, or it would delete what a teammate's new commits use. */
function refuseStaleRefs(states: readonly GitRemoteState[], grace: { text: string; ms: number }, now: number): void {
  const problems: string[] = [];
  if (states.length === 0) problems.push('this repository has no Git remote, so gc cannot know what others have committed');
  for (const s of states) {
    if (s.branches === 0) problems.push(`the branches of Git remote ${s.name} are unknown here (never fetched)`);
    else if (s.fetchedAt === undefined || now - s.fetchedAt > grace.ms) problems.push(`the branches of Git remote ${s.name} were last fetched ${s.fetchedAt === undefined ? 'at an unknown time' : `${Math.floor((now - s.fetchedAt) / DAY_MS)} days ago`}, longer ago than the grace period (${grace.text})`);
  }
  if (problems.length > 0) {
    throw new RegError('gc.stale-refs', 'policy', `remote gc refused: ${problems.join('; ')}`, {
      hint: 'run `git fetch --all` first, so every commit that may use the remote\'s objects is known',
      details: { gitRemotes: states },
    });
  }
}

/** Who used the doomed objects, from versions gc knows of but does not protect (narrowed away, reflogs). */
async function attribute(versions: readonly Version[], manifests: ManifestSource, doomed: ReadonlySet<string>): Promise<Map<string, GcUse[]>> {
  const uses = new Map<string, GcUse[]>();
  const note = (oid: string, use: GcUse) => {
    if (!doomed.has(oid)) return;
    const list = uses.get(oid) ?? [];
    if (list.length < 3 && !list.some((u) => u.entry === use.entry && u.file === use.file && u.version === use.version)) list.push(use);
    uses.set(oid, list);
  };
  for (const v of versions) {
    note(v.oid, { entry: v.entry, version: v.version });
    if (!v.isDir) continue;
    const entries = await manifests.known(v.oid);
    for (const e of entries ?? []) note(e.md5, { entry: v.entry, file: e.relpath, version: v.version });
  }
  return uses;
}

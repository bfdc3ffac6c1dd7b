import { createHash } from 'node:crypto';
import { constants, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../../context.js';
import { md5Hex } from '../../data/manifest.js';
import { fileAndDirConflict, hasControlChar, isPlainSegment, isSafeRelpath } from '../../data/path-rules.js';
import { configError, diskError, errnoCode, isMissingPath, isRegError, RegError, usageError, withPath } from '../../errors.js';
import { readRegularFileSync, tempPathFor } from '../../fsutil.js';
import { areaOf, classifyAreaChild, registryPolicy, type Area } from '../../policy/areas.js';
import { openRepo, repoRelative, type Repo } from '../../repo.js';
import { isConditionalWritesUnsupported, isPreconditionFailed, readWholeObject, type Backend, type VersionedObject } from '../../store/backend.js';
import { HashingTap } from '../../store/hashing-tap.js';
import { LOCK_STALE_MS, LockBusyError, MAX_CONTENDERS, acquireRemoteLock, describeHolder, type HeldLock } from '../../store/remote-lock.js';
import { type RetryPolicy, type TransferFailure, type TransferTask } from '../../store/transfer.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from '../remote/open-remote.js';
import { regState, workTree } from '../../workspace/safe-fs.js';
import { walkedPath } from '../../workspace/walk.js';
import { scanWorkspace } from '../data/scan.js';
import { runTransfersWithProgress } from '../remote/transfer-progress.js';

/**
 * Unversioned, content-aware mirroring of synced areas: `<area>/<name>/...` <-> `<remote>/<prefix>/<name>/...`.
 *
 * - Content-aware: files are compared by md5 (the stat cache avoids re-reading unchanged files);
 *   an unchanged file is never sent again.
 * - Each entry has a manifest on the remote, `<prefix>/<name>/.reg-sync.json` (relpath -> md5, size),
 *   written last, and this workspace keeps what it last saw in `.reg/tmp/sync/<remote>/<area>/<name>.json`.
 *   The overwrite guard compares the two with one GET: a push refuses to overwrite an entry someone
 *   else changed since this workspace last synced it, a pull refuses to overwrite local edits,
 *   unless `force`.
 * - `delete` removes files that exist only on the destination, and only when asked.
 */
export const SYNC_MANIFEST = '.reg-sync.json';
export const SYNC_FORMAT = 'reg-sync/1';

export interface SyncFile {
  md5: string;
  size: number;
}
export type SyncFiles = Record<string, SyncFile>;

export interface SyncManifest {
  format: string;
  entry: string;
  files: SyncFiles;
  updatedAt?: string;
}

export interface SyncState {
  remote: string;
  key: string;
  /** The remote content as of the last sync (what the manifest said, or what was sent/received). */
  files: SyncFiles;
  syncedAt: string;
}

export interface SyncOptions {
  direction: 'push' | 'pull';
  /** Synced areas or `<area>/<name>` entries; empty = every synced area. */
  targets: string[];
  dryRun?: boolean;
  /** Remove destination files that no longer exist at the source. */
  delete?: boolean;
  /** Overwrite even when the destination changed since the last sync. */
  force?: boolean;
  /** Remote name (default: the area's `remote:`, else core.remote). */
  remote?: string;
  jobs?: number;
  retry?: RetryPolicy;
  wrapBackend?: (backend: Backend) => Backend;
}

export type SyncEntryState = 'up-to-date' | 'synced' | 'would-sync';

export interface SyncEntryResult {
  entry: string;
  remote: string;
  /** Key prefix of the entry on the remote. */
  key: string;
  state: SyncEntryState;
  /** Relpaths sent (push) or received (pull); with dryRun: that would be. */
  transferred: string[];
  deleted: string[];
  unchanged: number;
  bytes: number;
}

export interface SyncConflict {
  entry: string;
  reason: string;
  files: string[];
}

export interface SyncResult {
  direction: 'push' | 'pull';
  dryRun: boolean;
  entries: SyncEntryResult[];
  transferred: number;
  deleted: number;
  bytes: number;
}

interface EntryRef {
  area: Area;
  name: string;
  rel: string;
  abs: string;
  /** Named on the command line (an error when it does not exist), not found by listing an area. */
  explicit: boolean;
}

interface Planned {
  ref: EntryRef;
  remote: OpenedRemote;
  base: string;
  local: Map<string, SyncFile & { abs: string }>;
  remoteFiles: SyncFiles;
  /** Relpaths whose remote md5 is unknown (remote without a manifest). */
  remoteUnknown: Set<string>;
  manifestMissing: boolean;
  /** What an earlier first push that was cut off set out to send (empty once a manifest exists). */
  pending: SyncFiles;
  /** Version of the remote manifest this plan was made from (undefined: there was none). */
  manifestVersion?: string;
  transfer: string[];
  remove: string[];
  /** Pull: symlinks to directories in the way of files to receive (relpaths), replaced by real directories. */
  unlink: string[];
  /** Temp files of killed runs inside the entry (relpaths). */
  staleTemps: string[];
  unchanged: number;
  conflict?: SyncConflict;
}

const joinKey = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

/** Where the last sync of an entry with a remote is recorded, relative to `.reg/`. */
const stateRel = (remote: string, entryRel: string) => `tmp/sync/${remote}/${entryRel}.json`;

export function stateFile(repo: Repo, remote: string, entryRel: string): string {
  return join(repo.regDir, ...stateRel(remote, entryRel).split('/'));
}

function readState(repo: Repo, remote: string, entryRel: string): SyncState | undefined {
  // Its directories are checked (a link there is refused) before anything is sent, not only when the state is written after.
  return readStateJson(repo, stateRel(remote, entryRel)) as SyncState | undefined;
}

/**
 * The parsed JSON of reg's sync state file `.reg/<rel>`, or undefined when there is none, it does
 * not parse, or it is not a regular file: a link (to `/dev/zero`, to a file outside) or a FIFO
 * planted there is never followed or opened for reading, a file larger than a sync manifest may
 * be is not read. A link among its directories is refused.
 */
function readStateJson(repo: Repo, rel: string): unknown {
  const p = regState(repo).existing(rel);
  const text = p === undefined ? undefined : readRegularFileSync(p, { maxBytes: MAX_SYNC_MANIFEST_BYTES })?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The files a push to an entry with no remote manifest yet (a first push) set out to send: when
 * it is cut off (Ctrl-C, a failed transfer), the next push knows the ones that arrived (same key
 * and size) as its own, so it neither sends them again nor takes them for another tool's files.
 * Removed once the push completes.
 */
const pendingRel = (remote: string, entryRel: string) => `tmp/sync-pending/${remote}/${entryRel}.json`;

function readPending(repo: Repo, remote: string, entryRel: string): SyncFiles {
  const files = (readStateJson(repo, pendingRel(remote, entryRel)) as { files?: SyncFiles } | null | undefined)?.files;
  return files && typeof files === 'object' ? files : {};
}

export function sameFiles(a: SyncFiles, b: SyncFiles): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] !== undefined && b[k]!.md5 === a[k]!.md5 && b[k]!.size === a[k]!.size);
}

export function serializeSyncManifest(entry: string, files: SyncFiles, now: Date): Buffer {
  const sorted: SyncFiles = {};
  for (const k of Object.keys(files).sort()) sorted[k] = { md5: files[k]!.md5, size: files[k]!.size };
  return Buffer.from(JSON.stringify({ format: SYNC_FORMAT, entry, updatedAt: now.toISOString(), files: sorted }, null, 1) + '\n');
}

const BAD_MANIFEST_HINT =
  "the remote's sync manifest is damaged, so reg cannot tell whose copy is newer: check the files on the remote by hand, delete this manifest there, then sync push from the machine that has the right copy";

export function parseSyncManifest(bytes: Buffer, where: string): SyncManifest {
  let m: SyncManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as SyncManifest;
  } catch {
    throw new RegError('sync.bad-manifest', 'integrity', `${where} is not valid JSON`, { hint: BAD_MANIFEST_HINT });
  }
  if (typeof m !== 'object' || m === null || typeof m.files !== 'object' || m.files === null) {
    throw new RegError('sync.bad-manifest', 'integrity', `${where} has no "files" map`, { hint: BAD_MANIFEST_HINT });
  }
  for (const [rp, f] of Object.entries(m.files)) {
    if (!isSafeRelpath(rp)) throw unsafeKey(where, rp);
    if (typeof f?.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(f.md5) || typeof f.size !== 'number') {
      throw new RegError('sync.bad-manifest', 'integrity', `${where}: bad entry ${JSON.stringify(rp)}`, { hint: BAD_MANIFEST_HINT });
    }
  }
  const clash = fileAndDirConflict(new Set(Object.keys(m.files)));
  if (clash) throw unsafeKey(where, clash[1], `${JSON.stringify(clash[0])} is also listed as a file`);
  return m;
}

/** A sync manifest lists each file in ~80 bytes: far above a million files', below V8's longest string. */
const MAX_SYNC_MANIFEST_BYTES = 256 * 1024 * 1024;

/**
 * An entry's sync manifest with its version: the backend's own (ETag) when it has one, else the
 * MD5 of the bytes. One over MAX_SYNC_MANIFEST_BYTES is refused as damaged, read no further.
 */
async function readVersionedObject(backend: Backend, key: string, signal?: AbortSignal): Promise<VersionedObject | undefined> {
  const limit = {
    maxBytes: MAX_SYNC_MANIFEST_BYTES,
    tooBig: () => new RegError('sync.bad-manifest', 'integrity', `${backend.description}: ${key} is larger than 256 MiB, more than any sync manifest reg writes`, { hint: BAD_MANIFEST_HINT }),
  };
  const options = { ...(signal ? { signal } : {}), limit };
  if (backend.readVersioned) return backend.readVersioned(key, options);
  const bytes = await readWholeObject(backend, key, options);
  return bytes === undefined ? undefined : { bytes, version: md5Hex(bytes) };
}

/**
 * The remote manifest of an entry. A manifest that does not parse is read again a few times
 * before it counts as corrupt: some S3-compatible servers (s3rver) let a reader see an object
 * another client is still writing.
 */
async function readSyncManifest(backend: Backend, key: string, signal?: AbortSignal): Promise<{ read?: VersionedObject; manifest?: SyncManifest }> {
  for (let attempt = 1; ; attempt++) {
    const read = await readVersionedObject(backend, key, signal);
    if (read === undefined) return {};
    try {
      return { read, manifest: parseSyncManifest(read.bytes, `${backend.description}: ${key}`) };
    } catch (err) {
      // A name that is not safe is the manifest's content, not a torn read: no point reading it again.
      if (attempt >= 4 || (isRegError(err) && err.exit === 'config')) throw err;
      await new Promise((resolve) => setTimeout(resolve, 150 * attempt));
    }
  }
}

/** A remote file name that could not be written safely (exit 3: the listing or manifest is malformed or hostile). */
function unsafeKey(where: string, relpath: string, why = 'absolute, "..", ".", empty segments or .git'): RegError {
  return configError('sync.unsafe-key', `${where}: refusing the file name ${JSON.stringify(relpath)} (${why})`, {
    hint: 'remove or rename that object on the remote (nothing was transferred)',
    details: { where, relpath },
  });
}

/**
 * Entry names found in a remote listing must be names a local entry could have: one plain path
 * segment, no control characters, not hidden (`.git`, `..`), not a card, pointer or doc file.
 */
function checkRemoteEntryName(name: string, key: string, where: string): void {
  if (isPlainSegment(name) && !hasControlChar(name) && classifyAreaChild(name) === 'data') return;
  throw configError('sync.unsafe-entry', `${where}: the key ${JSON.stringify(key)} names the entry ${JSON.stringify(name)}, which is not a valid entry name`, {
    hint: 'remove or rename that entry on the remote, or pull the entries you want by name (reg sync pull <area>/<name>); nothing was transferred',
    details: { where, key, entry: name },
  });
}

/** Entries to sync: named entries, or every entry of the named (or all) synced areas. */
async function resolveEntries(repo: Repo, ctx: Context, areas: Area[], targets: string[], direction: 'push' | 'pull', remoteFor: (a: Area) => OpenedRemote): Promise<EntryRef[]> {
  const synced = areas.filter((a) => a.mode === 'synced');
  if (synced.length === 0) throw usageError('sync.no-areas', 'no synced areas are configured', { hint: 'add one to .reg/config.yaml: areas: { processed_datasets: { mode: synced } }' });
  const out = new Map<string, EntryRef>();
  const addEntry = (area: Area, name: string, explicit: boolean) => {
    const rel = `${area.name}/${name}`;
    if (!out.has(rel)) out.set(rel, { area, name, rel, abs: join(repo.root, ...rel.split('/')), explicit });
  };
  const wholeAreas: Area[] = [];
  if (targets.length === 0) wholeAreas.push(...synced);
  for (const t of targets) {
    const rel = repoRelative(repo, resolve(ctx.cwd, t.replace(/\/+$/, '')), t);
    const hit = areaOf(areas, rel);
    if (!hit) throw usageError('sync.not-in-area', `${t} is not inside a registry area`, { hint: `synced areas: ${synced.map((a) => a.name).join(', ')}` });
    if (hit.area.mode !== 'synced') {
      throw usageError('sync.not-synced', `${t} is in ${hit.area.name}, a ${hit.area.mode} area`, {
        hint: hit.area.mode === 'versioned' ? `use reg push / reg pull for versioned data` : 'local areas never leave this machine; move the entry to a synced area to share it',
      });
    }
    if (hit.rest === '') wholeAreas.push(hit.area);
    else if (hit.rest.includes('/')) throw usageError('sync.inside-entry', `${t} is inside entry ${hit.area.name}/${hit.rest.split('/')[0]}`, { hint: `sync the whole entry: reg sync ${direction} ${hit.area.name}/${hit.rest.split('/')[0]}` });
    else addEntry(hit.area, hit.rest, true);
  }
  for (const area of wholeAreas) {
    const dir = join(repo.root, ...area.name.split('/'));
    const names = new Set<string>();
    if (existsSync(dir)) {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const kind = classifyAreaChild(d.name);
        if (kind === 'data' && d.isDirectory()) names.add(d.name);
        if (kind === 'card' && direction === 'pull') names.add(d.name.slice(0, -'.card.md'.length));
      }
    }
    if (direction === 'pull') {
      // Entries that exist only on the remote: their manifests.
      const remote = remoteFor(area);
      const prefix = joinKey(area.prefix) + (area.prefix ? '/' : '');
      for await (const page of remote.store.backend.list(prefix, { signal: ctx.signal })) {
        for (const o of page) {
          const rest = o.key.slice(prefix.length).split('/');
          if (rest.length === 2 && rest[1] === SYNC_MANIFEST) {
            checkRemoteEntryName(rest[0]!, o.key, remote.store.backend.description);
            names.add(rest[0]!);
          }
        }
      }
    }
    for (const n of [...names].sort()) addEntry(area, n, false);
  }
  return [...out.values()];
}

interface LocalEntry {
  files: Map<string, SyncFile & { abs: string }>;
  symlinkedDirs: string[];
  staleTemps: string[];
}

async function localFiles(repo: Repo, ctx: Context, ref: EntryRef): Promise<LocalEntry | undefined> {
  if (!existsSync(ref.abs)) return undefined;
  if (!statSync(ref.abs).isDirectory()) {
    throw usageError('sync.not-a-directory', `${ref.rel} is a file; synced entries are directories`, { hint: `move it into a directory: ${ref.rel}/` });
  }
  const ws = await scanWorkspace(repo, ctx, ref.abs, ref.rel, { legacy: false, store: false, label: ref.rel });
  if (ws.symlinkedDirs.includes('')) {
    throw new RegError('sync.symlinked-entry', 'conflict', `${ref.rel} is a symbolic link to a directory`, {
      hint: `reg never reads or writes an entry through a symlink: replace ${ref.rel} by a real directory`,
    });
  }
  const files = new Map<string, SyncFile & { abs: string }>();
  for (const f of ws.files) if (f.relpath !== SYNC_MANIFEST) files.set(f.relpath, { md5: f.md5, size: f.size, abs: walkedPath(ref.abs, f.relpath) });
  return { files, symlinkedDirs: ws.symlinkedDirs, staleTemps: ws.staleTemps };
}

async function planEntry(repo: Repo, ctx: Context, ref: EntryRef, remote: OpenedRemote, options: SyncOptions): Promise<Planned | undefined> {
  const backend = remote.store.backend;
  const base = joinKey(ref.area.prefix, ref.name);
  const localEntry = await localFiles(repo, ctx, ref);
  const local = localEntry?.files;
  const { read, manifest } = await readSyncManifest(backend, `${base}/${SYNC_MANIFEST}`, ctx.signal);
  const state = readState(repo, remote.name, ref.rel);
  // Without a manifest, what this workspace sent in a push that was cut off is known too.
  const pending = manifest ? {} : readPending(repo, remote.name, ref.rel);
  const lastSeen = (rp: string): SyncFile | undefined => pending[rp] ?? state?.files[rp];
  let remoteFiles: SyncFiles = {};
  const remoteUnknown = new Set<string>();
  const listed = new Map<string, { size?: number; md5?: string }>();
  if (manifest) remoteFiles = manifest.files;
  else {
    // No manifest: a layout made by another tool (aws s3 sync) or an interrupted first push.
    for await (const page of backend.list(`${base}/`, { signal: ctx.signal })) {
      for (const o of page) {
        const rp = o.key.slice(base.length + 1);
        // Zero-byte "folder" markers (`sub/`) that S3 consoles create are not files.
        if (rp === SYNC_MANIFEST || rp.endsWith('/')) continue;
        if (!isSafeRelpath(rp)) {
          if (options.direction === 'pull') throw unsafeKey(`${backend.description}: ${base}/`, rp);
          continue; // push: never written locally, and never deleted
        }
        const size = o.size ?? (await backend.head(o.key))?.size;
        listed.set(rp, { ...(size !== undefined ? { size } : {}), ...(o.md5 !== undefined ? { md5: o.md5 } : {}) });
      }
    }
    const clash = options.direction === 'pull' ? fileAndDirConflict(new Set(listed.keys())) : undefined;
    if (clash) throw unsafeKey(`${backend.description}: ${base}/`, clash[1], `${JSON.stringify(clash[0])} is also a file`);
    for (const [rp, { size, md5 }] of listed) {
      const known = lastSeen(rp);
      const sameSize = known !== undefined && (size === undefined || known.size === size);
      // Same key and size is taken as reg's own file only when the bytes' md5 matches too, so another
      // tool's same-sized file is not mistaken for it: the listing's where it has one (an S3
      // single-part ETag), else on a directory remote (a local read) the md5 of the bytes themselves.
      const actual = md5 ?? (sameSize && hasLocalPath(backend) ? await md5OfDirectoryFile(backend, `${base}/${rp}`, known.size, ctx.signal) : undefined);
      if (sameSize && (actual === undefined || actual === known.md5)) remoteFiles[rp] = known;
      else {
        remoteFiles[rp] = { md5: '', size: size ?? -1 };
        remoteUnknown.add(rp);
      }
    }
  }
  const onRemote = Object.keys(remoteFiles).length > 0 || manifest !== undefined;
  if (options.direction === 'push' && local === undefined) {
    if (ref.explicit) throw usageError('sync.no-local-data', `${ref.rel} does not exist`, { hint: `put the entry's files in ${ref.rel}/ (or get them: reg sync pull ${ref.rel})` });
    return undefined;
  }
  if (options.direction === 'pull' && !onRemote) {
    if (ref.explicit) throw usageError('sync.not-on-remote', `${ref.rel} is not on remote ${remote.name} (nothing under ${backend.description} ${base}/)`, { hint: `push it first: reg sync push ${ref.rel}` });
    return undefined;
  }
  const plan: Planned = { ref, remote, base, local: local ?? new Map(), remoteFiles, remoteUnknown, manifestMissing: manifest === undefined, pending, ...(read ? { manifestVersion: read.version } : {}), transfer: [], remove: [], unlink: [], staleTemps: localEntry?.staleTemps ?? [], unchanged: 0 };
  const localMap = plan.local;
  if (options.direction === 'push') {
    for (const [rp, f] of localMap) {
      const r = remoteFiles[rp];
      if (r && !remoteUnknown.has(rp) && r.md5 === f.md5 && r.size === f.size) plan.unchanged++;
      else plan.transfer.push(rp);
    }
    if (options.delete) for (const rp of Object.keys(remoteFiles)) if (!localMap.has(rp)) plan.remove.push(rp);
    // Guard: would we overwrite or delete remote content this workspace has not seen?
    const touched = [...plan.transfer.filter((rp) => remoteFiles[rp] !== undefined), ...plan.remove];
    // A touched file is unseen when its remote version is not the one this workspace last synced.
    const unseen = touched.filter((rp) => {
      const seen = lastSeen(rp);
      const now = remoteFiles[rp];
      return !seen || !now || remoteUnknown.has(rp) || seen.md5 !== now.md5 || seen.size !== now.size;
    });
    if (unseen.length > 0) {
      plan.conflict = {
        entry: ref.rel,
        reason: state
          ? `the remote copy changed since this workspace last synced it (${state.syncedAt})`
          : manifest
            ? 'the remote copy was pushed from another workspace and this one never synced it'
            : 'the remote has files that reg did not sync (no manifest)',
        files: unseen.sort(),
      };
    }
  } else {
    for (const [rp, r] of Object.entries(remoteFiles)) {
      const l = localMap.get(rp);
      const knownSame = l && !remoteUnknown.has(rp) && l.md5 === r.md5 && l.size === r.size;
      const unknownButSeen = l && remoteUnknown.has(rp) && state?.files[rp]?.md5 === l.md5 && (r.size < 0 || r.size === l.size);
      if (knownSame || unknownButSeen) plan.unchanged++;
      else plan.transfer.push(rp);
    }
    if (options.delete) for (const rp of localMap.keys()) if (remoteFiles[rp] === undefined) plan.remove.push(rp);
    // Guard: would we overwrite or delete local edits made since the last sync?
    const touched = [...plan.transfer.filter((rp) => localMap.has(rp)), ...plan.remove];
    const edited = touched.filter((rp) => {
      const l = localMap.get(rp)!;
      const seen = state?.files[rp];
      return !seen || seen.md5 !== l.md5;
    });
    // Symlinks to directories in the way of files to receive: replaced by real directories (with --force), never written through.
    plan.unlink = (localEntry?.symlinkedDirs ?? []).filter((l) => plan.transfer.some((rp) => rp === l || rp.startsWith(l + '/')));
    if (edited.length > 0 || plan.unlink.length > 0) {
      plan.conflict = {
        entry: ref.rel,
        reason: edited.length === 0
          ? 'symlinks to directories are where files would be received (reg never writes through them)'
          : state ? 'local files changed since the last sync would be overwritten or deleted' : 'local files that were never synced would be overwritten or deleted',
        files: [...edited.sort(), ...plan.unlink.map((l) => `${l} (symlink)`)],
      };
    }
  }
  plan.transfer.sort();
  plan.remove.sort();
  return plan;
}

function hasLocalPath(backend: Backend): backend is Backend & { localPath(key: string): string } {
  return backend.localPath !== undefined;
}

/**
 * The md5 of a directory remote's file at `key`, read only from a regular file (never through a
 * symlink, never blocking on a FIFO) and only up to the `size` bytes listed: a file that is longer,
 * or grows while it is read, is refused (exit 7) rather than read without end.
 */
async function md5OfDirectoryFile(backend: Backend & { localPath(key: string): string }, key: string, size: number, signal?: AbortSignal): Promise<string> {
  const refuse = (why: string) =>
    new RegError('sync.remote-file-changed', 'conflict', `${key} on ${backend.description} ${why}; nothing was transferred`, {
      hint: 'another process is changing the remote entry: run the sync again once it is done (reg reads only regular files there, never symlinks)',
      details: { key },
    });
  const path = backend.localPath(key);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw refuse('became a symbolic link after it was listed');
    if (isMissingPath(err)) throw refuse('disappeared after it was listed');
    throw diskError(err, path) ?? err;
  }
  try {
    if (!(await handle.stat()).isFile()) throw refuse('is no longer a regular file');
    const tap = new HashingTap({ legacy: false, limit: { maxBytes: size, tooBig: () => refuse(`holds more than the ${size} bytes listed (it grew while reg read it)`) } });
    const discard = new Writable({ write: (_chunk, _enc, cb) => cb() });
    await pipeline(handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }), tap, discard, { signal });
    return tap.md5!;
  } catch (err) {
    throw diskError(err, path) ?? err;
  } finally {
    await handle.close();
  }
}

/**
 * Downloads one object into `target` (temp + rename), returning its md5; verifies when `expect` is
 * known, and stops a body that runs past `maxBytes` (the size the manifest lists) before it fills
 * the disk. `target` comes from the work-tree gateway (its directory exists and is no symlink).
 */
async function download(backend: Backend, key: string, target: string, expect: string | undefined, maxBytes: number | undefined, onBytes: (n: number) => void, signal?: AbortSignal): Promise<SyncFile> {
  const tmp = tempPathFor(target);
  const hash = createHash('md5');
  let size = 0;
  try {
    const { body } = await backend.get(key, { signal });
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        if (maxBytes !== undefined && size > maxBytes) {
          cb(new RegError('sync.integrity', 'integrity', `${key}: the remote sends more than the ${maxBytes} bytes its manifest lists; the download was stopped and nothing was kept`, { hint: 'someone changed the file without updating the manifest; push it again from a good copy' }));
          return;
        }
        onBytes(chunk.length);
        cb(null, chunk);
      },
    });
    await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), { signal });
    const md5 = hash.digest('hex');
    if (expect !== undefined && expect !== '' && md5 !== expect) {
      throw new RegError('sync.integrity', 'integrity', `${key}: downloaded bytes hash to ${md5}, the remote manifest says ${expect}`, { hint: 'someone changed the file without updating the manifest; push it again from a good copy' });
    }
    await rm(target, { force: true, recursive: false }).catch(() => undefined);
    await rename(tmp, target);
    return { md5, size };
  } catch (err) {
    await rm(tmp, { force: true });
    // A write through the stream carries no path: without one, a full local disk would be taken
    // for a remote failure (exit 4, "check the remote's settings") instead of naming the file.
    throw withPath(err, target);
  }
}

async function executePlan(repo: Repo, ctx: Context, plan: Planned, options: SyncOptions, result: SyncResult, row: SyncEntryResult): Promise<void> {
  const backend = plan.remote.store.backend;
  const fs = workTree(repo);
  const localRel = (rp: string) => `${plan.ref.rel}/${rp}`;
  if (options.direction === 'pull') {
    for (const t of plan.staleTemps) fs.remove(localRel(t));
    for (const l of plan.unlink) fs.remove(localRel(l));
  }
  const phase = `sync-${options.direction}`;
  const failures: TransferFailure[] = [];
  const received = new Map<string, SyncFile>();
  const tasks: TransferTask[] = plan.transfer.map((rp) => {
    const key = `${plan.base}/${rp}`;
    if (options.direction === 'push') {
      const f = plan.local.get(rp)!;
      return { key, size: f.size, run: (onBytes, signal) => backend.putFile(key, f.abs, f.size, { onBytes, signal }) };
    }
    const r = plan.remoteFiles[rp]!;
    // Checked (and directories made) before any transfer starts: a refusal is never a failed transfer.
    const target = fs.prepareWrite(localRel(rp));
    return {
      key,
      size: Math.max(0, r.size),
      run: async (onBytes, signal) => {
        const known = !plan.remoteUnknown.has(rp);
        received.set(rp, await download(backend, key, target, known ? r.md5 : undefined, known && r.size >= 0 ? r.size : undefined, onBytes, signal));
      },
    };
  });
  if (tasks.length > 0) {
    const label = `${options.direction === 'push' ? 'sending' : 'receiving'} ${plan.ref.rel}`;
    // Until its manifest is written, nothing on the remote says what a first push sends: it is
    // written down here first (an upload lands whole or not at all; its size tells which), and
    // forgotten once the push completes.
    if (options.direction === 'push' && plan.manifestMissing) {
      const sending = Object.fromEntries(plan.transfer.map((rp) => [rp, { md5: plan.local.get(rp)!.md5, size: plan.local.get(rp)!.size }]));
      regState(repo).writeFile(pendingRel(plan.remote.name, plan.ref.rel), JSON.stringify({ files: { ...plan.pending, ...sending } }) + '\n');
    }
    const outcome = await runTransfersWithProgress(ctx, tasks, plan.remote, { phase, label });
    if (outcome.fatal) throw outcome.fatal;
    failures.push(...outcome.failed);
    row.bytes += outcome.bytes;
  }
  if (failures.length > 0) {
    throw new RegError('sync.transfer-failed', failures.some((f) => f.integrity) ? 'integrity' : 'transfer', `sync ${options.direction} of ${plan.ref.rel}: ${failures.length} of ${tasks.length} files failed:\n${failures.slice(0, 20).map((f) => `  ${f.key}: ${f.error}`).join('\n')}`, {
      hint: `run the same command again: files already transferred are not sent twice${options.direction === 'push' ? ' (the remote manifest was not updated)' : ''}`,
      details: failures,
    });
  }
  if (options.direction === 'push') {
    for (const rp of plan.remove) await backend.delete(`${plan.base}/${rp}`);
  } else {
    for (const rp of plan.remove) fs.remove(localRel(rp));
    // Remove directories the deletion left empty (never the entry itself).
    const dirs: string[] = [];
    for (const rp of plan.remove) for (let d = posix.dirname(rp); d !== '.'; d = posix.dirname(d)) dirs.push(localRel(d));
    fs.removeEmptyDirs(dirs);
  }
  let files: SyncFiles;
  if (options.direction === 'push') {
    files = {};
    for (const [rp, f] of plan.local) files[rp] = { md5: f.md5, size: f.size };
    if (!options.delete) for (const [rp, f] of Object.entries(plan.remoteFiles)) if (!files[rp] && !plan.remoteUnknown.has(rp)) files[rp] = f;
    const removed = new Set(plan.remove);
    const unknownKept = [...plan.remoteUnknown].filter((rp) => !files[rp] && !removed.has(rp));
    if (unknownKept.length === 0 || !plan.manifestMissing) {
      await commitManifest(plan, serializeSyncManifest(plan.ref.rel, files, new Date()), ctx.signal);
    }
  } else {
    files = {};
    // Local files the remote no longer has, unchanged since they were last synced, stay known as
    // synced copies (so a later `pull --delete` may remove them without --force).
    const previous = readState(repo, plan.remote.name, plan.ref.rel);
    const removed = new Set(plan.remove);
    for (const [rp, l] of plan.local) {
      if (removed.has(rp) || plan.remoteFiles[rp] !== undefined) continue;
      if (previous?.files[rp]?.md5 === l.md5) files[rp] = previous.files[rp]!;
    }
    for (const [rp, r] of Object.entries(plan.remoteFiles)) {
      const got = received.get(rp);
      if (got) files[rp] = got;
      else if (!plan.remoteUnknown.has(rp)) files[rp] = r;
      else {
        const l = plan.local.get(rp);
        if (l) files[rp] = { md5: l.md5, size: l.size };
      }
    }
  }
  regState(repo).writeFile(stateRel(plan.remote.name, plan.ref.rel), JSON.stringify({ remote: plan.remote.name, key: plan.base, files, syncedAt: new Date().toISOString() } satisfies SyncState, null, 1) + '\n');
  regState(repo).remove(pendingRel(plan.remote.name, plan.ref.rel));
  result.transferred += plan.transfer.length;
  result.deleted += plan.remove.length;
  result.bytes += row.bytes;
}

/** Where the push locks of an entry live: beside the entries, never inside one (listings of an entry do not see them). */
function lockDir(plan: Planned): string {
  return joinKey(plan.ref.area.prefix, '.reg-sync-locks', plan.ref.name);
}

function changedWhilePushing(plan: Planned, why: string): RegError {
  return new RegError('sync.conflict', 'conflict', `sync push of ${plan.ref.rel} refused: ${why}`, {
    hint: `get the other copy first (reg sync pull ${plan.ref.rel}), or overwrite it with --force`,
  });
}

/**
 * Locks every entry the push will write, in a fixed order, then re-reads each remote manifest:
 * another push that finished between planning and locking is a conflict (exit 7) unless `force`.
 */
async function lockForPush(ctx: Context, plans: Planned[], force: boolean, locks: HeldLock[]): Promise<void> {
  for (const plan of [...plans].sort((a, b) => (a.ref.rel < b.ref.rel ? -1 : 1))) {
    const backend = plan.remote.store.backend;
    try {
      locks.push(await acquireRemoteLock(backend, lockDir(plan), `reg sync push of ${plan.ref.rel}`, { signal: ctx.signal }));
    } catch (err) {
      if (!(err instanceof LockBusyError)) throw err;
      if (err.crowd !== undefined) {
        throw new RegError('sync.lock-crowded', 'conflict', `sync push of ${plan.ref.rel} refused: the lock directory ${lockDir(plan)}/ on remote ${plan.remote.name} holds over ${MAX_CONTENDERS} lock objects, more than pushes could ever leave at once; nothing was transferred`, {
          hint: `they were planted or written by another tool: look at them and delete those under ${lockDir(plan)}/ that no push of yours is writing, then run the command again`,
        });
      }
      throw new RegError('sync.locked', 'conflict', `sync push of ${plan.ref.rel} refused: another push of it is running (${err.holder ? describeHolder(err.holder) : 'contended'}); nothing was transferred`, {
        hint: `run the command again when it is done (then pull its result first: reg sync pull ${plan.ref.rel}); a lock left by a killed push expires after ${LOCK_STALE_MS / 60_000} minutes`,
      });
    }
    const now = await readVersionedObject(backend, `${plan.base}/${SYNC_MANIFEST}`, ctx.signal);
    if (now?.version === plan.manifestVersion) continue;
    if (!force) throw changedWhilePushing(plan, 'the remote copy changed since this command compared it (another push finished meanwhile); nothing was transferred');
    plan.manifestVersion = now?.version;
  }
}

/**
 * The commit point of a push, written last: the manifest replaces exactly the version the push
 * was planned (and locked) against. With conditional writes (S3 If-Match / If-None-Match where the
 * server honours them, compare-and-swap on directories) the server enforces it; otherwise the
 * manifest is re-read under the lock first.
 */
async function commitManifest(plan: Planned, bytes: Buffer, signal?: AbortSignal): Promise<void> {
  const backend = plan.remote.store.backend;
  const key = `${plan.base}/${SYNC_MANIFEST}`;
  if (backend.putIfVersion) {
    try {
      await backend.putIfVersion(key, bytes, plan.manifestVersion, { signal });
      return;
    } catch (err) {
      if (isPreconditionFailed(err)) {
        // A retried write whose first attempt landed finds its own bytes: that is success.
        if ((await readVersionedObject(backend, key, signal))?.bytes.equals(bytes)) return;
        throw changedWhilePushing(plan, 'the remote manifest was replaced while this push ran (its lock was broken); re-check the entry');
      }
      if (!isConditionalWritesUnsupported(err)) throw err;
    }
  }
  const now = await readVersionedObject(backend, key, signal);
  if (now?.version !== plan.manifestVersion) throw changedWhilePushing(plan, 'the remote manifest was replaced while this push ran (its lock was broken); re-check the entry');
  await backend.putBytes(key, bytes, { signal });
}

/**
 * `reg sync push|pull`: plans every entry first (hash local files, one GET of each remote
 * manifest), refuses as a whole if any entry would clobber unseen changes (unless `force`),
 * then transfers only files whose md5 differs, in parallel, and writes each manifest last.
 */
export async function sync(ctx: Context, options: SyncOptions): Promise<SyncResult> {
  const repo = openRepo(ctx);
  const { areas } = registryPolicy(repo.config.data);
  const remotes = new Map<string, OpenedRemote>();
  const remoteFor = (area: Area): OpenedRemote => {
    const name = resolveRemoteName(repo, options.remote ?? area.remote);
    let r = remotes.get(name);
    if (!r) {
      r = openRemote(repo, ctx, { remote: name, jobs: options.jobs, retry: options.retry, wrapBackend: options.wrapBackend, write: options.direction === 'push' });
      remotes.set(name, r);
    }
    return r;
  };
  const result: SyncResult = { direction: options.direction, dryRun: Boolean(options.dryRun), entries: [], transferred: 0, deleted: 0, bytes: 0 };
  const locks: HeldLock[] = [];
  try {
    const refs = await resolveEntries(repo, ctx, areas, options.targets, options.direction, remoteFor);
    const plans: Planned[] = [];
    ctx.progress({ type: 'start', phase: 'sync-plan', label: 'comparing with the remote', total: refs.length });
    try {
      for (const ref of refs) {
        ctx.signal?.throwIfAborted();
        const p = await planEntry(repo, ctx, ref, remoteFor(ref.area), options);
        if (p) plans.push(p);
        ctx.progress({ type: 'advance', phase: 'sync-plan', done: 1 });
      }
    } finally {
      ctx.progress({ type: 'end', phase: 'sync-plan' });
    }
    const conflicts = plans.map((p) => p.conflict).filter((c): c is SyncConflict => c !== undefined);
    if (conflicts.length > 0 && !options.force) {
      const lines = conflicts.map((c) => `  ${c.entry}: ${c.reason}: ${c.files.slice(0, 5).join(', ')}${c.files.length > 5 ? `, ... (${c.files.length} files)` : ''}`).join('\n');
      throw new RegError('sync.conflict', 'conflict', `sync ${options.direction} refused, nothing was transferred:\n${lines}`, {
        hint: options.direction === 'push'
          ? `get the other copy first (reg sync pull ${conflicts[0]!.entry}), or overwrite it with --force`
          : `save your local changes elsewhere (or push them: reg sync push ${conflicts[0]!.entry}), or overwrite them with --force`,
        details: conflicts,
      });
    }
    if (options.direction === 'push' && !options.dryRun) {
      const writing = plans.filter((p) => p.transfer.length > 0 || p.remove.length > 0 || p.manifestMissing || p.conflict);
      await lockForPush(ctx, writing, Boolean(options.force), locks);
    }
    for (const plan of plans) {
      const row: SyncEntryResult = {
        entry: plan.ref.rel,
        remote: plan.remote.name,
        key: plan.base,
        state: 'up-to-date',
        transferred: plan.transfer,
        deleted: plan.remove,
        unchanged: plan.unchanged,
        bytes: 0,
      };
      const work = plan.transfer.length > 0 || plan.remove.length > 0;
      if (options.dryRun) {
        row.state = work ? 'would-sync' : 'up-to-date';
        row.bytes = plan.transfer.reduce((s, rp) => s + Math.max(0, (options.direction === 'push' ? plan.local.get(rp)?.size : plan.remoteFiles[rp]?.size) ?? 0), 0);
        result.transferred += plan.transfer.length;
        result.deleted += plan.remove.length;
        result.bytes += row.bytes;
      } else if (work || plan.manifestMissing || plan.conflict) {
        await executePlan(repo, ctx, plan, options, result, row);
        row.state = work ? 'synced' : 'up-to-date';
      } else {
        // Already identical: remember that, so the guard knows this workspace has seen it.
        // The state records what the remote holds now (not what is local), so --delete later knows it saw them.
        const files = Object.fromEntries(Object.entries(plan.remoteFiles).filter(([rp]) => !plan.remoteUnknown.has(rp)));
        regState(repo).writeFile(stateRel(plan.remote.name, plan.ref.rel), JSON.stringify({ remote: plan.remote.name, key: plan.base, files, syncedAt: new Date().toISOString() } satisfies SyncState, null, 1) + '\n');
      }
      result.entries.push(row);
    }
    return result;
  } finally {
    for (const lock of locks) await lock.release().catch(() => undefined);
    for (const r of remotes.values()) r.close();
  }
}

/** What this workspace knows about a synced entry without asking the remote (for the overview). */
export function lastSyncState(repo: Repo, remote: string, entryRel: string): SyncState | undefined {
  return readState(repo, remote, entryRel);
}

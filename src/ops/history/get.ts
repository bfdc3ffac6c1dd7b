import { createReadStream, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { loadConfig, type LoadedConfig } from '../../config.js';
import { hashFile } from '../../data/hash.js';
import { type ManifestEntry } from '../../data/manifest.js';
import { RegError, configError, integrityError, isRegError, usageError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { GitPort } from '../../git/git.js';
import { BlobReader, treeFiles } from '../../git/history.js';
import { PartialRepo } from '../../git/partial-fetch.js';
import { openRepo, type Repo } from '../../repo.js';
import { Cache } from '../../store/cache.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { FILE_JOBS } from '../data/link.js';
import { POINTER_SUFFIX } from '../data/outputs.js';
import { downloadObjects, fetchError } from '../remote/fetch.js';
import { isDirectoryUrl, remotesOf } from '../remote/remote-config.js';
import { ObjectFacts, type RemoteAccessOptions } from './manifests.js';
import { OutputDir } from './output-dir.js';
import { PointerReader, commitSides, describeSide, isPointerPath, notTrackedAt, selectTarget, targetPath, type HistoryOutput, type PointerAt, type Side } from './pointers.js';

export interface GetOptions extends RemoteAccessOptions {
  /**
   * What to get: an entry, or a file or directory inside a directory entry. Relative to the
   * current directory in this repository; repo-relative with `repo`.
   */
  path: string;
  /** The revision (default: the work tree's pointers here; the default branch of `repo`). */
  rev?: string;
  /**
   * Where to write: a path (an existing directory, or a path ending in `/`, receives the
   * basename), or `-` for the `stdout` stream (one file only). Default: the basename in the
   * current directory.
   */
  out?: string;
  /** Replace an existing output path. */
  force?: boolean;
  /** Another registry: a local path or a Git URL (file://, https://, ssh://, host:path). */
  repo?: string;
  /** Where `out: '-'` writes (the CLI passes its stdout). */
  stdout?: NodeJS.WritableStream;
}

export interface GetResult {
  /** The other repository as given (credentials removed), or null for this one. */
  repo: string | null;
  /** The revision read, or null for the work tree's pointers. */
  rev: string | null;
  commit: string | null;
  /** The path fetched, repo-relative. */
  path: string;
  entry: { path: string; pointer: string; oid: string; legacy: boolean; isDir: boolean };
  type: 'file' | 'dir';
  /** Absolute path written, or `-` for stdout. */
  out: string;
  files: number;
  bytes: number;
  /** Objects downloaded (verified) and already in the cache; manifests fetched alone. */
  objects: { fetched: number; cached: number; manifests: number };
  /** The remote objects were fetched from; null when everything was in the cache. */
  remote: string | null;
  /** Where downloaded objects were kept: this registry's cache, or a temporary one (removed). */
  cache: 'registry' | 'temporary';
}

const MD5 = /^[0-9a-f]{32}$/;

/**
 * One file or sub-directory of any version, or a whole entry, fetching only the objects it needs
 * (the manifest alone, then the selected files' objects), each verified before it enters a cache;
 * nothing is written at the output path until every object is there. Directories are built in a
 * temp directory next to the output and renamed into place; files are written by temp + rename.
 */
export async function get(ctx: Context, options: GetOptions): Promise<GetResult> {
  if (options.path === undefined || options.path === '') throw usageError('get.no-path', 'name the entry, file or directory to get', { hint: 'reg get raw_datasets/mnist/train/0001.png --rev v1' });
  if (options.out === '-' && options.stdout === undefined) throw usageError('get.no-stdout', 'out "-" needs a stdout stream');
  const source = options.repo !== undefined ? await otherRepository(ctx, options) : await thisRepository(ctx, options);
  const facts = new ObjectFacts(source.repo, ctx, options);
  try {
    const { output: o, subpath } = await source.select();
    const oid = o.out.md5;
    if (oid === undefined) throw usageError('get.not-committed', `${o.pointerRel} has no hash at ${describeSide(source.side)} (the entry was never added)`, { hint: 'name a version that has data (reg log ENTRY lists them)' });
    const files = await selectedFiles(facts, o, subpath, () => notInEntry(options.path, o, source.side));
    const isDir = !(files.length === 1 && files[0]!.relpath === '');
    if (options.out === '-' && isDir) {
      throw usageError('get.dir-to-stdout', `${options.path} is a directory: only one file can go to stdout`, { hint: 'name one file, or write the directory with -o DIR' });
    }
    const dest = options.out === '-' ? '-' : outputPath(ctx, options.out, basename(source.rel === '' ? '.' : source.rel));
    if (dest !== '-') refuseExisting(dest, isDir, Boolean(options.force));

    // Every object in the cache (verified on the way in) before anything is written.
    const refs = [...new Map(files.map((f) => [f.md5, { oid: f.md5, legacy: o.legacy }])).values()];
    const missing = refs.filter((r) => source.repo.cache.locate(r.oid, r.legacy) === undefined);
    let remoteName: string | null = null;
    if (missing.length > 0) {
      const remote = facts.remote(facts.remoteNameFor(o.out.remote));
      remoteName = remote.name;
      const sizeOf = new Map(files.map((f) => [f.md5, f.size ?? 0]));
      // No file of an entry is larger than the entry: a body running longer is stopped there.
      const maxBytes = o.out.size;
      const done = await downloadObjects(ctx, remote, source.repo.cache, missing.map((ref) => ({ ref, size: sizeOf.get(ref.oid) ?? 0, ...(maxBytes !== undefined ? { maxBytes } : {}) })), { phase: 'get', label: `fetching ${missing.length} object${missing.length === 1 ? '' : 's'} from ${remote.name}` });
      if (done.fatal) throw done.fatal;
      if (done.failures.length > 0) {
        throw fetchError('get', { remotes: [remote.name], fetched: done.fetched.size, skipped: refs.length - missing.length, failed: done.failures.length, bytes: 0, outputs: [], failures: done.failures }, remote.secrets, { failures: done.failures });
      }
    }
    const written = dest === '-' ? await streamOut(source.repo.cache, files[0]!.md5, o.legacy, options.stdout!, ctx.signal) : await writeOut(ctx, source.repo.cache, o, files, dest, isDir, Boolean(options.force));
    return {
      repo: source.shown,
      rev: source.side.kind === 'commit' ? source.side.rev : null,
      commit: source.side.kind === 'commit' ? source.side.commit : null,
      path: source.rel,
      entry: { path: o.dataRel, pointer: o.pointerRel, oid, legacy: o.legacy, isDir: o.isDir },
      type: isDir ? 'dir' : 'file',
      out: dest,
      files: files.length,
      bytes: written,
      objects: { fetched: missing.length, cached: refs.length - missing.length, manifests: facts.fetchedManifests },
      remote: remoteName,
      cache: source.temporaryCache ? 'temporary' : 'registry',
    };
  } finally {
    facts.close();
    source.close();
  }
}

/** Where the versions come from: this repository or a partial fetch of another one. */
interface Source {
  repo: Repo;
  side: Side;
  /** The target, repo-relative. */
  rel: string;
  /** The other repository as shown in messages; null for this one. */
  shown: string | null;
  temporaryCache: boolean;
  /** The output holding the target and the path inside it. */
  select(): Promise<{ output: HistoryOutput; subpath: string }>;
  close(): void;
}

async function thisRepository(ctx: Context, options: GetOptions): Promise<Source> {
  const repo = openRepo(ctx);
  const side: Side = options.rev === undefined ? { kind: 'workspace' } : (await commitSides(repo, [options.rev]))[0]!;
  const rel = targetPath(repo, ctx, options.path);
  const reader = new PointerReader(repo);
  return {
    repo,
    side,
    rel,
    shown: null,
    temporaryCache: false,
    select: async () => pickOutput(await reader.pointersAt(side), rel, options.path, side),
    close: () => reader.close(),
  };
}

/**
 * Another registry, read through a partial fetch of one revision (commit and trees; only the
 * blobs needed: `.reg/config.yaml` and the pointers that may hold the target). Its tracked config
 * names the remote; its `config.local.yaml` is never read (it is not in Git, and secrets come
 * from the caller's environment or AWS chain only).
 */
async function otherRepository(ctx: Context, options: GetOptions): Promise<Source> {
  const partial = await PartialRepo.open(options.repo!, options.rev, { cwd: ctx.cwd, signal: ctx.signal });
  let tempCache: string | undefined;
  let reader: PointerReader | undefined;
  const close = () => {
    reader?.close();
    partial.close();
    if (tempCache) rmSync(tempCache, { recursive: true, force: true });
  };
  try {
    const rel = repoPath(options.path);
    const side: Side = { kind: 'commit', rev: partial.rev, commit: partial.commit };
    const tree = await treeFiles(partial.dir, partial.commit, (p) => p === '.reg/config.yaml' || isPointerPath(p));
    const configEntry = tree.find((e) => e.path === '.reg/config.yaml' && e.type === 'blob');
    if (configEntry === undefined) {
      throw configError('get.not-a-registry', `${partial.source} has no .reg/config.yaml at ${partial.rev}: it is not a reg registry`, { hint: 'name a repository set up with reg init (and a remote)' });
    }
    // Pointers named like the target or a directory above it: `a/b.dvc` for `a/b/c.png`.
    const pointers = tree.filter((e) => e.path !== '.reg/config.yaml');
    const near = pointers.filter((e) => {
      const base = e.path.slice(0, -POINTER_SUFFIX.length);
      return rel === base || rel.startsWith(base + '/') || rel === '';
    });
    await partial.fetchBlobs([configEntry.oid, ...near.map((e) => e.oid)]);
    let cache: Cache;
    let local: Repo | undefined;
    try {
      local = openRepo(ctx);
    } catch (err) {
      if (!isRegError(err) || (err.code !== 'repo.not-git' && err.code !== 'repo.not-reg')) throw err;
    }
    if (local) cache = local.cache;
    else {
      tempCache = mkdtempSync(join(tmpdir(), 'reg-get-cache-'));
      cache = new Cache(tempCache);
    }
    const regDir = join(partial.dir, 'reg-config');
    mkdirSync(regDir);
    const blobs = new BlobReader(partial.dir);
    const configText = await blobs.read(configEntry.oid).finally(() => blobs.close());
    if (!Buffer.isBuffer(configText)) throw configError('get.bad-config', `${partial.source}: .reg/config.yaml at ${partial.rev} cannot be read (${configText})`);
    writeFileSync(join(regDir, 'config.yaml'), configText);
    const config = foreignConfig(loadConfig(regDir), partial);
    const repo: Repo = { root: partial.dir, regDir, config, cache, git: new GitPort(partial.dir), statDir: join(regDir, 'stat'), linkTypes: ['reflink', 'copy'] };
    const r = (reader = new PointerReader(repo));
    const readAll = (list: typeof pointers) => Promise.all(list.map((e) => r.pointerFromBlob(e.path, e.oid, partial.commit, e.mode)));
    return {
      repo,
      side,
      rel,
      shown: partial.source,
      temporaryCache: tempCache !== undefined,
      select: async () => {
        try {
          return pickOutput(await readAll(near), rel, options.path, side);
        } catch (err) {
          if (!isRegError(err) || err.code !== 'target.not-tracked') throw err;
        }
        // A pointer whose `path:` differs from its own name: read every pointer (fetched in one request).
        await partial.fetchBlobs(pointers.map((e) => e.oid));
        return pickOutput(await readAll(pointers), rel, options.path, side);
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

/** A repo-relative path given for `--repo` (no absolute path, no `..`). */
function repoPath(path: string): string {
  const rel = path.replace(/\/+$/, '').replace(/^(\.\/)+/, '');
  const clean = rel.endsWith(POINTER_SUFFIX) ? rel.slice(0, -POINTER_SUFFIX.length) : rel;
  if (clean.startsWith('/') || clean.split('/').some((s) => s === '..' || s === '') || clean.includes('\0')) {
    throw usageError('get.bad-path', `${path}: with --repo, name a path inside that repository (relative to its root, no "..")`);
  }
  return clean;
}

/** Options of another registry's remote that reg get --repo ignores (see foreignConfig). */
export const FOREIGN_IGNORED_OPTIONS = ['profile', 'read-timeout', 'connect-timeout', 'retry-budget', 'jobs'] as const;

/**
 * The remote settings of another repository are untrusted input: options that name local files
 * (credential-path, config-path, a CA bundle) are refused; `profile` and the timeout, retry and
 * concurrency options are ignored (the caller's AWS_PROFILE and reg's defaults apply); a relative
 * directory remote is resolved against that repository's `.reg/` only when it is a local work
 * tree. See docs/security.md.
 */
function foreignConfig(config: LoadedConfig, partial: PartialRepo): LoadedConfig {
  const where = `${partial.source}: .reg/config.yaml at ${partial.rev}`;
  for (const [name, opts] of Object.entries(remotesOf(config.data))) {
    // Which of the caller's AWS identities signs requests is the caller's choice (AWS_PROFILE), not
    // the stranger's; and a stranger's timeouts, retry budget and concurrency could make a
    // stalling server hang the caller for days: reg's defaults apply.
    for (const key of FOREIGN_IGNORED_OPTIONS) delete opts[key];
    for (const key of ['credential-path', 'config-path']) {
      if (opts[key] !== undefined) throw configError('get.foreign-file-option', `${where}: remotes.${name}.${key} names a file on this machine; reg get --repo does not use it`, { hint: 'set AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE in your environment instead' });
    }
    if (opts['ssl-verify'] !== undefined && typeof opts['ssl-verify'] !== 'boolean' && !/^(true|false)$/i.test(String(opts['ssl-verify']))) {
      throw configError('get.foreign-file-option', `${where}: remotes.${name}.ssl-verify names a CA bundle file; reg get --repo does not use it`, { hint: 'set AWS_CA_BUNDLE in your environment instead' });
    }
    const url = opts.url;
    if (typeof url === 'string' && isDirectoryUrl(url)) {
      const path = url.toLowerCase().startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
      if (!path.startsWith('/')) {
        const regDir = partial.localPath !== undefined ? join(partial.localPath, '.reg') : undefined;
        if (regDir === undefined || !isDirectory(regDir)) {
          throw configError('get.foreign-relative-remote', `${where}: remote ${name} is the relative directory ${url}, which only means something inside that repository's work tree`, { hint: 'give --repo the path of a work tree of that repository, or give its remote an absolute path' });
        }
        opts.url = resolve(regDir, path);
      }
    }
  }
  return config;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The one output holding `rel` among the pointers read, and the path inside it. */
function pickOutput(pointers: readonly PointerAt[], rel: string, shownTarget: string, side: Side): { output: HistoryOutput; subpath: string } {
  const outputs = pointers.flatMap((p) => (p.output ? [p.output] : []));
  const sel = selectTarget(outputs, rel);
  // A pointer that could not be read and names the target (or a directory above it) is the answer.
  const broken = pointers.find((p) => p.error && (p.pointerRel === `${rel}${POINTER_SUFFIX}` || rel.startsWith(p.pointerRel.slice(0, -POINTER_SUFFIX.length) + '/')));
  if (sel.inside) return { output: sel.inside.output, subpath: sel.inside.subpath };
  if (sel.outputs.length === 1 && (sel.outputs[0]!.dataRel === rel || sel.outputs[0]!.pointerRel === rel + POINTER_SUFFIX)) return { output: sel.outputs[0]!, subpath: '' };
  if (broken) throw broken.error!;
  if (sel.outputs.length > 0) {
    throw usageError('get.several-entries', `${shownTarget} holds ${sel.outputs.length} entries (${sel.outputs.slice(0, 3).map((o) => o.dataRel).join(', ')}${sel.outputs.length > 3 ? ', ...' : ''}); get one at a time`, {
      hint: 'name one entry, or a file or directory inside one',
    });
  }
  throw notTrackedAt(shownTarget, [side]);
}

function notInEntry(target: string, o: HistoryOutput, side: Side): RegError {
  return usageError('get.no-such-path', `${target} is not in ${o.dataRel} at ${side.kind === 'commit' ? side.rev : 'the workspace version'}`, {
    hint: `list the entry: reg ls ${o.dataRel}${side.kind === 'commit' ? ` --rev ${side.rev}` : ''}`,
  });
}

/** The files to write, relative to the output: the whole entry, one file (relpath ''), or a sub-directory. */
async function selectedFiles(facts: ObjectFacts, o: HistoryOutput, subpath: string, notFound: () => RegError): Promise<Array<ManifestEntry & { size?: number }>> {
  if (!o.isDir) {
    if (!MD5.test(o.out.md5!)) throw configError('pointer.bad-md5', `${o.pointerRel}: md5 ${JSON.stringify(o.out.md5)} is not 32 hex digits`);
    return [{ relpath: '', md5: o.out.md5!, ...(o.out.size !== undefined ? { size: o.out.size } : {}) }];
  }
  const ref = { oid: o.out.md5!, legacy: o.legacy };
  let picked: ManifestEntry[];
  if (subpath === '') picked = await facts.manifest(ref, o.out.remote);
  else {
    // Only the entries at or below the target are validated (and can be a file and a directory
    // at once only as an error): nothing else of the manifest is written.
    const entries = await facts.manifestAt(ref, subpath, o.out.remote);
    picked = entries.map((e) => ({ relpath: e.relpath.slice(subpath.length + 1), md5: e.md5 }));
  }
  if (picked.length === 0) {
    if (subpath !== '') throw notFound();
    throw usageError('get.empty', `${o.dataRel} is an empty directory at this version: nothing to get`);
  }
  return picked;
}

/** `-o` as an absolute path: an existing directory or a path ending in `/` receives `name`. */
function outputPath(ctx: Context, out: string | undefined, name: string): string {
  if (out === undefined) return resolve(ctx.cwd, name);
  const abs = resolve(ctx.cwd, out);
  return out.endsWith('/') || isDirectory(abs) ? join(abs, name) : abs;
}

function refuseExisting(dest: string, isDir: boolean, force: boolean): void {
  const st = lstatSync(dest, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (!force) {
    throw new RegError('get.exists', 'conflict', `${dest} already exists; nothing was written`, { hint: 'choose another path with -o, or replace it with --force' });
  }
  if (!isDir && st.isDirectory()) {
    throw new RegError('get.exists', 'conflict', `${dest} is a directory; a file cannot replace it`, { hint: 'remove it first, or choose another path with -o' });
  }
}

/** Writes the files (from the cache) at `dest`, replacing what is there only with force; returns the bytes written. */
async function writeOut(ctx: Context, cache: Cache, o: HistoryOutput, files: ReadonlyArray<ManifestEntry>, dest: string, isDir: boolean, force: boolean): Promise<number> {
  if (!isDir) {
    await cache.materialize(files[0]!.md5, o.legacy, OutputDir.prepareFile(dest), ['reflink', 'copy'], !o.isDir && Boolean(o.out.isexec));
    return statSync(dest).size;
  }
  const out = OutputDir.fresh(dest);
  let bytes = 0;
  try {
    ctx.progress({ type: 'start', phase: 'get-write', label: `writing ${dest}`, total: files.length });
    try {
      await mapLimit(files, FILE_JOBS, async (f) => {
        ctx.signal?.throwIfAborted();
        const target = out.prepareWrite(f.relpath);
        await cache.materialize(f.md5, o.legacy, target, ['reflink', 'copy']);
        bytes += statSync(target).size;
        ctx.progress({ type: 'advance', phase: 'get-write', done: 1 });
      });
    } finally {
      ctx.progress({ type: 'end', phase: 'get-write' });
    }
    out.publish(force);
  } catch (err) {
    out.discard();
    throw err;
  }
  return bytes;
}

/**
 * One object to a stream (a pipe): the cache copy is hashed first, since bytes once sent cannot
 * be taken back. A reader that goes away ends the copy quietly.
 */
async function streamOut(cache: Cache, md5: string, legacy: boolean, sink: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const ref: ObjRef = { oid: md5, legacy };
  const path = cache.locate(md5, legacy);
  if (path === undefined) throw new RegError('cache.missing-object', 'failed', `object ${refKey(ref)} left the cache`);
  const legacyHash = legacy && path === cache.objectPath(md5, true);
  const { md5: actual } = await hashFile(path, legacyHash);
  if (actual !== md5) {
    const moved = cache.quarantine(md5, legacy);
    throw integrityError('get.corrupt-object', `cache object ${md5} is corrupt (its bytes hash to ${actual}); nothing was written; it was moved to ${moved}`, { hint: 'run the command again: the object is fetched from the remote' });
  }
  let bytes = 0;
  const closed = new Promise<void>((res) => {
    (sink as NodeJS.WritableStream & { once(e: string, f: () => void): void }).once('close', res);
  });
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
    if (!(sink as { writable?: boolean }).writable) break;
    bytes += (chunk as Buffer).length;
    if (!sink.write(chunk as Buffer)) await Promise.race([once(sink as unknown as NodeJS.EventEmitter, 'drain'), closed]);
  }
  return bytes;
}

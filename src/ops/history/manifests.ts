import { readFileSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Context } from '../../context.js';
import { parseManifest, selectManifestEntries, type ManifestEntry } from '../../data/manifest.js';
import { RegError, isRegError } from '../../errors.js';
import type { Repo } from '../../repo.js';
import { isNotFound, type Backend } from '../../store/backend.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import { DEFAULT_RETRY, describeError, withRetry, type RetryPolicy } from '../../store/transfer.js';
import { mapLimit } from '../../fsutil.js';
import { readRegMemoJson, writeRegMemo } from '../../workspace/reg-memo.js';
import { listCacheOids } from '../data/scan.js';
import { openRemote, resolveRemoteName, type OpenedRemote } from '../remote/open-remote.js';
import { redact } from '../remote/remote-config.js';

const MD5 = /^[0-9a-f]{32}$/;

export interface RemoteAccessOptions {
  /** Remote to ask (default: the pointer's `remote:` field, else core.remote). */
  remote?: string;
  jobs?: number;
  retry?: RetryPolicy;
  /** Wraps the backend (tests count requests; tools can instrument). */
  wrapBackend?: (backend: Backend) => Backend;
}

/**
 * Directory manifests of any version, and object facts, without data transfers: a manifest comes
 * from the local cache, else its `.dir` object alone is downloaded from the remote, verified
 * against its oid (ObjectStore.download) and kept in the cache. Remotes are opened only when
 * first needed, so a command whose manifests are all cached never needs credentials.
 */
export class ObjectFacts {
  private readonly remotes = new Map<string, OpenedRemote>();
  private readonly manifests = new Map<string, Promise<ManifestEntry[]>>();
  /** `.dir` objects downloaded from remotes by this instance. */
  fetchedManifests = 0;

  constructor(private readonly repo: Repo, private readonly ctx: Context, private readonly options: RemoteAccessOptions = {}) {}

  /** The remote a version's objects live on: the option, else the pointer's `remote:`, else core.remote. */
  remoteNameFor(pointerRemote: string | undefined): string {
    return resolveRemoteName(this.repo, this.options.remote ?? pointerRemote);
  }

  remote(name: string): OpenedRemote {
    let r = this.remotes.get(name);
    if (r === undefined) {
      r = openRemote(this.repo, this.ctx, { remote: name, jobs: this.options.jobs, retry: this.options.retry, wrapBackend: this.options.wrapBackend });
      this.remotes.set(name, r);
    }
    return r;
  }

  /** The manifest of a `.dir` oid (memoised for the command). */
  manifest(ref: ObjRef, pointerRemote?: string): Promise<ManifestEntry[]> {
    const key = refKey(ref);
    let p = this.manifests.get(key);
    if (p === undefined) {
      p = this.loadManifest(ref, pointerRemote);
      this.manifests.set(key, p);
      // A failure is not remembered: a retry of the command (or a later call) may succeed.
      p.catch(() => this.manifests.delete(key));
    }
    return p;
  }

  /**
   * The entries of a `.dir` oid at or below `subpath` (selectManifestEntries): only those are
   * validated, for commands that write nothing else (get of a file or sub-directory).
   */
  async manifestAt(ref: ObjRef, subpath: string, pointerRemote?: string): Promise<ManifestEntry[]> {
    const { bytes, path } = await this.manifestBytes(ref, pointerRemote);
    return selectManifestEntries(bytes, subpath, path);
  }

  private async loadManifest(ref: ObjRef, pointerRemote: string | undefined): Promise<ManifestEntry[]> {
    const { bytes, path } = await this.manifestBytes(ref, pointerRemote);
    return parseManifest(bytes, path);
  }

  /**
   * The bytes of a `.dir` object, checked against its oid before they are used: from the cache
   * (Cache.readManifestBytes), else downloaded alone from the remote (verified on the way into
   * the cache). Not parsed: see parseManifest, diffCanonicalManifests.
   */
  async manifestBytes(ref: ObjRef, pointerRemote?: string): Promise<{ bytes: Buffer; path: string }> {
    const cached = this.repo.cache.readManifestBytes(ref.oid, ref.legacy);
    if (cached !== undefined) return cached;
    let name: string;
    try {
      name = this.remoteNameFor(pointerRemote);
    } catch (err) {
      if (!isRegError(err)) throw err;
      throw new RegError('history.manifest-unavailable', 'config', `directory manifest ${ref.oid} is not in the cache and no remote is configured to fetch it from`, {
        hint: 'add the remote the data was pushed to (reg remote add NAME URL --default), or fetch the version in a clone that has it',
      });
    }
    const remote = this.remote(name);
    try {
      const { path } = await withRetry(() => remote.store.download(ref, this.repo.cache, undefined, this.ctx.signal), this.options.retry ?? DEFAULT_RETRY, this.ctx.signal);
      this.fetchedManifests++;
      return { bytes: readFileSync(path), path };
    } catch (err) {
      if (isRegError(err)) throw err;
      if (isNotFound(err)) {
        throw new RegError('history.manifest-missing', 'transfer', `directory manifest ${ref.oid} is neither in the cache nor on the remote ${remote.name} (${redact(remote.store.description, remote.secrets)})`, {
          hint: 'the version was never pushed: run `reg push` in a clone whose cache has it (or name another remote with -r)',
          details: { key: refKey(ref), remote: remote.name },
        });
      }
      if (this.ctx.signal?.aborted) throw err;
      throw new RegError('history.manifest-fetch', 'transfer', redact(`cannot download directory manifest ${ref.oid} from ${remote.name}: ${describeError(err)}`, remote.secrets), {
        hint: 'check the network and the remote settings (reg remote list), then retry',
      });
    }
  }

  /**
   * Sizes of file objects in the local cache (undefined where the cache lacks one). For many
   * objects, a sample decides: when most are absent (a clone that fetched manifests only), the
   * cache is listed once (256 readdirs per layout) so absent objects cost no stat each.
   */
  cachedSizes(md5s: readonly string[], legacy: boolean): Array<number | undefined> {
    const root = this.repo.cache.root;
    const bases = legacy ? [{ dir: root, legacy: true }, { dir: join(root, 'files', 'md5'), legacy: false }] : [{ dir: join(root, 'files', 'md5'), legacy: false }];
    const prefixDirs = new Map<string, string>();
    let listed: Array<Set<string>> | undefined;
    const sizeOf = (md5: string): number | undefined => {
      if (!MD5.test(md5)) return undefined;
      for (let k = 0; k < bases.length; k++) {
        if (listed && !listed[k]!.has(md5)) continue;
        const key = `${k}${md5.slice(0, 2)}`;
        let dir = prefixDirs.get(key);
        if (dir === undefined) prefixDirs.set(key, (dir = join(bases[k]!.dir, md5.slice(0, 2)) + sep));
        const st = statSync(dir + md5.slice(2), { throwIfNoEntry: false });
        if (st?.isFile()) return st.size;
      }
      return undefined;
    };
    const SAMPLE = 100;
    const sizes = md5s.slice(0, SAMPLE).map(sizeOf);
    if (md5s.length > 20 * SAMPLE && sizes.filter((x) => x !== undefined).length < SAMPLE / 2) {
      listed = bases.map((b) => listCacheOids(root, b.legacy));
    }
    for (let i = SAMPLE; i < md5s.length; i++) sizes.push(sizeOf(md5s[i]!));
    return sizes;
  }

  /**
   * Sizes of every file of a manifest, aligned with its entries (undefined where unknown). Content
   * with a given md5 has one size forever, so once known they are remembered in
   * `.reg/tmp/sizes/<oid>` and the next listing of that version reads one file instead of a stat
   * per object; only the sizes still unknown are looked up again.
   */
  manifestSizes(ref: ObjRef, entries: readonly ManifestEntry[]): Array<number | undefined> {
    let known: Array<number | null> | undefined;
    // At most 16 digits and a comma per entry; a link, FIFO or device there is not read.
    const parsed = readRegMemoJson(this.repo, `sizes/${ref.oid}`, 32 + 17 * entries.length);
    if (Array.isArray(parsed) && parsed.length === entries.length && parsed.every((x) => x === null || (Number.isSafeInteger(x) && x >= 0))) known = parsed as Array<number | null>;
    const sizes: Array<number | undefined> = known ? known.map((x) => x ?? undefined) : new Array<number | undefined>(entries.length).fill(undefined);
    const missing: number[] = [];
    sizes.forEach((x, i) => x === undefined && missing.push(i));
    if (missing.length === 0) return sizes;
    const found = this.cachedSizes(missing.map((i) => entries[i]!.md5), ref.legacy);
    let learned = false;
    missing.forEach((i, k) => {
      if (found[k] === undefined) return;
      sizes[i] = found[k];
      learned = true;
    });
    if (learned || !known) this.rememberSizes(ref.oid, sizes);
    return sizes;
  }

  /** Records sizes learned elsewhere (the remote's metadata) for manifestSizes. */
  rememberManifestSizes(ref: ObjRef, sizes: ReadonlyArray<number | undefined>): void {
    this.rememberSizes(ref.oid, sizes);
  }

  private rememberSizes(oid: string, sizes: ReadonlyArray<number | undefined>): void {
    // A read-only .reg/ only costs the next listing its stats.
    writeRegMemo(this.repo, `sizes/${oid}`, JSON.stringify(sizes.map((x) => x ?? null)));
  }

  /** Sizes from the remote's object metadata (one HEAD per object); objects it lacks are left out. */
  async remoteSizes(refs: readonly ObjRef[], remoteName: string): Promise<Map<string, number>> {
    const remote = this.remote(remoteName);
    const unique = [...new Map(refs.map((r) => [refKey(r), r])).values()];
    const sizes = new Map<string, number>();
    await mapLimit(unique, remote.jobs, async (ref) => {
      const info = await this.remoteCall(remote, () => remote.store.backend.head(refKey(ref), { signal: this.ctx.signal }), `read the size of ${ref.oid}`);
      if (info?.size !== undefined) sizes.set(refKey(ref), info.size);
    });
    return sizes;
  }

  /** Does the remote hold the object? (A `.dir` there proves its whole directory: push uploads it last.) */
  async onRemote(ref: ObjRef, remoteName: string): Promise<boolean> {
    const remote = this.remote(remoteName);
    return this.remoteCall(remote, () => remote.store.has(ref, this.ctx.signal), `check ${ref.oid}`);
  }

  private async remoteCall<T>(remote: OpenedRemote, fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await withRetry(fn, this.options.retry ?? DEFAULT_RETRY, this.ctx.signal);
    } catch (err) {
      if (isRegError(err) || this.ctx.signal?.aborted) throw err;
      throw new RegError('history.remote-query', 'transfer', redact(`cannot ${what} on the remote ${remote.name}: ${describeError(err)}`, remote.secrets), {
        hint: 'check the network and the remote settings (reg remote list), then retry',
      });
    }
  }

  close(): void {
    for (const r of this.remotes.values()) r.close();
    this.remotes.clear();
  }
}

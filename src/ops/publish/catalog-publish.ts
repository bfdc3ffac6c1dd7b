import { createHash } from 'node:crypto';
import type { Context } from '../../context.js';
import { RegError, integrityError, isRegError, usageError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo } from '../../repo.js';
import { readWholeObject, type Backend } from '../../store/backend.js';
import { DEFAULT_RETRY, describeError, fanOutSignal, withRetry } from '../../store/transfer.js';
import { MAX_SITE_INDEX_BYTES, SITE_INDEX_FILE, contentTypeOf, listedSiteFiles, type SiteFile } from '../../catalog/site.js';
import { openRemote, type OpenedRemote } from '../remote/open-remote.js';
import { redact } from '../remote/remote-config.js';
import { catalogSite } from './catalog-build.js';
import type { CatalogSourceOptions } from './catalog-source.js';

export interface CatalogPublishOptions extends CatalogSourceOptions {
  /** The remote to publish to (default: the default remote). */
  remote?: string;
  /** Key prefix on the remote (default `catalog/`). */
  prefix?: string;
  /** Show what would be uploaded and deleted, change nothing. */
  dryRun?: boolean;
}

export interface CatalogPublishResult {
  remote: string;
  /** The remote's location (no secrets) and the prefix. */
  location: string;
  prefix: string;
  rev: string;
  commit?: string;
  dryRun: boolean;
  files: number;
  /** Site files sent because they were new or their bytes differ from the remote's (with dryRun: would be). */
  uploaded: string[];
  unchanged: number;
  /** Files an earlier publish put under the prefix that the site no longer has (with dryRun: would be). */
  deleted: string[];
  bytes: number;
}

export const DEFAULT_PREFIX = 'catalog/';

/** `catalog/`, `team/catalog/`: '/'-separated plain segments, never the root or the DVC object layout. */
export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? DEFAULT_PREFIX).replace(/^\/+/, '').replace(/\/+$/, '');
  const parts = p.split('/');
  if (p === '' || parts.some((s) => s === '' || s === '.' || s === '..' || /[\0\\]/.test(s))) {
    throw usageError('catalog.prefix', `--prefix ${JSON.stringify(prefix)} must be a relative key prefix like catalog/`, { hint: 'the catalog needs its own prefix on the remote, e.g. --prefix catalog/' });
  }
  if (parts[0] === 'files' || /^[0-9a-f]{2}$/.test(parts[0]!)) {
    throw usageError('catalog.prefix', `--prefix ${p}/ is where the remote keeps data objects`, { hint: 'publish the catalog under its own prefix, e.g. --prefix catalog/' });
  }
  return p + '/';
}

/**
 * The one place publish turns a remote failure into a RegError (exit 4, secrets redacted), so
 * the remote-error classes can take over in one line.
 */
function publishFailure(remote: OpenedRemote, what: string, err: unknown): RegError {
  if (isRegError(err)) return err;
  return new RegError('catalog.publish-failed', 'transfer', redact(`cannot ${what} on the remote ${remote.name} (${remote.store.backend.description}): ${describeError(err)}`, remote.secrets), {
    hint: 'check the network and the remote settings (reg remote list), then publish again: files already sent are not sent twice',
  });
}

/**
 * The md5 of the object at `key`, read only as far as `size`, the local file's: a longer object
 * differs (its md5 is then 'longer'), however long it is.
 */
async function md5OfObject(backend: Backend, key: string, size: number, signal?: AbortSignal): Promise<string | undefined> {
  const longer = integrityError('catalog.longer-object', `${key} is longer than the file`);
  try {
    const bytes = await readWholeObject(backend, key, { ...(signal ? { signal } : {}), limit: { maxBytes: size, tooBig: () => longer } });
    return bytes === undefined ? undefined : createHash('md5').update(bytes).digest('hex');
  } catch (err) {
    if (err === longer) return 'longer';
    throw err;
  }
}

function siteIndexTooBig(remote: OpenedRemote, prefix: string): RegError {
  return new RegError('catalog.bad-site-index', 'integrity', redact(`${prefix}${SITE_INDEX_FILE} on the remote ${remote.name} (${remote.store.backend.description}) is larger than 64 MiB: not a site index reg wrote`, remote.secrets), {
    hint: `delete ${prefix}${SITE_INDEX_FILE} on the remote (files an earlier publish left there are then kept, not deleted), then publish again`,
  });
}

/**
 * `reg catalog publish`: builds the site and uploads it under a prefix of a remote, sending only
 * files whose md5 differs from what is there (S3 listings give single-part ETags; objects without
 * one, as on directory remotes, are read and hashed). Uploads are verified puts (the bytes must
 * hash to the md5 computed at build time); the prefix's `.reg-catalog.json` is written last, and
 * files an earlier publish listed there that the site no longer has are deleted (nothing else).
 */
export async function catalogPublish(ctx: Context, options: CatalogPublishOptions = {}): Promise<CatalogPublishResult> {
  const repo = openRepo(ctx);
  const prefix = normalizePrefix(options.prefix);
  const synced = registryPolicy(repo.config.data).areas.find((a) => a.mode === 'synced' && (prefix.startsWith(`${a.prefix}/`) || `${a.prefix}/`.startsWith(prefix)));
  if (synced) {
    throw usageError('catalog.prefix', `--prefix ${prefix} overlaps ${synced.prefix}/, where the synced area ${synced.name} keeps its files on the remote`, { hint: 'publish the catalog under a prefix of its own, e.g. --prefix catalog/' });
  }
  const site = await catalogSite(ctx, options);
  const remote = openRemote(repo, ctx, { remote: options.remote, jobs: options.jobs, wrapBackend: options.wrapBackend });
  const backend = remote.store.backend;
  const retry = options.retry ?? DEFAULT_RETRY;
  // Every parallel request listens on the signal: more than Node's warning threshold.
  const fan = fanOutSignal(ctx.signal);
  const signal = fan.signal;
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    withRetry(fn, retry, signal).catch((err: unknown) => {
      if (signal?.aborted) throw err;
      throw publishFailure(remote, what, err);
    });
  try {
    const there = new Map<string, string | undefined>();
    await call(`list ${prefix}`, async () => {
      there.clear();
      for await (const page of backend.list(prefix, { signal })) for (const o of page) there.set(o.key.slice(prefix.length), o.md5);
    });
    const marker = site.files.find((f) => f.path === SITE_INDEX_FILE)!;
    const pages = site.files.filter((f) => f !== marker);
    const changed: SiteFile[] = [];
    await mapLimit(pages, remote.jobs, async (f) => {
      if (!there.has(f.path)) return void changed.push(f);
      const md5 = there.get(f.path) ?? (await call(`read ${prefix}${f.path}`, () => md5OfObject(backend, prefix + f.path, f.data.length, signal)));
      if (md5 !== f.md5) changed.push(f);
    });
    changed.sort((a, b) => (a.path < b.path ? -1 : 1));
    const current = new Set(site.files.map((f) => f.path));
    const before = there.has(SITE_INDEX_FILE) ? await call(`read ${prefix}${SITE_INDEX_FILE}`, () => readWholeObject(backend, prefix + SITE_INDEX_FILE, { ...(signal ? { signal } : {}), limit: { maxBytes: MAX_SITE_INDEX_BYTES, tooBig: () => siteIndexTooBig(remote, prefix) } })) : undefined;
    const stale = listedSiteFiles(before).filter((p) => !current.has(p) && there.has(p)).sort();
    const markerChanged = before === undefined || !before.equals(marker.data);
    const result: CatalogPublishResult = {
      remote: remote.name,
      location: `${redact(backend.description, remote.secrets)} ${prefix}`,
      prefix,
      rev: site.rev,
      ...(site.commit ? { commit: site.commit } : {}),
      dryRun: Boolean(options.dryRun),
      files: site.files.length,
      uploaded: [...changed.map((f) => f.path), ...(markerChanged ? [marker.path] : [])],
      unchanged: pages.length - changed.length + (markerChanged ? 0 : 1),
      deleted: stale,
      bytes: changed.reduce((n, f) => n + f.data.length, 0) + (markerChanged ? marker.data.length : 0),
    };
    if (options.dryRun) return result;
    const put = (f: SiteFile) => call(`upload ${prefix}${f.path}`, () => backend.putBytes(prefix + f.path, f.data, { expectMd5: f.md5, contentType: contentTypeOf(f.path), signal }));
    await mapLimit(changed, remote.jobs, put);
    for (const p of stale) await call(`delete ${prefix}${p}`, () => backend.delete(prefix + p));
    if (markerChanged) await put(marker);
    return result;
  } finally {
    fan.dispose();
    remote.close();
  }
}

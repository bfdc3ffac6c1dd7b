import type { Context } from '../../context.js';
import { RegError, isRegError } from '../../errors.js';
import type { Repo } from '../../repo.js';
import type { ObjRef } from '../../store/object-store.js';
import type { ObjectFacts } from '../history/manifests.js';
import { downloadObjects } from '../remote/fetch.js';
import { failureLines } from '../remote/push.js';
import { redact } from '../remote/remote-config.js';
import type { EntryVersion } from './entry-version.js';

/** One file of a published version: its path inside the entry (a file entry: its own name) and its DVC md5. */
export interface PublishedFile {
  relpath: string;
  md5: string;
}

/** The files of the version, in manifest (code point) order; the manifest comes from the cache or, verified, from the remote. */
export async function versionFiles(facts: ObjectFacts, version: EntryVersion): Promise<PublishedFile[]> {
  const o = version.output;
  if (!o.isDir) return [{ relpath: version.entryName, md5: o.out.md5! }];
  return facts.manifest({ oid: o.out.md5!, legacy: o.legacy }, o.out.remote);
}

/**
 * Makes every object of the version present in the local cache: the missing ones are downloaded
 * from the entry's remote and verified against their md5 before they enter the cache (as
 * `reg fetch` does). Returns the size of each file (aligned with `files`) and how many objects
 * were downloaded. Throws exit 6 when the remote holds corrupt bytes, exit 4 when objects are
 * missing there or the transfer failed.
 */
export async function cacheVersionObjects(repo: Repo, ctx: Context, facts: ObjectFacts, version: EntryVersion, files: readonly PublishedFile[]): Promise<{ sizes: number[]; fetched: number }> {
  const legacy = version.output.legacy;
  let sizes = facts.cachedSizes(files.map((f) => f.md5), legacy);
  const missing = new Map<string, ObjRef>();
  files.forEach((f, i) => {
    if (sizes[i] === undefined) missing.set(f.md5, { oid: f.md5, legacy });
  });
  let fetched = 0;
  if (missing.size > 0) {
    let name: string;
    try {
      name = facts.remoteNameFor(version.output.out.remote);
    } catch (err) {
      if (!isRegError(err)) throw err;
      throw new RegError('publish.objects-unavailable', 'config', `${missing.size} file${missing.size === 1 ? '' : 's'} of ${version.output.dataRel} at ${version.rev ?? version.commit.slice(0, 10)} are not in the cache and no remote is configured to fetch them from`, {
        hint: 'add the remote the data was pushed to (reg remote add NAME URL --default), or run the command where the data was added',
      });
    }
    const remote = facts.remote(name);
    // No object of the version holds more than its recorded size: a body running past it is stopped.
    const bound = version.output.out.size !== undefined ? { maxBytes: version.output.out.size } : {};
    const done = await downloadObjects(ctx, remote, repo.cache, [...missing.values()].map((ref) => ({ ref, size: 0, ...bound })), { phase: 'fetch', label: `fetching ${missing.size} object${missing.size === 1 ? '' : 's'} from ${remote.name}` });
    if (done.fatal) throw done.fatal;
    fetched = done.fetched.size;
    if (done.failures.length > 0) {
      const failures = done.failures;
      const integrity = failures.some((f) => f.integrity);
      throw new RegError(integrity ? 'publish.integrity' : 'publish.fetch-incomplete', integrity ? 'integrity' : 'transfer', redact(`${failures.length} object${failures.length === 1 ? '' : 's'} of ${version.output.dataRel} could not be fetched from ${remote.name}:\n${failureLines(failures)}`, remote.secrets), {
        hint: integrity
          ? `corrupt objects were discarded; from a clone whose cache has good bytes run reg verify --remote ${remote.name} --repair, then retry`
          : failures.some((f) => f.code === 'remote.missing-object')
            ? 'the version was never completely pushed: run reg push where the data was added, then retry'
            : 'check the network and the remote settings (reg remote list), then retry: objects already fetched are kept',
        details: failures,
      });
    }
    sizes = facts.cachedSizes(files.map((f) => f.md5), legacy);
  }
  const known = sizes.map((s, i) => {
    if (s === undefined) throw new RegError('cache.missing-object', 'failed', `object ${files[i]!.md5} of ${files[i]!.relpath} is not in the cache after fetching it`, { hint: 'retry; if it persists, run reg verify' });
    return s;
  });
  return { sizes: known, fetched };
}

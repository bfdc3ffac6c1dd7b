import { randomBytes } from 'node:crypto';
import { constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildManifest, md5Hex, parseManifest, type ManifestEntry } from '../data/manifest.js';
import { RegError, diskError, errnoCode, integrityError } from '../errors.js';
import { tempPathFor, writeFileAtomicSync } from '../fsutil.js';
import { objectPathIn } from '../workspace/hash-task.js';

export type LinkType = 'reflink' | 'hardlink' | 'symlink' | 'copy';
export const LINK_TYPES: readonly LinkType[] = ['reflink', 'hardlink', 'symlink', 'copy'];

export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/**
 * The local content-addressed cache (`.reg/cache`): `files/md5/XX/REST` for DVC 3 objects and
 * `XX/REST` for DVC 2 (legacy) ones. Objects are read-only (0444) and published by rename.
 */
export class Cache {
  /** Link types that failed as unsupported once; not tried again for this cache (same filesystem). */
  private readonly unsupported = new Set<LinkType>();
  private readonly madeDirs = new Set<string>();

  constructor(readonly root: string) {}

  objectPath(oid: string, legacy = false): string {
    return objectPathIn(this.root, oid, legacy);
  }

  /** Where the object for this oid lives, looking in the legacy layout too for legacy entries. */
  locate(oid: string, legacy = false): string | undefined {
    const primary = this.objectPath(oid, legacy);
    if (existsSync(primary)) return primary;
    if (legacy) {
      const modern = this.objectPath(oid, false);
      if (existsSync(modern)) return modern;
    }
    return undefined;
  }

  has(oid: string, legacy = false): boolean {
    return this.locate(oid, legacy) !== undefined;
  }

  /** Stores bytes under their md5 (plus `.dir` for manifests); verifies the oid first. */
  insertBytes(oid: string, bytes: Buffer, legacy = false): boolean {
    const target = this.objectPath(oid, legacy);
    if (existsSync(target)) return false;
    if (!legacy && md5Hex(bytes) !== oid.replace(/\.dir$/, '')) {
      throw integrityError('cache.oid-mismatch', `refusing to store bytes under ${oid}: their md5 is ${md5Hex(bytes)}`);
    }
    writeFileAtomicSync(target, bytes, 0o444);
    return true;
  }

  insertManifest(entries: readonly ManifestEntry[]): { oid: string; bytes: Buffer } {
    const built = buildManifest(entries);
    this.insertBytes(built.oid, built.bytes);
    return built;
  }

  readManifest(oid: string, legacy = false): ManifestEntry[] {
    const path = this.locate(oid, legacy);
    if (path === undefined) {
      throw new RegError('cache.missing-manifest', 'failed', `directory manifest ${oid} is not in the cache`, {
        hint: 'fetch it from a remote with `reg fetch`',
      });
    }
    return parseManifest(readFileSync(path), path);
  }

  /**
   * Puts the object's bytes at `dest` (atomically: temp file + rename) using the first link type
   * that works. Copies and reflinks get a writable mode; hard and symbolic links stay read-only.
   */
  async materialize(oid: string, legacy: boolean, dest: string, linkTypes: readonly LinkType[], executable = false, retried = false): Promise<LinkType> {
    const src = this.locate(oid, legacy);
    if (src === undefined) {
      throw new RegError('cache.missing-object', 'failed', `object ${oid} is not in the cache`, { hint: 'fetch it with `reg fetch`' });
    }
    const destDir = dirname(dest);
    if (!this.madeDirs.has(destDir)) {
      await mkdir(destDir, { recursive: true });
      this.madeDirs.add(destDir);
    }
    const tmp = tempPathFor(dest);
    try {
      if (oid === EMPTY_MD5) {
        await writeFile(tmp, '', { mode: executable ? 0o777 : 0o666 });
        await rename(tmp, dest);
        return 'copy';
      }
      for (const type of linkTypes) {
        if (this.unsupported.has(type) && type !== linkTypes[linkTypes.length - 1]) continue;
        try {
          switch (type) {
            case 'reflink':
              await copyFile(src, tmp, constants.COPYFILE_FICLONE_FORCE);
              await chmod(tmp, writableMode(executable));
              break;
            case 'copy':
              await copyFile(src, tmp, constants.COPYFILE_FICLONE);
              await chmod(tmp, writableMode(executable));
              break;
            case 'hardlink':
              await link(src, tmp);
              break;
            case 'symlink':
              await symlink(src, tmp);
              break;
          }
          await rename(tmp, dest);
          return type;
        } catch (err) {
          await rm(tmp, { force: true });
          if (errnoCode(err) === 'ENOENT' && !retried && this.madeDirs.delete(destDir)) {
            // The directory was removed since we made it: make it again and retry once.
            return this.materialize(oid, legacy, dest, linkTypes, executable, true);
          }
          if (!isUnsupportedLink(err)) throw err;
          this.unsupported.add(type);
        }
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw diskError(err, dest) ?? err;
    }
    throw new RegError('cache.link-failed', 'config', `none of the cache link types ${linkTypes.join(',')} works for ${dest}`, {
      hint: 'add "copy" to cache.type in .reg/config.yaml',
    });
  }

  /**
   * A directory whose manifest and every member object were seen in the cache gets a mark, so the
   * next status need not read the manifest again. Marks live inside the cache: deleting the cache
   * deletes them too.
   */
  markComplete(oid: string): void {
    const mark = join(this.root, '.complete', oid);
    if (!existsSync(mark)) writeFileAtomicSync(mark, '');
  }

  isMarkedComplete(oid: string, legacy = false): boolean {
    return existsSync(join(this.root, '.complete', oid)) && this.has(oid, legacy);
  }

  /**
   * Moves a corrupt object out of the way (to `quarantine/` + its layout path + `.<time>`, e.g.
   * `quarantine/files/md5/ab/cdef….20250101T120000Z`), so a fetch can put good bytes under its name;
   * the bad copy is kept, never deleted. Returns where it went. Completeness marks are dropped
   * (a mark may vouch for a directory that listed this object).
   */
  quarantine(oid: string, legacy: boolean): string {
    const src = this.locate(oid, legacy);
    if (src === undefined) {
      throw new RegError('cache.missing-object', 'failed', `object ${oid} is not in the cache (nothing to quarantine)`, { hint: 'fetch it with `reg fetch`' });
    }
    const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
    const dest = `${objectPathIn(join(this.root, QUARANTINE_DIR), oid, legacy)}.${stamp}.${randomBytes(3).toString('hex')}`;
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(src, dest);
    rmSync(join(this.root, '.complete'), { recursive: true, force: true });
    return dest;
  }
}

/** Where `Cache.quarantine` keeps corrupt objects, relative to the cache root. */
export const QUARANTINE_DIR = 'quarantine';

const UMASK = process.umask();
function writableMode(executable: boolean): number {
  return (executable ? 0o777 : 0o666) & ~UMASK;
}

function isUnsupportedLink(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOSYS' || code === 'EINVAL';
}

export function parseLinkTypes(value: string | undefined, source = 'cache.type'): LinkType[] {
  const raw = (value ?? 'reflink,copy').split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of raw) {
    if (!LINK_TYPES.includes(t as LinkType)) {
      throw new RegError('config.cache-type', 'config', `${source}: unknown link type "${t}"`, { hint: `use a comma-separated list of ${LINK_TYPES.join(', ')}` });
    }
  }
  return raw as LinkType[];
}

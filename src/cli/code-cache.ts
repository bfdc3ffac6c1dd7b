import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { VERSION } from '../package-info.js';
import { readOwnCacheFile, userCacheDir, writeOwnCacheFile, type OwnFile } from '../user-cache.js';

/**
 * How the cache file was used: `used` (V8 accepted it), `rejected` (its digest did not match, or V8
 * refused it: compiled from source), `absent` (none yet), `untrusted` (not a regular file of ours,
 * or writable by others: never read), `off` (no cache directory).
 */
export type CodeCacheStatus = 'used' | 'rejected' | 'absent' | 'untrusted' | 'off';

export interface CodeCachedModule {
  exports: unknown;
  cacheStatus: CodeCacheStatus;
  /** Writes the cache when this run had no usable one (call after the work, so it holds the functions that ran). */
  saveCache(): void;
}

/** A command's name as it may appear in a cache file's name. */
const VARIANT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** A temp file of the current build older than this was left by a killed run. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Larger than any cache of reg's bundle; a bigger file is not read. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** A cache file: this magic, then SHA-256(source hash + V8 data), then V8's data. */
const MAGIC = Buffer.from('reg-v8-code-cache-1\n');
const DIGEST_BYTES = 32;

/** `$XDG_CACHE_HOME/reg/code-cache`, else `~/.cache/reg/code-cache`. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  return userCacheDir(env, 'code-cache');
}

/**
 * Runs a CommonJS file (the CLI bundle) the way `require` would, but compiled with a V8 code cache:
 * Node 20 has no compile cache for modules, and without one V8 parses and compiles the same
 * ~1 MB of JavaScript on every command. The cache file lives in the user's cache directory, never
 * in the work tree; it is named by the file's name and place, reg's version, Node's version and
 * architecture and the SHA-256 of the source, and read only when it is a regular file owned by this user and
 * writable by no one else. Its V8 data is handed to V8 only if a SHA-256 over the source's hash and
 * the data matches: a release build of V8 checks the data's header (its version, flags and the
 * source's length) but no checksum of the compiled code, so a flipped bit, or the cache of another
 * source of the same length, would otherwise run. Any mismatch means compiling from source: a bad
 * cache costs time, never behaviour.
 *
 * `variant` (the command that runs) gets a cache of its own: a cache holds the functions of the
 * run that wrote it, so one shared file would serve every command with the first one's code (a
 * status through a cache written by `remote list` started ~9 ms, 3.7%, slower than through its own).
 * Writing a cache removes the caches of this place's earlier builds.
 */
export function loadCodeCached(file: string, env: NodeJS.ProcessEnv, variant?: string): CodeCachedModule {
  const bytes = readFileSync(file);
  // The build writes the bundle in ASCII (scripts/build-cli.mjs): decoded as latin1 it is the same
  // text as UTF-8 gives, as a one-byte string, ~25 ms faster to make than UTF-8's two-byte one.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const dir = codeCacheDir(env);
  // The bytes' hash is the UTF-8 text's hash, without encoding the text again.
  const sourceHash = createHash('sha256').update(bytes).digest();
  // Where the file is, too: V8 keeps the name of the script a cache was made from, so two installs
  // sharing one cache would name each other's file in their stack traces (and source maps).
  const place = createHash('sha256').update(resolve(file)).digest('hex').slice(0, 8);
  const installPrefix = `${basename(file)}-${place}-node${process.version}-${process.arch}-`;
  const build = `${installPrefix}${VERSION}-${sourceHash.toString('hex').slice(0, 32)}`;
  const key = `${build}${variant !== undefined && VARIANT_NAME.test(variant) ? `-${variant}` : ''}.v8cache`;
  const cachePath = dir && join(dir, key);
  const cached = cachePath ? unwrap(readOwnCacheFile(cachePath, MAX_CACHE_BYTES), sourceHash) : { status: 'off' as const };
  // Node's CommonJS wrapper, on the source's first line so line numbers match, plus __regImport:
  // the file must not call import() itself (a function restored from a code cache has lost vm's
  // dynamic-import callback on Node 20), so scripts/build-cli.mjs rewrites the bundle's
  // import('<package>') calls to this function, which imports from here (the same node_modules).
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __regImport) { ${source}\n})`, {
    filename: file,
    cachedData: cached.data,
  });
  const cacheStatus: CodeCacheStatus = cached.data ? (script.cachedDataRejected === true ? 'rejected' : 'used') : cached.status;
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: typeof module, f: string, d: string, i: (specifier: string) => Promise<unknown>) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file), (specifier) => import(specifier));
  return {
    get exports() {
      return module.exports;
    },
    cacheStatus,
    saveCache() {
      if (!dir || !cachePath || cacheStatus === 'used') return;
      const written = writeOwnCacheFile(cachePath, () => {
        const data = script.createCachedData();
        return Buffer.concat([MAGIC, digestOf(sourceHash, data), data]);
      });
      if (written) removeEarlierBuilds(dir, installPrefix, build, legacyName(file, place));
    },
  };
}

function digestOf(sourceHash: Buffer, data: Buffer): Buffer {
  return createHash('sha256').update(sourceHash).update(data).digest();
}

/** The V8 data of a cache file, if its digest says it was written for this source and is whole. */
function unwrap(file: OwnFile, sourceHash: Buffer): { status: CodeCacheStatus; data?: Buffer } {
  if (file.status !== 'read') return { status: file.status };
  const raw = file.data;
  const start = MAGIC.length + DIGEST_BYTES;
  if (raw.length <= start || !raw.subarray(0, MAGIC.length).equals(MAGIC)) return { status: 'rejected' };
  const data = raw.subarray(start);
  if (!digestOf(sourceHash, data).equals(raw.subarray(MAGIC.length, start))) return { status: 'rejected' };
  return { status: 'absent', data };
}

/**
 * Removes the cache files (and temp files) of this bundle's earlier builds at this place, for this
 * Node: they can never be used again, since the file at this place is now another build. Caches of
 * other places and other Node versions stay (another install, or nvm switching back). A temp file
 * of the current build may be another run's write in progress: it goes only once it is an hour old.
 * Names in the layout before per-command caches (`legacy`) are earlier builds too.
 */
function removeEarlierBuilds(dir: string, installPrefix: string, build: string, legacy: RegExp): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(installPrefix) && !legacy.test(name)) continue;
    const current = name.startsWith(`${build}-`) || name.startsWith(`${build}.`);
    try {
      if (current && (!name.endsWith('.tmp') || Date.now() - lstatSync(join(dir, name)).mtimeMs < STALE_TEMP_MS)) continue;
      unlinkSync(join(dir, name));
    } catch {
      // Removed by another run meanwhile, or not ours to remove.
    }
  }
}

/** Cache names of the layout before per-command caches: `<file>-<version>-node<v>-<arch>-<place>-<hash>.v8cache`, and their temp files. */
function legacyName(file: string, place: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escape(basename(file))}-.+-node${escape(process.version)}-${escape(process.arch)}-${place}-[0-9a-f]{32}\\.v8cache(\\..+\\.tmp)?$`);
}

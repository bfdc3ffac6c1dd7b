import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RegError, usageError } from '../errors.js';
import { forbidLazyFetch, gitRun } from './read.js';

/**
 * One revision of another Git repository, read without cloning it: a temporary bare repository
 * fetches the revision with `--depth 1 --filter=blob:none` (the commit and its trees, no file
 * contents), then only the blobs asked for, in one more fetch. Works with local paths, `file://`,
 * https and ssh URLs. The other repository is untrusted: nothing of it is checked out, no hook
 * or configuration of it runs here, and what is read from it is parsed by the callers.
 */
export interface PartialFetchOptions {
  /** Relative local paths are resolved from here. */
  cwd: string;
  signal?: AbortSignal;
  /** Per git network command (default 120 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Branch and tag names, full commit ids, HEAD: nothing git could read as an option, a range or a refspec. */
const FETCHABLE_REV = /^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]+$/;
/** Serves filters and any object id (lazy blob fetches) from a local repository whatever its own settings. */
const LOCAL_UPLOAD_PACK = 'git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack';

export class PartialRepo {
  private constructor(
    /** The temporary bare repository (run plumbing reads here; blobs arrive through fetchBlobs, never by a lazy fetch). */
    readonly dir: string,
    /** What was asked for, as shown in messages (credentials in a URL removed). */
    readonly source: string,
    /** The local directory when the source is one (its `.reg/` resolves relative remote paths). */
    readonly localPath: string | undefined,
    readonly rev: string,
    readonly commit: string,
    private readonly options: PartialFetchOptions,
  ) {}

  /** Fetches `rev` (default HEAD: the other repository's default branch) of `source`. */
  static async open(source: string, rev: string | undefined, options: PartialFetchOptions): Promise<PartialRepo> {
    const wanted = rev ?? 'HEAD';
    if (!FETCHABLE_REV.test(wanted)) {
      throw usageError('get.rev-unfetchable', `--rev ${JSON.stringify(wanted)} cannot be fetched from another repository`, {
        hint: 'with --repo, name a branch, a tag or a full 40-character commit id',
      });
    }
    const { url, localPath } = remoteLocation(source, options.cwd);
    const shown = withoutCredentials(source);
    const dir = mkdtempSync(join(tmpdir(), 'reg-get-repo-'));
    try {
      const setup = [
        ['init', '-q', '--bare', '--template=', '.'],
        ['remote', 'add', 'origin', url],
        ['config', 'remote.origin.promisor', 'true'],
        ['config', 'remote.origin.partialclonefilter', 'blob:none'],
        ...(localPath !== undefined ? [['config', 'remote.origin.uploadpack', LOCAL_UPLOAD_PACK]] : []),
      ];
      for (const args of setup) await gitRun(dir, args);
      const fetched = await network(dir, ['fetch', '-q', '--depth', '1', '--filter=blob:none', '--no-tags', '--end-of-options', 'origin', wanted], options);
      if (fetched.code !== 0) {
        if (/couldn't find remote ref|not our ref|no such remote ref|unadvertised object/i.test(fetched.stderr)) {
          throw usageError('rev.unknown', `${shown} has no branch, tag or commit ${wanted}`, {
            hint: 'name a branch or tag of that repository (git ls-remote URL lists them), or a full commit id',
          });
        }
        throw fetchFailure(shown, fetched);
      }
      const peeled = await gitRun(dir, ['rev-parse', '--verify', '-q', 'FETCH_HEAD^{commit}'], undefined, { allowFail: true });
      const commit = peeled.stdout.toString('utf8').trim();
      if (peeled.code !== 0 || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) {
        throw usageError('rev.not-a-commit', `${wanted} in ${shown} does not name a commit`, { hint: 'name a branch, a tag or a commit id' });
      }
      // From here on, objects arrive only through fetchBlobs (timed); a read never fetches by itself.
      forbidLazyFetch(dir);
      return new PartialRepo(dir, shown, localPath, wanted, commit, options);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Fetches these blobs (of the fetched revision) in one request, so later reads find them locally. */
  async fetchBlobs(oids: readonly string[]): Promise<void> {
    const wanted = [...new Set(oids)].filter((o) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(o));
    if (wanted.length === 0) return;
    const have = await gitRun(this.dir, ['cat-file', '--batch-check=%(objectname)'], wanted.join('\n') + '\n', { allowFail: true, env: { GIT_NO_LAZY_FETCH: '1' } });
    const present = new Set(have.stdout.toString('utf8').split('\n').filter((l) => /^[0-9a-f]+$/.test(l)));
    const missing = wanted.filter((o) => !present.has(o));
    if (missing.length === 0) return;
    const r = await network(this.dir, ['-c', 'fetch.negotiationAlgorithm=noop', 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--filter=blob:none', '--end-of-options', 'origin', ...missing], this.options);
    if (r.code !== 0) throw fetchFailure(this.source, r);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The URL git fetches from, and the local directory when `source` is one. */
function remoteLocation(source: string, cwd: string): { url: string; localPath?: string } {
  if (source === '' || /[\0\n\r]/.test(source)) throw usageError('get.bad-repo', `--repo ${JSON.stringify(source)} is not a repository path or URL`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    if (/^file:\/\//i.test(source)) {
      const path = decodeURIComponent(source.slice('file://'.length));
      return { url: source, localPath: isDir(path) ? path : undefined };
    }
    return { url: source };
  }
  if (/^[a-z][a-z0-9+.-]*::/i.test(source)) throw usageError('get.bad-repo', `--repo ${source}: remote helpers (transport::address) are not allowed`, { hint: 'give a path, a file://, https:// or ssh:// URL' });
  const abs = resolve(cwd, source);
  if (isDir(abs)) return { url: abs, localPath: abs };
  // scp-like ssh address: host:path (a colon before any slash).
  if (/^[^/]*:/.test(source)) return { url: source };
  throw usageError('get.no-such-repo', `--repo ${source}: no such directory`, { hint: 'give the path of a Git repository, or a file://, https:// or ssh:// URL' });
}

function isDir(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function network(dir: string, args: string[], options: PartialFetchOptions) {
  return gitRun(dir, args, undefined, {
    allowFail: true,
    // Never wait for a password prompt: credentials come from the user's helpers or ssh agent.
    env: { GIT_TERMINAL_PROMPT: '0', GIT_PROTOCOL_FROM_USER: '1' },
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}

/** `https://user:token@host/x` -> `https://***@host/x`. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

function fetchFailure(source: string, r: { code: number; stderr: string }): RegError {
  const said = r.stderr.trim().split('\n').filter((l) => !/^warning:/.test(l)).join('; ');
  const reason = r.code === 124 ? 'timed out' : withoutCredentials(said) || `git exited with ${r.code}`;
  return new RegError('get.repo-unreachable', 'transfer', `cannot read ${source}: ${reason}`, {
    hint: 'check the path or URL and your access to it (git ls-remote URL should work), then retry',
  });
}

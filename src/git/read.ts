import { execFile, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { RegError } from '../errors.js';

/**
 * Runs the real git binary (execFile, no shell) in `root`, optionally feeding stdin (batch commands).
 * The one way reg runs git: GitPort (git/git.ts) and the plumbing reads below all go through it.
 */
export interface GitRunOptions {
  /** Return a non-zero exit instead of rejecting. */
  allowFail?: boolean;
  /** Extra environment variables (on top of the process environment); undefined removes one. */
  env?: Record<string, string | undefined>;
  /** Kills git when aborted (the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /** Kills git after this long (network commands); the result then has code 124. */
  timeoutMs?: number;
}

/**
 * The most of git's stdout reg takes from one command (it is also turned into a string, which V8
 * caps at 512 MiB). A commit can hold a tree of a few KiB whose recursive listing is gigabytes (a
 * "tree bomb": each level's subtrees are one tree named sixteen times): `ls-tree -r` of it used to
 * be read until 1 GiB, and turned into a string past 512 MiB, an internal error. A registry's
 * listings are far smaller: a million tracked files list in about 100 MB.
 */
export const MAX_GIT_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * Repositories where git must never fetch a missing object by itself (`reg get --repo`'s partial
 * clone of another registry): there a read of an object the timed fetch did not bring would start
 * an untimed fetch from that registry's server, which could stall it for good. Reads there see
 * such an object as missing instead (GIT_NO_LAZY_FETCH).
 */
const noLazyFetch = new Set<string>();

export function forbidLazyFetch(root: string): void {
  noLazyFetch.add(root);
}

/** The environment of a git process in `root` with `extra` on top, or undefined for the process's own. */
function gitEnv(root: string, extra: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv | undefined {
  const lazy = noLazyFetch.has(root) ? { GIT_NO_LAZY_FETCH: '1' } : undefined;
  return extra || lazy ? { ...process.env, ...lazy, ...extra } : undefined;
}

export function gitRun(root: string, args: string[], input?: string, opts: GitRunOptions = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const env = gitEnv(root, opts.env);
    const options = {
      cwd: root,
      encoding: 'buffer' as const,
      maxBuffer: MAX_GIT_OUTPUT_BYTES,
      ...(env ? { env } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    };
    const child = execFile('git', args, options, (err, stdout, stderr) => {
      if (opts.signal?.aborted) {
        reject(opts.signal.reason);
        return;
      }
      if ((err as { code?: unknown } | null)?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
        reject(outputTooLarge(args));
        return;
      }
      const killed = err !== null && (err as { killed?: boolean }).killed === true;
      const code = killed ? 124 : err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      if (code !== 0 && !opts.allowFail) {
        reject(new RegError('git.failed', 'failed', `git ${args.join(' ')} failed: ${stderr.toString('utf8').trim() || (err as Error).message}`));
        return;
      }
      resolvePromise({ code, stdout, stderr: stderr.toString('utf8') });
    });
    track(child);
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/**
 * git processes still running. A command that ends (Ctrl-C, an error elsewhere) must not leave
 * them behind: `git log --raw` over a hostile commit can run for many minutes on its own, and
 * kept doing so after reg had exited. Killed when the process exits.
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

function outputTooLarge(args: readonly string[]): RegError {
  const command = `git ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' ...' : ''}`;
  return new RegError('git.output-too-large', 'config', `${command} printed more than ${MAX_GIT_OUTPUT_BYTES / (1024 * 1024)} MiB, more than any registry's history or tree needs`, {
    hint: 'a commit in the range holds a tree of millions of entries (a "tree bomb": small in git, gigabytes when listed); find it with git rev-list and git ls-tree, and leave it out of the revisions you name (or git rm the offending directory in a new commit)',
  });
}

export async function gitText(root: string, args: string[], input?: string): Promise<string> {
  return (await gitRun(root, args, input)).stdout.toString('utf8');
}

/**
 * The paths among `paths` (relative to the root) that Git ignores through any rule (.gitignore
 * files, .git/info/exclude, core.excludesFile), in one `git check-ignore` call.
 */
export async function ignoredPaths(root: string, paths: readonly string[]): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const r = await gitRun(root, ['check-ignore', '--stdin', '-z'], paths.map((p) => p + '\0').join(''), { allowFail: true });
  // 0: some ignored, 1: none; anything else is a real failure.
  if (r.code !== 0 && r.code !== 1) throw new RegError('git.failed', 'failed', `git check-ignore failed: ${r.stderr.trim()}`);
  return new Set(r.stdout.toString('utf8').split('\0').filter(Boolean));
}

export interface IndexEntry {
  path: string;
  mode: string;
  oid: string;
}

/** `git ls-files -s` for pathspecs (the index). */
export async function indexEntries(root: string, pathspecs: readonly string[]): Promise<IndexEntry[]> {
  if (pathspecs.length === 0) return [];
  return parseLsFiles(await gitText(root, ['ls-files', '-s', '-z', '--', ...pathspecs.map((p) => `:(literal)${p}`)]));
}

/** Every entry of the index (the whole repository). */
export async function allIndexEntries(root: string): Promise<IndexEntry[]> {
  return parseLsFiles(await gitText(root, ['ls-files', '-s', '-z']));
}

function parseLsFiles(out: string): IndexEntry[] {
  return out
    .split('\0')
    .filter(Boolean)
    .map(parseStageLine);
}

/** One `git ls-files -s` line: `<mode> <oid> <stage>\t<path>`. */
function parseStageLine(line: string): IndexEntry {
  const tab = line.indexOf('\t');
  const [mode, oid] = line.slice(0, tab).split(' ');
  return { path: line.slice(tab + 1), mode: mode!, oid: oid! };
}

/** The whole index and the work tree's untracked files that no ignore rule covers. */
export interface WorkTreeListing {
  entries: IndexEntry[];
  /** Untracked files; an untracked directory is one path ending in `/`, its files unlisted. */
  untracked: string[];
}

/**
 * allIndexEntries() and `git ls-files --others --exclude-standard` from one git process: a status
 * of everything needs both (the registry overview the index, the pointer listing both), and on a
 * small VM each process costs the caller ~10 ms of blocked main thread to start. `-t` tags each
 * line, so an untracked path can never be read as an index line: `? <path>` is untracked, any other
 * tag (`H` cached, `S` skip-worktree, `M` unmerged) starts an `ls-files -s` line. An untracked
 * directory is listed as itself (`--directory`): a dataset copied into an area before `reg add`
 * would otherwise print every one of its files. Undefined if git fails: the caller then asks the
 * usual way and reports that failure itself.
 */
export async function workTreeListing(root: string): Promise<WorkTreeListing | undefined> {
  let out: string;
  try {
    const args = ['ls-files', '-z', '-t', '-s', '--others', '--directory', '--no-empty-directory', '--exclude-standard'];
    const r = await gitRun(root, args, undefined, { allowFail: true });
    if (r.code !== 0) return undefined;
    out = r.stdout.toString('utf8');
  } catch {
    return undefined;
  }
  const listing: WorkTreeListing = { entries: [], untracked: [] };
  for (const line of out.split('\0')) {
    if (line.length < 3 || line[1] !== ' ') continue;
    if (line[0] === '?') listing.untracked.push(line.slice(2));
    else listing.entries.push(parseStageLine(line.slice(2)));
  }
  return listing;
}

/** The whole index and the sizes of its blobs (what `reg check` reads without --staged). */
export interface IndexSnapshot {
  entries: IndexEntry[];
  sizes: Map<string, number>;
}

/** Paths staged for the next commit (added, copied, modified, renamed). */
export async function stagedPaths(root: string): Promise<string[]> {
  const out = await gitText(root, ['diff', '--cached', '--name-only', '-z', '--diff-filter=ACMR', '--no-renames']);
  return out.split('\0').filter(Boolean);
}

/** Sizes of blobs by oid (one `git cat-file --batch-check`). */
export async function blobSizes(root: string, oids: readonly string[]): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const unique = [...new Set(oids)];
  if (unique.length === 0) return sizes;
  const out = await gitText(root, ['cat-file', '--batch-check=%(objectname) %(objectsize)'], unique.join('\n') + '\n');
  for (const line of out.split('\n')) {
    const [oid, size] = line.split(' ');
    if (oid && size && /^[0-9]+$/.test(size)) sizes.set(oid, Number(size));
  }
  return sizes;
}

/**
 * What `git cat-file --batch` holds for each oid (one process): the contents, or 'missing', or
 * 'too-large' for a blob over `maxSize` (skipped, never kept in memory).
 */
export async function readBlobs(root: string, oids: readonly string[], maxSize: number): Promise<Map<string, BlobContent>> {
  const reader = new BlobReader(root, maxSize);
  try {
    const unique = [...new Set(oids)];
    const contents = await Promise.all(unique.map((oid) => reader.read(oid)));
    return new Map(unique.map((oid, i) => [oid, contents[i]!]));
  } finally {
    reader.close();
  }
}

export const ZERO_OID = /^0+$/;

/** What one `cat-file --batch` answer held. */
export type BlobContent = Buffer | 'missing' | 'too-large';

interface Pending {
  resolve: (value: BlobContent) => void;
  reject: (err: Error) => void;
}

/**
 * One long-lived `git cat-file --batch` process answering blob reads for the whole command.
 * Requests are written as they come and answered in order; contents larger than `maxSize` are
 * skipped without being kept in memory (a hostile repository may hold a huge file named `.dvc`).
 */
export class BlobReader {
  private child?: ChildProcessWithoutNullStreams;
  private readonly queue: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of the current answer's body still to skip (too-large answers). */
  private skipping = 0;
  private failed?: Error;
  private stderr = '';
  /** Requests made in the same tick go to git in one write. */
  private outbox = '';
  private readonly cache = new Map<string, Promise<BlobContent>>();

  constructor(private readonly root: string, private readonly maxSize = 1 << 20) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const env = gitEnv(this.root, undefined);
    const child = spawn('git', ['cat-file', '--batch'], { cwd: this.root, stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    track(child);
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    // Only its head is ever shown: a process flooding stderr (a server's "remote:" lines) is not kept.
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 64 * 1024) this.stderr += d.toString('utf8');
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const p of this.queue.splice(0)) p.reject(this.failed);
    };
    child.on('error', (err) => fail(new RegError('git.failed', 'failed', `cannot run git cat-file: ${err.message}`)));
    child.on('close', (code) => {
      if (this.queue.length > 0) fail(new RegError('git.failed', 'failed', `git cat-file --batch ended early (exit ${code}): ${this.stderr.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    this.child = child;
    return child;
  }

  /** The content of one object (any object name git accepts on one line; oids in practice). */
  read(oid: string): Promise<BlobContent> {
    let p = this.cache.get(oid);
    if (p === undefined) {
      p = this.request(oid);
      // Memoised answers may outlive their callers (close() with requests in flight): never unhandled.
      p.catch(() => undefined);
      this.cache.set(oid, p);
    }
    return p;
  }

  /** Contents by oid; absent and too-large objects are left out of the map. */
  async readMany(oids: Iterable<string>): Promise<Map<string, Buffer>> {
    const unique = [...new Set(oids)];
    const contents = await Promise.all(unique.map((oid) => this.read(oid)));
    const out = new Map<string, Buffer>();
    unique.forEach((oid, i) => {
      const c = contents[i]!;
      if (Buffer.isBuffer(c)) out.set(oid, c);
    });
    return out;
  }

  private request(oid: string): Promise<BlobContent> {
    if (/[\n\r\0]/.test(oid)) return Promise.resolve('missing');
    if (this.failed) return Promise.reject(this.failed);
    const child = this.start();
    return new Promise<BlobContent>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      if (this.outbox === '') {
        queueMicrotask(() => {
          const batch = this.outbox;
          this.outbox = '';
          child.stdin.write(batch);
        });
      }
      this.outbox += oid + '\n';
    });
  }

  private onData(chunk: Buffer): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      chunk = chunk.subarray(n);
      if (this.skipping > 0) return;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl === -1) return;
      const header = this.buf.toString('utf8', 0, nl).split(' ');
      const pending = this.queue[0];
      if (header.length < 3) {
        // `<name> missing` / `<name> ambiguous`
        this.queue.shift();
        this.buf = this.buf.subarray(nl + 1);
        pending?.resolve('missing');
        continue;
      }
      const size = Number(header[header.length - 1]);
      const total = nl + 1 + size + 1;
      if (size > this.maxSize) {
        this.queue.shift();
        pending?.resolve('too-large');
        const have = this.buf.length - (nl + 1);
        if (have >= size + 1) {
          this.buf = this.buf.subarray(total);
          continue;
        }
        this.skipping = size + 1 - have;
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.buf.length < total) return;
      this.queue.shift();
      pending?.resolve(Buffer.from(this.buf.subarray(nl + 1, nl + 1 + size)));
      this.buf = this.buf.subarray(total);
    }
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }
}

/**
 * Git's settings that would change how diff-files compares stat data or make it ask a hook
 * (core.fsmonitor): pinned so a repository's configuration cannot make it trust a changed file.
 */
const PLAIN_STAT_CHECK = [
  '-c', 'core.fsmonitor=false',
  '-c', 'core.checkStat=default',
  '-c', 'core.trustctime=true',
  '-c', 'core.ignoreStat=false',
  '-c', 'core.fileMode=true',
  '-c', 'core.symlinks=true',
  '-c', 'core.preloadIndex=true',
];

/**
 * The paths (repo-relative) of the entries of the index file `indexFile` whose stat data no longer
 * matches the work tree at `root` (`git diff-files --name-only`), or undefined when git cannot say
 * (not installed, too old, the file missing or damaged): the caller then looks at every file
 * itself. The repository is found from `root` alone: a GIT_DIR, GIT_WORK_TREE or GIT_INDEX_FILE the
 * user set for their own commands does not apply to this one.
 */
export async function changedInIndexFile(root: string, indexFile: string): Promise<string[] | undefined> {
  try {
    const r = await gitRun(root, [...PLAIN_STAT_CHECK, 'diff-files', '--name-only', '-z'], undefined, {
      allowFail: true,
      env: { GIT_INDEX_FILE: indexFile, GIT_DIR: undefined, GIT_WORK_TREE: undefined, GIT_COMMON_DIR: undefined, GIT_OBJECT_DIRECTORY: undefined, GIT_OPTIONAL_LOCKS: '0' },
    });
    if (r.code !== 0) return undefined;
    return r.stdout.toString('utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

import { execFile } from 'node:child_process';
import { RegError } from '../errors.js';

/**
 * Runs the real git binary (execFile, no shell) in `root`, optionally feeding stdin (batch commands).
 * The one way reg runs git: GitPort (git/git.ts) and the plumbing reads below all go through it.
 */
export function gitRun(root: string, args: string[], input?: string, opts: { allowFail?: boolean } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile('git', args, { cwd: root, encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      if (code !== 0 && !opts.allowFail) {
        reject(new RegError('git.failed', 'failed', `git ${args.join(' ')} failed: ${stderr.toString('utf8').trim() || (err as Error).message}`));
        return;
      }
      resolvePromise({ code, stdout, stderr: stderr.toString('utf8') });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
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
    .map((line) => {
      const tab = line.indexOf('\t');
      const [mode, oid] = line.slice(0, tab).split(' ');
      return { path: line.slice(tab + 1), mode: mode!, oid: oid! };
    });
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

/** The contents of blobs by oid (one `git cat-file --batch`). */
export async function readBlobs(root: string, oids: readonly string[]): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  const unique = [...new Set(oids)];
  if (unique.length === 0) return blobs;
  const out = (await gitRun(root, ['cat-file', '--batch'], unique.join('\n') + '\n')).stdout;
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(0x0a, pos);
    if (nl === -1) break;
    const header = out.subarray(pos, nl).toString('utf8').split(' ');
    pos = nl + 1;
    if (header[1] === 'missing' || header.length < 3) continue;
    const size = Number(header[2]);
    blobs.set(header[0]!, out.subarray(pos, pos + size));
    pos += size + 1;
  }
  return blobs;
}

export const ZERO_OID = /^0+$/;

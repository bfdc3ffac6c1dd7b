import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { isSafeRelpath } from '../../data/path-rules.js';
import { configError, RegError, usageError } from '../../errors.js';
import { mapLimit, readFdUpTo, refuseNonRegularFile, tempPathFor, withRegularFileIfAny } from '../../fsutil.js';
import { openRepo, type Repo } from '../../repo.js';
import { hashMany } from '../../workspace/hasher.js';
import { outputTree, regState, workTree } from '../../workspace/safe-fs.js';
import { hashFile } from '../../data/hash.js';
import { FILE_JOBS } from './link.js';

/**
 * Bytes a forced checkout overwrote, kept in the cache: the record lists each file's repo path
 * and md5, and the manifest of those files is a `.dir` object, so the stash also survives a
 * `reg push` like any other data. Symlinks to directories that checkout replaced by real
 * directories are recorded too (path and link target), never followed.
 */
export interface StashRecord {
  id: string;
  createdAt: string;
  reason: string;
  oid: string;
  files: Array<{ path: string; md5: string; size: number }>;
  links?: Array<{ path: string; target: string }>;
  restoreCommand: string;
}

/** Stash records live in `.reg/stash/<id>.json`. */
export const STASH_DIR = 'stash';

/** A record lists each stashed file in ~100 bytes: far above a million files' record, below V8's longest string. */
const MAX_STASH_RECORD_BYTES = 256 * 1024 * 1024;

/**
 * The text of the stash record at `file` (shown as `shown`), or undefined when there is none. A
 * record is reg's own file, but a commit can plant one (`git add -f`): a symlink (to `/dev/zero`,
 * to a file outside) or a FIFO there is refused (exit 3 `stash.bad-record`), never read.
 */
export function readStashRecordText(file: string, shown: string): string | undefined {
  const refuse = refuseNonRegularFile('stash.bad-record', shown, 'reads a stash record through it', `remove it (git rm --cached ${shown} if it was committed): reg writes stash records itself`, file);
  const limit = {
    maxBytes: MAX_STASH_RECORD_BYTES,
    tooBig: () => configError('stash.bad-record', `${shown} is larger than 256 MiB: reg wrote no stash record that large`, { hint: `remove it (git rm --cached ${shown} if it was committed): reg writes stash records itself`, details: { path: file } }),
  };
  return withRegularFileIfAny(file, refuse, (fd, st) => readFdUpTo(fd, limit, st.size).toString('utf8'));
}

export async function saveToStash(
  repo: Repo,
  ctx: Context,
  entries: Array<{ path: string; abs: string; size: number; linkTarget?: string }>,
  reason: string,
): Promise<StashRecord> {
  const files = entries.filter((f) => f.linkTarget === undefined);
  const links = entries.filter((f) => f.linkTarget !== undefined).map((f) => ({ path: f.path, target: f.linkTarget! }));
  const results = await hashMany(
    files.map((f) => ({ abs: f.abs, legacy: false, size: f.size, cacheRoot: repo.cache.root })),
    { jobs: ctx.cores, signal: ctx.signal },
  );
  const saved = results.map((r, i) => {
    if ('error' in r) throw new RegError('stash.save-failed', 'failed', `could not save ${files[i]!.path} before overwriting it: ${r.error}`, { hint: 'nothing was changed; fix the problem and retry' });
    return { path: files[i]!.path, md5: r.md5, size: r.size };
  });
  const { oid } = repo.cache.insertManifest(saved.map((f) => ({ relpath: f.path, md5: f.md5 })));
  const now = new Date();
  const id = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-') + '-' + randomBytes(2).toString('hex');
  const record: StashRecord = { id, createdAt: now.toISOString(), reason, oid, files: saved, ...(links.length > 0 ? { links } : {}), restoreCommand: `reg stash apply ${id}` };
  regState(repo).writeFile(`${STASH_DIR}/${id}.json`, JSON.stringify(record, null, 2) + '\n');
  return record;
}

export interface StashListResult {
  stashes: StashRecord[];
}

export async function stashList(ctx: Context): Promise<StashListResult> {
  const repo = openRepo(ctx);
  const dir = join(repo.regDir, STASH_DIR);
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')).sort() : [];
  const stashes: StashRecord[] = [];
  for (const n of names) {
    const text = readStashRecordText(join(dir, n), `.reg/${STASH_DIR}/${n}`);
    if (text !== undefined) stashes.push(JSON.parse(text) as StashRecord);
  }
  return { stashes };
}

export interface StashApplyOptions {
  id: string;
  /** Write the files under this directory instead of their original places. */
  to?: string;
  force?: boolean;
  /** Also re-create the recorded symlinks to directories (only where nothing is in the way). */
  links?: boolean;
}

export interface StashApplyResult {
  id: string;
  written: string[];
  skipped: string[];
  /** Recorded symlinks re-created (with `links`). */
  linksRestored: string[];
  /** Recorded symlinks left out (without `links`). */
  linksNotRestored: Array<{ path: string; target: string }>;
}

/**
 * Writes a stash's files back (to their original paths, or under `to`) through the work-tree
 * gateway, so nothing is written through a symlink; never overwrites other unsaved bytes without
 * force. Symlinks recorded by checkout are re-created only when asked (`links`).
 */
export async function stashApply(ctx: Context, options: StashApplyOptions): Promise<StashApplyResult> {
  const repo = openRepo(ctx);
  if (!/^[A-Za-z0-9._-]+$/.test(options.id) || options.id.startsWith('.')) throw usageError('stash.unknown', `no stash named ${JSON.stringify(options.id)}`, { hint: 'list them with `reg stash list`' });
  const file = join(repo.regDir, STASH_DIR, `${options.id}.json`);
  const text = readStashRecordText(file, `.reg/${STASH_DIR}/${options.id}.json`);
  if (text === undefined) throw usageError('stash.unknown', `no stash named ${options.id}`, { hint: 'list them with `reg stash list`' });
  const record = JSON.parse(text) as StashRecord;
  for (const p of [...record.files.map((f) => f.path), ...(record.links ?? []).map((l) => l.path)]) {
    if (!isSafeRelpath(p)) throw configError('stash.bad-record', `${file}: unsafe path ${JSON.stringify(p)}`, { hint: 'the stash record was edited by hand; fix or delete it' });
  }
  const { fs, prefix } = options.to === undefined ? { fs: workTree(repo), prefix: '' } : outputTree(repo, resolve(ctx.cwd, options.to));
  const written: string[] = [];
  const skipped: string[] = [];
  const conflicts: string[] = [];
  const targets = await mapLimit(record.files, FILE_JOBS, async (f) => {
    const rel = prefix + f.path;
    const existing = fs.existing(rel);
    if (existing === undefined || !existsSync(existing)) return { f, rel, write: true };
    const { md5 } = await hashFile(existing);
    if (md5 === f.md5) return { f, rel, write: false };
    if (!repo.cache.has(md5) && !options.force) conflicts.push(existing);
    return { f, rel, write: true };
  });
  if (conflicts.length > 0) {
    throw new RegError('stash.would-lose-data', 'conflict', `applying the stash would overwrite changes that exist nowhere else: ${conflicts.join(', ')}`, {
      hint: 'write the stash elsewhere with --to DIR and compare (--force would overwrite those changes, which exist nowhere else)',
    });
  }
  for (const t of targets) {
    if (!t.write) {
      skipped.push(t.f.path);
      continue;
    }
    await repo.cache.materialize(t.f.md5, false, fs.prepareWrite(t.rel), ['reflink', 'copy']);
    written.push(t.f.path);
  }
  const linksRestored: string[] = [];
  const linksNotRestored = options.links ? [] : [...(record.links ?? [])];
  if (options.links) {
    for (const l of record.links ?? []) {
      const dest = fs.prepareWrite(prefix + l.path);
      if (lstatSync(dest, { throwIfNoEntry: false }) !== undefined) {
        throw new RegError('stash.link-in-the-way', 'conflict', `cannot re-create the symlink ${l.path} -> ${l.target}: ${dest} exists`, {
          hint: `move ${dest} aside (the data checkout put there is in the cache), or use --to DIR`,
        });
      }
      const tmp = tempPathFor(dest);
      try {
        symlinkSync(l.target, tmp);
        renameSync(tmp, dest);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      linksRestored.push(l.path);
    }
  }
  return { id: record.id, written, skipped, linksRestored, linksNotRestored };
}

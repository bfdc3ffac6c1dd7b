import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { RegError, usageError } from '../../errors.js';
import { mapLimit, writeFileAtomicSync } from '../../fsutil.js';
import { openRepo, repoRelative, type Repo } from '../../repo.js';
import { hashMany } from '../../workspace/hasher.js';
import { hashFile } from '../../data/hash.js';
import { FILE_JOBS } from './link.js';

/**
 * Bytes a forced checkout overwrote, kept in the cache: the record lists each file's repo path
 * and md5, and the manifest of those files is a `.dir` object, so the stash also survives a
 * `reg push` like any other data.
 */
export interface StashRecord {
  id: string;
  createdAt: string;
  reason: string;
  oid: string;
  files: Array<{ path: string; md5: string; size: number }>;
  restoreCommand: string;
}

const STASH_DIR = 'stash';

export async function saveToStash(repo: Repo, ctx: Context, files: Array<{ path: string; abs: string; size: number }>, reason: string): Promise<StashRecord> {
  const results = await hashMany(
    files.map((f) => ({ abs: f.abs, legacy: false, size: f.size, cacheRoot: repo.cache.root })),
    undefined,
    ctx.cores,
    ctx.signal,
  );
  const saved = results.map((r, i) => {
    if ('error' in r) throw new RegError('stash.save-failed', 'failed', `could not save ${files[i]!.path} before overwriting it: ${r.error}`, { hint: 'nothing was changed; fix the problem and retry' });
    return { path: files[i]!.path, md5: r.md5, size: r.size };
  });
  const { oid } = repo.cache.insertManifest(saved.map((f) => ({ relpath: f.path, md5: f.md5 })));
  const now = new Date();
  const id = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-') + '-' + randomBytes(2).toString('hex');
  const record: StashRecord = { id, createdAt: now.toISOString(), reason, oid, files: saved, restoreCommand: `reg stash apply ${id}` };
  writeFileAtomicSync(join(repo.regDir, STASH_DIR, `${id}.json`), JSON.stringify(record, null, 2) + '\n');
  return record;
}

export interface StashListResult {
  stashes: StashRecord[];
}

export async function stashList(ctx: Context): Promise<StashListResult> {
  const repo = openRepo(ctx);
  const dir = join(repo.regDir, STASH_DIR);
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')).sort() : [];
  return { stashes: names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as StashRecord) };
}

export interface StashApplyOptions {
  id: string;
  /** Write the files under this directory instead of their original places. */
  to?: string;
  force?: boolean;
}

export interface StashApplyResult {
  id: string;
  written: string[];
  skipped: string[];
}

/** Writes a stash's files back (to their original paths, or under `to`); never overwrites other unsaved bytes without force. */
export async function stashApply(ctx: Context, options: StashApplyOptions): Promise<StashApplyResult> {
  const repo = openRepo(ctx);
  const file = join(repo.regDir, STASH_DIR, `${options.id}.json`);
  if (!existsSync(file)) throw usageError('stash.unknown', `no stash named ${options.id}`, { hint: 'list them with `reg stash list`' });
  const record = JSON.parse(readFileSync(file, 'utf8')) as StashRecord;
  const base = options.to ? resolve(ctx.cwd, options.to) : repo.root;
  if (!options.to) for (const f of record.files) repoRelative(repo, join(base, f.path));
  const written: string[] = [];
  const skipped: string[] = [];
  const conflicts: string[] = [];
  const targets = await mapLimit(record.files, FILE_JOBS, async (f) => {
    const dest = join(base, f.path);
    if (!existsSync(dest)) return { f, dest, write: true };
    const { md5 } = await hashFile(dest);
    if (md5 === f.md5) return { f, dest, write: false };
    if (!repo.cache.has(md5) && !options.force) conflicts.push(dest);
    return { f, dest, write: true };
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
    await repo.cache.materialize(t.f.md5, false, t.dest, ['reflink', 'copy']);
    written.push(t.f.path);
  }
  return { id: record.id, written, skipped };
}

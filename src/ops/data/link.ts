import { lstatSync, statSync } from 'node:fs';
import { mapLimit } from '../../fsutil.js';
import type { Repo } from '../../repo.js';
import type { SafeFs } from '../../workspace/safe-fs.js';
import { StatCache } from '../../workspace/stat-cache.js';
import { fileFromStats, walkedPath } from '../../workspace/walk.js';
import type { WorkspaceState } from './scan.js';

export const FILE_JOBS = 16;

/**
 * With hardlink/symlink cache types, replaces freshly added workspace files by links to their
 * read-only cache objects, so data is stored once and an edit cannot corrupt the cache.
 * With reflink/copy the workspace keeps its own writable files.
 */
export async function linkWorkspaceToCache(repo: Repo, fs: SafeFs, dataRel: string, state: WorkspaceState): Promise<void> {
  const first = repo.linkTypes[0];
  if (first !== 'hardlink' && first !== 'symlink') return;
  const relinked = await mapLimit(state.files, FILE_JOBS, async (f) => {
    const object = repo.cache.objectPath(f.md5);
    if (first === 'hardlink' && statSync(object, { throwIfNoEntry: false })?.ino === f.ino) return undefined;
    await repo.cache.materialize(f.md5, false, fs.prepareWrite(f.relpath === '' ? dataRel : `${dataRel}/${f.relpath}`), repo.linkTypes);
    return f;
  });
  // The links are new inodes: remember their stat so the next status does not re-hash them.
  const statCache = StatCache.load(repo.statDir, dataRel, false);
  for (const f of relinked) {
    if (f) statCache.record(fileFromStats(f.relpath, (first === 'symlink' ? statSync : lstatSync)(walkedPath(fs.abs(dataRel), f.relpath))), f.md5);
  }
  statCache.save();
}

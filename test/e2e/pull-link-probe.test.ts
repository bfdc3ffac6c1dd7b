import { constants, copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { git, makeGitRepo, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';

/**
 * `reg pull` decides once per cache and work tree whether a big download should also write the
 * work-tree copy (Cache.wantEarlyCopies): the reflink probe's answer is kept in
 * .reg/tmp/link-probe.json under the device and inode of the cache dir, the work tree and
 * .reg/tmp, trusted while they match and probed again when the cache dir moves.
 */
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

function reflinksWorkHere(dir: string): boolean {
  const src = join(dir, 'reflink-src');
  writeFileSync(src, 'probe\n');
  try {
    copyFileSync(src, join(dir, 'reflink-dest'), constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(src, { force: true });
    rmSync(join(dir, 'reflink-dest'), { force: true });
  }
}

const keyOf = (...paths: string[]) => paths.map((p) => statSync(p)).map((st) => `${st.dev}:${st.ino}`).join(' ');

/** A registry with one small file pushed to a directory remote, and a clone of it with an empty cache. */
async function clonedRegistry(): Promise<{ clone: string; probe: string }> {
  const a = makeGitRepo();
  const remote = tempDir('reg-probe-remote-');
  const home = tempDir('reg-probe-clone-');
  dirs.push(a, remote, home);
  await regOk(a, ['init']);
  writeTree(a, { 'data.txt': 'some data\n' });
  await regOk(a, ['add', 'data.txt']);
  await regOk(a, ['remote', 'add', 'nas', remote, '--default']);
  await regOk(a, ['push']);
  git(a, 'add', '-A');
  git(a, 'commit', '-qm', 'data');
  git(home, 'clone', '-q', a, 'clone');
  const clone = join(home, 'clone');
  return { clone, probe: join(clone, '.reg', 'tmp', 'link-probe.json') };
}

describe('pull: the reflink probe runs once per cache and work tree', () => {
  it('is remembered under the cache dir, work tree and .reg/tmp; a remembered answer is trusted (not probed again); a moved cache dir is probed anew', async () => {
    const { clone, probe } = await clonedRegistry();
    await regOk(clone, ['pull']);
    expect(readFileSync(join(clone, 'data.txt'), 'utf8')).toBe('some data\n');
    const cache = join(clone, '.reg', 'cache');
    const tmp = join(clone, '.reg', 'tmp');
    const reflinks = reflinksWorkHere(tmp);
    expect(JSON.parse(readFileSync(probe, 'utf8'))).toEqual({ key: keyOf(cache, clone, tmp), reflinks });

    // The opposite answer under the same key: a pull that probed would correct it; this one trusts
    // it, and the checkout still restores the file (materialize falls back by itself).
    const forged = `${JSON.stringify({ key: keyOf(cache, clone, tmp), reflinks: !reflinks })}\n`;
    writeFileSync(probe, forged);
    rmSync(join(clone, 'data.txt'));
    rmSync(join(cache, 'files'), { recursive: true }); // the probe runs when the pull opens the remote: only when something is missing
    await regOk(clone, ['pull']);
    expect(readFileSync(join(clone, 'data.txt'), 'utf8')).toBe('some data\n');
    expect(readFileSync(probe, 'utf8')).toBe(forged);

    // The cache moves to another directory: its key no longer matches, so the pull probes again.
    const movedCache = tempDir('reg-probe-cache-');
    dirs.push(movedCache);
    setConfigValue(join(clone, '.reg', 'config.local.yaml'), ['cache', 'dir'], movedCache);
    rmSync(join(clone, 'data.txt'));
    await regOk(clone, ['pull']);
    expect(readFileSync(join(clone, 'data.txt'), 'utf8')).toBe('some data\n');
    expect(JSON.parse(readFileSync(probe, 'utf8'))).toEqual({ key: keyOf(movedCache, clone, tmp), reflinks: reflinksWorkHere(tmp) && statSync(movedCache).dev === statSync(tmp).dev });
    expect(tempFilesUnder(clone)).toEqual([]);
    expect(tempFilesUnder(movedCache)).toEqual([]);
  }, 120_000);

  it('a malformed remembered answer is ignored and replaced', async () => {
    const { clone, probe } = await clonedRegistry();
    await regOk(clone, ['pull']);
    writeFileSync(probe, '{"key": 7, "reflinks": "yes"');
    rmSync(join(clone, 'data.txt'));
    rmSync(join(clone, '.reg', 'cache', 'files'), { recursive: true });
    await regOk(clone, ['pull']);
    expect(readFileSync(join(clone, 'data.txt'), 'utf8')).toBe('some data\n');
    expect(existsSync(probe)).toBe(true);
    expect(JSON.parse(readFileSync(probe, 'utf8')).key).toBe(keyOf(join(clone, '.reg', 'cache'), clone, join(clone, '.reg', 'tmp')));
  }, 120_000);
});

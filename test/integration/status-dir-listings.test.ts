import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { status } from '../../dist/ops/data/status.js';
import { makeContext } from '../../dist/context.js';
import { StatCache } from '../../dist/workspace/stat-cache.js';
import { filesUnder, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * Status reads again only the directories that changed since the last scan (their listings are
 * remembered in the stat cache, as git's untracked cache does): every file created, deleted or
 * renamed, within the racy window of a scan or after it, and every directory or symlink swapped
 * in, must still show.
 */
let repo: string;
let outside: string;
const ctx = () => makeContext({ cwd: repo });
const ds = (rel = '') => join(repo, 'ds', rel);
/** Longer than the stat cache's racy window (50 ms). */
const leaveRacyWindow = () => sleep(120);

async function changes() {
  const o = (await status(ctx(), { targets: ['ds'] })).outputs[0]!;
  const c = o.changes ?? { added: [], modified: [], deleted: [] };
  return { state: o.state, added: [...c.added].sort(), modified: [...c.modified].sort(), deleted: [...c.deleted].sort() };
}
const upToDate = { state: 'up-to-date', added: [], modified: [], deleted: [] };

/** The listing the stat cache would give the walk for a directory of `ds` now (undefined: it reads it). */
function remembered(prefix: string): string | undefined {
  const listings = StatCache.load(join(repo, '.reg', 'tmp', 'stat'), 'ds', false).dirListings(Date.now());
  return listings.known(prefix, lstatSync(ds(prefix)));
}

beforeEach(async () => {
  repo = makeGitRepo();
  outside = tempDir('reg-outside-');
  writeTree(outside, { 'secret.txt': 'outside bytes', 'dir/x.txt': 'outside dir' });
  await init(ctx());
  writeTree(repo, { 'ds/a.txt': 'a', 'ds/b.txt': 'b', 'ds/sub/c.txt': 'c', 'ds/sub/deep/d.txt': 'd', 'other.txt': 'other' });
  await leaveRacyWindow();
  await add(ctx(), { targets: ['ds'] });
  // The listings add remembered are trusted from here on.
  expect(await changes()).toEqual(upToDate);
  expect(remembered('')?.split('\n').sort()).toEqual(['a.txt', 'b.txt', 'sub']);
  expect(remembered('sub/deep/')).toBe('d.txt');
});
afterEach(() => {
  removeDir(repo);
  removeDir(outside);
});

describe('status with remembered directory listings', () => {
  it('sees files created, deleted and renamed after the racy window, in the top directory and below', async () => {
    writeFileSync(ds('new.txt'), 'new');
    writeFileSync(ds('sub/deep/new2.txt'), 'new2');
    expect(await changes()).toMatchObject({ state: 'modified', added: ['new.txt', 'sub/deep/new2.txt'], deleted: [] });
    await leaveRacyWindow();
    expect(await changes()).toMatchObject({ added: ['new.txt', 'sub/deep/new2.txt'] });
    unlinkSync(ds('new.txt'));
    unlinkSync(ds('sub/c.txt'));
    expect(await changes()).toMatchObject({ added: ['sub/deep/new2.txt'], deleted: ['sub/c.txt'] });
    await leaveRacyWindow();
    renameSync(ds('a.txt'), ds('a2.txt'));
    renameSync(ds('sub/deep/d.txt'), ds('sub/d.txt'));
    expect(await changes()).toMatchObject({ added: ['a2.txt', 'sub/d.txt', 'sub/deep/new2.txt'], modified: [], deleted: ['a.txt', 'sub/c.txt', 'sub/deep/d.txt'] });
    await leaveRacyWindow();
    renameSync(ds('a2.txt'), ds('a.txt'));
    renameSync(ds('sub/d.txt'), ds('sub/deep/d.txt'));
    writeFileSync(ds('sub/c.txt'), 'c');
    unlinkSync(ds('sub/deep/new2.txt'));
    expect(await changes()).toEqual(upToDate);
  });

  it('sees files created, deleted and renamed within the racy window of the scan before', async () => {
    // Each change lands right after a status that listed the directory it changes (and itself changed it
    // moments before): those listings are racy and must not be trusted by the next status.
    writeFileSync(ds('r1.txt'), '1');
    expect(await changes()).toMatchObject({ added: ['r1.txt'] });
    writeFileSync(ds('r2.txt'), '2');
    expect(await changes()).toMatchObject({ added: ['r1.txt', 'r2.txt'] });
    unlinkSync(ds('r1.txt'));
    expect(await changes()).toMatchObject({ added: ['r2.txt'], deleted: [] });
    renameSync(ds('r2.txt'), ds('sub/r3.txt'));
    expect(await changes()).toMatchObject({ added: ['sub/r3.txt'], deleted: [] });
    renameSync(ds('b.txt'), ds('b3.txt'));
    expect(await changes()).toMatchObject({ added: ['b3.txt', 'sub/r3.txt'], deleted: ['b.txt'] });
    renameSync(ds('b3.txt'), ds('b.txt'));
    unlinkSync(ds('sub/r3.txt'));
    expect(await changes()).toEqual(upToDate);
  });

  it('sees a new empty directory filled later, and a new directory tree', async () => {
    mkdirSync(ds('empty'));
    expect(await changes()).toEqual(upToDate);
    await leaveRacyWindow();
    expect(await changes()).toEqual(upToDate);
    expect(remembered('empty/')).toBe('');
    writeFileSync(ds('empty/now.txt'), 'now');
    mkdirSync(ds('sub/deep/x/y'), { recursive: true });
    writeFileSync(ds('sub/deep/x/y/z.txt'), 'z');
    expect(await changes()).toMatchObject({ added: ['empty/now.txt', 'sub/deep/x/y/z.txt'] });
  });

  it('sees an entry added to a directory whose mtime was set back (its ctime moved)', async () => {
    execFileSync('touch', ['-r', ds('sub'), join(repo, 'times.ref')]);
    writeFileSync(ds('sub/hidden.txt'), 'h');
    execFileSync('touch', ['-r', join(repo, 'times.ref'), ds('sub')]);
    expect(await changes()).toMatchObject({ added: ['sub/hidden.txt'] });
  });

  it('follows a symlink swapped in for a file, and never a symlink swapped in for a directory', async () => {
    const sentinel = filesUnder(outside).map((f) => [f, readFileSync(join(outside, f), 'utf8')]);
    unlinkSync(ds('a.txt'));
    symlinkSync(join(outside, 'secret.txt'), ds('a.txt'));
    expect(await changes()).toMatchObject({ state: 'modified', added: [], modified: ['a.txt'], deleted: [] });
    await leaveRacyWindow();
    // The directory's listing was remembered; a symlink to a directory takes its name.
    expect(remembered('sub/deep/')).toBe('d.txt');
    rmSync(ds('sub/deep'), { recursive: true });
    symlinkSync(join(outside, 'dir'), ds('sub/deep'));
    expect(await changes()).toMatchObject({ modified: ['a.txt'], deleted: ['sub/deep/d.txt'], added: [] });
    await leaveRacyWindow();
    expect(await changes()).toMatchObject({ modified: ['a.txt'], deleted: ['sub/deep/d.txt'], added: [] });
    expect(filesUnder(outside).map((f) => [f, readFileSync(join(outside, f), 'utf8')])).toEqual(sentinel);
  });

  it('applies a .dvcignore change to unchanged directories, and sees a .gitignore added inside the data', async () => {
    writeFileSync(join(repo, '.dvcignore'), 'deep/\n');
    expect(await changes()).toMatchObject({ deleted: ['sub/deep/d.txt'], added: [] });
    writeFileSync(join(repo, '.dvcignore'), '*.txt\n!a.txt\n');
    expect(await changes()).toMatchObject({ deleted: ['b.txt', 'sub/c.txt', 'sub/deep/d.txt'], added: [] });
    rmSync(join(repo, '.dvcignore'));
    expect(await changes()).toEqual(upToDate);
    writeFileSync(ds('sub/.gitignore'), 'c.txt\n');
    expect(await changes()).toMatchObject({ added: ['sub/.gitignore'], deleted: [] });
  });

  it('ignores a remembered listing edited to name entries outside the directory (hostile stat cache)', async () => {
    const statDir = join(repo, '.reg', 'tmp', 'stat');
    const file = join(statDir, readdirSync(statDir).find((n) => n.endsWith('.json'))!);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    const rel = (p: string) => `../${p}`.replace(/^/, '../'.repeat(repo.split('/').length));
    stored.dirs = stored.dirs.map((row: [string, ...unknown[]]) => (row[0] === '' ? [...row.slice(0, 5), `a.txt\nb.txt\nsub\n${rel(outside.slice(1) + '/secret.txt')}`] : row));
    writeFileSync(file, JSON.stringify(stored));
    rmSync(`${file}.log`, { force: true });
    expect(await changes()).toEqual(upToDate);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('outside bytes');
  });
});

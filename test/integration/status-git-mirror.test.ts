import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { checkout } from '../../dist/ops/data/checkout.js';
import { init } from '../../dist/ops/registry/init.js';
import { status } from '../../dist/ops/data/status.js';
import { scanWorkspace } from '../../dist/ops/data/scan.js';
import { openRepo } from '../../dist/repo.js';
import { makeContext } from '../../dist/context.js';
import { StatCache } from '../../dist/workspace/stat-cache.js';
import { MIRROR_MIN_ENTRIES } from '../../dist/workspace/mirror-index.js';
import { gitIndexV2 } from '../../dist/data/git-index.js';
import { editKeepingMtime as editFileKeepingMtime, intoNextSecond } from '../helpers/mirror-time.js';
import { makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { snapshotTree } from '../hostile/tree.js';

/**
 * Status with git's help: `git diff-files` over the mirror index of the stat cache tells which
 * files changed, and the walk does not lstat the others. Every way a file can change must still
 * show, with the mirror in use (each test checks that the scan took most files from git).
 */
const FILES = MIRROR_MIN_ENTRIES + 100;
let repo: string;
let outside: string;
const ctx = () => makeContext({ cwd: repo });
const ds = (rel = '') => join(repo, 'ds', rel);
const statDir = () => join(repo, '.reg', 'tmp', 'stat');
const nameOf = (i: number) => `d${i % 11}/f${String(i).padStart(5, '0')}.txt`;
/** Every file has the same size, so a swapped or edited file never shows by its size. */
const contentOf = (i: number) => `file ${String(i).padStart(5, '0')}\n`;

async function scan() {
  const r = openRepo(ctx());
  return scanWorkspace(r, ctx(), ds(), 'ds', { legacy: false, store: false, label: 'ds' });
}

async function changes() {
  const o = (await status(ctx(), { targets: ['ds'] })).outputs[0]!;
  const c = o.changes ?? { added: [], modified: [], deleted: [] };
  return { state: o.state, added: [...c.added].sort(), modified: [...c.modified].sort(), deleted: [...c.deleted].sort() };
}
const upToDate = { state: 'up-to-date', added: [], modified: [], deleted: [] };

/** The paths the current mirror index holds, as git reads them. */
function mirrored(): string[] {
  const m = StatCache.mirrorIndexOf(statDir(), 'ds', false);
  if (m === undefined) return [];
  return execFileSync('git', ['ls-files', '-z'], { cwd: repo, env: { ...process.env, GIT_INDEX_FILE: m.file }, encoding: 'utf8' }).split('\0').filter(Boolean);
}

/** Rewrites `rel` of the output with other bytes of the same size and puts its mtime back (only ctime and the bytes change). */
function editKeepingMtime(rel: string, mtime?: Date): void {
  editFileKeepingMtime(ds(rel), mtime);
}

/** Asserts the scan took (nearly) every file from git's answer: the mirror is in use. */
async function expectGitChecked(atLeast = FILES - 20): Promise<void> {
  const ws = await scan();
  expect(ws.filesCheckedByGit).toBeGreaterThanOrEqual(atLeast);
}

beforeEach(async () => {
  repo = makeGitRepo();
  outside = tempDir('reg-outside-');
  writeTree(outside, { 'secret.txt': contentOf(0) });
  await init(ctx());
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[`ds/${nameOf(i)}`] = contentOf(i);
  writeTree(repo, files);
  await intoNextSecond();
  await add(ctx(), { targets: ['ds'] });
  expect(StatCache.mirrorIndexOf(statDir(), 'ds', false)).toBeDefined();
  expect(mirrored()).toHaveLength(FILES);
  expect(await changes()).toEqual(upToDate);
  await expectGitChecked(FILES);
}, 120_000);
afterEach(() => {
  removeDir(repo);
  removeDir(outside);
});

describe('status with git checking the mirror index', () => {
  it('sees bytes changed at the same size with the mtime put back (same second and a later one)', async () => {
    editKeepingMtime(nameOf(1));
    const first = statSync(ds(nameOf(2))).mtime;
    editKeepingMtime(nameOf(2), new Date(first.getTime() + 1000));
    await expectGitChecked();
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(1), nameOf(2)].sort(), added: [], deleted: [] });
  });

  it('sees a file replaced by another of the same size and mtime (cp -p, rename over)', async () => {
    const tmp = ds('d1/.swap');
    copyFileSync(ds(nameOf(3)), tmp);
    utimesSync(tmp, statSync(ds(nameOf(4))).atime, statSync(ds(nameOf(4))).mtime);
    renameSync(tmp, ds(nameOf(4)));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(4)] });
  });

  it('sees a deleted file, a file replaced by a directory and a new file in a directory whose times were put back', async () => {
    unlinkSync(ds(nameOf(5)));
    unlinkSync(ds(nameOf(6)));
    mkdirSync(ds(nameOf(6)));
    writeFileSync(ds(`${nameOf(6)}/inner.txt`), contentOf(6));
    const dir = ds('d7');
    const before = statSync(dir);
    writeFileSync(ds('d7/new.txt'), 'new');
    utimesSync(dir, before.atime, before.mtime);
    expect(await changes()).toMatchObject({ state: 'modified', added: ['d7/new.txt', `${nameOf(6)}/inner.txt`].sort(), deleted: [nameOf(5), nameOf(6)].sort() });
  });

  it('sees a file replaced by a symlink to a file outside, leaving the target alone', async () => {
    unlinkSync(ds(nameOf(8)));
    symlinkSync(join(outside, 'secret.txt'), ds(nameOf(8)));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(8)] });
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe(contentOf(0));
    expect(lstatSync(ds(nameOf(8))).isSymbolicLink()).toBe(true);
  });

  it('lstats a file whose exec bit was flipped (its mode is the real one)', async () => {
    chmodSync(ds(nameOf(9)), 0o755);
    const ws = await scan();
    expect(ws.filesCheckedByGit).toBeGreaterThanOrEqual(FILES - 20);
    expect(ws.files.find((f) => f.relpath === nameOf(9))!.mode & 0o100).toBe(0o100);
    expect(await changes()).toEqual(upToDate);
  });

  it('never mirrors a file written in the second of the add that recorded it, and sees it changed', async () => {
    await intoNextSecond();
    writeFileSync(ds('d10/new.txt'), contentOf(10));
    await add(ctx(), { targets: ['ds'] });
    // A file added makes add rewrite the stat cache and its mirror: this row is of the add's own second.
    expect(mirrored()).toContain(`ds/${nameOf(10)}`);
    expect(mirrored()).not.toContain('ds/d10/new.txt');
    editKeepingMtime('d10/new.txt');
    await expectGitChecked();
    expect(await changes()).toMatchObject({ state: 'modified', modified: ['d10/new.txt'] });
  });

  it('does not trust the mirror for rows the append log patched since it was written', async () => {
    editKeepingMtime(nameOf(11));
    expect(await changes()).toMatchObject({ modified: [nameOf(11)] });
    // The status recorded the file's new row in the log; the mirror still has the old one.
    await intoNextSecond();
    editKeepingMtime(nameOf(11));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(11)] });
    writeFileSync(ds(nameOf(11)), contentOf(11));
    expect(await changes()).toEqual(upToDate);
  });

  it('stays correct when the mirror index is deleted, truncated or garbage', async () => {
    const m = StatCache.mirrorIndexOf(statDir(), 'ds', false)!;
    editKeepingMtime(nameOf(12));
    writeFileSync(m.file, readFileSync(m.file).subarray(0, 100));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(12)] });
    writeFileSync(m.file, 'DIRC garbage, not an index');
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(12)] });
    rmSync(m.file);
    expect((await scan()).filesCheckedByGit).toBe(0);
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(12)] });
  });

  it('stops asking a git that reports most unchanged files as changed (one built with USE_NSEC)', async () => {
    // A mirror git cannot match (another uid): it reports every entry, and every one is unchanged.
    const m = StatCache.mirrorIndexOf(statDir(), 'ds', false)!;
    const st = Array.from({ length: FILES }, (_, i) => lstatSync(ds(nameOf(i))));
    const at = (k: number) => st[k]!;
    writeFileSync(
      m.file,
      gitIndexV2({ count: FILES, prefix: 'ds/', path: (k) => nameOf(k), ctimeMs: (k) => at(k).ctimeMs, mtimeMs: (k) => at(k).mtimeMs, ino: (k) => at(k).ino, size: (k) => at(k).size, mode: () => 0o100644, uid: (k) => at(k).uid + 1, gid: (k) => at(k).gid }),
    );
    const marker = join(statDir(), 'git-compares-nsec');
    expect((await scan()).filesCheckedByGit).toBe(0);
    expect(existsSync(marker)).toBe(true);
    editKeepingMtime(nameOf(13));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(13)] });
    // Deleting the marker makes reg ask again (the mirror is still unusable: still correct).
    rmSync(marker);
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(13)] });
  });

  it('after reg checkout rewrote every file: the next status checks them again once, then git vouches for them, and a later edit still shows', async () => {
    await checkout(ctx(), { targets: ['ds'], relink: true, force: true });
    // Files reg wrote are recorded as checked in their own second: not in the mirror yet.
    expect(mirrored().length).toBeLessThan(FILES / 2);
    await intoNextSecond();
    expect(await changes()).toEqual(upToDate);
    expect(mirrored()).toHaveLength(FILES);
    await expectGitChecked();
    expect(await changes()).toEqual(upToDate);
    editKeepingMtime(nameOf(7));
    await expectGitChecked();
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(7)], added: [], deleted: [] });
  }, 120_000);

  it('checkout into an emptied workspace starts the stat cache afresh: the old generation and its mirror are gone, status is up to date, git vouches again, and edits show', async () => {
    const old = StatCache.mirrorIndexOf(statDir(), 'ds', false)!;
    rmSync(ds(), { recursive: true });
    await checkout(ctx(), { targets: ['ds'] });
    expect(existsSync(old.file)).toBe(false);
    // Files reg wrote are recorded as checked in their own second: no mirror until a later status.
    expect(StatCache.mirrorIndexOf(statDir(), 'ds', false)).toBeUndefined();
    await intoNextSecond();
    expect(await changes()).toEqual(upToDate);
    expect(mirrored()).toHaveLength(FILES);
    await expectGitChecked();
    editKeepingMtime(nameOf(5));
    writeFileSync(ds('d0/new.txt'), 'new\n');
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(5)], added: ['d0/new.txt'], deleted: [] });
  }, 120_000);

  it('a stat cache without a mirror index (a reg from before it, or the mirror deleted) gets one at the next status, once', async () => {
    const first = StatCache.mirrorIndexOf(statDir(), 'ds', false)!;
    rmSync(first.file);
    expect(await changes()).toEqual(upToDate);
    const second = StatCache.mirrorIndexOf(statDir(), 'ds', false);
    expect(second).toBeDefined();
    expect(second!.gen).not.toBe(first.gen);
    expect(mirrored()).toHaveLength(FILES);
    await expectGitChecked(FILES);
    // Once: with the mirror in place, a status writes nothing.
    expect(await changes()).toEqual(upToDate);
    expect(StatCache.mirrorIndexOf(statDir(), 'ds', false)!.gen).toBe(second!.gen);
  }, 120_000);

  it('after an edit, status answers from the changes without the new oid; the bytes put back are up to date again, and add records the right oid', async () => {
    const original = readFileSync(ds(nameOf(8)));
    editKeepingMtime(nameOf(8));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(8)], added: [], deleted: [] });
    writeFileSync(ds(nameOf(8)), original);
    expect(await changes()).toEqual(upToDate);
    editKeepingMtime(nameOf(8));
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(8)] });
    const [added] = (await add(ctx(), { targets: ['ds'] })).outputs;
    // A scan that must name the oid (no pointer given) computes the same one from the files.
    expect((await scan()).oid).toBe(added!.oid);
    expect(await changes()).toEqual(upToDate);
  }, 120_000);
});

describe("status without a walk: the stat cache's rows stand for it while every directory listing holds", () => {
  // Nothing here writes Git's own files (the steps are reg's and the data's): .git is byte-identical after each test.
  let gitBefore: Record<string, string>;
  beforeEach(() => {
    gitBefore = snapshotTree(join(repo, '.git'));
  });
  afterEach(() => expect(snapshotTree(join(repo, '.git')), '.git').toEqual(gitBefore));
  /** Status's scan of ds: the pointer's oid given, the walk elided when the rows can stand for it. */
  async function statusScan() {
    const pointerOid = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(repo, 'ds.dvc'), 'utf8'))![1];
    return scanWorkspace(openRepo(ctx()), ctx(), ds(), 'ds', { legacy: false, store: false, label: 'ds', pointerOid, oidOnlyIfUnedited: true, elideWalk: true });
  }
  const summary = (files: ReadonlyArray<{ relpath: string; md5?: string; size: number }>) => files.map((f) => `${f.relpath} ${f.md5} ${f.size}`);

  it('with nothing changed: no walk, the pointer oid, and the files made from the rows are the walk’s, in its order', async () => {
    const ws = await statusScan();
    expect(ws.walkElided).toBe(true);
    expect(ws.filesCheckedByGit).toBe(FILES);
    const walked = await scan();
    expect(walked.walkElided).toBe(false);
    expect(ws.oid).toBe(walked.oid);
    expect(ws.size).toBe(walked.size);
    expect(ws.nfiles).toBe(FILES);
    expect(summary(ws.files)).toEqual(summary(walked.files));
  });

  it('an edit at the same size with the mtime put back: still no walk, the file listed as modified; the bytes put back: up to date', async () => {
    const original = readFileSync(ds(nameOf(3)));
    const mtime = statSync(ds(nameOf(3))).mtime;
    editKeepingMtime(nameOf(3));
    const ws = await statusScan();
    expect(ws.walkElided).toBe(true);
    expect(ws.hashedFiles).toBe(1);
    expect(ws.changedSince?.modified).toEqual([nameOf(3)]);
    expect(await changes()).toMatchObject({ state: 'modified', modified: [nameOf(3)], added: [], deleted: [] });
    writeFileSync(ds(nameOf(3)), original);
    utimesSync(ds(nameOf(3)), mtime, mtime);
    expect((await statusScan()).walkElided).toBe(true);
    expect(await changes()).toEqual(upToDate);
  });

  it('a new file in a directory whose mtime was put back (only its ctime moved), nothing else changed: the walk finds it', async () => {
    const dir = ds('d5');
    const before = statSync(dir);
    writeFileSync(ds('d5/new.txt'), contentOf(5));
    utimesSync(dir, before.atime, before.mtime);
    const ws = await statusScan();
    expect(ws.walkElided).toBe(false);
    expect(ws.nfiles).toBe(FILES + 1);
    expect(await changes()).toMatchObject({ state: 'modified', added: ['d5/new.txt'], modified: [], deleted: [] });
  });

  it('an empty file (never in the mirror: git cannot vouch for it) written to: no walk, and it is looked at and listed modified', async () => {
    writeFileSync(ds('d6/empty.txt'), '');
    await intoNextSecond();
    await add(ctx(), { targets: ['ds'] });
    await intoNextSecond();
    expect(mirrored()).not.toContain('ds/d6/empty.txt');
    expect((await statusScan()).walkElided).toBe(true);
    writeFileSync(ds('d6/empty.txt'), 'no longer empty\n');
    const ws = await statusScan();
    expect(ws.walkElided).toBe(true);
    expect(ws.hashedFiles).toBe(1);
    expect(await changes()).toMatchObject({ state: 'modified', modified: ['d6/empty.txt'], added: [], deleted: [] });
  });

  it('a .dvcignore rule at the repository root (no directory of the output changes): the walk decides, and the ignored file is gone from the output', async () => {
    writeFileSync(join(repo, '.dvcignore'), `ds/${nameOf(4)}\n`);
    const ws = await statusScan();
    expect(ws.walkElided).toBe(false);
    expect(ws.nfiles).toBe(FILES - 1);
    expect(await changes()).toMatchObject({ state: 'modified', added: [], modified: [], deleted: [nameOf(4)] });
  });

  it('a stale temp file, a symlinked directory and a .git directory the last walk skipped: every status walks again and reports them', async () => {
    const temp = ds('d2/.regtmp-0123456789ab-0');
    writeFileSync(temp, 'half written');
    const hoursAgo = new Date(Date.now() - 3 * 3600_000);
    utimesSync(temp, hoursAgo, hoursAgo);
    symlinkSync(outside, ds('d3/linked'));
    mkdirSync(ds('d4/.git'));
    await intoNextSecond();
    expect(await changes()).toEqual(upToDate);
    expect(await changes()).toEqual(upToDate);
    for (let k = 0; k < 2; k++) {
      const ws = await statusScan();
      expect(ws.walkElided).toBe(false);
      expect(ws.staleTemps).toEqual(['d2/.regtmp-0123456789ab-0']);
      expect(ws.symlinkedDirs).toEqual(['d3/linked']);
      expect(ws.oid).toBe((await scan()).oid);
    }
    // Without them, the rows stand for the walk again.
    rmSync(temp);
    unlinkSync(ds('d3/linked'));
    rmSync(ds('d4/.git'), { recursive: true });
    await intoNextSecond();
    expect(await changes()).toEqual(upToDate);
    expect((await statusScan()).walkElided).toBe(true);
  }, 60_000);

  it('a remembered listing that names a file the rows do not (a damaged stat cache; same name length): the walk decides', async () => {
    expect((await statusScan()).walkElided).toBe(true);
    const json = join(statDir(), readdirSync(statDir()).find((n) => n.endsWith('.json'))!);
    expect(existsSync(`${json}.log`)).toBe(false);
    const stored = JSON.parse(readFileSync(json, 'utf8')) as { dirs: Array<[string, number, number, number, number, string]> };
    const [dir, name] = [`${nameOf(0).split('/')[0]}/`, nameOf(0).split('/')[1]!];
    const listing = stored.dirs.find((d) => d[0] === dir)!;
    expect(listing[5].split('\n')).toContain(name);
    listing[5] = listing[5].replace(name, `g${name.slice(1)}`);
    writeFileSync(json, JSON.stringify(stored));
    // (The walk itself trusts a listing whose directory is unchanged, as git's untracked cache does: what it then reports is not this test's.)
    expect((await statusScan()).walkElided).toBe(false);
  });
});

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { restore } from '../../dist/ops/history/restore.js';
import { makeContext } from '../../dist/context.js';
import { serializeManifest } from '../../dist/data/manifest.js';
import { expectRegError } from '../helpers/expect-error.js';
import { filesUnder, git, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { counting, type BackendCall } from '../helpers/counting-backend.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, type HistoryFixture } from '../helpers/history-fixture.js';
import { snapshotTree } from '../hostile/tree.js';

/**
 * `reg restore ENTRY --rev R` in clones of the fixture history (whose data sits on a directory
 * remote): the pointer text of R byte for byte, R's data (fetched and verified when the cache
 * lacks it), checkout's refusal and stash rules, and every refusal before anything is written.
 */
let fx: HistoryFixture;
let remoteDir: string;
let clone: string;

const POINTER = `${IMAGES}.dvc`;
const MODEL_POINTER = `${MODEL}.dvc`;
const key = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;
const ctx = () => makeContext({ cwd: clone });

const IMAGES_AT = {
  v0: { 'a.txt': CONTENT.a, 'b.txt': CONTENT.b, 'sub/c.txt': CONTENT.c },
  v1: { 'a.txt': CONTENT.a, 'b.txt': CONTENT.b, 'sub/c.txt': CONTENT.c, 'd.txt': CONTENT.d },
  v2: { 'a.txt': CONTENT.a, 'sub/b-renamed.txt': CONTENT.b, 'sub/c.txt': CONTENT.c2, 'e.txt': CONTENT.e, 'dup1.txt': CONTENT.dup, 'dup2.txt': CONTENT.dup },
};

/** Relpath -> content of every file under a directory. */
function contents(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** The work tree and .git as bytes, without the cache (a refused restore may have fetched a manifest into it). */
function everything(root: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshotTree(root)).filter(([k]) => !k.startsWith('.reg/cache') && !k.startsWith('.reg/tmp')));
}

async function statusOf(root: string, target: string): Promise<string> {
  return JSON.parse((await regOk(root, ['status', target, '--json'])).stdout).outputs[0].state;
}

beforeAll(async () => {
  remoteDir = tempDir('reg-restore-remote-');
  fx = await buildHistoryFixture({ remoteDir });
}, 180_000);
afterAll(() => {
  removeDir(fx.root);
  removeDir(remoteDir);
});

beforeEach(() => {
  clone = tempDir('reg-restore-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
});
afterEach(() => removeDir(clone));

describe('reg restore', () => {
  it('rolls a directory entry to v2 and back to v1: pointer byte-identical, data equal, only the pointer shows in git status, status up to date', async () => {
    await regOk(clone, ['pull']);
    const r = await regOk(clone, ['restore', IMAGES, '--rev', 'v2']);
    expect(r.stdout).toBe(`${IMAGES}: restored to v2 (${fx.imagesOid.v1.slice(0, 10)}.dir -> ${fx.imagesOid.v2.slice(0, 10)}.dir; 5 files written, 2 removed, 1 unchanged)\n`);
    expect(r.stderr).toContain(`commit the rollback: git add ${POINTER} && git commit`);
    expect(readFileSync(join(clone, POINTER), 'utf8')).toBe(git(clone, 'show', `v2:${POINTER}`));
    expect(contents(join(clone, IMAGES))).toEqual(IMAGES_AT.v2);
    expect(git(clone, 'status', '--porcelain')).toBe(` M ${POINTER}\n`);
    expect(git(clone, 'diff', '--stat')).toContain(`${POINTER} | `);
    expect(await statusOf(clone, IMAGES)).toBe('up-to-date');
    git(clone, 'commit', '-q', '-am', 'images back to v2');

    const back = await restore(ctx(), { targets: [IMAGES], rev: 'v1' });
    expect(back.outputs).toEqual([{ path: IMAGES, pointer: POINTER, from: fx.imagesOid.v2, to: fx.imagesOid.v1, action: 'restored', created: false, written: 3, removed: 4, unchanged: 1 }]);
    expect(back).toMatchObject({ rev: 'v1', commit: git(clone, 'rev-parse', 'v1^{commit}').trim(), objects: { fetched: 0, manifests: 0 }, remotes: [] });
    expect(readFileSync(join(clone, POINTER), 'utf8')).toBe(git(clone, 'show', `v1:${POINTER}`));
    expect(contents(join(clone, IMAGES))).toEqual(IMAGES_AT.v1);
    expect(git(clone, 'status', '--porcelain')).toBe(` M ${POINTER}\n`);
    expect(await statusOf(clone, IMAGES)).toBe('up-to-date');
  }, 60_000);

  it('fetches what the cache lacks, each object once, from the remote (a fresh clone), and changes nothing else', async () => {
    const calls: BackendCall[] = [];
    const r = await restore(ctx(), { targets: [`${POINTER}`], rev: 'v2', wrapBackend: counting(calls) });
    const objects = [...new Set(Object.values(IMAGES_AT.v2).map(md5))].map((m) => key(m));
    expect(calls.map((c) => c.key).sort()).toEqual([key(fx.imagesOid.v2), ...objects].sort());
    expect(r.objects).toEqual({ fetched: objects.length, manifests: 1 });
    expect(r.remotes).toEqual(['store']);
    expect(r.outputs[0]).toMatchObject({ action: 'restored', from: fx.imagesOid.v1, to: fx.imagesOid.v2, written: 6, removed: 0 });
    expect(contents(join(clone, IMAGES))).toEqual(IMAGES_AT.v2);
    // The model was not named: its data is still absent.
    expect(existsSync(join(clone, MODEL))).toBe(false);
    expect(git(clone, 'status', '--porcelain')).toBe(` M ${POINTER}\n`);
  }, 60_000);

  it('a DVC 2 (legacy md5) version: its pointer text and its files', async () => {
    const r = await regOk(clone, ['restore', IMAGES, '--rev', 'v0', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs[0]).toMatchObject({ path: IMAGES, to: fx.imagesOid.v0, action: 'restored', written: 3 });
    expect(readFileSync(join(clone, POINTER), 'utf8')).toBe(git(clone, 'show', `v0:${POINTER}`));
    expect(contents(join(clone, IMAGES))).toEqual(IMAGES_AT.v0);
    expect(git(clone, 'status', '--porcelain')).toBe(` M ${POINTER}\n`);
    expect(await statusOf(clone, IMAGES)).toBe('up-to-date');
  }, 60_000);

  it('a single-file entry, from the cache (no remote asked)', async () => {
    await regOk(clone, ['pull', MODEL]);
    // The experiment version was never pushed; this clone's cache gets it from the original's.
    const obj = key(fx.modelOid.exp);
    mkdirSync(dirname(join(clone, '.reg/cache', obj)), { recursive: true });
    copyFileSync(join(fx.root, '.reg/cache', obj), join(clone, '.reg/cache', obj));
    const calls: BackendCall[] = [];
    const r = await restore(ctx(), { targets: [MODEL], rev: 'origin/experiment', wrapBackend: counting(calls) });
    expect(calls).toEqual([]);
    expect(r.outputs).toEqual([{ path: MODEL, pointer: MODEL_POINTER, from: fx.modelOid.v1, to: fx.modelOid.exp, action: 'restored', created: false, written: 1, removed: 0, unchanged: 0 }]);
    expect(readFileSync(join(clone, MODEL)).equals(CONTENT.model2)).toBe(true);
    expect(readFileSync(join(clone, MODEL_POINTER), 'utf8')).toBe(git(clone, 'show', `origin/experiment:${MODEL_POINTER}`));
    expect(git(clone, 'status', '--porcelain')).toBe(` M ${MODEL_POINTER}\n`);
    expect(await statusOf(clone, MODEL)).toBe('up-to-date');
  }, 60_000);

  it('an entry deleted since: pointer, data and its .gitignore line come back', async () => {
    git(clone, 'rm', '-q', MODEL_POINTER, 'models/.gitignore');
    git(clone, 'commit', '-q', '-m', 'drop the model');
    const r = await regOk(clone, ['restore', MODEL, '--rev', 'v1']);
    expect(r.stderr).toContain(`git add ${MODEL_POINTER} models/.gitignore`);
    expect(readFileSync(join(clone, MODEL_POINTER), 'utf8')).toBe(git(clone, 'show', `v1:${MODEL_POINTER}`));
    expect(readFileSync(join(clone, MODEL)).equals(CONTENT.model1)).toBe(true);
    expect(readFileSync(join(clone, 'models/.gitignore'), 'utf8')).toBe('/model.bin\n');
    expect(git(clone, 'status', '--porcelain')).toBe(`?? models/\n`);
    expect(git(clone, 'status', '--porcelain', '-uall')).toBe(`?? models/.gitignore\n?? ${MODEL_POINTER}\n`);
  }, 60_000);

  it('an entry whose pointer is the same at the revision is "already at" it and untouched', async () => {
    const before = everything(clone);
    const r = await regOk(clone, ['restore', IMAGES, '--rev', 'v1', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs).toEqual([{ path: IMAGES, pointer: POINTER, from: fx.imagesOid.v1, to: fx.imagesOid.v1, action: 'already-at-rev', created: false, written: 0, removed: 0, unchanged: 0 }]);
    expect(everything(clone)).toEqual(before);
    expect((await regOk(clone, ['restore', IMAGES, '--rev', 'v1'])).stdout).toBe(`${IMAGES}: already at v1\n`);
  }, 60_000);
});

describe('reg restore refuses before changing anything', () => {
  it('unsaved edits: exit 7 naming the files, nothing changed; --force stashes them and stash apply brings them back', async () => {
    await regOk(clone, ['pull']);
    writeFileSync(join(clone, IMAGES, 'a.txt'), 'my unsaved edit\n');
    writeFileSync(join(clone, IMAGES, 'mine.txt'), 'only here\n');
    const before = everything(clone);
    const refused = await reg(clone, ['restore', IMAGES, '--rev', 'v2']);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain(`${IMAGES}/a.txt (modified)`);
    expect(refused.stderr).toContain(`${IMAGES}/mine.txt (not-in-pointer)`);
    expect(refused.stdout).toBe('');
    expect(everything(clone)).toEqual(before);
    expect(JSON.parse((await regOk(clone, ['stash', 'list', '--json'])).stdout).stashes).toEqual([]);

    const forced = await regOk(clone, ['restore', IMAGES, '--rev', 'v2', '--force', '--json']);
    const doc = JSON.parse(forced.stdout);
    expect(doc.stash.files.map((f: { path: string }) => f.path).sort()).toEqual([`${IMAGES}/a.txt`, `${IMAGES}/mine.txt`]);
    expect(doc.stash.reason).toBe('restore --rev v2 --force');
    expect(contents(join(clone, IMAGES))).toEqual(IMAGES_AT.v2);
    const list = JSON.parse((await regOk(clone, ['stash', 'list', '--json'])).stdout).stashes;
    expect(list.map((s: { id: string }) => s.id)).toEqual([doc.stash.id]);
    await regOk(clone, ['stash', 'apply', doc.stash.id]);
    expect(readFileSync(join(clone, IMAGES, 'a.txt'), 'utf8')).toBe('my unsaved edit\n');
    expect(readFileSync(join(clone, IMAGES, 'mine.txt'), 'utf8')).toBe('only here\n');
  }, 60_000);

  it('data that cannot be obtained (never pushed, not in the cache): refused, nothing changed', async () => {
    await regOk(clone, ['pull']);
    const before = everything(clone);
    // A file entry: its object is missing on the remote.
    const file = await reg(clone, ['restore', MODEL, '--rev', 'origin/experiment']);
    expect(file.code).toBe(4);
    expect(file.stderr).toContain(`${key(fx.modelOid.exp)}: missing on the remote`);
    expect(file.stderr).toContain(`nothing was changed: the pointers and data of ${MODEL} are as they were`);
    // A directory entry: its manifest is missing on the remote.
    await expectRegError(restore(ctx(), { targets: [IMAGES], rev: 'origin/experiment' }), 'history.manifest-missing', 4);
    // Both at once: the one that can be obtained is not restored either.
    await expectRegError(restore(ctx(), { targets: [MODEL, IMAGES], rev: 'origin/experiment' }), 'history.manifest-missing', 4);
    expect(everything(clone)).toEqual(before);
  }, 60_000);

  it('an object removed from the cache and the remote: refused, nothing changed', async () => {
    const privateRemote = tempDir('reg-restore-private-');
    try {
      for (const f of filesUnder(remoteDir)) writeTree(privateRemote, { [f]: readFileSync(join(remoteDir, f)) });
      await regOk(clone, ['remote', 'modify', 'store', 'url', privateRemote, '--local']);
      await regOk(clone, ['pull']);
      const gone = key(md5(CONTENT.e));
      rmSync(join(privateRemote, gone));
      rmSync(join(clone, '.reg/cache', gone), { force: true });
      const before = everything(clone);
      const r = await reg(clone, ['restore', IMAGES, '--rev', 'v2']);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(`${gone}: missing on the remote`);
      expect(r.stderr).toContain('restore incomplete');
      expect(everything(clone)).toEqual(before);
    } finally {
      removeDir(privateRemote);
    }
  }, 60_000);

  it('no remote to fetch from: refused naming the fix, nothing changed', async () => {
    await regOk(clone, ['remote', 'default', '--unset']);
    const before = everything(clone);
    const file = await reg(clone, ['restore', MODEL, '--rev', 'origin/experiment']);
    expect(file.code).toBe(3);
    expect(file.stderr).toContain('no remote is configured');
    expect(file.stderr).toContain('reg remote add');
    await expectRegError(restore(ctx(), { targets: [IMAGES], rev: 'v2' }), 'history.manifest-unavailable', 3);
    expect(everything(clone)).toEqual(before);
  }, 60_000);

  it('a target that does not exist at the revision, or a path inside an entry: usage errors naming reg log / the entry', async () => {
    const missing = await reg(clone, ['restore', MODEL, '--rev', 'v0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${MODEL} is not tracked by reg at v0`);
    expect(missing.stderr).toContain(`reg log ${MODEL}`);
    const inside = await reg(clone, ['restore', `${IMAGES}/a.txt`, '--rev', 'v1']);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain(`reg restore ${IMAGES} --rev v1`);
    const noRev = await reg(clone, ['restore', IMAGES]);
    expect(noRev.code).toBe(2);
    expect(noRev.stderr).toContain('--rev');
    const badRev = await reg(clone, ['restore', IMAGES, '--rev', 'no-such-tag']);
    expect(badRev.code).toBe(2);
    const json = await reg(clone, ['restore', MODEL, '--rev', 'v0', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'restore.not-at-rev' } });
  }, 60_000);
});

describe('reg restore with hostile history', () => {
  let sentinel: string;
  beforeEach(() => {
    sentinel = tempDir('reg-restore-sentinel-');
    writeTree(sentinel, { 'keep.txt': 'sentinel\n', 'x/keep.txt': 'sentinel\n' });
  });
  afterEach(() => removeDir(sentinel));

  /** Commits files in the clone as a tag (default `evil`), then returns HEAD to where it was (the files leave the work tree). */
  function tagHostile(files: Record<string, string>, upload: Record<string, Buffer> = {}, tag = 'evil'): void {
    writeTree(clone, files);
    for (const [k, bytes] of Object.entries(upload)) writeTree(remoteDir, { [k]: bytes });
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'hostile');
    git(clone, 'tag', tag);
    git(clone, 'reset', '-q', '--hard', 'HEAD~1');
  }

  async function expectUntouched(args: string[], exit: number, message: string): Promise<void> {
    const sentinelBefore = snapshotTree(sentinel);
    const before = everything(clone);
    const gitBefore = snapshotTree(join(clone, '.git'));
    const r = await reg(clone, args);
    expect(r.code, r.stderr).toBe(exit);
    expect(r.stderr).toContain(message);
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(clone, '.git'))).toEqual(gitBefore);
    expect(everything(clone)).toEqual(before);
  }

  const b = md5(CONTENT.b);

  it('a pointer path that leaves the repository: exit 3, nothing written', async () => {
    tagHostile({ 'raw_datasets/out.dvc': `outs:\n- md5: ${b}\n  size: 6\n  path: ../../../../../../../..${sentinel}/keep.txt\n  hash: md5\n` });
    await expectUntouched(['restore', 'raw_datasets/out', '--rev', 'evil'], 3, 'leads outside the repository');
    tagHostile({ 'raw_datasets/up.dvc': `outs:\n- md5: ${b}\n  size: 6\n  path: ../../x\n  hash: md5\n` }, {}, 'evil2');
    await expectUntouched(['restore', 'raw_datasets/up', '--rev', 'evil2'], 3, 'leads outside the repository');
  }, 60_000);

  it('a pointer path into .git: exit 3, .git byte-identical', async () => {
    tagHostile({ 'raw_datasets/hook.dvc': `outs:\n- md5: ${b}\n  size: 6\n  path: ../.git/hooks/pre-commit\n  hash: md5\n` });
    await expectUntouched(['restore', 'raw_datasets/hook', '--rev', 'evil'], 3, "inside Git's own directory");
  }, 60_000);

  it('a symlinked directory in the work tree on the way: exit 3, the sentinel it points to untouched', async () => {
    tagHostile({ 'raw_datasets/linked/data.dvc': `outs:\n- md5: ${b}\n  size: 6\n  path: x/keep.txt\n  hash: md5\n` });
    // After the commit, the directory holding the pointer is replaced by a link out of the repository.
    mkdirSync(join(clone, 'raw_datasets'), { recursive: true });
    rmSync(join(clone, 'raw_datasets/linked'), { recursive: true, force: true });
    symlinkSync(sentinel, join(clone, 'raw_datasets/linked'));
    await expectUntouched(['restore', 'raw_datasets/linked/data', '--rev', 'evil'], 3, 'a symbolic link');
  }, 60_000);

  it('a symlink where the data goes (the output itself is a link to a directory): exit 7 without --force', async () => {
    // A directory version of an entry whose path in the work tree is a link out of the repository.
    rmSync(join(clone, IMAGES), { recursive: true, force: true });
    symlinkSync(join(sentinel, 'x'), join(clone, IMAGES));
    await expectUntouched(['restore', IMAGES, '--rev', 'v2'], 7, 'a symlink to');
  }, 60_000);

  it('a manifest at the revision whose file leaves the directory: exit 3, nothing written', async () => {
    const manifest = serializeManifest([{ relpath: `../../../../../../../../..${sentinel}/keep.txt`, md5: b }, { relpath: 'ok.txt', md5: b }]);
    const oid = md5(manifest) + '.dir';
    tagHostile({ 'raw_datasets/evil.dvc': `outs:\n- md5: ${oid}\n  path: evil\n  hash: md5\n` }, { [key(oid)]: manifest });
    await expectUntouched(['restore', 'raw_datasets/evil', '--rev', 'evil'], 3, 'unsafe relpath');
  }, 60_000);
});

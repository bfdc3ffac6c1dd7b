import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { checkout } from '../../dist/ops/data/checkout.js';
import { init } from '../../dist/ops/registry/init.js';
import { status } from '../../dist/ops/data/status.js';
import { makeContext } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import { buildManifest } from '../../dist/data/manifest.js';
import { StatCache } from '../../dist/workspace/stat-cache.js';
import { filesUnder, tempFilesUnder, git, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8'));

let repo: string;
const ctx = () => makeContext({ cwd: repo });

async function expectRegError(p: Promise<unknown>, code: string, exit?: number): Promise<RegError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code).toBe(code);
    if (exit !== undefined) expect((err as RegError).exitCode).toBe(exit);
    return err as RegError;
  }
  throw new Error(`expected RegError ${code}, but the operation succeeded`);
}

function cacheFiles(): string[] {
  return filesUnder(join(repo, '.reg', 'cache')).filter((f) => !f.startsWith('.complete/'));
}

beforeEach(async () => {
  repo = makeGitRepo();
  await init(ctx());
});
afterEach(() => removeDir(repo));

describe('init', () => {
  it('needs a git work tree', async () => {
    const dir = tempDir();
    try {
      await expectRegError(init(makeContext({ cwd: dir })), 'repo.not-git', 3);
    } finally {
      removeDir(dir);
    }
  });
  it('is idempotent', async () => {
    const again = await init(ctx());
    expect(again.alreadyInitialized).toBe(true);
    expect(again.created).toEqual([]);
    expect(readFileSync(join(repo, '.reg', '.gitignore'), 'utf8')).toBe('/cache\n/tmp\n/config.local.yaml\n/stash\n');
  });
  it('imports DVC remotes, keeping secrets out of the tracked config', async () => {
    writeTree(repo, {
      '.dvc/config': "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/dvc\n    endpointurl = https://minio.example.org\n    region = eu-west-1\n",
      '.dvc/config.local': "['remote \"storage\"']\n    access_key_id = AKIAEXAMPLE\n    secret_access_key = verysecret\n",
    });
    const r = await init(ctx(), { fromDvc: true });
    expect(r.importedRemotes.map((x) => x.name)).toEqual(['storage']);
    const tracked = readFileSync(join(repo, '.reg', 'config.yaml'), 'utf8');
    const local = readFileSync(join(repo, '.reg', 'config.local.yaml'), 'utf8');
    expect(tracked).toContain('url: s3://bucket/dvc');
    expect(tracked).toContain('endpoint-url: https://minio.example.org');
    expect(tracked).toContain('remote: storage');
    expect(tracked).not.toContain('verysecret');
    expect(tracked).not.toContain('AKIAEXAMPLE');
    expect(local).toContain('secret-access-key: verysecret');
  });
});

describe('add', () => {
  it('writes the DVC pointer, gitignore line and read-only cache objects (vector tree1)', async () => {
    const t = vectors.trees.tree1;
    writeTree(repo, Object.fromEntries(Object.entries(t.files as Record<string, { content: string }>).map(([k, v]) => [`data/${k}`, v.content])));
    const r = await add(ctx(), { targets: ['data'] });
    expect(r.outputs[0]).toMatchObject({ path: 'data', pointer: 'data.dvc', oid: t.dir_md5, size: 6, nfiles: 2, changed: true });
    expect(readFileSync(join(repo, 'data.dvc'), 'utf8')).toBe(t.dvc_file.text);
    expect(readFileSync(join(repo, '.gitignore'), 'utf8')).toBe(`${t.dvc_file.gitignore_line}\n`);
    // Every member is cached now: the tree is marked complete, so the next status reads no manifest.
    expect(existsSync(join(repo, '.reg', 'cache', '.complete', t.dir_md5))).toBe(true);
    expect(cacheFiles()).toEqual(t.object_keys);
    for (const k of t.object_keys) expect(statSync(join(repo, '.reg/cache', k)).mode & 0o777).toBe(0o444);
    expect(readFileSync(join(repo, '.reg/cache', `files/md5/${t.dir_md5.slice(0, 2)}/${t.dir_md5.slice(2)}`), 'utf8')).toBe(t.manifest);
  });

  it('adds single files (with isexec) and several paths at once', async () => {
    writeTree(repo, { 'models/a.bin': 'foo', 'models/run.sh': '#!/bin/sh\n' });
    chmodSync(join(repo, 'models/run.sh'), 0o755);
    const r = await add(ctx(), { targets: ['models/a.bin', 'models/run.sh'] });
    expect(r.outputs.map((o) => o.path)).toEqual(['models/a.bin', 'models/run.sh']);
    expect(readFileSync(join(repo, 'models/a.bin.dvc'), 'utf8')).toBe(vectors.files[0].dvc_file.text.replace('path: foo', 'path: a.bin'));
    expect(readFileSync(join(repo, 'models/run.sh.dvc'), 'utf8')).toContain('  isexec: true\n');
    expect(readFileSync(join(repo, 'models/.gitignore'), 'utf8')).toBe('/a.bin\n/run.sh\n');
  });

  it('copies big files into the cache through the pipelined path, byte for byte', async () => {
    const big = Buffer.alloc(40 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    writeTree(repo, { 'models/big.bin': big, 'models/dir/a.bin': big.subarray(0, 33 << 20), 'models/dir/b.txt': 'small' });
    const r = await add(ctx(), { targets: ['models/big.bin', 'models/dir'] });
    const { createHash } = await import('node:crypto');
    const md5 = createHash('md5').update(big).digest('hex');
    expect(r.outputs[0]!.oid).toBe(md5);
    const object = readFileSync(join(repo, '.reg/cache/files/md5', md5.slice(0, 2), md5.slice(2)));
    expect(object.equals(big)).toBe(true);
    expect(statSync(join(repo, '.reg/cache/files/md5', md5.slice(0, 2), md5.slice(2))).mode & 0o777).toBe(0o444);
    const partMd5 = createHash('md5').update(big.subarray(0, 33 << 20)).digest('hex');
    expect(readFileSync(join(repo, '.reg/cache/files/md5', partMd5.slice(0, 2), partMd5.slice(2))).equals(big.subarray(0, 33 << 20))).toBe(true);
    expect(tempFilesUnder(join(repo, '.reg/cache'))).toEqual([]);
  });

  it('stores identical content once', async () => {
    writeTree(repo, { 'a/x': 'same', 'a/y': 'same', 'b/z': 'same' });
    const r1 = await add(ctx(), { targets: ['a'] });
    expect(r1.outputs[0]!.storedObjects).toBe(1);
    const r2 = await add(ctx(), { targets: ['b'] });
    expect(r2.outputs[0]!.storedObjects).toBe(0);
    expect(cacheFiles().filter((f) => !f.endsWith('.dir'))).toHaveLength(1);
  });

  it('re-adding a changed directory rewrites the pointer; an unchanged file is never re-hashed', async () => {
    writeTree(repo, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`ds/f${i}.txt`, `content ${i}`])));
    const first = await add(ctx(), { targets: ['ds'] });
    await new Promise((r) => setTimeout(r, 60)); // leave the stat cache's racy window
    const again = await add(ctx(), { targets: ['ds'] });
    expect(again.outputs[0]).toMatchObject({ changed: false, oid: first.outputs[0]!.oid });
    writeFileSync(join(repo, 'ds/f7.txt'), 'changed');
    const st = await status(ctx(), { targets: ['ds'] });
    expect(st.outputs[0]).toMatchObject({ state: 'modified', hashedFiles: 1, changes: { added: [], modified: ['f7.txt'], deleted: [] } });
    const third = await add(ctx(), { targets: ['ds'] });
    expect(third.outputs[0]!.changed).toBe(true);
    expect(third.outputs[0]!.oid).not.toBe(first.outputs[0]!.oid);
    expect(readFileSync(join(repo, 'ds.dvc'), 'utf8')).toContain(third.outputs[0]!.oid);
  });

  it('sees a file rewritten with the same size and its mtime put back (its ctime moved)', async () => {
    writeTree(repo, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`ds/f${i}.txt`, `content ${String(i).padStart(2, '0')}`])));
    // Files written less than the racy window (50 ms) before add hashes them stay suspect, and are hashed again.
    await new Promise((r) => setTimeout(r, 120));
    await add(ctx(), { targets: ['ds'] });
    expect((await status(ctx(), { targets: ['ds'] })).outputs[0]).toMatchObject({ state: 'up-to-date', hashedFiles: 0 });
    const f3 = join(repo, 'ds/f3.txt');
    const before = statSync(f3);
    // touch -r keeps the nanoseconds (utimes from JS rounds them).
    execFileSync('touch', ['-r', f3, join(repo, 'times.ref')]);
    writeFileSync(f3, 'CONTENT 03');
    execFileSync('touch', ['-r', join(repo, 'times.ref'), f3]);
    expect(statSync(f3).size).toBe(before.size);
    expect(statSync(f3).mtimeMs).toBe(before.mtimeMs);
    expect((await status(ctx(), { targets: ['ds'] })).outputs[0]).toMatchObject({ state: 'modified', changes: { modified: ['f3.txt'] } });
  });

  it('refuses paths outside the repo, tracked by Git, overlapping, missing or .reg', async () => {
    const outside = tempDir();
    try {
      writeTree(outside, { f: 'x' });
      await expectRegError(add(ctx(), { targets: [join(outside, 'f')] }), 'target.outside-repo', 2);
    } finally {
      removeDir(outside);
    }
    writeTree(repo, { 'tracked/a': 'a', 'ds/sub/b': 'b', 'ds/c': 'c' });
    git(repo, 'add', 'tracked/a');
    await expectRegError(add(ctx(), { targets: ['tracked'] }), 'add.git-tracked', 2);
    await add(ctx(), { targets: ['ds/sub'] });
    await expectRegError(add(ctx(), { targets: ['ds'] }), 'add.overlap', 2);
    await expectRegError(add(ctx(), { targets: ['ds/sub/b'] }), 'add.overlap', 2);
    await expectRegError(add(ctx(), { targets: ['nope'] }), 'add.missing', 2);
    await expectRegError(add(ctx(), { targets: ['.reg'] }), 'add.internal-path', 2);
  });

  it('refuses data in synced and local areas (they are not versioned)', async () => {
    writeTree(repo, { 'processed_datasets/tok/a': 'a', 'experiments/run1/log': 'l' });
    const synced = await expectRegError(add(ctx(), { targets: ['processed_datasets/tok'] }), 'add.unversioned-area', 2);
    expect(synced.hint).toContain('reg sync push processed_datasets/tok');
    await expectRegError(add(ctx(), { targets: ['experiments/run1'] }), 'add.unversioned-area', 2);
    expect(existsSync(join(repo, 'processed_datasets/tok.dvc'))).toBe(false);
  });

  it('refuses non-UTF-8 file names and .dvcignore inside the data', async () => {
    mkdirSync(join(repo, 'bad'));
    writeFileSync(Buffer.from(join(repo, 'bad') + '/caf\xe9', 'latin1'), 'x');
    const err = await expectRegError(add(ctx(), { targets: ['bad'] }), 'add.non-utf8-name', 2);
    expect(err.message).toContain('636166e9');
    writeTree(repo, { 'ign/.dvcignore': '*.tmp\n', 'ign/a': 'a' });
    await expectRegError(add(ctx(), { targets: ['ign'] }), 'add.dvcignore-inside', 2);
    expect(existsSync(join(repo, 'bad.dvc'))).toBe(false);
  });

  it('follows symlinks to files, skips symlinked directories, refuses dangling links', async () => {
    writeTree(repo, { 'ext/target.txt': 'foo', 'ext/dir/inner': 'x', 'ln/real': 'bar' });
    symlinkSync(join(repo, 'ext/target.txt'), join(repo, 'ln/link.txt'));
    symlinkSync(join(repo, 'ext/dir'), join(repo, 'ln/linkdir'));
    const r = await add(ctx(), { targets: ['ln'] });
    const expected = buildManifest([
      { relpath: 'link.txt', md5: 'acbd18db4cc2f85cedef654fccc4a4d8' },
      { relpath: 'real', md5: '37b51d194a7513e45b56f6524f2d51f2' },
    ]);
    expect(r.outputs[0]).toMatchObject({ oid: expected.oid, nfiles: 2 });
    symlinkSync(join(repo, 'nowhere'), join(repo, 'ext/dangling'));
    await expectRegError(add(ctx(), { targets: ['ext'] }), 'add.dangling-symlink', 2);
  });
});

describe('status and checkout', () => {
  beforeEach(async () => {
    writeTree(repo, { 'raw/mnist/train/0001.png': 'one', 'raw/mnist/train/0002.png': 'two', 'raw/mnist/test/0002.png': 'three' });
    await add(ctx(), { targets: ['raw/mnist'] });
  });

  it('reports up to date, modified (with file lists) and missing', async () => {
    expect((await status(ctx(), { targets: [] })).outputs[0]!.state).toBe('up-to-date');
    writeFileSync(join(repo, 'raw/mnist/train/0001.png'), 'one!');
    unlinkSync(join(repo, 'raw/mnist/test/0002.png'));
    writeFileSync(join(repo, 'raw/mnist/extra'), 'x');
    const st = await status(ctx(), { targets: ['raw/mnist.dvc'] });
    expect(st.outputs[0]).toMatchObject({ state: 'modified', changes: { added: ['extra'], modified: ['train/0001.png'], deleted: ['test/0002.png'] } });
    removeDir(join(repo, 'raw/mnist'));
    expect((await status(ctx(), { targets: ['raw/mnist'] })).outputs[0]).toMatchObject({ state: 'missing', inCache: true });
  });

  it('lists the same changes over repeated edits, a revert and an added file (with and without the stat cache knowing them)', async () => {
    const changesNow = async () => (await status(ctx(), { targets: [] })).outputs[0]!;
    expect((await changesNow()).state).toBe('up-to-date');
    for (const text of ['one!', 'one!!', 'one!!!']) {
      writeFileSync(join(repo, 'raw/mnist/train/0001.png'), text);
      expect(await changesNow()).toMatchObject({ state: 'modified', changes: { added: [], modified: ['train/0001.png'], deleted: [] } });
    }
    // Asked again without an edit: the same answer.
    expect(await changesNow()).toMatchObject({ state: 'modified', changes: { added: [], modified: ['train/0001.png'], deleted: [] } });
    writeFileSync(join(repo, 'raw/mnist/test/0002.png'), 'three?');
    const two = await changesNow();
    expect(two.state).toBe('modified');
    expect(two.changes!.modified.sort()).toEqual(['test/0002.png', 'train/0001.png']);
    writeFileSync(join(repo, 'raw/mnist/train/0001.png'), 'one');
    expect(await changesNow()).toMatchObject({ state: 'modified', changes: { added: [], modified: ['test/0002.png'], deleted: [] } });
    writeFileSync(join(repo, 'raw/mnist/new.png'), 'new');
    expect(await changesNow()).toMatchObject({ state: 'modified', changes: { added: ['new.png'], modified: ['test/0002.png'], deleted: [] } });
    unlinkSync(join(repo, 'raw/mnist/new.png'));
    writeFileSync(join(repo, 'raw/mnist/test/0002.png'), 'three');
    expect((await changesNow()).state).toBe('up-to-date');
    writeFileSync(join(repo, 'raw/mnist/train/0002.png'), 'two?');
    expect(await changesNow()).toMatchObject({ state: 'modified', changes: { added: [], modified: ['train/0002.png'], deleted: [] } });
  });

  it('checkout restores deleted data byte for byte and removes unlisted files that are in the cache', async () => {
    removeDir(join(repo, 'raw/mnist/train'));
    writeTree(repo, { 'raw/mnist/copy': 'two' }); // bytes exist in the cache: safe to remove
    const r = await checkout(ctx(), { targets: ['raw/mnist'] });
    expect(r.outputs[0]).toMatchObject({ action: 'restored', written: 2, removed: 1, unchanged: 1 });
    expect(readFileSync(join(repo, 'raw/mnist/train/0001.png'), 'utf8')).toBe('one');
    expect(existsSync(join(repo, 'raw/mnist/copy'))).toBe(false);
    expect((await status(ctx(), { targets: [] })).outputs[0]!.state).toBe('up-to-date');
  });

  it('a checkout that writes every file remembers their tree by its canonical oid (also from a manifest spaced otherwise, which status takes as up to date); edits since are still seen', async () => {
    // The pointer names the same entries in a manifest spaced otherwise (another oid), as DVC 2 wrote them.
    const pointerPath = join(repo, 'raw/mnist.dvc');
    const pointer = readFileSync(pointerPath, 'utf8');
    const oid = /md5: ([0-9a-f]{32})\.dir/.exec(pointer)![1]!;
    const objectPath = (o: string) => join(repo, '.reg/cache/files/md5', o.slice(0, 2), `${o.slice(2)}.dir`);
    const entries = JSON.parse(readFileSync(objectPath(oid), 'utf8')) as Array<{ md5: string; relpath: string }>;
    removeDir(join(repo, 'raw/mnist'));
    await checkout(ctx(), { targets: ['raw/mnist'] });
    expect(StatCache.load(join(repo, '.reg/tmp/stat'), 'raw/mnist', false).treeOid(3)).toBe(`${oid}.dir`); // a canonical manifest: its own oid
    const spaced = Buffer.from(JSON.stringify(entries, null, 1));
    const spacedOid = createHash('md5').update(spaced).digest('hex');
    mkdirSync(join(objectPath(spacedOid), '..'), { recursive: true });
    writeFileSync(objectPath(spacedOid), spaced, { mode: 0o444 });
    writeFileSync(pointerPath, pointer.replace(oid, spacedOid));
    const before = await status(ctx(), { targets: [] });
    expect(before.outputs[0]).toMatchObject({ state: 'up-to-date', workspace: 'matches' }); // the same entries, however spaced
    removeDir(join(repo, 'raw/mnist'));
    expect((await checkout(ctx(), { targets: ['raw/mnist'] })).outputs[0]).toMatchObject({ action: 'restored', written: 3 });
    const remembered = StatCache.load(join(repo, '.reg/tmp/stat'), 'raw/mnist', false);
    expect(remembered.treeOid(3)).toBe(`${oid}.dir`); // the oid of the rows (as add and status name them), not the spaced object's
    expect((await status(ctx(), { targets: [] })).outputs[0]).toEqual(before.outputs[0]);
    // Same size, other bytes; then a file more: neither hidden by the memo.
    writeFileSync(join(repo, 'raw/mnist/train/0001.png'), 'ONE');
    expect((await status(ctx(), { targets: [] })).outputs[0]).toMatchObject({ state: 'modified', changes: { added: [], modified: ['train/0001.png'], deleted: [] } });
    writeFileSync(join(repo, 'raw/mnist/train/0001.png'), 'one');
    writeFileSync(join(repo, 'raw/mnist/extra'), 'x');
    expect((await status(ctx(), { targets: [] })).outputs[0]).toMatchObject({ state: 'modified', changes: { added: ['extra'], modified: [], deleted: [] } });
  });

  it('refuses to destroy unsaved bytes, changing nothing; --force stashes them first', async () => {
    writeFileSync(join(repo, 'raw/mnist/train/0001.png'), 'precious edit');
    unlinkSync(join(repo, 'raw/mnist/train/0002.png'));
    writeTree(repo, { 'raw/mnist/new-file': 'new work' });
    const err = await expectRegError(checkout(ctx(), { targets: [] }), 'checkout.would-lose-data', 7);
    expect(err.message).toContain('raw/mnist/train/0001.png (modified)');
    expect(err.message).toContain('raw/mnist/new-file (not-in-pointer)');
    expect(readFileSync(join(repo, 'raw/mnist/train/0001.png'), 'utf8')).toBe('precious edit');
    expect(existsSync(join(repo, 'raw/mnist/train/0002.png'))).toBe(false); // nothing restored either
    const r = await checkout(ctx(), { targets: [], force: true });
    expect(readFileSync(join(repo, 'raw/mnist/train/0001.png'), 'utf8')).toBe('one');
    expect(existsSync(join(repo, 'raw/mnist/new-file'))).toBe(false);
    expect(r.stash!.files.map((f: { path: string }) => f.path).sort()).toEqual(['raw/mnist/new-file', 'raw/mnist/train/0001.png']);
    const { stashApply } = await import('../../dist/ops/data/stash.js');
    const out = tempDir();
    try {
      await stashApply(ctx(), { id: r.stash!.id, to: out });
      expect(readFileSync(join(out, 'raw/mnist/train/0001.png'), 'utf8')).toBe('precious edit');
      expect(readFileSync(join(out, 'raw/mnist/new-file'), 'utf8')).toBe('new work');
    } finally {
      removeDir(out);
    }
  });

  it('fails clearly when the data is not in the cache', async () => {
    removeDir(join(repo, '.reg/cache'));
    removeDir(join(repo, 'raw/mnist'));
    expect((await status(ctx(), { targets: [] })).outputs[0]).toMatchObject({ state: 'not-in-cache', inCache: false, workspace: 'absent' });
    await expectRegError(checkout(ctx(), { targets: [] }), 'checkout.not-in-cache', 1);
  });

  it('hardlink cache type makes workspace files read-only links to the cache', async () => {
    writeFileSync(join(repo, '.reg/config.yaml'), 'cache:\n  type: hardlink,copy\n');
    writeTree(repo, { 'hl/a': 'hard', 'hl/b': 'links' });
    await add(ctx(), { targets: ['hl'] });
    const st = statSync(join(repo, 'hl/a'));
    expect(st.mode & 0o222).toBe(0);
    expect(st.nlink).toBe(2);
    const s = await status(ctx(), { targets: ['hl'] });
    expect(s.outputs[0]).toMatchObject({ state: 'up-to-date', hashedFiles: 0 });
    removeDir(join(repo, 'hl'));
    await checkout(ctx(), { targets: ['hl'] });
    expect(statSync(join(repo, 'hl/b')).nlink).toBe(2);
  });
});

describe('DVC 2 (legacy) pointers', () => {
  it('computes status with md5-dos2unix and checks out from the legacy cache layout', async () => {
    const v = vectors.legacy_md5_dos2unix[0];
    const content = Buffer.from(v.content, 'utf8');
    const legacyObject = join(repo, '.reg/cache', v.md5_dos2unix.slice(0, 2), v.md5_dos2unix.slice(2));
    writeTree(repo, { 'legacy.txt': content });
    mkdirSync(join(legacyObject, '..'), { recursive: true });
    writeFileSync(legacyObject, content);
    writeFileSync(join(repo, 'legacy.txt.dvc'), `outs:\n- md5: ${v.md5_dos2unix}\n  size: ${content.length}\n  path: legacy.txt\n`);
    const st = await status(ctx(), { targets: ['legacy.txt'] });
    expect(st.outputs[0]).toMatchObject({ state: 'up-to-date', legacy: true });
    unlinkSync(join(repo, 'legacy.txt'));
    await checkout(ctx(), { targets: ['legacy.txt'] });
    expect(readFileSync(join(repo, 'legacy.txt'))).toEqual(content);
    // re-adding unchanged legacy data keeps the DVC 2 pointer byte-identical
    const before = readFileSync(join(repo, 'legacy.txt.dvc'), 'utf8');
    const r = await add(ctx(), { targets: ['legacy.txt'] });
    expect(r.outputs[0]!.changed).toBe(false);
    expect(readFileSync(join(repo, 'legacy.txt.dvc'), 'utf8')).toBe(before);
  });
});

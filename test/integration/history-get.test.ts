import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { get } from '../../dist/ops/history/get.js';
import { makeContext } from '../../dist/context.js';
import { serializeManifest } from '../../dist/data/manifest.js';
import { expectRegError } from '../helpers/expect-error.js';
import { filesUnder, git, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { counting, type BackendCall } from '../helpers/counting-backend.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, type HistoryFixture } from '../helpers/history-fixture.js';
import { snapshotTree } from '../hostile/tree.js';

let fx: HistoryFixture;
let remoteDir: string;
let clone: string;
let outDir: string;

const key = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;
const ctx = () => makeContext({ cwd: clone });

beforeAll(async () => {
  remoteDir = tempDir('reg-get-remote-');
  fx = await buildHistoryFixture({ remoteDir });
}, 180_000);
afterAll(() => {
  removeDir(fx.root);
  removeDir(remoteDir);
});

beforeEach(() => {
  clone = tempDir('reg-get-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
  outDir = tempDir('reg-get-out-');
});
afterEach(() => {
  removeDir(clone);
  removeDir(outDir);
});

describe('reg get from this repository', () => {
  it('one file of an old version: its manifest and its object, nothing else; a second get asks nothing', async () => {
    const calls: BackendCall[] = [];
    const out = join(outDir, 'c.txt');
    const r = await get(ctx(), { path: `${IMAGES}/sub/c.txt`, rev: 'v1', out, wrapBackend: counting(calls) });
    expect(readFileSync(out, 'utf8')).toBe(CONTENT.c);
    expect(calls.map((c) => c.key)).toEqual([key(fx.imagesOid.v1), key(md5(CONTENT.c))]);
    expect(r).toMatchObject({ type: 'file', files: 1, bytes: CONTENT.c.length, rev: 'v1', commit: fx.commits.c2, path: `${IMAGES}/sub/c.txt`, out, objects: { fetched: 1, cached: 0, manifests: 1 }, remote: 'store', cache: 'registry' });
    // The objects went into this registry's cache: the same get again is free.
    const again: BackendCall[] = [];
    await get(ctx(), { path: `${IMAGES}/sub/c.txt`, rev: 'v1', out: join(outDir, 'again.txt'), wrapBackend: counting(again) });
    expect(again).toEqual([]);
    expect(readFileSync(join(outDir, 'again.txt'), 'utf8')).toBe(CONTENT.c);
  });

  it('a sub-directory fetches only its own objects; paths are relative to it', async () => {
    const calls: BackendCall[] = [];
    const out = join(outDir, 'sub');
    const r = await get(ctx(), { path: `${IMAGES}/sub`, rev: 'v2', out, wrapBackend: counting(calls) });
    expect(filesUnder(out)).toEqual(['b-renamed.txt', 'c.txt']);
    expect(readFileSync(join(out, 'c.txt'), 'utf8')).toBe(CONTENT.c2);
    expect(readFileSync(join(out, 'b-renamed.txt'), 'utf8')).toBe(CONTENT.b);
    expect(calls.map((c) => c.key).sort()).toEqual([key(fx.imagesOid.v2), key(md5(CONTENT.b)), key(md5(CONTENT.c2))].sort());
    expect(r).toMatchObject({ type: 'dir', files: 2, bytes: CONTENT.b.length + CONTENT.c2.length });
  });

  it('a whole entry, into an existing directory (which receives the basename), default out in the cwd', async () => {
    await get(ctx(), { path: IMAGES, rev: 'v3', out: outDir });
    expect(filesUnder(join(outDir, 'images'))).toEqual(['a.txt', 'e.txt', 'sub/b-renamed.txt', 'sub/c.txt', 'z/dup-a.txt', 'z/dup-b.txt', 'z/dup-c.txt']);
    // A file entry by its .dvc name, written in the current directory by default.
    rmSync(join(clone, 'models', 'model.bin'), { force: true });
    const r = await get(makeContext({ cwd: join(clone, 'models') }), { path: 'model.bin.dvc', rev: 'v1' });
    expect(r.out).toBe(join(clone, 'models', 'model.bin'));
    expect(readFileSync(join(clone, 'models', 'model.bin'))).toEqual(CONTENT.model1);
  });

  it('the DVC 2 version: legacy objects, CRLF bytes as they were', async () => {
    const calls: BackendCall[] = [];
    await get(ctx(), { path: `${IMAGES}/a.txt`, rev: 'v0', out: join(outDir, 'a.txt'), wrapBackend: counting(calls) });
    expect(readFileSync(join(outDir, 'a.txt'), 'utf8')).toBe(CONTENT.a);
    expect(calls.map((c) => c.key)).toEqual([key(fx.imagesOid.v0, true), key(fx.aLegacyMd5, true)]);
  });

  it('without --rev: the version the work tree\'s pointers name', async () => {
    await get(ctx(), { path: `${IMAGES}/d.txt`, out: join(outDir, 'd.txt') });
    expect(readFileSync(join(outDir, 'd.txt'), 'utf8')).toBe(CONTENT.d);
  });

  it('refuses to overwrite an existing path (exit 7) unless --force', async () => {
    const out = join(outDir, 'c.txt');
    writeFileSync(out, 'mine');
    await expectRegError(get(ctx(), { path: `${IMAGES}/sub/c.txt`, rev: 'v1', out }), 'get.exists', 7);
    expect(readFileSync(out, 'utf8')).toBe('mine');
    // -o an existing directory: the output is DIR/basename, which exists here.
    mkdirSync(join(outDir, 'sub'));
    writeFileSync(join(outDir, 'sub', 'keep.txt'), 'mine');
    await expectRegError(get(ctx(), { path: `${IMAGES}/sub`, rev: 'v2', out: outDir }), 'get.exists', 7);
    expect(filesUnder(join(outDir, 'sub'))).toEqual(['keep.txt']);
    await get(ctx(), { path: `${IMAGES}/sub/c.txt`, rev: 'v1', out, force: true });
    expect(readFileSync(out, 'utf8')).toBe(CONTENT.c);
    await get(ctx(), { path: `${IMAGES}/sub`, rev: 'v2', out: outDir, force: true });
    expect(filesUnder(join(outDir, 'sub'))).toEqual(['b-renamed.txt', 'c.txt']);
    // No temp directory is left next to the output.
    expect(filesUnder(outDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('-o - writes one file to the given stream; a directory to a stream is refused', async () => {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const r = await get(ctx(), { path: MODEL, rev: 'v1', out: '-', stdout: sink });
    expect(Buffer.concat(chunks)).toEqual(CONTENT.model1);
    expect(r.out).toBe('-');
    await expectRegError(get(ctx(), { path: `${IMAGES}/sub`, rev: 'v2', out: '-', stdout: new PassThrough() }), 'get.dir-to-stdout', 2);
  });

  it('paths that are not in the version, or name several entries, are usage errors', async () => {
    await expectRegError(get(ctx(), { path: `${IMAGES}/d.txt`, rev: 'v2', out: join(outDir, 'x') }), 'get.no-such-path', 2);
    await expectRegError(get(ctx(), { path: 'raw_datasets/nothing', rev: 'v2', out: join(outDir, 'x') }), 'target.not-tracked', 2);
    await expectRegError(get(ctx(), { path: '.', rev: 'v2', out: join(outDir, 'x') }), 'get.several-entries', 2);
    expect(existsSync(join(outDir, 'x'))).toBe(false);
  });

  it('a corrupt object on the remote: exit 6, nothing written at the output, nothing corrupt cached', async () => {
    const objPath = join(remoteDir, key(md5(CONTENT.e)));
    const good = readFileSync(objPath);
    chmodSync(objPath, 0o644);
    writeFileSync(objPath, 'tampered\n');
    try {
      const out = join(outDir, 'images');
      await expectRegError(get(ctx(), { path: IMAGES, rev: 'v2', out }), 'get.integrity', 6);
      expect(existsSync(out)).toBe(false);
      expect(filesUnder(outDir)).toEqual([]);
      expect(existsSync(join(clone, '.reg', 'cache', key(md5(CONTENT.e))))).toBe(false);
    } finally {
      writeFileSync(objPath, good);
    }
  });
});

describe('reg get with hostile history', () => {
  /** Commits a pointer (and optionally uploads a manifest) in the clone, returning the new commit. */
  function commitHostile(files: Record<string, string>, upload: Record<string, Buffer> = {}): void {
    writeTree(clone, files);
    for (const [k, bytes] of Object.entries(upload)) writeTree(remoteDir, { [k]: bytes });
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'hostile');
  }

  it('a manifest relpath that leaves the directory: exit 3, the sentinel tree and the output untouched', async () => {
    const sentinel = tempDir('reg-get-sentinel-');
    writeTree(sentinel, { 'keep.txt': 'sentinel\n' });
    const before = snapshotTree(sentinel);
    const manifest = serializeManifest([{ relpath: `../../../../../../../../..${sentinel}/keep.txt`, md5: md5(CONTENT.b) }, { relpath: 'ok.txt', md5: md5(CONTENT.b) }]);
    const oid = md5(manifest) + '.dir';
    commitHostile({ 'raw_datasets/evil.dvc': `outs:\n- md5: ${oid}\n  path: evil\n  hash: md5\n` }, { [key(oid)]: manifest });
    const gitBefore = snapshotTree(join(clone, '.git'));
    await expectRegError(get(ctx(), { path: 'raw_datasets/evil', rev: 'HEAD', out: join(outDir, 'evil') }), 'manifest.unsafe-path', 3);
    expect(snapshotTree(sentinel)).toEqual(before);
    expect(snapshotTree(join(clone, '.git'))).toEqual(gitBefore);
    expect(filesUnder(outDir)).toEqual([]);
    removeDir(sentinel);
  });

  it('a pointer path that leaves the repository, or a symlinked pointer: exit 3, nothing written', async () => {
    commitHostile({ 'raw_datasets/out.dvc': `outs:\n- md5: ${md5(CONTENT.b)}\n  size: 6\n  path: ../../../../etc/x\n  hash: md5\n` });
    await expectRegError(get(ctx(), { path: 'raw_datasets/out', rev: 'HEAD', out: join(outDir, 'x') }), 'pointer.path-unsafe', 3);
    symlinkSync('/etc/hostname', join(clone, 'raw_datasets', 'link.dvc'));
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'symlinked pointer');
    await expectRegError(get(ctx(), { path: 'raw_datasets/link', rev: 'HEAD', out: join(outDir, 'x') }), 'pointer.symlink', 3);
    expect(filesUnder(outDir)).toEqual([]);
  });

  it('a manifest whose files collide (a file and a directory of the same name): nothing published', async () => {
    const manifest = serializeManifest([{ relpath: 'a', md5: md5(CONTENT.b) }, { relpath: 'a/b', md5: md5(CONTENT.c) }]);
    const oid = md5(manifest) + '.dir';
    commitHostile({ 'raw_datasets/clash.dvc': `outs:\n- md5: ${oid}\n  path: clash\n  hash: md5\n` }, { [key(oid)]: manifest });
    const out = join(outDir, 'clash');
    await expectRegError(get(ctx(), { path: 'raw_datasets/clash', rev: 'HEAD', out }), 'manifest.file-and-dir', 3);
    expect(lstatSync(out, { throwIfNoEntry: false })).toBeUndefined();
    expect(filesUnder(outDir)).toEqual([]);
  });
});

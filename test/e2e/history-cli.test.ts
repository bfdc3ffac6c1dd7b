import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diff } from '../../dist/ops/history/diff.js';
import { makeContext } from '../../dist/context.js';
import { git, reg, regOk, removeDir, tempDir } from '../helpers/repo.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, type HistoryFixture } from '../helpers/history-fixture.js';

let fx: HistoryFixture;
let remoteDir: string;
let root: string;

beforeAll(async () => {
  remoteDir = tempDir('reg-history-cli-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  root = fx.root;
}, 120_000);
afterAll(() => {
  removeDir(root);
  removeDir(remoteDir);
});

describe('reg log (CLI)', () => {
  it('--json: one document with every version and its refs', async () => {
    const r = await regOk(root, ['log', IMAGES, '--json']);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc).sort()).toEqual(['path', 'pointer', 'scope', 'versions']);
    expect(doc.versions).toHaveLength(6);
    expect(doc.versions[5]).toEqual({
      commit: fx.commits.c1,
      parents: [],
      date: '2024-01-01T12:00:00+00:00',
      author: 'reg tests',
      email: 'tests@example.org',
      subject: 'images as DVC 2 wrote them',
      change: 'added',
      pointer: `${IMAGES}.dvc`,
      path: IMAGES,
      oid: fx.imagesOid.v0,
      size: 31,
      nfiles: 3,
      isDir: true,
      legacy: true,
      refs: { head: false, branches: [], tags: ['v0'], remotes: [], revs: [] },
    });
  });

  it('text: one line per version, newest first, refs and DVC 2 marked; --remote marks missing data', async () => {
    const r = await regOk(root, ['log', IMAGES]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(new RegExp(`^${fx.commits.c7.slice(0, 10)}  2024-01-07  ${fx.imagesOid.v1.slice(0, 8)}\\.dir  37 B  4 files \\(HEAD, main\\)  roll images back to v1$`));
    expect(lines[5]).toContain('[DVC 2] (tag: v0)');
    const remote = await regOk(root, ['log', IMAGES, '--remote']);
    expect(remote.stdout.split('\n').filter((l) => l.includes('MISSING on store')).map((l) => l.slice(0, 10))).toEqual([fx.commits.c4.slice(0, 10)]);
    expect(remote.stderr).toContain('1 version missing on the remote');
  });

  it('an unknown entry or revision is a usage error (exit 2), also as a JSON error document', async () => {
    const r = await reg(root, ['log', 'nothing/here', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('log.no-versions');
    expect((await reg(root, ['log', IMAGES, '--rev', 'v9'])).code).toBe(2);
  });
});

describe('reg diff (CLI)', () => {
  it('--json is the library result; text is one line per changed output, files with -v', async () => {
    const r = await regOk(root, ['diff', 'v1', 'v2', '--json']);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(await diff(makeContext({ cwd: root }), { from: 'v1', to: 'v2' }))));
    const text = await regOk(root, ['diff', 'v1', 'v2']);
    expect(text.stdout).toBe(`${IMAGES}: modified: +3 files (32 B), -1 file (6 B), 1 modified (21 B), 1 renamed\n1 output changed, 1 unchanged\n`);
    const verbose = await regOk(root, ['diff', 'v1', 'v2', IMAGES, '-v']);
    expect(verbose.stdout.split('\n')).toEqual([
      `${IMAGES}: modified: +3 files (32 B), -1 file (6 B), 1 modified (21 B), 1 renamed`,
      `    A  ${IMAGES}/dup1.txt  11 B`,
      `    A  ${IMAGES}/dup2.txt  11 B`,
      `    A  ${IMAGES}/e.txt  10 B`,
      `    M  ${IMAGES}/sub/c.txt  21 B`,
      `    D  ${IMAGES}/d.txt  6 B`,
      `    R  ${IMAGES}/b.txt -> ${IMAGES}/sub/b-renamed.txt  6 B`,
      '',
    ]);
  });

  it('--exit-code follows git diff: 1 with differences, 0 without; the workspace is compared by default', async () => {
    expect((await reg(root, ['diff', 'v1', 'v2', '--exit-code'])).code).toBe(1);
    expect((await reg(root, ['diff', 'v1', 'HEAD', '--exit-code'])).code).toBe(0);
    const clean = await reg(root, ['diff', '--exit-code']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe('no differences (2 outputs compared)\n');
    const file = join(root, IMAGES, 'b.txt');
    writeFileSync(file, 'changed in the work tree\n');
    try {
      const dirty = await reg(root, ['diff', '--exit-code', '--json']);
      expect(dirty.code).toBe(1);
      const doc = JSON.parse(dirty.stdout);
      expect(doc.to).toEqual({ rev: null, commit: null });
      expect(doc.outputs[1].modified).toEqual([{ path: `${IMAGES}/b.txt`, md5: md5('changed in the work tree\n'), size: 25, oldMd5: md5(CONTENT.b), oldSize: 6 }]);
      // One revision: it against the workspace; `--` separates paths.
      const one = await reg(root, ['diff', '--exit-code', 'v2', '--', MODEL]);
      expect(one.code).toBe(0);
    } finally {
      writeFileSync(file, CONTENT.b);
    }
  });

  it('a name that is both a revision and a path needs --', async () => {
    git(root, 'tag', 'README.md', 'v1');
    try {
      const r = await reg(root, ['diff', 'README.md']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('names both a revision and a path');
      expect((await reg(root, ['diff', '--exit-code', 'README.md', 'v2', '--', IMAGES])).code).toBe(1);
    } finally {
      git(root, 'tag', '-d', 'README.md');
    }
  });
});

describe('reg ls (CLI)', () => {
  it('--json shape; text one level with directories marked; -R lists every file', async () => {
    const r = await regOk(root, ['ls', IMAGES, '--rev', 'v3', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc).toEqual({
      rev: 'v3',
      commit: fx.commits.c5,
      path: IMAGES,
      entry: { path: IMAGES, pointer: `${IMAGES}.dvc`, oid: fx.imagesOid.v3, size: 87, nfiles: 7, isDir: true, legacy: false },
      entries: [
        { path: 'a.txt', type: 'file', md5: md5(CONTENT.a), size: 17 },
        { path: 'e.txt', type: 'file', md5: md5(CONTENT.e), size: 10 },
        { path: 'sub', type: 'dir', size: 27, nfiles: 2 },
        { path: 'z', type: 'dir', size: 33, nfiles: 3 },
      ],
      totalSize: 87,
      unknownSizes: 0,
      errors: [],
    });
    const text = await regOk(root, ['ls', IMAGES, '--rev', 'v3']);
    expect(text.stdout).toBe('      17 B  a.txt\n      10 B  e.txt\n      27 B  sub/  (2 files)\n      33 B  z/  (3 files)\n');
    const all = await regOk(root, ['ls', `${IMAGES}/z`, '--rev', 'v3', '-R']);
    expect(all.stdout).toBe('      11 B  dup-a.txt\n      11 B  dup-b.txt\n      11 B  dup-c.txt\n');
  });

  it('in a fresh clone: the manifest comes from the remote alone; a corrupt one is refused with exit 6', async () => {
    const clone = tempDir('reg-history-cli-clone-');
    try {
      git(clone, 'clone', '-q', root, '.');
      const path = join(remoteDir, 'files/md5', fx.imagesOid.v2.slice(0, 2), fx.imagesOid.v2.slice(2));
      const good = readFileSync(path);
      chmodSync(path, 0o644);
      writeFileSync(path, good.toString('utf8').replace('e.txt', 'f.txt'));
      try {
        const bad = await reg(clone, ['ls', IMAGES, '--rev', 'v2']);
        expect(bad.code).toBe(6);
        expect(bad.stderr).toMatch(/is corrupt: its content hashes to [0-9a-f]{32}, not/);
      } finally {
        writeFileSync(path, good);
        chmodSync(path, 0o444);
      }
      const ok = await regOk(clone, ['ls', IMAGES, '--rev', 'v2', '--json']);
      const doc = JSON.parse(ok.stdout);
      expect(doc.entries.map((e: { path: string }) => e.path)).toEqual(['a.txt', 'dup1.txt', 'dup2.txt', 'e.txt', 'sub']);
      expect(doc.unknownSizes).toBe(6);
      const sized = await regOk(clone, ['ls', IMAGES, '--rev', 'v2', '--sizes', '--json']);
      expect(JSON.parse(sized.stdout).unknownSizes).toBe(0);
    } finally {
      removeDir(clone);
    }
  });

  it('a hostile pointer: ls exits 3 naming file and line, diff reports that output and keeps the others, log lists it', async () => {
    git(root, 'checkout', '-q', '-b', 'hostile-cli', 'v3');
    writeFileSync(join(root, `${IMAGES}.dvc`), 'outs:\n- md5: 0123\n  path: images\n');
    git(root, 'commit', '-qam', 'bad md5');
    git(root, 'checkout', '-q', 'main');
    try {
      const l = await reg(root, ['ls', IMAGES, '--rev', 'hostile-cli']);
      expect(l.code).toBe(3);
      expect(l.stderr).toMatch(new RegExp(`${IMAGES}\\.dvc at [0-9a-f]{10}:2:\\d+: "md5" must be 32 hex digits`));
      const d = await reg(root, ['diff', 'v3', 'hostile-cli', '--json']);
      expect(d.code).toBe(3);
      const doc = JSON.parse(d.stdout);
      expect(doc.outputs.map((o: { path: string; status: string }) => [o.path, o.status])).toEqual([[MODEL, 'unchanged'], [IMAGES, 'error']]);
      expect(doc.outputs[1].error.code).toBe('pointer.md5');
      const lg = await regOk(root, ['log', IMAGES]);
      expect(lg.stdout.split('\n')[0]).toContain('unreadable pointer:');
      expect(lg.stderr).toContain('1 version of raw_datasets/images.dvc could not be read');
    } finally {
      git(root, 'branch', '-D', 'hostile-cli');
    }
  });
});

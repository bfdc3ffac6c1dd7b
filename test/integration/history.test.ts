import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { log } from '../../dist/ops/history/log.js';
import { diff, splitDiffArgs, type DiffFile, type DiffModifiedFile, type DiffRenamedFile, type OutputDiff, type DiffVersion } from '../../dist/ops/history/diff.js';
import { ls } from '../../dist/ops/history/ls.js';
import { PointerReader, isPointerPath } from '../../dist/ops/history/pointers.js';
import { ALL_POINTERS_PATHSPEC, commitsChanging } from '../../dist/git/history.js';
import { openRepo } from '../../dist/repo.js';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { makeContext } from '../../dist/context.js';
import { expectRegError } from '../helpers/expect-error.js';
import { filesUnder, git, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, size, type HistoryFixture } from '../helpers/history-fixture.js';

let fx: HistoryFixture;
let root: string;
const ctx = () => makeContext({ cwd: root });

beforeAll(async () => {
  fx = await buildHistoryFixture();
  root = fx.root;
}, 120_000);
afterAll(() => removeDir(root));

/** Every file under `dir` with its mode and content hash (symlinks by target): equal digests = untouched tree. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  for (const rel of filesUnder(dir)) {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    h.update(`${rel}\0${st.mode}\0`);
    h.update(st.isSymbolicLink() ? readlinkSync(abs) : readFileSync(abs));
  }
  return h.digest('hex');
}

// ---- expected values, computed from the fixture's contents ----
const img = (rel: string) => `${IMAGES}/${rel}`;
const file = (rel: string, content: string): DiffFile => ({ path: img(rel), md5: md5(content), size: size(content) });
const modified = (rel: string, before: string, after: string): DiffModifiedFile => ({ path: img(rel), md5: md5(after), size: size(after), oldMd5: md5(before), oldSize: size(before) });
const renamed = (from: string, to: string, content: string): DiffRenamedFile => ({ from: img(from), to: img(to), md5: md5(content), size: size(content) });

type Tag = 'v0' | 'v1' | 'v2' | 'v3';
const IMAGE_FILES: Record<Tag | 'exp', Record<string, string>> = {
  v0: { 'a.txt': CONTENT.a, 'b.txt': CONTENT.b, 'sub/c.txt': CONTENT.c },
  v1: { 'a.txt': CONTENT.a, 'b.txt': CONTENT.b, 'sub/c.txt': CONTENT.c, 'd.txt': CONTENT.d },
  v2: { 'a.txt': CONTENT.a, 'sub/b-renamed.txt': CONTENT.b, 'sub/c.txt': CONTENT.c2, 'e.txt': CONTENT.e, 'dup1.txt': CONTENT.dup, 'dup2.txt': CONTENT.dup },
  exp: { 'a.txt': CONTENT.a, 'e.txt': CONTENT.e, 'dup1.txt': CONTENT.dup, 'dup2.txt': CONTENT.dup },
  v3: { 'a.txt': CONTENT.a, 'sub/b-renamed.txt': CONTENT.b, 'sub/c.txt': CONTENT.c2, 'e.txt': CONTENT.e, 'z/dup-a.txt': CONTENT.dup, 'z/dup-b.txt': CONTENT.dup, 'z/dup-c.txt': CONTENT.dup },
};

function imagesVersion(v: Tag | 'exp'): DiffVersion {
  const files = Object.values(IMAGE_FILES[v]);
  return { pointer: `${IMAGES}.dvc`, path: IMAGES, oid: fx.imagesOid[v], size: files.reduce((s, t) => s + size(t), 0), nfiles: files.length, isDir: true, legacy: v === 'v0' };
}

function modelVersion(v: 'v1' | 'exp'): DiffVersion {
  const bytes = v === 'v1' ? CONTENT.model1 : CONTENT.model2;
  return { pointer: `${MODEL}.dvc`, path: MODEL, oid: fx.modelOid[v], size: bytes.length, nfiles: undefined, isDir: false, legacy: false };
}

function row(partial: Partial<OutputDiff> & Pick<OutputDiff, 'path' | 'pointer' | 'status' | 'old' | 'new'>): OutputDiff {
  const r: OutputDiff = { added: [], modified: [], deleted: [], renamed: [], ...partial, totals: undefined as never };
  const sum = (xs: Array<{ size: number | null }>) => xs.reduce((s, x) => s + (x.size ?? 0), 0);
  r.totals = {
    added: r.added.length,
    modified: r.modified.length,
    deleted: r.deleted.length,
    renamed: r.renamed.length,
    addedBytes: sum(r.added),
    deletedBytes: sum(r.deleted),
    modifiedBytes: sum(r.modified),
    unknownSizes: [...r.added, ...r.deleted, ...r.modified].filter((x) => x.size === null).length,
  };
  return r;
}

const modelUnchanged = () => row({ path: MODEL, pointer: `${MODEL}.dvc`, status: 'unchanged', old: modelVersion('v1'), new: modelVersion('v1') });
const modelAdded = () => row({ path: MODEL, pointer: `${MODEL}.dvc`, status: 'added', old: null, new: modelVersion('v1'), added: [{ path: MODEL, md5: md5(CONTENT.model1), size: CONTENT.model1.length }] });
const imagesRow = (from: Tag | 'exp', to: Tag | 'exp', changes: Partial<OutputDiff>) =>
  row({ path: IMAGES, pointer: `${IMAGES}.dvc`, status: 'modified', old: imagesVersion(from), new: imagesVersion(to), ...changes, ...(from === 'v0' ? { mixedHashes: true as const } : {}) });

describe('reg log', () => {
  it('lists every version of a directory entry, newest first, with the refs whose tip holds it', async () => {
    const r = await log(ctx(), { target: IMAGES });
    expect(r.path).toBe(IMAGES);
    expect(r.pointer).toBe(`${IMAGES}.dvc`);
    expect(r.scope).toEqual(['branches', 'tags', 'HEAD']);
    const c = fx.commits;
    expect(r.versions.map((v) => [v.commit, v.change, v.oid, v.legacy, v.refs])).toEqual([
      [c.c7, 'modified', fx.imagesOid.v1, false, { head: true, branches: ['main'], tags: [], remotes: [], revs: [] }],
      [c.c5, 'modified', fx.imagesOid.v3, false, { head: false, branches: [], tags: ['v3'], remotes: [], revs: [] }],
      [c.c4, 'modified', fx.imagesOid.exp, false, { head: false, branches: ['experiment'], tags: [], remotes: [], revs: [] }],
      [c.c3, 'modified', fx.imagesOid.v2, false, { head: false, branches: [], tags: ['v2'], remotes: [], revs: [] }],
      // v1 is an annotated tag: peeled to its commit. The rollback in c7 has the same blob, but is no ancestor of v1.
      [c.c2, 'modified', fx.imagesOid.v1, false, { head: false, branches: [], tags: ['v1'], remotes: [], revs: [] }],
      [c.c1, 'added', fx.imagesOid.v0, true, { head: false, branches: [], tags: ['v0'], remotes: [], revs: [] }],
    ]);
    const v0 = r.versions[5]!;
    expect(v0).toMatchObject({ date: '2024-01-01T12:00:00+00:00', author: 'reg tests', email: 'tests@example.org', subject: 'images as DVC 2 wrote them', size: imagesVersion('v0').size, nfiles: 3, isDir: true, path: IMAGES });
    expect(v0.parents).toEqual([]);
    expect(r.versions[0]!.parents).toEqual([c.c6]);
    expect(r.versions.every((v) => v.error === undefined && v.remote === undefined)).toBe(true);
  });

  it('lists the versions of a file entry; a version unchanged across tags carries all of them', async () => {
    const r = await log(ctx(), { target: `${MODEL}.dvc` });
    expect(r.versions.map((v) => [v.commit, v.change, v.oid, v.size, v.isDir, v.refs.tags, v.refs.branches, v.refs.head])).toEqual([
      [fx.commits.c4, 'modified', fx.modelOid.exp, CONTENT.model2.length, false, [], ['experiment'], false],
      [fx.commits.c2, 'added', fx.modelOid.v1, CONTENT.model1.length, false, ['v1', 'v2', 'v3'], ['main'], true],
    ]);
  });

  it('--rev limits the history read; --all adds remote-tracking branches', async () => {
    const onlyV2 = await log(ctx(), { target: IMAGES, revs: ['v2'] });
    expect(onlyV2.scope).toEqual(['v2']);
    expect(onlyV2.versions.map((v) => [v.commit, v.refs.revs])).toEqual([
      [fx.commits.c3, ['v2']],
      [fx.commits.c2, []],
      [fx.commits.c1, []],
    ]);
    git(root, 'update-ref', 'refs/remotes/origin/feature', fx.commits.c4);
    try {
      const local = await log(ctx(), { target: IMAGES });
      expect(local.versions.find((v) => v.commit === fx.commits.c4)!.refs.remotes).toEqual([]);
      const all = await log(ctx(), { target: IMAGES, all: true });
      expect(all.scope).toEqual(['branches', 'tags', 'remotes', 'HEAD']);
      expect(all.versions.find((v) => v.commit === fx.commits.c4)!.refs.remotes).toEqual(['origin/feature']);
    } finally {
      git(root, 'update-ref', '-d', 'refs/remotes/origin/feature');
    }
  });

  it('refuses a path with no history, pointing at the containing entry', async () => {
    const e = await expectRegError(log(ctx(), { target: `${IMAGES}/sub` }), 'log.no-versions', 2);
    expect(e.hint).toContain(`inside ${IMAGES}`);
    await expectRegError(log(ctx(), { target: IMAGES, revs: ['no-such-tag'] }), 'rev.unknown', 2);
  });
});

describe('reg diff between tags', () => {
  const expected: Record<string, () => OutputDiff[]> = {
    'v0 v1': () => [modelAdded(), imagesRow('v0', 'v1', { added: [file('d.txt', CONTENT.d)] })],
    'v0 v2': () => [
      modelAdded(),
      imagesRow('v0', 'v2', {
        added: [file('dup1.txt', CONTENT.dup), file('dup2.txt', CONTENT.dup), file('e.txt', CONTENT.e)],
        modified: [modified('sub/c.txt', CONTENT.c, CONTENT.c2)],
        renamed: [renamed('b.txt', 'sub/b-renamed.txt', CONTENT.b)],
      }),
    ],
    'v0 v3': () => [
      modelAdded(),
      imagesRow('v0', 'v3', {
        added: [file('e.txt', CONTENT.e), file('z/dup-a.txt', CONTENT.dup), file('z/dup-b.txt', CONTENT.dup), file('z/dup-c.txt', CONTENT.dup)],
        modified: [modified('sub/c.txt', CONTENT.c, CONTENT.c2)],
        renamed: [renamed('b.txt', 'sub/b-renamed.txt', CONTENT.b)],
      }),
    ],
    'v1 v2': () => [
      modelUnchanged(),
      imagesRow('v1', 'v2', {
        added: [file('dup1.txt', CONTENT.dup), file('dup2.txt', CONTENT.dup), file('e.txt', CONTENT.e)],
        modified: [modified('sub/c.txt', CONTENT.c, CONTENT.c2)],
        deleted: [file('d.txt', CONTENT.d)],
        renamed: [renamed('b.txt', 'sub/b-renamed.txt', CONTENT.b)],
      }),
    ],
    'v1 v3': () => [
      modelUnchanged(),
      imagesRow('v1', 'v3', {
        added: [file('e.txt', CONTENT.e), file('z/dup-a.txt', CONTENT.dup), file('z/dup-b.txt', CONTENT.dup), file('z/dup-c.txt', CONTENT.dup)],
        modified: [modified('sub/c.txt', CONTENT.c, CONTENT.c2)],
        deleted: [file('d.txt', CONTENT.d)],
        renamed: [renamed('b.txt', 'sub/b-renamed.txt', CONTENT.b)],
      }),
    ],
    // Duplicates: deleted dup1, dup2 and added z/dup-a, z/dup-b, z/dup-c share one md5; sorted and
    // paired in order, the third copy stays added.
    'v2 v3': () => [
      modelUnchanged(),
      imagesRow('v2', 'v3', {
        added: [file('z/dup-c.txt', CONTENT.dup)],
        renamed: [renamed('dup1.txt', 'z/dup-a.txt', CONTENT.dup), renamed('dup2.txt', 'z/dup-b.txt', CONTENT.dup)],
      }),
    ],
    'v2 experiment': () => [
      row({ path: MODEL, pointer: `${MODEL}.dvc`, status: 'modified', old: modelVersion('v1'), new: modelVersion('exp'), modified: [{ path: MODEL, md5: md5(CONTENT.model2), size: CONTENT.model2.length, oldMd5: md5(CONTENT.model1), oldSize: CONTENT.model1.length }] }),
      imagesRow('v2', 'exp', { deleted: [file('sub/b-renamed.txt', CONTENT.b), file('sub/c.txt', CONTENT.c2)] }),
    ],
  };

  for (const [pair, want] of Object.entries(expected)) {
    it(`${pair}: exact file-level result`, async () => {
      const [from, to] = pair.split(' ');
      const r = await diff(ctx(), { from, to });
      expect(r.outputs).toEqual(want());
      expect(r.from).toEqual({ rev: from, commit: git(root, 'rev-parse', `${from}^{commit}`).trim() });
      expect(r.to).toEqual({ rev: to, commit: git(root, 'rev-parse', `${to}^{commit}`).trim() });
      expect(r.changed).toBe(true);
    });
  }

  it('reversed, added becomes deleted and renames turn around; totals add up over outputs', async () => {
    const r = await diff(ctx(), { from: 'v2', to: 'v0' });
    expect(r.outputs[0]).toEqual(row({ path: MODEL, pointer: `${MODEL}.dvc`, status: 'deleted', old: modelVersion('v1'), new: null, deleted: [{ path: MODEL, md5: md5(CONTENT.model1), size: CONTENT.model1.length }] }));
    expect(r.outputs[1]!.renamed).toEqual([renamed('sub/b-renamed.txt', 'b.txt', CONTENT.b)]);
    expect(r.outputs[1]!.deleted.map((f) => f.path)).toEqual([img('dup1.txt'), img('dup2.txt'), img('e.txt')]);
    expect(r.totals).toMatchObject({ added: 0, deleted: 4, modified: 1, renamed: 1, deletedBytes: CONTENT.model1.length + 2 * size(CONTENT.dup) + size(CONTENT.e), outputs: { added: 0, deleted: 1, modified: 1, unchanged: 0, error: 0 } });
  });

  it('a version and its byte-identical rollback are equal without reading manifests', async () => {
    const r = await diff(ctx(), { from: 'v1', to: 'HEAD' });
    expect(r.changed).toBe(false);
    expect(r.outputs.map((o) => o.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('targets: an entry, a path inside it (only files below it are compared), an unknown path', async () => {
    const one = await diff(ctx(), { from: 'v1', to: 'v2', targets: [join(root, MODEL)] });
    expect(one.outputs.map((o) => o.path)).toEqual([MODEL]);
    const sub = await diff(ctx(), { from: 'v1', to: 'v2', targets: [`${IMAGES}/sub`] });
    expect(sub.outputs).toHaveLength(1);
    expect(sub.outputs[0]).toMatchObject({ within: ['sub'], added: [file('sub/b-renamed.txt', CONTENT.b)], modified: [modified('sub/c.txt', CONTENT.c, CONTENT.c2)], deleted: [], renamed: [] });
    await expectRegError(diff(ctx(), { from: 'v1', to: 'v2', targets: ['nothing/here'] }), 'target.not-tracked', 2);
  });

  it('DVC 2 vs DVC 3: a CRLF text file hashes differently under the two rules and is compared by content', async () => {
    const r = await diff(ctx(), { from: 'v0', to: 'v1', targets: [IMAGES] });
    expect(md5(CONTENT.a)).not.toBe(fx.aLegacyMd5);
    expect(r.outputs[0]!.mixedHashes).toBe(true);
    expect(r.outputs[0]!.modified).toEqual([]);
  });
});

describe('reg diff against the workspace', () => {
  it('with no revisions compares HEAD with the data in the work tree, hashing through the stat cache', async () => {
    expect((await diff(ctx())).changed).toBe(false);
    writeFileSync(join(root, IMAGES, 'b.txt'), 'bravo, edited\n');
    writeTree(join(root, IMAGES), { 'new/f.txt': 'fresh\n' });
    try {
      const r = await diff(ctx());
      expect(r.from).toEqual({ rev: 'HEAD', commit: fx.commits.c7 });
      expect(r.to).toEqual({ rev: null, commit: null });
      const images = r.outputs.find((o) => o.path === IMAGES)!;
      expect(images).toMatchObject({
        status: 'modified',
        added: [file('new/f.txt', 'fresh\n')],
        modified: [modified('b.txt', CONTENT.b, 'bravo, edited\n')],
        deleted: [],
        renamed: [],
      });
      expect(images.new).toMatchObject({ source: 'data', nfiles: 5 });
      // One revision: that revision against the workspace.
      const fromV2 = await diff(ctx(), { from: 'v2', targets: [IMAGES] });
      expect(fromV2.outputs[0]).toMatchObject({
        added: [file('b.txt', 'bravo, edited\n'), file('d.txt', CONTENT.d), file('new/f.txt', 'fresh\n')],
        modified: [modified('sub/c.txt', CONTENT.c2, CONTENT.c)],
        deleted: [file('dup1.txt', CONTENT.dup), file('dup2.txt', CONTENT.dup), file('e.txt', CONTENT.e), file('sub/b-renamed.txt', CONTENT.b)],
        renamed: [],
      });
    } finally {
      writeFileSync(join(root, IMAGES, 'b.txt'), CONTENT.b);
      rmSync(join(root, IMAGES, 'new'), { recursive: true });
    }
    expect((await diff(ctx())).changed).toBe(false);
  });

  it('an output added with reg add but not committed is added; data absent from the work tree falls back to its pointer', async () => {
    writeTree(root, { 'fresh/x.bin': 'x\n' });
    await add(ctx(), { targets: ['fresh'] });
    const moved = join(tempDir('reg-moved-'), 'model.bin');
    execFileSync('mv', [join(root, MODEL), moved]);
    try {
      const r = await diff(ctx());
      expect(r.outputs.map((o) => [o.path, o.status])).toEqual([['fresh', 'added'], [MODEL, 'unchanged'], [IMAGES, 'unchanged']]);
      expect(r.outputs[0]!.added).toEqual([{ path: 'fresh/x.bin', md5: md5('x\n'), size: 2 }]);
      expect(r.outputs[1]!.new).toMatchObject({ source: 'pointer', oid: fx.modelOid.v1 });
    } finally {
      execFileSync('mv', [moved, join(root, MODEL)]);
      rmSync(join(root, 'fresh'), { recursive: true });
      unlinkSync(join(root, 'fresh.dvc'));
      rmSync(join(root, '.gitignore'), { force: true });
      git(root, 'checkout', '--', '.');
    }
  });

  it('splits arguments into revisions and targets like git, refusing a name that is both', async () => {
    expect(await splitDiffArgs(ctx(), ['v1', 'v2', IMAGES])).toEqual({ revs: ['v1', 'v2'], targets: [IMAGES] });
    expect(await splitDiffArgs(ctx(), ['v1', IMAGES])).toEqual({ revs: ['v1'], targets: [IMAGES] });
    expect(await splitDiffArgs(ctx(), [IMAGES])).toEqual({ revs: [], targets: [IMAGES] });
    expect(await splitDiffArgs(ctx(), ['v1', 'v2', 'x'], 1)).toEqual({ revs: ['v1', 'v2'], targets: ['x'] });
    await expectRegError(splitDiffArgs(ctx(), ['a', 'b', 'c', 'x'], 1), 'diff.too-many-revs', 2);
    git(root, 'branch', 'README.md');
    try {
      await expectRegError(splitDiffArgs(ctx(), ['README.md']), 'diff.ambiguous', 2);
      expect(await splitDiffArgs(ctx(), ['README.md'], 0)).toEqual({ revs: ['README.md'], targets: [] });
    } finally {
      git(root, 'branch', '-D', 'README.md');
    }
  });
});

describe('reg ls', () => {
  const level = (files: Record<string, string>, legacyA = false) => {
    const rows = new Map<string, { path: string; type: 'file' | 'dir'; md5?: string; size: number | null; nfiles?: number }>();
    for (const [rel, text] of Object.entries(files)) {
      const slash = rel.indexOf('/');
      if (slash === -1) rows.set(rel, { path: rel, type: 'file', md5: rel === 'a.txt' && legacyA ? fx.aLegacyMd5 : md5(text), size: size(text) });
      else {
        const d = rows.get(rel.slice(0, slash)) ?? { path: rel.slice(0, slash), type: 'dir' as const, size: 0, nfiles: 0 };
        d.size! += size(text);
        d.nfiles! += 1;
        rows.set(d.path, d);
      }
    }
    return [...rows.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  };

  for (const tag of ['v0', 'v1', 'v2', 'v3'] as const) {
    it(`${tag}: one level with directories marked, and -R`, async () => {
      const r = await ls(ctx(), { target: IMAGES, rev: tag });
      expect(r.entries).toEqual(level(IMAGE_FILES[tag], tag === 'v0'));
      const { pointer, path, oid, size: total, nfiles, isDir, legacy } = imagesVersion(tag);
      expect(r.entry).toEqual({ pointer, path, oid, size: total, nfiles, isDir, legacy });
      expect(r.commit).toBe(git(root, 'rev-parse', `${tag}^{commit}`).trim());
      const all = await ls(ctx(), { target: IMAGES, rev: tag, recursive: true });
      expect(all.entries).toEqual(
        Object.entries(IMAGE_FILES[tag])
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([rel, text]) => ({ path: rel, type: 'file', md5: rel === 'a.txt' && tag === 'v0' ? fx.aLegacyMd5 : md5(text), size: size(text) })),
      );
      expect(all.totalSize).toBe(imagesVersion(tag).size);
      expect(all.unknownSizes).toBe(0);
    });
  }

  it('a path inside a directory entry, a single file, the entries of a directory and of the root', async () => {
    const sub = await ls(ctx(), { target: `${IMAGES}/sub`, rev: 'v2' });
    expect(sub.path).toBe(`${IMAGES}/sub`);
    expect(sub.entries).toEqual([
      { path: 'b-renamed.txt', type: 'file', md5: md5(CONTENT.b), size: size(CONTENT.b) },
      { path: 'c.txt', type: 'file', md5: md5(CONTENT.c2), size: size(CONTENT.c2) },
    ]);
    const one = await ls(ctx(), { target: `${IMAGES}/sub/c.txt`, rev: 'v2' });
    expect(one.entries).toEqual([{ path: 'c.txt', type: 'file', md5: md5(CONTENT.c2), size: size(CONTENT.c2) }]);
    const model = await ls(ctx(), { target: MODEL, rev: 'experiment' });
    expect(model.entries).toEqual([{ path: 'model.bin', type: 'file', md5: md5(CONTENT.model2), size: CONTENT.model2.length }]);
    const area = await ls(ctx(), { target: 'raw_datasets', rev: 'v1' });
    expect(area.entries).toEqual([{ path: 'images', type: 'dir', size: imagesVersion('v1').size, nfiles: 4, entry: { pointer: `${IMAGES}.dvc`, oid: fx.imagesOid.v1, legacy: false } }]);
    const top = await ls(ctx(), { rev: 'v1' });
    expect(top.entries).toEqual([
      { path: 'models', type: 'dir', size: CONTENT.model1.length, nfiles: 1 },
      { path: 'raw_datasets', type: 'dir', size: imagesVersion('v1').size, nfiles: 4 },
    ]);
    // Without --rev: the version the work tree's pointers name (HEAD's rollback = v1).
    expect((await ls(ctx(), { target: IMAGES })).entries).toEqual(level(IMAGE_FILES.v1));
    await expectRegError(ls(ctx(), { target: `${IMAGES}/nope`, rev: 'v2' }), 'ls.no-such-path', 2);
    await expectRegError(ls(ctx(), { target: 'elsewhere', rev: 'v2' }), 'target.not-tracked', 2);
    await expectRegError(ls(ctx(), { target: IMAGES, rev: 'v9' }), 'rev.unknown', 2);
  });
});

describe('the history module, for get/restore/gc', () => {
  it('reads the pointer of an entry at a revision, and every pointer version in a set of refs', async () => {
    const reader = new PointerReader(openRepo(ctx()));
    try {
      const at = await reader.pointerAt(fx.commits.c3, `${IMAGES}.dvc`);
      expect(at?.output).toMatchObject({ dataRel: IMAGES, legacy: false, isDir: true, out: { md5: fx.imagesOid.v2 } });
      expect(await reader.pointerAt(fx.commits.c1, `${MODEL}.dvc`)).toBeUndefined();
    } finally {
      reader.close();
    }
    const rows = await commitsChanging(root, { branches: true, tags: true, head: true, pathspecs: [ALL_POINTERS_PATHSPEC] });
    const versions = new Set(rows.flatMap((r) => r.changes.filter((c) => isPointerPath(c.path) && c.blob).map((c) => `${c.path} ${git(root, 'cat-file', '-p', c.blob!).match(/md5: (\S+)/)![1]}`)));
    expect([...versions].sort()).toEqual([
      ...[fx.modelOid.v1, fx.modelOid.exp].map((o) => `${MODEL}.dvc ${o}`),
      ...[fx.imagesOid.v0, fx.imagesOid.v1, fx.imagesOid.v2, fx.imagesOid.exp, fx.imagesOid.v3].map((o) => `${IMAGES}.dvc ${o}`),
    ].sort());
  });
});

describe('a repository without commits', () => {
  it('diff shows the work tree as added; log explains the entry is not committed; ls --rev HEAD is a usage error', async () => {
    const fresh = makeGitRepo();
    const c = () => makeContext({ cwd: fresh });
    try {
      await init(c());
      writeTree(fresh, { 'f.txt': 'hi\n' });
      await add(c(), { targets: ['f.txt'] });
      const d = await diff(c());
      expect(d.from).toEqual({ rev: 'HEAD', commit: null });
      expect(d.outputs.map((o) => [o.path, o.status, o.added])).toEqual([['f.txt', 'added', [{ path: 'f.txt', md5: md5('hi\n'), size: 3 }]]]);
      const e = await expectRegError(log(c(), { target: 'f.txt' }), 'log.no-versions', 2);
      expect(e.hint).toContain('not committed yet');
      await expectRegError(ls(c(), { rev: 'HEAD' }), 'rev.unknown', 2);
      expect((await ls(c(), {})).entries.map((x) => x.path)).toEqual(['f.txt']);
    } finally {
      removeDir(fresh);
    }
  });
});

describe('hostile pointers in history', () => {
  it('bad YAML, a path leaving the repository, a huge blob and a symlink each fail alone; nothing is written', async () => {
    const sentinel = tempDir('reg-sentinel-');
    writeTree(sentinel, { 'keep.txt': 'keep\n', 'x/y.txt': 'y\n' });
    git(root, 'checkout', '-q', '-b', 'hostile', 'v3');
    const commitAll = (msg: string) => {
      git(root, 'add', '-A');
      git(root, 'commit', '-q', '--no-verify', '-m', msg);
      return git(root, 'rev-parse', 'HEAD').trim();
    };
    const bad = { yaml: '', escape: '', git: '', huge: '', link: '' };
    try {
      writeFileSync(join(root, `${IMAGES}.dvc`), 'outs:\n- md5: [unclosed\n');
      bad.yaml = commitAll('broken yaml');
      writeFileSync(join(root, `${IMAGES}.dvc`), `outs:\n- md5: ${fx.imagesOid.v3}\n  hash: md5\n  path: ../../${sentinel.split('/').pop()}\n`);
      bad.escape = commitAll('path escapes');
      writeFileSync(join(root, `${IMAGES}.dvc`), `outs:\n- md5: ${fx.imagesOid.v3}\n  hash: md5\n  path: ../.git\n`);
      bad.git = commitAll('path into .git');
      writeFileSync(join(root, `${IMAGES}.dvc`), 'x'.repeat(2 << 20));
      bad.huge = commitAll('huge');
      unlinkSync(join(root, `${IMAGES}.dvc`));
      symlinkSync('/etc/passwd', join(root, `${IMAGES}.dvc`));
      bad.link = commitAll('symlink');
      git(root, 'checkout', '-q', 'main');
      const gitBefore = treeDigest(join(root, '.git'));
      const sentinelBefore = treeDigest(sentinel);

      const r = await log(ctx(), { target: IMAGES });
      const byCommit = new Map(r.versions.map((v) => [v.commit, v]));
      expect(byCommit.get(bad.yaml)!.error).toMatchObject({ code: 'pointer.yaml' });
      expect(byCommit.get(bad.yaml)!.error!.message).toContain(`${IMAGES}.dvc at ${bad.yaml.slice(0, 10)}:3:1: invalid YAML`);
      expect(byCommit.get(bad.escape)!.error).toMatchObject({ code: 'pointer.path-unsafe' });
      expect(byCommit.get(bad.git)!.error).toMatchObject({ code: 'pointer.path-internal' });
      expect(byCommit.get(bad.huge)!.error).toMatchObject({ code: 'pointer.too-large' });
      expect(byCommit.get(bad.link)!.error).toMatchObject({ code: 'pointer.symlink' });
      expect(byCommit.get(bad.link)!.refs.branches).toEqual(['hostile']);
      // Every genuine version is still there and intact.
      expect(r.versions.filter((v) => !v.error).map((v) => v.commit)).toEqual([fx.commits.c7, fx.commits.c5, fx.commits.c4, fx.commits.c3, fx.commits.c2, fx.commits.c1]);

      for (const rev of Object.values(bad)) {
        await expectRegError(ls(ctx(), { target: IMAGES, rev }), byCommit.get(rev)!.error!.code, 3);
        const d = await diff(ctx(), { from: 'v3', to: rev });
        expect(d.outputs.map((o) => [o.path, o.status, o.error?.code])).toEqual([
          [MODEL, 'unchanged', undefined],
          [IMAGES, 'error', byCommit.get(rev)!.error!.code],
        ]);
      }
      // The model entry at the same revisions is unaffected.
      expect((await ls(ctx(), { target: MODEL, rev: bad.escape })).entries).toHaveLength(1);
      expect(treeDigest(join(root, '.git'))).toBe(gitBefore);
      expect(treeDigest(sentinel)).toBe(sentinelBefore);
    } finally {
      git(root, 'checkout', '-q', '-f', 'main');
      git(root, 'branch', '-D', 'hostile');
      removeDir(sentinel);
    }
  });
});

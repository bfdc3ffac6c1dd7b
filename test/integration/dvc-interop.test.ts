import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { checkout } from '../../dist/ops/data/checkout.js';
import { status } from '../../dist/ops/data/status.js';
import { init } from '../../dist/ops/registry/init.js';
import { makeContext } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import { git, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8'));
type VectorTree = { files: Record<string, { content: string }>; dir_md5: string; manifest: string; object_keys: string[]; size: number; nfiles: number };

let repo: string;
const ctx = () => makeContext({ cwd: repo });

function treeFiles(t: VectorTree, under: string): Record<string, string> {
  return Object.fromEntries(Object.entries(t.files).map(([k, v]) => [`${under}/${k}`, v.content]));
}

async function expectRegError(p: Promise<unknown>, code: string): Promise<RegError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code).toBe(code);
    return err as RegError;
  }
  throw new Error(`expected RegError ${code}, but the operation succeeded`);
}

beforeEach(() => {
  repo = makeGitRepo();
});
afterEach(() => removeDir(repo));

describe('.gitignore: no line when Git already ignores the data (as DVC)', () => {
  const AREA_GITIGNORE = () => readFileSync(join(repo, 'raw_datasets/.gitignore'), 'utf8');

  it.each([
    ['*', '.gitignore'],
    ['raw_datasets/*', '.gitignore'],
    ['/raw_datasets/x', '.gitignore'],
    ['/raw_datasets/x', '.git/info/exclude'],
  ])('rule %j in %s', async (rule, file) => {
    await init(ctx());
    const before = AREA_GITIGNORE();
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a', 'raw_datasets/y/b.txt': 'b' });
    writeFileSync(join(repo, file), `${rule}\n`);
    const r = await add(ctx(), { targets: ['raw_datasets/x'] });
    expect(AREA_GITIGNORE()).toBe(before);
    expect(r.gitignores).toEqual([]);
    // without the rule the line is written, and once written it is reported again on re-add
    writeFileSync(join(repo, file), '');
    const again = await add(ctx(), { targets: ['raw_datasets/x', 'raw_datasets/y'] });
    expect(AREA_GITIGNORE()).toBe(`${before}/x\n/y\n`);
    expect(again.gitignores).toEqual(['raw_datasets/.gitignore']);
  });

  it('writes the line when a later rule re-includes the path', async () => {
    await init(ctx());
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a', '.gitignore': 'raw_datasets/*\n!raw_datasets/x\n' });
    await add(ctx(), { targets: ['raw_datasets/x'] });
    expect(AREA_GITIGNORE().endsWith('\n/x\n')).toBe(true);
    expect(git(repo, 'check-ignore', 'raw_datasets/x').trim()).toBe('raw_datasets/x');
  });
});

describe('.dvcignore (root and directories above the output, as DVC)', () => {
  const tree1 = vectors.trees.tree1 as VectorTree;
  const tree2 = vectors.trees.tree2 as VectorTree;

  beforeEach(async () => {
    await init(ctx(), { areas: false });
  });

  it('leaves ignored files out of the manifest: the .dir oid is the one DVC computes', async () => {
    writeTree(repo, {
      ...treeFiles(tree1, 'data'),
      'data/junk.tmp': 'scratch',
      'data/logs/run.log': 'log',
      'data/sub/deep.tmp': 'x',
      '.dvcignore': '# Add patterns of files dvc should ignore\n*.tmp\nlogs/\n',
    });
    const r = await add(ctx(), { targets: ['data'] });
    expect(r.outputs[0]).toMatchObject({ oid: tree1.dir_md5, size: tree1.size, nfiles: tree1.nfiles });
    const manifestKey = tree1.object_keys.find((k) => k.endsWith('.dir'))!;
    expect(readFileSync(join(repo, '.reg/cache', manifestKey), 'utf8')).toBe(tree1.manifest);
    // the walk of status skips them too: changing an ignored file changes nothing
    writeFileSync(join(repo, 'data/junk.tmp'), 'changed');
    writeFileSync(join(repo, 'data/new.tmp'), 'new');
    const st = await status(ctx(), { targets: ['data'] });
    expect(st.outputs[0]!.state).toBe('up-to-date');
    // checkout leaves ignored files alone
    await checkout(ctx(), { targets: ['data'] });
    expect(readFileSync(join(repo, 'data/junk.tmp'), 'utf8')).toBe('changed');
  });

  it('applies a .dvcignore in a directory above the output relative to that directory; deeper files win', async () => {
    writeTree(repo, {
      ...treeFiles(tree2, 'area/set'),
      'area/set/subdir/file2.bak': 'old',
      'area/set/notes.md': 'n',
      'area/set/keep.md': 'k',
      '.dvcignore': '*.md\n',
      'area/.dvcignore': '/set/subdir/*.bak\n!keep.md\n',
    });
    const r = await add(ctx(), { targets: ['area/set'] });
    const manifest = JSON.parse(readFileSync(join(repo, '.reg/cache/files/md5', r.outputs[0]!.oid.slice(0, 2), r.outputs[0]!.oid.slice(2)), 'utf8'));
    expect(manifest.map((e: { relpath: string }) => e.relpath)).toEqual(['file', 'keep.md', 'subdir/file2']);
    // without keep.md the oid is exactly the vector's
    writeFileSync(join(repo, 'area/.dvcignore'), '/set/subdir/*.bak\n');
    const again = await add(ctx(), { targets: ['area/set'] });
    expect(again.outputs[0]!.oid).toBe(tree2.dir_md5);
  });

  it('refuses to add an output that a .dvcignore rule ignores', async () => {
    writeTree(repo, { 'data/a.txt': 'a', '.dvcignore': 'data\n' });
    await expectRegError(add(ctx(), { targets: ['data'] }), 'add.dvcignored');
    expect(existsSync(join(repo, 'data.dvc'))).toBe(false);
  });

  it('ignores nothing with the comment-only .dvcignore `dvc init` writes', async () => {
    writeTree(repo, { ...treeFiles(tree1, 'data'), '.dvcignore': '# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n' });
    expect((await add(ctx(), { targets: ['data'] })).outputs[0]!.oid).toBe(tree1.dir_md5);
  });
});

describe('add refuses a name DVC’s .dvc format cannot store', () => {
  it('U+0085 between two characters reads back as a space', async () => {
    await init(ctx(), { areas: false });
    writeTree(repo, { 'x\u0085y': 'a', 'x\u2028y': 'b' });
    await expectRegError(add(ctx(), { targets: ['x\u0085y'] }), 'add.unrepresentable-name');
    expect(existsSync(join(repo, 'x\u0085y.dvc'))).toBe(false);
    const r = await add(ctx(), { targets: ['x\u2028y'] });
    expect(readFileSync(join(repo, 'x\u2028y.dvc'), 'utf8')).toContain("path: 'x\u2028    y'\n");
    expect(r.outputs[0]!.changed).toBe(true);
  });
});

describe('init --from-dvc: [cache] dir and type', () => {
  const tree1 = vectors.trees.tree1 as VectorTree;

  /** A DVC cache holding tree1's objects, as `dvc add data` leaves it. */
  function fillDvcCache(cacheDir: string): void {
    const objects: Record<string, string> = {};
    for (const f of Object.values(tree1.files as Record<string, { md5: string; content: string }>)) objects[`files/md5/${f.md5.slice(0, 2)}/${f.md5.slice(2)}`] = f.content;
    objects[`files/md5/${tree1.dir_md5.slice(0, 2)}/${tree1.dir_md5.slice(2)}`] = tree1.manifest;
    writeTree(cacheDir, objects);
  }

  it('reuses a shared cache named in .dvc/config in place, with its link type', async () => {
    const shared = tempDir('reg-shared-cache-');
    try {
      fillDvcCache(shared);
      writeTree(repo, {
        '.dvc/config': `[core]\n    autostage = true\n[cache]\n    dir = ${shared}\n    type = "hardlink,copy"\n    shared = group\n`,
        'data.dvc': vectors.trees.tree1.dvc_file.text,
      });
      const r = await init(ctx(), { fromDvc: true, areas: false });
      expect(r.importedCache).toEqual({ dir: shared, type: 'hardlink,copy' });
      const tracked = readFileSync(join(repo, '.reg/config.yaml'), 'utf8');
      expect(tracked).toContain(`dir: ${shared}`);
      expect(tracked).toContain('type: hardlink,copy');
      const co = await checkout(ctx(), { targets: ['data'] });
      expect(co.outputs[0]!.linkTypes).toEqual(['hardlink', 'copy']);
      expect(readFileSync(join(repo, 'data/foo'), 'utf8')).toBe('foo');
      // hard links into the shared cache: nothing was copied into .reg/cache
      expect(statSync(join(repo, 'data/foo')).nlink).toBe(2);
      expect(existsSync(join(repo, '.reg/cache/files'))).toBe(false);
    } finally {
      removeDir(shared);
    }
  });

  it('reads a relative dir as relative to .dvc/, and config.local settings into the local config', async () => {
    fillDvcCache(join(repo, '.dvc/shared'));
    writeTree(repo, {
      '.dvc/config': '[cache]\n    type = copy\n',
      '.dvc/config.local': '[cache]\n    dir = shared\n',
      'data.dvc': vectors.trees.tree1.dvc_file.text,
    });
    const r = await init(ctx(), { fromDvc: true, areas: false });
    expect(r.importedCache).toEqual({ dir: '../.dvc/shared', type: 'copy' });
    expect(readFileSync(join(repo, '.reg/config.local.yaml'), 'utf8')).toContain('dir: ../.dvc/shared');
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toContain('type: copy');
    await checkout(ctx(), { targets: ['data'] });
    expect(readFileSync(join(repo, 'data/bar'), 'utf8')).toBe('bar');
    expect(statSync(join(repo, 'data/bar')).nlink).toBe(1);
  });

  it('refuses an unknown [cache] type with the file named', async () => {
    writeTree(repo, { '.dvc/config': '[cache]\n    type = teleport\n' });
    const err = await expectRegError(init(ctx(), { fromDvc: true, areas: false }), 'config.cache-type');
    expect(err.message).toContain('.dvc/config: [cache] type');
  });
});

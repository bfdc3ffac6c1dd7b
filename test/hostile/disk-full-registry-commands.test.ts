import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { expectDiskFull, fillTo, isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { keepingGit, snapshotTree } from './tree.js';

/**
 * A full disk under the registry commands that write small tracked files: `init` (also
 * `--from-dvc` and in a clone), `new`, `hooks install` / `uninstall`, `remote add` / `modify` /
 * `modify --local` / `default`, and `add`'s pointer and `.gitignore` line (the data already in the
 * cache). Each runs on a small tmpfs holding the file's directory, filled to leave no space at all
 * or a page or two, less than the file written. Each must exit 1 `disk.no-space` naming ENOSPC,
 * the file and the fix (never "internal error"); the file it was writing is byte-identical (or
 * still absent); every other path is either as before or exactly as the completed command leaves
 * it (nothing torn, nothing lost); no temp file; `.git/` unchanged; and with the space back the
 * same command completes. Mounting needs root: the tests skip, saying so, otherwise.
 */

const PAGE = 4096;
const mounts: Tmpfs[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) m.unmount();
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A git repository (reg init'ed unless `bare`) at `<tmpfs>/repo`, the tmpfs small, hooks off for the clone. */
async function repoOnTmpfs(opts: { init?: boolean } = {}): Promise<{ repo: string; fs: string }> {
  const t = mountTmpfs('3m');
  mounts.push(t);
  const repo = join(t.dir, 'repo');
  mkdirSync(repo);
  git(repo, 'init', '-q', '-b', 'main');
  if (opts.init !== false) {
    await regOk(repo, ['init']);
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    commitAll(repo, 'registry');
  }
  return { repo, fs: t.dir };
}

function commitAll(repo: string, message: string): void {
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', message);
}

/** `n` bytes of YAML / shell / Markdown comment lines. */
function commentBlock(n: number, mark = '#'): string {
  const line = `${mark} padding so that this file is larger than the free space left on the disk ...\n`;
  return line.repeat(Math.ceil(n / line.length));
}

interface Fault {
  repo: string;
  args: string[];
  /** A directory on the tmpfs (its filler goes there). */
  fillAt: string;
  /** Bytes left free. */
  free: number;
  /** The repo-relative file whose write runs out of space (named in the message). */
  target: string;
  /** Repo-relative prefixes not compared (reg's own scratch state). */
  skip?: string[];
  /** Repo-relative prefixes under `.git/` the completed command may change (the hooks). */
  gitMayChange?: string[];
  /** Files the failed run may leave at a whole earlier stage of the command (checked by `onFailed`). */
  staged?: string[];
  /** Checks of the failed run's files, before the re-run. */
  onFailed?: () => void;
}

type Snapshot = Record<string, string>;

/**
 * Runs the fault, checks it, gives the space back and runs the same command again, which must
 * complete. Returns the snapshots before, after the failure and after the completed run.
 */
async function expectFullThenDone(f: Fault): Promise<{ before: Snapshot; failed: Snapshot; done: Snapshot }> {
  const skip = [...(f.skip ?? []), relFiller(f)];
  const strip = (t: Snapshot) => Object.fromEntries(Object.entries(t).filter(([k]) => !skip.some((p) => k === p || k.startsWith(p + '/'))));
  const before = strip(snapshotTree(f.repo));
  const unfill = fillTo(f.fillAt, f.free);
  let failed: Snapshot;
  try {
    const r = await reg(f.repo, ['--json', ...f.args]);
    expectDiskFull(r, 'local', join(f.repo, f.target));
    failed = strip(snapshotTree(f.repo));
    expect(tempFilesUnder(f.repo)).toEqual([]);
    expect(tempFilesUnder(f.fillAt)).toEqual([]);
    f.onFailed?.();
  } finally {
    unfill();
  }
  // The file being written: byte-identical, or still absent.
  if (!f.staged?.includes(f.target)) expect(failed[f.target], f.target).toBe(before[f.target]);
  // Git's own files: untouched (the hooks the command installs: checked below with the rest).
  const gitOwn = (k: string) => (k === '.git' || k.startsWith('.git/')) && !f.gitMayChange?.some((p) => k.startsWith(p));
  for (const k of new Set([...Object.keys(before), ...Object.keys(failed)])) {
    if (gitOwn(k)) expect(failed[k], k).toBe(before[k]);
  }
  await regOk(f.repo, f.args);
  const done = strip(snapshotTree(f.repo));
  // Everything else: as before, or whole as the completed command leaves it. A torn file is
  // neither; a lost one is absent from both.
  for (const k of new Set([...Object.keys(before), ...Object.keys(failed)])) {
    if (failed[k] !== before[k] && !f.staged?.includes(k)) expect(failed[k], `${k} after the failed run`).toBe(done[k]);
  }
  for (const k of Object.keys(done)) {
    if ((k === '.git' || k.startsWith('.git/')) && done[k] !== before[k]) {
      expect(f.gitMayChange?.some((p) => k.startsWith(p)), `${k} changed by the completed run`).toBe(true);
    }
  }
  return { before, failed, done };
}

function relFiller(f: Fault): string {
  const rel = join(f.fillAt, 'filler');
  return rel.startsWith(f.repo + '/') ? rel.slice(f.repo.length + 1) : '\0outside';
}

const cases = [
  ['no space at all', 0],
  ['two pages free', 2 * PAGE],
] as const;

describe.skipIf(!isRoot)('disk full under reg init', () => {
  it('a fresh init, no space at all: exit 1 naming .reg/config.yaml, nothing written; the re-run completes', async () => {
    const { repo, fs } = await repoOnTmpfs({ init: false });
    const { failed } = await expectFullThenDone({ repo, args: ['init'], fillAt: fs, free: 0, target: '.reg/config.yaml' });
    // Only the (empty) .reg directory, created before the config is written.
    expect(Object.keys(failed).filter((k) => k !== '' && !k.startsWith('.git'))).toEqual(['.reg']);
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toContain('areas:');
  }, 30_000);

  // config.yaml is written twice: the base config, then with the registry sections appended (the
  // rewrite that runs out of space). The base config is whole, and the re-run appends the rest.
  it('a fresh init, two pages free: exit 1 naming .reg/config.yaml, which is the whole base config (no torn append); the re-run completes', async () => {
    const { repo, fs } = await repoOnTmpfs({ init: false });
    let partial = '';
    await expectFullThenDone({
      repo,
      args: ['init'],
      fillAt: fs,
      free: 2 * PAGE,
      target: '.reg/config.yaml',
      staged: ['.reg/config.yaml'],
      // The re-run finds config.yaml and is the init of a clone, which installs the git hooks.
      gitMayChange: ['.git/hooks/'],
      onFailed: () => {
        partial = readFileSync(join(repo, '.reg/config.yaml'), 'utf8');
      },
    });
    expect(partial).toMatch(/^# reg configuration[^]*\nremotes: \{\}\n$/);
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8').startsWith(partial)).toBe(true);
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toContain('areas:');
  }, 30_000);

  it('init of a clone whose config names 40 areas, two pages free: exit 1 naming the file, the layout written so far whole; the re-run completes', async () => {
    const { repo, fs } = await repoOnTmpfs();
    const config = readFileSync(join(repo, '.reg/config.yaml'), 'utf8');
    const areas = Array.from({ length: 40 }, (_, i) => `  area_${String(i).padStart(2, '0')}:\n    mode: versioned\n`).join('');
    writeFileSync(join(repo, '.reg/config.yaml'), config.replace(/^areas:\n/m, `areas:\n${areas}`));
    commitAll(repo, 'many areas');
    // area_00's template is the first file written: one page; then its .gitignore, then area_01's template.
    const { failed } = await expectFullThenDone({ repo, args: ['init'], fillAt: fs, free: 2 * PAGE, target: 'area_01/template.card.md' });
    expect(failed['area_00/template.card.md']).toMatch(/^file/);
  }, 30_000);

  it('init --from-dvc importing 150 remotes, two pages free: exit 1 naming .reg/config.yaml, which is as before; the re-run completes', async () => {
    const { repo, fs } = await repoOnTmpfs();
    const remotes = Array.from({ length: 150 }, (_, i) => `['remote "store${i}"']\n    url = s3://bucket-${i}/some/long/prefix/for/the/data/registry/${i}\n`).join('');
    writeTree(repo, { '.dvc/config': `[core]\n    remote = store0\n${remotes}` });
    commitAll(repo, 'dvc config');
    const { done } = await expectFullThenDone({ repo, args: ['init', '--from-dvc'], fillAt: fs, free: 2 * PAGE, target: '.reg/config.yaml' });
    expect(done['.reg/config.yaml']).not.toBe(undefined);
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toContain('store149');
  }, 30_000);
});

describe.skipIf(!isRoot)('disk full under reg new', () => {
  for (const [what, free] of cases) {
    it(`the card from a 16 KiB template, ${what}: exit 1 naming the card, no card; the re-run completes`, async () => {
      const { repo, fs } = await repoOnTmpfs();
      writeFileSync(join(repo, 'raw_datasets/template.card.md'), readFileSync(join(repo, 'raw_datasets/template.card.md'), 'utf8') + commentBlock(16 << 10, '<!-- -->'));
      commitAll(repo, 'big template');
      const { failed, done } = await expectFullThenDone({ repo, args: ['new', 'raw_datasets/pages'], fillAt: fs, free, target: 'raw_datasets/pages.card.md' });
      expect(failed['raw_datasets/pages.card.md']).toBeUndefined();
      expect(done['raw_datasets/pages.card.md']).toMatch(/^file/);
    }, 30_000);
  }
});

describe.skipIf(!isRoot)('disk full under reg hooks', () => {
  const userHook = `#!/bin/sh\n${commentBlock(12 << 10)}echo the team's own check\n`;

  it("install over the user's own pre-commit, no space at all: exit 1 naming the hook, the user's hook still in place byte for byte; the re-run chains it", async () => {
    const { repo, fs } = await repoOnTmpfs();
    writeFileSync(join(repo, '.git/hooks/pre-commit'), userHook);
    chmodSync(join(repo, '.git/hooks/pre-commit'), 0o755);
    await expectFullThenDone({ repo, args: ['hooks', 'install'], fillAt: fs, free: 0, target: '.git/hooks/pre-commit', gitMayChange: ['.git/hooks/'] });
    expect(readFileSync(join(repo, '.git/hooks/pre-commit.local'), 'utf8')).toBe(userHook);
    expect(readFileSync(join(repo, '.git/hooks/pre-commit'), 'utf8')).toContain('reg-managed-hook');
  }, 30_000);

  it("install with the user's own pre-push, one page free (pre-commit's shim fits): exit 1 naming pre-push, which is in place byte for byte; the re-run chains it", async () => {
    const { repo, fs } = await repoOnTmpfs();
    writeFileSync(join(repo, '.git/hooks/pre-push'), userHook);
    chmodSync(join(repo, '.git/hooks/pre-push'), 0o755);
    const { failed } = await expectFullThenDone({ repo, args: ['hooks', 'install'], fillAt: fs, free: PAGE, target: '.git/hooks/pre-push', gitMayChange: ['.git/hooks/'] });
    expect(failed['.git/hooks/pre-commit']).toMatch(/^file 755/);
    expect(readFileSync(join(repo, '.git/hooks/pre-push.local'), 'utf8')).toBe(userHook);
  }, 30_000);

  it("uninstall on a full disk writes nothing: it completes and puts the user's hook back byte for byte", async () => {
    const { repo, fs } = await repoOnTmpfs();
    writeFileSync(join(repo, '.git/hooks/pre-commit'), userHook);
    chmodSync(join(repo, '.git/hooks/pre-commit'), 0o755);
    await regOk(repo, ['hooks', 'install']);
    const unfill = fillTo(fs, 0);
    try {
      // Uninstalling writes .git/hooks/ (the user's hook put back); nothing else of Git's.
      await keepingGit(repo, () => regOk(repo, ['hooks', 'uninstall']), ['hooks']);
    } finally {
      unfill();
    }
    expect(readFileSync(join(repo, '.git/hooks/pre-commit'), 'utf8')).toBe(userHook);
    expect(tempFilesUnder(fs)).toEqual([]);
  }, 30_000);
});

describe.skipIf(!isRoot)('disk full under reg remote', () => {
  /** A registry whose config.yaml and config.local.yaml are 16 KiB (comments kept on every rewrite), with a remote `nas`. */
  async function bigConfigs(): Promise<{ repo: string; fs: string }> {
    const r = await repoOnTmpfs();
    await regOk(r.repo, ['remote', 'add', 'nas', '/srv/nas/registry']);
    for (const f of ['config.yaml', 'config.local.yaml']) writeFileSync(join(r.repo, '.reg', f), readFileSync(join(r.repo, '.reg', f), 'utf8') + commentBlock(16 << 10));
    commitAll(r.repo, 'remote');
    return r;
  }

  const commands: Array<[string, string[], string]> = [
    ['remote add', ['remote', 'add', 'backup', 's3://team-bucket/registry'], '.reg/config.yaml'],
    ['remote add --local', ['remote', 'add', 'scratch', '/srv/scratch', '--local'], '.reg/config.local.yaml'],
    ['remote modify', ['remote', 'modify', 'nas', 'jobs', '8'], '.reg/config.yaml'],
    ['remote modify --local', ['remote', 'modify', '--local', 'nas', 'profile', 'team'], '.reg/config.local.yaml'],
    ['remote default', ['remote', 'default', 'nas'], '.reg/config.yaml'],
    ['remote default --local', ['remote', 'default', 'nas', '--local'], '.reg/config.local.yaml'],
  ];
  // Every command with two pages free (less than the file); no space at all for one tracked and one local write.
  for (const [name, args, target] of commands) {
    for (const [what, free] of cases.filter(([, free]) => free > 0 || name === 'remote add' || name === 'remote modify --local')) {
      it(`${name}, ${what}: exit 1 naming ${target}, which is byte-identical; the re-run completes`, async () => {
        const { repo, fs } = await bigConfigs();
        const { done } = await expectFullThenDone({ repo, args, fillAt: fs, free, target });
        expect(done[target]).not.toBe(undefined);
      }, 30_000);
    }
  }

  it('remote add of a 12 KiB URL to the small default config, two pages free: exit 1, config.yaml byte-identical; the re-run completes', async () => {
    const { repo, fs } = await repoOnTmpfs();
    const url = '/srv/' + Array.from({ length: 60 }, (_, i) => `directory-level-${i}-${'x'.repeat(180)}`).join('/');
    await expectFullThenDone({ repo, args: ['remote', 'add', 'deep', url], fillAt: fs, free: 2 * PAGE, target: '.reg/config.yaml' });
    expect(readFileSync(join(repo, '.reg/config.yaml'), 'utf8')).toContain(url);
  }, 30_000);
});

describe.skipIf(!isRoot)("disk full under reg add's own writes (the data already in the cache)", () => {
  /**
   * A registry outside the tmpfs (its cache and stat cache on the real disk) whose `data/` is a
   * small tmpfs holding `x.bin`: `v1` and `v2` are in the cache.
   */
  async function dataOnTmpfs(): Promise<{ repo: string; fs: string; v1: Buffer; v2: Buffer }> {
    const repo = tempDir('reg-full-add-');
    dirs.push(repo);
    git(repo, 'init', '-q', '-b', 'main');
    await regOk(repo, ['init']);
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    mkdirSync(join(repo, 'data'));
    const t = mountTmpfs('1m', join(repo, 'data'));
    mounts.unshift(t); // unmounted before the repository is removed
    const v1 = Buffer.alloc(20 << 10, 1);
    const v2 = Buffer.alloc(20 << 10, 2);
    writeFileSync(join(repo, 'data/x.bin'), v1);
    await regOk(repo, ['add', 'data/x.bin']);
    writeFileSync(join(repo, 'data/x.bin'), v2);
    await regOk(repo, ['add', 'data/x.bin']);
    return { repo, fs: t.dir, v1, v2 };
  }
  const skip = ['.reg/tmp', '.reg/cache'];

  for (const [what, free] of cases) {
    it(`the old pointer (16 KiB of meta) over data put back to v1, ${what}: exit 1 naming the pointer, which is byte-identical; the re-run completes`, async () => {
      const { repo, fs, v1 } = await dataOnTmpfs();
      const pointer = readFileSync(join(repo, 'data/x.bin.dvc'), 'utf8');
      writeFileSync(join(repo, 'data/x.bin.dvc'), `${pointer}meta:\n  notes: |\n${commentBlock(16 << 10, '    note')}`);
      commitAll(repo, 'x v2');
      writeFileSync(join(repo, 'data/x.bin'), v1);
      const { before, done } = await expectFullThenDone({ repo, args: ['add', 'data/x.bin'], fillAt: fs, free, target: 'data/x.bin.dvc', skip });
      expect(done['data/x.bin.dvc']).not.toBe(before['data/x.bin.dvc']);
    }, 30_000);
  }

  for (const [what, free] of [['no space at all', 0], ['one page free (the pointer fits, the 16 KiB .gitignore does not)', PAGE]] as const) {
    it(`a new pointer and its .gitignore line, ${what}: exit 1 naming the file, no pointer without its line; the re-run completes`, async () => {
      const { repo, fs, v2 } = await dataOnTmpfs();
      writeFileSync(join(repo, 'data/.gitignore'), commentBlock(16 << 10) + readFileSync(join(repo, 'data/.gitignore'), 'utf8'));
      commitAll(repo, 'x');
      writeFileSync(join(repo, 'data/y.bin'), v2); // in the cache already, as x.bin's v2
      const target = free === 0 ? 'data/y.bin.dvc' : 'data/.gitignore';
      const { failed } = await expectFullThenDone({ repo, args: ['add', 'data/y.bin'], fillAt: fs, free, target, skip });
      // A pointer whose data Git does not ignore would have `git add -A` commit the data.
      expect(failed['data/y.bin.dvc']).toBeUndefined();
      expect(readFileSync(join(repo, 'data/.gitignore'), 'utf8')).toContain('/y.bin');
    }, 30_000);
  }

  it('an existing pointer whose .gitignore line was removed, one page free: exit 1 naming the .gitignore; the pointer (updated) is kept, not removed as a new one is', async () => {
    const { repo, fs, v1 } = await dataOnTmpfs();
    commitAll(repo, 'x'); // the pointer, tracked
    writeFileSync(join(repo, 'data/.gitignore'), commentBlock(16 << 10)); // then its line removed (not committed: the data would be)
    writeFileSync(join(repo, 'data/x.bin'), v1);
    const { before, failed } = await expectFullThenDone({ repo, args: ['add', 'data/x.bin'], fillAt: fs, free: PAGE, target: 'data/.gitignore', skip });
    // The pointer was there before the command: removing it would lose it.
    expect(git(repo, 'ls-files', 'data/x.bin.dvc').trim()).toBe('data/x.bin.dvc');
    expect(before['data/x.bin.dvc']).toBeDefined();
    expect(failed['data/x.bin.dvc']).toBeDefined();
    expect(readFileSync(join(repo, 'data/.gitignore'), 'utf8')).toContain('/x.bin');
  }, 30_000);
});

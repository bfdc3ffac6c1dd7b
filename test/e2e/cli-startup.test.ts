import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

// The CLI imports only the command it runs (src/cli/commands/index.ts); these check that picking
// the command first changes nothing users see.
let repo: string;
let elsewhere: string;

beforeAll(async () => {
  repo = makeGitRepo();
  elsewhere = tempDir();
  await regOk(repo, ['init']);
  await regOk(repo, ['hooks', 'install']);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '--no-verify', '-m', 'registry');
});
afterAll(() => {
  removeDir(repo);
  removeDir(elsewhere);
});

/**
 * A registry (no hooks installed) with three commits: `first` adds a dataset, `second` changes its
 * pointer, `third` changes a plain file only. Left at `second`.
 */
async function threeCommits(): Promise<{ dir: string; first: string; second: string; third: string }> {
  const dir = makeGitRepo();
  await regOk(dir, ['init']);
  writeTree(dir, { 'raw_datasets/pages/p1.txt': 'first\n' });
  await regOk(dir, ['add', 'raw_datasets/pages']);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--no-verify', '-m', 'first');
  const first = git(dir, 'rev-parse', 'HEAD').trim();
  writeTree(dir, { 'raw_datasets/pages/p1.txt': 'second\n' });
  await regOk(dir, ['add', 'raw_datasets/pages']);
  git(dir, 'commit', '-q', '--no-verify', '-am', 'second');
  const second = git(dir, 'rev-parse', 'HEAD').trim();
  writeTree(dir, { 'notes.txt': 'a plain file\n' });
  git(dir, 'add', 'notes.txt');
  git(dir, 'commit', '-q', '--no-verify', '-m', 'third');
  const third = git(dir, 'rev-parse', 'HEAD').trim();
  git(dir, 'checkout', '-q', second);
  return { dir, first, second, third };
}

describe('start-up: one command loaded, same behaviour', () => {
  it('--version prints the version and exits 0', async () => {
    const r = await regOk(repo, ['--version']);
    expect(r.stdout.trim()).toBe('0.1.0 (git-data-registry)');
  });

  it('--version loads no child_process (nor the git module behind it): the entry imports the status-only parts when status runs', () => {
    const probe = "const bin = process.argv[1]; process.on('exit', () => process.stderr.write('child_process:' + process.moduleLoadList.includes('NativeModule child_process'))); require(bin);";
    const r = spawnSync(process.execPath, ['-e', probe, join(PROJECT_ROOT, 'bin', 'reg.cjs'), '--version'], { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('0.1.0 (git-data-registry)');
    expect(r.stderr).toBe('child_process:false');
  });

  it('the fast paths load no crypto, vm or module: the code cache\'s loader is imported only when the program runs', () => {
    // A script file, not node -e: -e itself loads crypto.
    const dir = tempDir('reg-startup-probe-');
    try {
      const probe = join(dir, 'probe.cjs');
      writeFileSync(probe, "const loaded = (m) => process.moduleLoadList.includes('NativeModule ' + m);\nprocess.on('exit', () => process.stderr.write(JSON.stringify(['crypto', 'vm', 'module'].filter(loaded))));\nrequire(process.argv.splice(2, 1)[0]);\n");
      const run = (...args: string[]) => spawnSync(process.execPath, [probe, join(PROJECT_ROOT, 'bin', 'reg.cjs'), ...args], { cwd: repo, encoding: 'utf8' });
      for (const args of [['--version'], ['hook', 'pre-commit']]) {
        const r = run(...args);
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stderr), args.join(' ')).toEqual([]);
      }
      // The probe sees them when the program does run.
      const full = run('-q', '--json', 'status');
      expect(full.status, full.stderr).toBe(0);
      expect(JSON.parse(full.stderr.slice(full.stderr.lastIndexOf('[')))).toEqual(['crypto', 'vm', 'module']);
    } finally {
      removeDir(dir);
    }
  });

  it('a misspelt command still gets commander\'s suggestion (every command is loaded for it)', async () => {
    const r = await reg(repo, ['stauts']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'stauts'");
    expect(r.stderr).toContain('status');
  });

  it('a command\'s --help shows that command', async () => {
    const r = await regOk(repo, ['checkout', '--help']);
    expect(r.stdout).toMatch(/^Usage: reg checkout/m);
  });

  it('global options before the command, with their values, are skipped when picking it', async () => {
    for (const argv of [['-C', repo, 'status'], ['-qC', repo, 'status'], [`--cwd=${repo}`, '--json', 'status']]) {
      const r = await reg(elsewhere, argv);
      expect({ argv, code: r.code, stderr: r.stderr }).toEqual({ argv, code: 0, stderr: '' });
    }
  });

  it('reg hook pre-commit passes with nothing staged', async () => {
    const r = await regOk(repo, ['hook', 'pre-commit']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
  });

  it('reg hook pre-commit with nothing staged checks nothing (the commit records HEAD as it is), the same through the full program', async () => {
    // An entry without a card, committed past the hook: a staged change next to it is refused,
    // but a commit that stages nothing brings nothing new to check.
    const other = makeGitRepo();
    try {
      await regOk(other, ['init']);
      writeTree(other, { 'raw_datasets/pages/p1.txt': 'page\n' });
      await regOk(other, ['add', 'raw_datasets/pages']);
      git(other, 'add', '-A');
      git(other, 'commit', '-q', '--no-verify', '-m', 'entry without a card');
      const quick = await reg(other, ['hook', 'pre-commit']);
      expect({ code: quick.code, stdout: quick.stdout, stderr: quick.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
      // --json goes through commander and the op: same verdict, and it says why.
      const full = JSON.parse((await regOk(other, ['--json', 'hook', 'pre-commit'])).stdout);
      expect(full).toMatchObject({ ok: true, nothingStaged: true, findings: [] });

      writeTree(other, { 'notes.txt': 'x\n' });
      git(other, 'add', 'notes.txt');
      const staged = await reg(other, ['hook', 'pre-commit']);
      expect(staged.code).toBe(5);
      expect(staged.stderr).toContain('[entry-without-card]');
    } finally {
      removeDir(other);
    }
  });

  it('reg hook post-checkout: a file checkout, or a branch checkout that changes no pointer, says nothing; one that changes a pointer updates the data, as through the full program', async () => {
    const c = await threeCommits();
    try {
      const quiet = { code: 0, stdout: '', stderr: '' };
      const run = async (argv: string[]) => {
        const r = await reg(c.dir, argv);
        return { code: r.code, stdout: r.stdout, stderr: r.stderr };
      };
      expect(await run(['hook', 'post-checkout', c.second, c.third, '1'])).toEqual(quiet);
      expect(await run(['hook', 'post-checkout', c.second, c.first, '0'])).toEqual(quiet);
      // --json goes through commander and the op: the same verdicts.
      for (const [prev, next, flag] of [[c.second, c.third, '1'], [c.second, c.first, '0']]) {
        const full = await reg(c.dir, ['--json', 'hook', 'post-checkout', prev!, next!, flag!]);
        expect(full.code).toBe(0);
        expect(JSON.parse(full.stdout)).toMatchObject({ hook: 'post-checkout', pointers: [], updated: [], skipped: [] });
      }
      // The pointer at first, the data still second's: a branch checkout brings the data in line.
      git(c.dir, 'checkout', '-q', c.first);
      const updated = await run(['hook', 'post-checkout', c.second, c.first, '1']);
      expect(updated.code).toBe(0);
      expect(updated.stderr).toContain('reg: updated data for raw_datasets/pages.dvc');
      expect(readFileSync(join(c.dir, 'raw_datasets/pages/p1.txt'), 'utf8')).toBe('first\n');
      // A file checkout never opens the registry: a broken config is no warning there (and is one for a branch checkout).
      writeFileSync(join(c.dir, '.reg/config.yaml'), 'remotes: [unclosed\n');
      expect(await run(['hook', 'post-checkout', c.first, c.second, '0'])).toEqual(quiet);
      const full = await reg(c.dir, ['--json', 'hook', 'post-checkout', c.first, c.second, '0']);
      expect(JSON.parse(full.stdout)).toMatchObject({ skipped: [] });
      const branch = await run(['hook', 'post-checkout', c.first, c.second, '1']);
      expect(branch.code).toBe(0);
      expect(branch.stderr).toMatch(/reg: warning: left \(all\) as it is: .*config\.yaml/);
    } finally {
      removeDir(c.dir);
    }
  });

  it('reg hook post-merge: a merge that changes no pointer says nothing; one that changes a pointer updates the data', async () => {
    const c = await threeCommits();
    try {
      // As after a fast-forward pull from second to third: no pointer changed.
      git(c.dir, 'checkout', '-q', c.third);
      git(c.dir, 'update-ref', 'ORIG_HEAD', c.second);
      const quiet = await reg(c.dir, ['hook', 'post-merge', '0']);
      expect({ code: quiet.code, stdout: quiet.stdout, stderr: quiet.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
      const full = await reg(c.dir, ['--json', 'hook', 'post-merge', '0']);
      expect(JSON.parse(full.stdout)).toMatchObject({ hook: 'post-merge', pointers: [], updated: [], skipped: [] });
      // From first to second: the pointer changed, and the data (still first's after a checkout of first) follows it.
      git(c.dir, 'checkout', '-q', c.first);
      await regOk(c.dir, ['checkout', 'raw_datasets/pages']);
      git(c.dir, 'checkout', '-q', c.second);
      git(c.dir, 'update-ref', 'ORIG_HEAD', c.first);
      const merged = await reg(c.dir, ['hook', 'post-merge', '0']);
      expect(merged.code).toBe(0);
      expect(merged.stderr).toContain('reg: updated data for raw_datasets/pages.dvc');
      expect(readFileSync(join(c.dir, 'raw_datasets/pages/p1.txt'), 'utf8')).toBe('second\n');
    } finally {
      removeDir(c.dir);
    }
  });

  it('reg hook pre-commit outside a git repository still fails with the full program\'s error', async () => {
    const r = await reg(elsewhere, ['hook', 'pre-commit']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^reg: error: /m);
  });
});

describe('start-up: which files run', () => {
  /** A copy of the built package (node_modules linked) without `remove`, and its CLI run from `cwd`. */
  function packageWithout(remove: string[]): { run: (cwd: string, args: string[]) => { code: number | null; stdout: string; stderr: string }; dir: string } {
    const dir = tempDir('reg-package-');
    for (const part of ['bin', 'dist', 'hooks', 'templates', 'package.json']) cpSync(join(PROJECT_ROOT, part), join(dir, part), { recursive: true });
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    for (const rel of remove) rmSync(join(dir, rel));
    const run = (cwd: string, args: string[]) => {
      const r = spawnSync(process.execPath, [join(dir, 'bin', 'reg.cjs'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true', XDG_CACHE_HOME: join(dir, 'xdg-cache') } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    return { run, dir };
  }

  /** --version, the nothing-staged hook and `status --json` answer as usual from a package copy without `remove`. */
  function expectCommandsRunWithout(remove: string[]): void {
    const pkg = packageWithout(remove);
    try {
      expect(pkg.run(repo, ['--version'])).toEqual({ code: 0, stdout: '0.1.0 (git-data-registry)\n', stderr: '' });
      expect(pkg.run(repo, ['hook', 'pre-commit'])).toEqual({ code: 0, stdout: '', stderr: '' });
      const status = pkg.run(repo, ['--json', 'status']);
      expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(status.stdout)).toBeTypeOf('object');
    } finally {
      removeDir(pkg.dir);
    }
  }

  it('bin/reg.cjs runs the bundled entry and program: without tsc\'s ES modules of the CLI, --version, the nothing-staged hook and a command still work', () => {
    // The ES module entry started Node's ES module loader on every command and hook (~15 ms).
    expectCommandsRunWithout(['dist/cli/entry.js', 'dist/cli/fast-path.js', 'dist/cli/main.js', 'dist/ops/hooks/nothing-staged.js']);
  });

  it('without the bundles (tsc\'s output alone), the same commands run from tsc\'s ES modules', () => {
    expectCommandsRunWithout(['dist/reg-entry.cjs', 'dist/reg-cli.cjs']);
  });

  it('the post-checkout hook of a file checkout or of a branch checkout, and the post-merge hook of a merge, that change no pointer answer without the program', async () => {
    const c = await threeCommits();
    const pkg = packageWithout(['dist/reg-cli.cjs', 'dist/cli/main.js']);
    try {
      for (const args of [[c.second, c.third, '1'], [c.second, c.first, '0']]) expect(pkg.run(c.dir, ['hook', 'post-checkout', ...args])).toEqual({ code: 0, stdout: '', stderr: '' });
      // A pointer changed: the program is needed (and missing from this copy).
      expect(pkg.run(c.dir, ['hook', 'post-checkout', c.second, c.first, '1']).code).not.toBe(0);
      expect(pkg.run(c.dir, ['hook', 'post-checkout', '0'.repeat(40), c.second, '1']).code).not.toBe(0);
      // post-merge: no ORIG_HEAD yet (every pointer is looked at), then one pointer changed, then none.
      expect(pkg.run(c.dir, ['hook', 'post-merge', '0']).code).not.toBe(0);
      git(c.dir, 'update-ref', 'ORIG_HEAD', c.first);
      expect(pkg.run(c.dir, ['hook', 'post-merge', '0']).code).not.toBe(0);
      git(c.dir, 'checkout', '-q', c.third);
      git(c.dir, 'update-ref', 'ORIG_HEAD', c.second);
      expect(pkg.run(c.dir, ['hook', 'post-merge', '0'])).toEqual({ code: 0, stdout: '', stderr: '' });
    } finally {
      removeDir(pkg.dir);
      removeDir(c.dir);
    }
  });
});

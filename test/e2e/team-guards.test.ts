import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, PROJECT_ROOT, reg, regOk, removeDir, REG_BIN, tempDir, writeTree } from '../helpers/repo.js';

/** Issue 8, items 2, 3 and 6–9: guards a team relies on, through the CLI and real git. */

const binDir = tempDir('reg-bin-');
writeFileSync(join(binDir, 'reg'), `#!/bin/sh\nexec "${process.execPath}" "${REG_BIN}" "$@"\n`);
chmodSync(join(binDir, 'reg'), 0o755);
afterAll(() => removeDir(binDir));
const WITH_REG = { PATH: `${binDir}:${process.env.PATH}` };
/** The hooks note is off in CI; these tests look at it, so they run as a developer would. */
const DEV = { CI: '' };

function gitRun(cwd: string, env: Record<string, string>, ...args: string[]) {
  const r = spawnSync('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org', GIT_CONFIG_NOSYSTEM: '1', ...env }, encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

const card = (name: string) => `---\nlicense: MIT\nsource: https://example.org\nowner: ana\n---\n# Card: ${name}\n`;
const HOOKS_NOTE = /^reg: note: the git hooks are not installed in this clone.*run `reg hooks install`/m;

let repo: string;
const extra: string[] = [];
beforeEach(async () => {
  repo = makeGitRepo();
  await regOk(repo, ['init']);
});
afterEach(() => [repo, ...extra.splice(0)].forEach(removeDir));

function appendConfig(file: string, text: string): void {
  const path = join(repo, '.reg', file);
  writeFileSync(path, (existsSync(path) ? readFileSync(path, 'utf8') : '') + text);
}

describe('item 2: reg push on a synced entry', () => {
  it('refuses with a hint to reg sync push <entry>, never reg add', async () => {
    writeTree(repo, { 'processed_datasets/tokens/a.bin': 'x' });
    const r = await reg(repo, ['push', 'processed_datasets/tokens']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('processed_datasets/tokens is in the synced area processed_datasets/');
    expect(r.stderr).toContain('hint: upload it with: reg sync push processed_datasets/tokens');
    expect(r.stderr).not.toContain('reg add');
    const pull = await reg(repo, ['pull', 'processed_datasets/tokens']);
    expect(pull.stderr).toContain('reg sync pull processed_datasets/tokens');
  }, 240_000);
});

describe('item 3: the pre-commit hook names the staged card', () => {
  it('a card fixed in the work tree but not re-staged: "the staged version of ... run git add"', async () => {
    await regOk(repo, ['hooks', 'install', 'pre-commit'], { env: WITH_REG });
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'alpha', 'raw_datasets/mnist.card.md': card('mnist').replace('license: MIT', 'license:') });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitRun(repo, WITH_REG, 'add', '-A');
    writeTree(repo, { 'raw_datasets/mnist.card.md': card('mnist') }); // fixed, not staged
    const refused = gitRun(repo, WITH_REG, 'commit', '-qm', 'mnist');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('the staged version of raw_datasets/mnist.card.md: required field "license" is empty');
    expect(refused.out).toContain('the work-tree version is fixed but not staged: run git add raw_datasets/mnist.card.md');
    gitRun(repo, WITH_REG, 'add', 'raw_datasets/mnist.card.md');
    const passed = gitRun(repo, WITH_REG, 'commit', '-qm', 'mnist');
    expect(passed.code, passed.out).toBe(0);
  }, 240_000);
});

describe('item 6: hooks on every clone, and a CI recipe', () => {
  async function teamRepoAndClone(): Promise<{ origin: string; clone: string; store: string }> {
    const store = tempDir('reg-store-');
    const origin = tempDir('reg-origin-');
    const parent = tempDir('reg-clone-');
    extra.push(store, origin, parent);
    await regOk(repo, ['remote', 'add', 'store', store, '--default']);
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'alpha', 'raw_datasets/mnist.card.md': card('mnist') });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'registry');
    git(origin, 'init', '-q', '--bare', '-b', 'main');
    git(repo, 'push', '-q', origin, 'main');
    git(parent, 'clone', '-q', origin, 'clone');
    return { origin, clone: join(parent, 'clone'), store };
  }

  it('every command in a clone without hooks says how to install them, once, on stderr; init installs them', async () => {
    const { clone } = await teamRepoAndClone();
    const st = await regOk(clone, ['status', 'raw_datasets/mnist'], { env: DEV });
    expect(st.stderr).toMatch(HOOKS_NOTE);
    expect(st.stderr.match(/reg: note: the git hooks/g)).toHaveLength(1);
    expect(st.stdout).not.toContain('hooks');
    // --json keeps stdout one document; -q silences the note; CI turns it off
    const json = await regOk(clone, ['status', '--json'], { env: DEV });
    expect(() => JSON.parse(json.stdout)).not.toThrow();
    expect((await regOk(clone, ['status', '-q'], { env: DEV })).stderr).not.toMatch(HOOKS_NOTE);
    expect((await regOk(clone, ['status'], { env: { CI: 'true' } })).stderr).not.toMatch(HOOKS_NOTE);
    // disabled on purpose for this user: silent
    writeFileSync(join(clone, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    expect((await regOk(clone, ['status'], { env: DEV })).stderr).not.toMatch(HOOKS_NOTE);
    writeFileSync(join(clone, '.reg/config.local.yaml'), '');
    // reg init in the clone installs the hooks; the note goes away
    const init = await regOk(clone, ['init'], { env: DEV });
    expect(init.stdout).toContain('reg already initialized');
    expect(init.stdout).toMatch(/git hooks: pre-commit installed, pre-push installed, post-checkout installed, post-merge installed/);
    const hooks = JSON.parse((await regOk(clone, ['hooks', 'status', '--json'])).stdout);
    expect(hooks.hooks.map((h: { state: string }) => h.state)).toEqual(['installed', 'installed', 'installed', 'installed']);
    expect((await regOk(clone, ['status'], { env: DEV })).stderr).not.toMatch(HOOKS_NOTE);
  }, 240_000);

  it('the pre-commit framework or husky running reg counts as installed', async () => {
    const { clone } = await teamRepoAndClone();
    const hooksDir = join(clone, '.git/hooks');
    writeFileSync(join(hooksDir, 'pre-commit'), '#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n');
    writeFileSync(join(hooksDir, 'pre-push'), '#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n');
    expect((await regOk(clone, ['status'], { env: DEV })).stderr).toMatch(HOOKS_NOTE); // no reg hooks in its config
    writeFileSync(join(clone, '.pre-commit-config.yaml'), 'repos:\n  - repo: https://example.org/reg\n    rev: v0.1.0\n    hooks:\n      - id: reg-check\n      - id: reg-pre-push\n');
    expect((await regOk(clone, ['status'], { env: DEV })).stderr).not.toMatch(HOOKS_NOTE);
    // husky: core.hooksPath and scripts that call reg hook
    git(clone, 'config', 'core.hooksPath', '.husky/_');
    writeTree(clone, { '.husky/pre-commit': 'npx --no -- reg hook pre-commit\n', '.husky/pre-push': 'npx --no -- reg hook pre-push "$@"\n' });
    expect((await regOk(clone, ['status'], { env: DEV })).stderr).not.toMatch(HOOKS_NOTE);
  }, 240_000);

  it('reg check --ci [--range A..B]: lint plus "every pointer has its data on the remote", nothing uploaded', async () => {
    const { clone, store } = await teamRepoAndClone();
    const first = git(repo, 'rev-parse', 'HEAD').trim();
    // nothing was pushed: HEAD's pointer has no data on the remote
    const missing = await reg(clone, ['check', '--ci']);
    expect(missing.code).toBe(5);
    expect(missing.stdout).toMatch(/error: raw_datasets\/mnist\.dvc: .* not on store .*\[data-not-on-remote\]/);
    expect(missing.stdout).toContain('remote data: 1 missing');
    expect(readdirSync(store)).toEqual([]);
    await regOk(repo, ['push']);
    const ok = await regOk(clone, ['check', '--ci', '--json']);
    expect(JSON.parse(ok.stdout).ci).toMatchObject({ pointers: 1, missing: 0 });
    // a second commit in a range: only its pointers count; new-branch ranges (0000..B) take B's history
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'alpha v2' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    git(repo, 'commit', '-qam', 'v2');
    const second = git(repo, 'rev-parse', 'HEAD').trim();
    const range = await reg(repo, ['check', '--ci', '--range', `${first}..${second}`, '--json']);
    expect(range.code).toBe(5);
    expect(JSON.parse(range.stdout).ci).toMatchObject({ commits: 1, pointers: 1, missing: 1 });
    const zero = await reg(repo, ['check', '--ci', '--range', `${'0'.repeat(40)}..${second}`, '--json']);
    expect(JSON.parse(zero.stdout).ci).toMatchObject({ commits: 2, pointers: 2, missing: 1 });
    await regOk(repo, ['push']);
    await regOk(repo, ['check', '--ci', '--range', `${first}..${second}`]);
    // a range start the clone does not have (a shallow CI checkout) is a usage error with the fix
    const bad = await reg(repo, ['check', '--ci', '--range', `${'1'.repeat(40)}..HEAD`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('fetch-depth: 0');
  }, 240_000);
});

describe('item 7: the large-file rule applies to the whole repository', () => {
  it('refuses a big file outside the areas at commit; the threshold and an allow-list are configurable', async () => {
    await regOk(repo, ['hooks', 'install', 'pre-commit'], { env: WITH_REG });
    appendConfig('config.local.yaml', 'rules:\n  large-file-threshold: 4KB\n');
    writeTree(repo, { 'docs/figure.png': Buffer.alloc(5000, 1), 'notes.txt': 'small' });
    gitRun(repo, WITH_REG, 'add', '-A');
    const refused = gitRun(repo, WITH_REG, 'commit', '-qm', 'figures');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('docs/figure.png (5000 bytes) is staged into Git; files of 4096 bytes or more do not go into Git [large-file]');
    expect(refused.out).toContain('git rm --cached docs/figure.png, then version it with reg add docs/figure.png');
    writeFileSync(join(repo, '.reg/config.local.yaml'), "rules:\n  large-file-threshold: 4KB\n  large-file-allow: ['docs/*.png']\n");
    const allowed = gitRun(repo, WITH_REG, 'commit', '-qm', 'figures');
    expect(allowed.code, allowed.out).toBe(0);
    // reg check (not staged) sees tracked files too
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'rules:\n  large-file-threshold: 4KB\n');
    const lint = await reg(repo, ['check']);
    expect(lint.code).toBe(5);
    expect(lint.stdout).toContain('docs/figure.png (5000 bytes) is tracked by Git');
  }, 240_000);
});

describe('item 8: one naming rule for new, add and check', () => {
  it('the default rule accepts real registry names; add and check agree', async () => {
    for (const name of ['coco_2017', 'imagenet-1k.v2']) {
      writeTree(repo, { [`raw_datasets/${name}/a.txt`]: name, [`raw_datasets/${name}.card.md`]: card(name) });
      await regOk(repo, ['add', `raw_datasets/${name}`]);
    }
    const lint = JSON.parse((await reg(repo, ['check', '--json'])).stdout);
    expect(lint.findings.filter((f: { rule: string }) => f.rule === 'naming')).toEqual([]);
  }, 240_000);

  it('add refuses up front (exit 5, nothing written) a name check would reject; severity warning only warns', async () => {
    appendConfig('config.local.yaml', 'rules:\n  naming: strict\n');
    writeTree(repo, { 'raw_datasets/Bad_Name/a.txt': 'x' });
    const refused = await reg(repo, ['add', 'raw_datasets/Bad_Name']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('raw_datasets/Bad_Name: entry name "Bad_Name" breaks the strict naming rule');
    expect(refused.stderr).toContain('"bad-name"');
    expect(existsSync(join(repo, 'raw_datasets/Bad_Name.dvc'))).toBe(false);
    expect(existsSync(join(repo, '.reg/cache/files'))).toBe(false);
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'rules:\n  naming: { preset: strict, severity: warning }\n');
    const warned = await regOk(repo, ['add', 'raw_datasets/Bad_Name']);
    expect(warned.stderr).toContain('warning: raw_datasets/Bad_Name: entry name "Bad_Name" breaks');
    const lint = JSON.parse((await reg(repo, ['check', '--json'])).stdout);
    expect(lint.findings.find((f: { rule: string }) => f.rule === 'naming')).toMatchObject({ severity: 'warning', entry: 'Bad_Name' });
  }, 240_000);

  it('new and check agree on a file entry such as x.zip (judged by its stem, card x.zip.card.md)', async () => {
    appendConfig('config.local.yaml', 'rules:\n  naming: strict\n');
    writeTree(repo, { 'raw_datasets/x.zip': 'zip bytes' });
    const created = await regOk(repo, ['new', 'raw_datasets/x.zip']);
    expect(created.stdout).toContain('exists raw_datasets/x.zip (file) (versioned)');
    expect(created.stdout).toContain('created raw_datasets/x.zip.card.md');
    expect(existsSync(join(repo, 'raw_datasets/x.zip.card.md'))).toBe(true);
    const lint = JSON.parse((await reg(repo, ['check', '--json'])).stdout);
    const about = lint.findings.filter((f: { entry?: string }) => f.entry === 'x.zip').map((f: { rule: string }) => f.rule);
    expect(about).not.toContain('naming');
    expect(about).not.toContain('entry-without-card');
    // the same verdict for directory entries: new refuses exactly the names check flags
    for (const name of ['Bad_Name', 'ok-name', 'has.dot']) {
      const r = await reg(repo, ['new', `raw_datasets/${name}`]);
      expect([0, 5], name).toContain(r.code);
      if (r.code === 5) writeTree(repo, { [`raw_datasets/${name}/a.txt`]: 'x' });
      const flagged = JSON.parse((await reg(repo, ['check', '--json'])).stdout).findings.some(
        (f: { rule: string; entry?: string; severity: string }) => f.rule === 'naming' && f.entry === name && f.severity === 'error',
      );
      expect(flagged, name).toBe(r.code === 5);
    }
  }, 240_000);
});

describe('item 9: the package has a name of its own', () => {
  it('package.json, reg --version, the hook shims and the docs name git-data-registry, never npm install reg', async () => {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('git-data-registry');
    expect(pkg.bin).toEqual({ reg: 'bin/reg.cjs' });
    expect((await regOk(repo, ['--version'])).stdout.trim()).toBe(`${pkg.version} (git-data-registry)`);
    const texts = [
      ...['pre-commit', 'pre-push', 'post-checkout', 'post-merge'].map((h) => readFileSync(join(PROJECT_ROOT, 'hooks', h), 'utf8')),
      readFileSync(join(PROJECT_ROOT, '.pre-commit-hooks.yaml'), 'utf8'),
      readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'),
      readFileSync(join(PROJECT_ROOT, 'docs/registry.md'), 'utf8'),
    ];
    for (const t of texts) {
      expect(t).not.toMatch(/npm (install|i) (-g )?reg\b|npx reg\b|from 'reg'/);
    }
    for (const t of texts.slice(0, 5)) expect(t).toContain('npm install -g git-data-registry');
    // the shim says so when reg is missing from PATH
    await regOk(repo, ['hooks', 'install', 'pre-commit']);
    writeTree(repo, { 'notes.txt': 'x' });
    gitRun(repo, {}, 'add', '-A');
    const refused = gitRun(repo, { PATH: '/usr/bin:/bin' }, 'commit', '-qm', 'x');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('npm install -g git-data-registry');
  }, 240_000);
});

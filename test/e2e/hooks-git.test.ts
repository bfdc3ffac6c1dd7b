import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeGitRepo, regOk, removeDir, REG_BIN, tempDir, writeTree } from '../helpers/repo.js';

/** A `reg` on PATH for the hook shims: a wrapper around the built CLI. */
const binDir = tempDir('reg-bin-');
writeFileSync(join(binDir, 'reg'), `#!/bin/sh\nexec "${process.execPath}" "${REG_BIN}" "$@"\n`);
chmodSync(join(binDir, 'reg'), 0o755);
afterAll(() => removeDir(binDir));
const PATH_WITH_REG = `${binDir}:${process.env.PATH}`;
const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org', GIT_CONFIG_NOSYSTEM: '1' };

function gitRun(cwd: string, args: string[], path = PATH_WITH_REG): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV, PATH: path }, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
function gitOk(cwd: string, ...args: string[]): string {
  const r = gitRun(cwd, args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const goodCard = (name: string) => `---\nlicense: CC-BY-4.0\nsource: https://example.org\nowner: ana\n---\n# Card: ${name}\n`;

let repo: string;
beforeEach(async () => {
  repo = makeGitRepo();
  await regOk(repo, ['init']);
  gitOk(repo, 'add', '-A');
  gitOk(repo, 'commit', '-qm', 'registry layout');
});
afterEach(() => removeDir(repo));

describe('reg hooks + real git commit', () => {
  it('pre-commit refuses an entry without a valid card, then allows it once the card is fixed', async () => {
    const inst = await regOk(repo, ['hooks', 'install']);
    expect(inst.stdout).toContain('pre-commit: installed');
    expect((await regOk(repo, ['hooks', 'install'])).stdout).toContain('pre-commit: unchanged');
    const st = JSON.parse((await regOk(repo, ['hooks', 'status', '--json'])).stdout);
    expect(st.hooks.map((h: { state: string }) => h.state)).toEqual(['installed', 'installed', 'installed', 'installed']);

    writeTree(repo, { 'raw_datasets/ocr-pages/p1.txt': 'page one\n' });
    await regOk(repo, ['add', 'raw_datasets/ocr-pages']);
    gitOk(repo, 'add', 'raw_datasets/ocr-pages.dvc', 'raw_datasets/.gitignore');
    let c = gitRun(repo, ['commit', '-qm', 'ocr pages']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('raw_datasets/ocr-pages.card.md');
    expect(c.stderr).toContain('[entry-without-card]');
    expect(c.stderr).toContain('commit refused');

    await regOk(repo, ['new', 'raw_datasets/ocr-pages']); // card from the template: fields still empty
    gitOk(repo, 'add', 'raw_datasets/ocr-pages.card.md');
    c = gitRun(repo, ['commit', '-qm', 'ocr pages']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('required field "license" is empty');

    writeFileSync(join(repo, 'raw_datasets/ocr-pages.card.md'), goodCard('ocr-pages'));
    gitOk(repo, 'add', 'raw_datasets/ocr-pages.card.md');
    c = gitRun(repo, ['commit', '-qm', 'ocr pages']);
    expect(c.code, c.stderr).toBe(0);
    expect(gitOk(repo, 'ls-files', 'raw_datasets')).toContain('raw_datasets/ocr-pages.dvc');
  });

  it('pre-commit refuses data force-added into a synced area', async () => {
    await regOk(repo, ['hooks', 'install', 'pre-commit']);
    await regOk(repo, ['new', 'processed_datasets/tokenized']);
    writeTree(repo, { 'processed_datasets/tokenized/part-0.bin': 'bytes' });
    gitOk(repo, 'add', 'processed_datasets/tokenized.card.md');
    gitOk(repo, 'add', '-f', 'processed_datasets/tokenized/part-0.bin');
    const c = gitRun(repo, ['commit', '-qm', 'oops']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('error: processed_datasets/tokenized/part-0.bin');
    expect(c.stderr).toContain('[data-in-git]');
    expect(c.stderr).toContain('git rm --cached processed_datasets/tokenized/part-0.bin');
    gitOk(repo, 'rm', '-q', '--cached', 'processed_datasets/tokenized/part-0.bin');
    expect(gitRun(repo, ['commit', '-qm', 'card only']).code).toBe(0);
  });

  it('chains a pre-existing hook (runs it first), honours core.hooksPath, uninstall restores it', async () => {
    const hooksDir = join(repo, '.githooks');
    mkdirSync(hooksDir);
    gitOk(repo, 'config', 'core.hooksPath', '.githooks');
    writeFileSync(join(hooksDir, 'pre-commit'), `#!/bin/sh\necho ran >> "${join(repo, 'local-hook.log')}"\nexit 0\n`);
    chmodSync(join(hooksDir, 'pre-commit'), 0o755);
    const inst = JSON.parse((await regOk(repo, ['hooks', 'install', '--json'])).stdout);
    expect(inst.hooksDir).toBe('.githooks');
    expect(inst.actions.find((a: { name: string }) => a.name === 'pre-commit').action).toBe('chained');
    expect(readdirSync(hooksDir).sort()).toEqual(['post-checkout', 'post-merge', 'pre-commit', 'pre-commit.local', 'pre-push']);
    expect(existsSync(join(repo, '.git/hooks/pre-commit'))).toBe(false);
    // idempotent: the chained hook is not chained twice
    expect((await regOk(repo, ['hooks', 'install'])).stdout).toContain('pre-commit: unchanged');

    writeTree(repo, { 'notes.txt': 'x' });
    gitOk(repo, 'add', 'notes.txt');
    expect(gitRun(repo, ['commit', '-qm', 'notes']).code).toBe(0);
    expect(readFileSync(join(repo, 'local-hook.log'), 'utf8')).toBe('ran\n');

    // a failing local hook still blocks the commit
    writeFileSync(join(hooksDir, 'pre-commit.local'), '#!/bin/sh\necho local says no >&2\nexit 3\n');
    writeTree(repo, { 'notes.txt': 'y' });
    gitOk(repo, 'add', 'notes.txt');
    const c = gitRun(repo, ['commit', '-qm', 'notes 2']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('local says no');

    const un = JSON.parse((await regOk(repo, ['hooks', 'uninstall', '--json'])).stdout);
    expect(un.actions.find((a: { name: string }) => a.name === 'pre-commit').action).toBe('restored');
    expect(readdirSync(hooksDir).sort()).toEqual(['pre-commit']);
    expect(readFileSync(join(hooksDir, 'pre-commit'), 'utf8')).toContain('local says no');
  });

  it('a shim explains itself and refuses the commit when reg is not on PATH', async () => {
    await regOk(repo, ['hooks', 'install']);
    writeTree(repo, { 'notes.txt': 'x' });
    gitOk(repo, 'add', 'notes.txt');
    const gitDir = execFileSync('sh', ['-c', 'dirname "$(command -v git)"'], { encoding: 'utf8' }).trim();
    const c = gitRun(repo, ['commit', '-qm', 'notes'], `${gitDir}:/usr/bin:/bin`);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain("needs the 'reg' command, which is not on PATH");
    expect(c.stderr).toContain('--no-verify');
  });

  it('refuses to install into a husky hooks directory without --force', async () => {
    gitOk(repo, 'config', 'core.hooksPath', '.husky/_');
    const r = spawnSync(process.execPath, [REG_BIN, 'hooks', 'install'], { cwd: repo, encoding: 'utf8' });
    expect(r.status).toBe(5);
    expect(r.stderr).toContain('husky');
  });

  it('post-checkout updates data for changed pointers and never destroys unsaved bytes', async () => {
    await regOk(repo, ['hooks', 'install']);
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'v1', 'raw_datasets/mnist.card.md': goodCard('mnist') });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'add', '-A');
    gitOk(repo, 'commit', '-qm', 'v1');
    gitOk(repo, 'checkout', '-q', '-b', 'v2');
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'v2' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'commit', '-qam', 'v2');
    const back = gitRun(repo, ['checkout', '-q', 'main']);
    expect(back.code).toBe(0);
    expect(back.stderr).toContain('updated data for raw_datasets/mnist.dvc');
    expect(readFileSync(join(repo, 'raw_datasets/mnist/a.txt'), 'utf8')).toBe('v1');
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'unsaved work' });
    const again = gitRun(repo, ['checkout', '-q', 'v2']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('warning: left raw_datasets/mnist.dvc as it is');
    expect(readFileSync(join(repo, 'raw_datasets/mnist/a.txt'), 'utf8')).toBe('unsaved work');
    expect(gitOk(repo, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('v2');
  });

  it('post-merge updates data the merge changed; pre-commit works on the first commit of a repository', async () => {
    await regOk(repo, ['hooks', 'install']);
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'v1', 'raw_datasets/mnist.card.md': goodCard('mnist') });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'add', '-A');
    gitOk(repo, 'commit', '-qm', 'v1');
    gitOk(repo, 'checkout', '-q', '-b', 'feature');
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'v2' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'commit', '-qam', 'v2');
    gitOk(repo, 'checkout', '-q', 'main');
    expect(readFileSync(join(repo, 'raw_datasets/mnist/a.txt'), 'utf8')).toBe('v1');
    const m = gitRun(repo, ['merge', '-q', '--ff-only', 'feature']);
    expect(m.code).toBe(0);
    expect(m.stderr).toContain('updated data for raw_datasets/mnist.dvc');
    expect(readFileSync(join(repo, 'raw_datasets/mnist/a.txt'), 'utf8')).toBe('v2');

    const fresh = makeGitRepo();
    try {
      await regOk(fresh, ['init']);
      await regOk(fresh, ['hooks', 'install', 'pre-commit']);
      writeTree(fresh, { 'raw_datasets/x/a.txt': 'a' });
      await regOk(fresh, ['add', 'raw_datasets/x']);
      gitOk(fresh, 'add', '-A');
      const c = gitRun(fresh, ['commit', '-qm', 'first']);
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain('raw_datasets/x.card.md');
    } finally {
      removeDir(fresh);
    }
  });
});

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REG_BIN, git, makeRegistry, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { guardSentinelTree, keepingGit } from '../hostile/tree.js';

/**
 * Directories reg must create, pointed where no directory can be made: under /proc, mkdir of a
 * child of an existing directory fails with ENOENT, and Node 20's mkdir { recursive: true } then
 * retries forever at full CPU (every command below hung before src/make-dirs.ts). Each command
 * now ends with an error naming the directory (never "internal error"), or, for the code cache
 * (only an optimisation), runs as without it.
 */
const NOWHERE = `/proc/reg-no-such-dir-${process.pid}`;

/** Runs the CLI, killed after 30 s (a hang must fail the test, not leave a process spinning). */
function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REG_BIN, ...args], { cwd, env: { ...process.env, CI: 'true', ...env }, timeout: 30_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end();
  });
}

// Nothing is written outside the repository: a sentinel tree is byte-identical after every test.
guardSentinelTree();
let remote: string;
let repo: string;
let clone: string;

beforeAll(async () => {
  expect(existsSync('/proc/self')).toBe(true);
  remote = tempDir('reg-unmakeable-remote-');
  repo = await makeRegistry(async (r) => {
    await regOk(r, ['remote', 'add', 'store', remote, '--default']);
    writeTree(r, { 'raw_datasets/photos/a.txt': 'alpha\n', 'raw_datasets/photos/sub/b.txt': 'bravo\n' });
    await regOk(r, ['add', 'raw_datasets/photos']);
    writeFileSync(join(r, 'raw_datasets/photos.card.md'), '# Card: photos\n');
    await regOk(r, ['push', '--no-check']);
  });
  clone = tempDir('reg-unmakeable-clone-');
  git(clone, 'clone', '-q', repo, '.');
}, 120_000);
afterAll(() => {
  for (const d of [remote, repo, clone]) if (d) removeDir(d);
});

/** Runs the CLI in `cwd` and checks that its .git is byte-identical afterwards. */
function runKeepingGit(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof run>>> {
  return keepingGit(cwd, () => run(cwd, args, env));
}

function expectNamedFailure(r: Awaited<ReturnType<typeof run>>, exit: number, named: RegExp): void {
  expect(r.signal, 'killed after 30 s: the command hung').toBeNull();
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stderr).not.toMatch(/internal error/i);
  expect(r.stderr).toMatch(named);
}

describe('directories that cannot be made (under /proc): an error naming them, never a hang', () => {
  it('add with cache.dir there: exit 1 naming the cache directory and cache.dir; no pointer written', async () => {
    writeTree(repo, { 'raw_datasets/more/c.txt': 'charlie\n' });
    writeFileSync(join(repo, '.reg/config.local.yaml'), `hooks:\n  install: false\ncache:\n  dir: ${NOWHERE}/cache\n`);
    try {
      const r = await runKeepingGit(repo, ['add', 'raw_datasets/more']);
      expectNamedFailure(r, 1, new RegExp(`cannot create the cache directory ${NOWHERE}/cache: ENOENT`));
      expect(r.stderr).toMatch(/hint: point cache\.dir/);
      expect(existsSync(join(repo, 'raw_datasets/more.dvc'))).toBe(false);
    } finally {
      writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    }
  });

  it('pull into a clone whose cache.dir is there: exit 1 naming it, before the remote is asked; no data written', async () => {
    writeFileSync(join(clone, '.reg/config.local.yaml'), `hooks:\n  install: false\ncache:\n  dir: ${NOWHERE}/cache\n`);
    try {
      const r = await runKeepingGit(clone, ['pull']);
      expectNamedFailure(r, 1, new RegExp(`cannot create the cache directory ${NOWHERE}/cache`));
      expect(existsSync(join(clone, 'raw_datasets/photos'))).toBe(false);
    } finally {
      writeFileSync(join(clone, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    }
  });

  it('push to a directory remote there: exit 4 (a remote failure) naming the directory', async () => {
    await regOk(repo, ['remote', 'add', 'nowhere', `${NOWHERE}/remote`, '--local']);
    const r = await runKeepingGit(repo, ['push', '--no-check', '-r', 'nowhere']);
    expectNamedFailure(r, 4, new RegExp(`mkdir '${NOWHERE}`));
  });

  it('get -o there: exit 1 naming the directory, nothing written', async () => {
    const r = await runKeepingGit(repo, ['get', 'raw_datasets/photos', '-o', `${NOWHERE}/out`]);
    expectNamedFailure(r, 1, new RegExp(`cannot create directory ${NOWHERE}`));
  });

  it('XDG_CACHE_HOME there (the code cache): status runs and prints what it prints with a cache', async () => {
    const xdg = tempDir('reg-unmakeable-xdg-');
    try {
      const withCache = await runKeepingGit(repo, ['--json', 'status'], { XDG_CACHE_HOME: xdg });
      const without = await runKeepingGit(repo, ['--json', 'status'], { XDG_CACHE_HOME: `${NOWHERE}/xdg` });
      expect(without.signal, 'killed after 30 s: the command hung').toBeNull();
      expect(without.code, without.stderr).toBe(withCache.code);
      expect(without.stdout).toBe(withCache.stdout);
      expect(readdirSync(xdg)).toEqual(['reg']);
    } finally {
      removeDir(xdg);
    }
  });
});

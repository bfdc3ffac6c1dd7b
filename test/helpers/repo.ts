import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTempName } from '../../src/fsutil.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REG_BIN = join(PROJECT_ROOT, 'bin', 'reg.cjs');

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'reg tests',
  GIT_AUTHOR_EMAIL: 'tests@example.org',
  GIT_COMMITTER_NAME: 'reg tests',
  GIT_COMMITTER_EMAIL: 'tests@example.org',
  GIT_CONFIG_NOSYSTEM: '1',
};

export function tempDir(prefix = 'reg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });
}

/** A fresh Git repository in a temp dir (not yet `reg init`ed). */
export function makeGitRepo(): string {
  const dir = tempDir();
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.name', 'reg tests');
  git(dir, 'config', 'user.email', 'tests@example.org');
  return dir;
}

/**
 * A fresh registry, committed: a Git repository `reg init`ed with the git hooks off for this clone
 * (`hooks.install: false` in the untracked `.reg/config.local.yaml`), then `setup` (files written,
 * `reg add`, remotes...), then everything committed in one commit with `message`.
 */
export async function makeRegistry(setup?: (repo: string) => void | Promise<void>, message = 'registry'): Promise<string> {
  const repo = makeGitRepo();
  try {
    await regOk(repo, ['init']);
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    await setup?.(repo);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', message);
  } catch (err) {
    removeDir(repo);
    throw err;
  }
  return repo;
}

/** Writes files given as { 'a/b.txt': 'content' } under root. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Spawns the built CLI (`node bin/reg.cjs`) and collects its output. CI is set (as in CI, where no
 * "hooks not installed" note is printed) so stderr is the same on every machine; tests of the note
 * pass `CI: ''`.
 */
export function reg(cwd: string, args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [REG_BIN, ...args], { cwd, env: { ...process.env, ...GIT_ENV, CI: 'true', ...options.env } });
    let stdout = '';
    let stderr = '';
    // A run that could hang (a FIFO, a link to /dev/zero) is killed, never left behind: its stderr says so.
    let killed = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => ((killed = true), child.kill('SIGKILL')), options.timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killed) stderr += `\n[test] reg ${args.join(' ')} killed after ${options.timeoutMs} ms`;
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Like reg() but fails the test with the CLI's stderr when the exit code differs. */
export async function regOk(cwd: string, args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  const r = await reg(cwd, args, options);
  if (r.code !== 0) throw new Error(`reg ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Every file below `root` (relative, '/'-separated, sorted); [] when root does not exist. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), rel + e.name + '/');
      else out.push(rel + e.name);
    }
  };
  walk(root, '');
  return out.sort();
}

/**
 * The files under `root` that are reg's temp files or lie in one of its temp directories (a
 * release or `get` output being built): relative paths, sorted.
 */
export function tempFilesUnder(root: string): string[] {
  return filesUnder(root).filter((f) => f.split('/').some(isTempName));
}

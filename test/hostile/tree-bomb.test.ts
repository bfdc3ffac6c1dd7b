import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { interruptWhen } from '../helpers/interrupt.js';
import { git } from '../helpers/repo.js';
import { snapshotTree } from './tree.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * A "tree bomb" in a teammate's commit: a tree of sixteen entries that all name the same subtree,
 * six levels deep, holds 16^6 (16.7 million) pointer files in a few KiB of git objects, and
 * `git ls-tree -r` lists 1.2 GB for it. reg read git's output up to 1 GiB and turned it into
 * one string (V8 caps strings at 512 MiB): an internal error or a `git.failed` after gigabytes of
 * memory. Now reg takes at most 256 MiB of output from one git command and stops with exit 3
 * `git.output-too-large`, naming the command and the fix; nothing written, the sentinel tree and
 * `.git` byte-identical. `gc`'s `git log --raw` over such a commit runs for minutes inside git
 * before it prints a byte; Ctrl-C ends reg and its git process with it (it used to run on).
 */
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

const mktree = (repo: string, lines: string[]) => execFileSync('git', ['mktree'], { cwd: repo, input: lines.join('\n') + '\n', encoding: 'utf8' }).trim();

/** Commits `raw_datasets/bomb/` as a tree bomb on top of HEAD (plumbing only: the index never holds it). */
function commitTreeBomb(repo: string): void {
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: 'outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: x\n', encoding: 'utf8' }).trim();
  let tree = mktree(repo, [`100644 blob ${blob}\tx.dvc`]);
  for (let level = 0; level < 6; level++) tree = mktree(repo, [...'abcdefghijklmnop'].map((name) => `040000 tree ${tree}\t${name}`));
  const lsTree = (spec: string) => git(repo, 'ls-tree', spec).trim().split('\n').filter(Boolean);
  const raw = mktree(repo, [...lsTree('HEAD:raw_datasets'), `040000 tree ${tree}\tbomb`]);
  const root = mktree(repo, [...lsTree('HEAD').filter((l) => !l.endsWith('\traw_datasets')), `040000 tree ${raw}\traw_datasets`]);
  const commit = git(repo, 'commit-tree', root, '-p', 'HEAD', '-m', 'teammate').trim();
  git(repo, 'update-ref', 'refs/heads/bomb', commit);
}

describe('a tree bomb in a commit', () => {
  for (const args of [['ls', '--rev', 'bomb'], ['diff', 'HEAD', 'bomb']]) {
    it(`reg ${args.join(' ')}: exit 3 git.output-too-large naming the command, nothing written`, async () => {
      const w = (world = await makeWorld('none'));
      commitTreeBomb(w.repo);
      const started = Date.now();
      const r = await runGuarded(w, args, [], { timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(3);
      expect(r.errorCode).toBe('git.output-too-large');
      expect(r.stderr).toContain('git ls-tree -r -z --full-tree ... printed more than 256 MiB');
      expect(r.stderr).toMatch(/hint: .*tree bomb/);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(git(w.repo, 'status', '--porcelain')).toBe('');
    }, 180_000);
  }
});

/** The pids of `git log` processes whose working directory is `repo`. */
function gitLogsIn(repo: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      if (argv[0] === 'git' && argv[1] === 'log' && readlinkSync(`/proc/${entry}/cwd`) === repo) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

describe('Ctrl-C while git works on a tree bomb', () => {
  it('reg gc: exit 130, and the git log it started is gone too', async () => {
    const w = (world = await makeWorld('none'));
    commitTreeBomb(w.repo);
    const before = { outside: snapshotTree(w.outside), dotGit: snapshotTree(join(w.repo, '.git')) };
    const r = await interruptWhen(w.repo, ['gc'], () => gitLogsIn(w.repo).length > 0, {}, { delayMs: 500 });
    expect(r.code, r.stderr).toBe(130);
    expect({ outside: snapshotTree(w.outside), dotGit: snapshotTree(join(w.repo, '.git')) }).toEqual(before);
    const deadline = Date.now() + 5_000;
    while (gitLogsIn(w.repo).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(gitLogsIn(w.repo)).toEqual([]);
  }, 120_000);
});

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { interruptWhen } from '../helpers/interrupt.js';
import { editKeepingMtime, intoNextSecond } from '../helpers/mirror-time.js';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { isRoot, registryOnSmallDisk } from '../helpers/tmpfs.js';
import { guardSentinelTree, keepingGit, snapshotTree } from '../hostile/tree.js';

/**
 * A status of every output starts `git diff-files` on each stored mirror index before it reads
 * the pointers (at most four of them), instead of when it reaches that output's scan. The order is
 * read from GIT_TRACE2_EVENT, which reg's git calls inherit; what git vouched for must still be what the
 * scan trusts (an edit at the same size with the mtime put back is only seen through git).
 * Nothing outside the repository and nothing in its `.git` changes: a sentinel tree is compared
 * after every test, `.git` around every reg run.
 */
guardSentinelTree();
const FILES = 1100;
const OUTPUTS = ['ds1', 'ds2'];
let repo: string;
let traceDir: string;
const nameOf = (i: number) => `d${i % 11}/f${String(i).padStart(5, '0')}.txt`;
const statDir = () => join(repo, '.reg', 'tmp', 'stat');

const PID_MAX = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
/** Whether process `a` was forked before `b`: pids are handed out in fork order, wrapping at pid_max. */
const forkedBefore = (a: number, b: number) => a !== b && (b - a + PID_MAX) % PID_MAX < PID_MAX / 2;

/** A git argv without git's own leading options (`-c k=v`, `-C dir`, `--no-pager`, ...). */
function withoutGitOptions(args: string[]): string[] {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) i += args[i] === '-c' || args[i] === '-C' ? 2 : 1;
  return args.slice(i);
}

/**
 * The git commands GIT_TRACE2_EVENT logged to `trace`, in the order reg started them (empty when
 * none ran), as the subcommand and its first argument. Each git writes its trace once it has
 * loaded, and two gits started a moment apart can get there in either order, so the order is the
 * one of their process ids, which the kernel hands out at fork. A line still being written is skipped.
 */
function gitCommandsIn(trace: string): string[] {
  if (!existsSync(trace)) return [];
  const started: Array<{ pid: number; command: string }> = [];
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    let event: { event?: string; sid?: string; argv?: string[] };
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    const pid = /-P([0-9a-f]+)$/.exec(event.sid ?? '')?.[1];
    if (event.event !== 'start' || pid === undefined || !event.argv) continue;
    started.push({ pid: parseInt(pid, 16), command: withoutGitOptions(event.argv.slice(1)).slice(0, 2).join(' ') });
  }
  return started.sort((a, b) => (forkedBefore(a.pid, b.pid) ? -1 : forkedBefore(b.pid, a.pid) ? 1 : 0)).map((s) => s.command);
}

const traceFile = () => join(traceDir, `trace-${Date.now()}-${Math.random().toString(36).slice(2)}`);

/**
 * `reg -v status [targets] --json` with GIT_TRACE2_EVENT (from `cwd` with `-C repo` when given): the
 * outputs' states, git's vouching per output (debug log), and the git commands in the order they started.
 */
async function tracedStatus(targets: string[] = [], cwd?: string) {
  const trace = traceFile();
  const r = await keepingGit(repo, () => regOk(cwd ?? repo, [...(cwd ? ['-C', repo] : []), '-v', 'status', ...targets, '--json'], { env: { GIT_TRACE2_EVENT: trace } }));
  const commands = gitCommandsIn(trace);
  const vouched = [...r.stderr.matchAll(/(\S+): git found (\d+) of (\d+) files unchanged/g)].map((m) => `${m[1]} ${m[2]}/${m[3]}`);
  const outputs = JSON.parse(r.stdout).outputs as Array<{ path: string; state: string; changes?: { modified: string[] } }>;
  return { commands, vouched, outputs };
}

const firstIndexOf = (commands: string[], prefix: string) => commands.findIndex((c) => c.startsWith(prefix));
const countOf = (commands: string[], prefix: string) => commands.filter((c) => c.startsWith(prefix)).length;

beforeEach(async () => {
  repo = makeGitRepo();
  traceDir = tempDir('reg-trace-');
  await regOk(repo, ['init']);
  const files: Record<string, string> = {};
  for (const out of OUTPUTS) for (let i = 0; i < FILES; i++) files[`${out}/${nameOf(i)}`] = `${out} file ${String(i).padStart(5, '0')}\n`;
  writeTree(repo, files);
  await intoNextSecond();
  await regOk(repo, ['add', ...OUTPUTS]);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'two outputs');
}, 120_000);
afterEach(() => {
  removeDir(repo);
  removeDir(traceDir);
});

describe('status of every output: git starts on the mirror indexes before the pointers are read', () => {
  it('runs diff-files once per output, first of all git commands (started before the program loads), and trusts what it vouched for', async () => {
    const s = await tracedStatus();
    expect(s.outputs.map((o) => o.state)).toEqual(['up-to-date', 'up-to-date']);
    expect(s.vouched).toEqual(OUTPUTS.map((o) => `${o} ${FILES}/${FILES}`));
    expect(countOf(s.commands, 'diff-files')).toBe(OUTPUTS.length);
    expect(s.commands.slice(0, OUTPUTS.length)).toEqual(OUTPUTS.map(() => 'diff-files --name-only'));
  });

  it('with -C (not started before the program loads): still first, before the pointers are listed, once per output', async () => {
    const s = await tracedStatus([], traceDir);
    expect(s.vouched).toEqual(OUTPUTS.map((o) => `${o} ${FILES}/${FILES}`));
    expect(countOf(s.commands, 'diff-files')).toBe(OUTPUTS.length);
    expect(s.commands.slice(0, OUTPUTS.length)).toEqual(OUTPUTS.map(() => 'diff-files --name-only'));
    expect(countOf(s.commands, 'ls-files')).toBe(1);
  });

  it('one git ls-files lists both the pointers and the index the registry overview reads, with and without -C', async () => {
    for (const cwd of [undefined, traceDir]) {
      const trace = traceFile();
      const r = await keepingGit(repo, () => regOk(cwd ?? repo, [...(cwd ? ['-C', repo] : []), 'status', '--json'], { env: { GIT_TRACE: trace } }));
      const lsFiles = readFileSync(trace, 'utf8').split('\n').filter((l) => /trace: built-in: git ls-files/.test(l));
      expect(lsFiles.map((l) => l.replace(/.*built-in: /, ''))).toEqual(['git ls-files -z -t -s --others --directory --no-empty-directory --exclude-standard']);
      const report = JSON.parse(r.stdout);
      expect(report.outputs.map((o: { path: string }) => o.path)).toEqual(OUTPUTS);
      expect(report.registry.areas.length).toBeGreaterThan(0);
    }
  });

  it('the pointers it finds are git\'s: committed and untracked ones, an oddly named one, not an ignored one nor one deleted from the work tree', async () => {
    writeTree(repo, { 'ds3/a.txt': 'three\n', 'odd/b.txt': 'odd\n', 'ignored/c.txt': 'ignored\n' });
    await regOk(repo, ['add', 'ds3', 'odd', 'ignored']);
    // An untracked pointer whose name is an `ls-files -s` line: only git's tag tells them apart.
    const oddName = 'H 100644 e69de29bb2d1d6434b8b29ae775ad8c2d48c5391 0\todd.dvc';
    renameSync(join(repo, 'odd.dvc'), join(repo, oddName));
    writeFileSync(join(repo, '.gitignore'), `${readFileSync(join(repo, '.gitignore'), 'utf8')}/ignored.dvc\n`);
    rmSync(join(repo, 'ds2.dvc'));
    const gitSays = git(repo, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.dvc').split('\0').filter((p) => p && existsSync(join(repo, p)));
    expect(gitSays.sort()).toEqual(['ds1.dvc', 'ds3.dvc', oddName].sort());
    const s = await tracedStatus();
    expect(s.outputs.map((o) => o.path).sort()).toEqual(['ds1', 'ds3', 'odd']);
    expect(countOf(s.commands, 'ls-files')).toBe(1);
    const pointers = (JSON.parse((await regOk(repo, ['status', '--json'])).stdout).outputs as Array<{ pointer: string }>).map((o) => o.pointer);
    expect(pointers.sort()).toEqual(gitSays.sort());

    // A pointer inside an untracked directory, which the listing names as the directory alone:
    // git is asked for the pointers the usual way.
    writeTree(repo, { 'fresh/ds5/e.txt': 'five\n' });
    await regOk(repo, ['add', 'fresh/ds5']);
    const withDir = await tracedStatus();
    expect(withDir.outputs.map((o) => o.path).sort()).toEqual(['ds1', 'ds3', 'fresh/ds5', 'odd']);
    expect(countOf(withDir.commands, 'ls-files')).toBe(2);
  });

  it('.reg/tmp/stat a link to a copy outside: no git runs on the mirrors there, status refuses (exit 3), the copy is unchanged', async () => {
    const outside = join(traceDir, 'stat-outside');
    renameSync(statDir(), outside);
    symlinkSync(outside, statDir());
    const before = Object.fromEntries(readdirSync(outside).map((n) => [n, readFileSync(join(outside, n)).toString('base64')]));
    const trace = traceFile();
    const r = await keepingGit(repo, () => reg(repo, ['status', '--json'], { env: { GIT_TRACE2_EVENT: trace } }));
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout).error.code).toBe('repo.reg-entry-not-a-directory');
    expect(gitCommandsIn(trace).filter((c) => c.startsWith('diff-files'))).toEqual([]);
    expect(Object.fromEntries(readdirSync(outside).map((n) => [n, readFileSync(join(outside, n)).toString('base64')]))).toEqual(before);
  });

  it('reports an edit at the same size with the mtime put back, which only git sees', async () => {
    editKeepingMtime(join(repo, 'ds2', nameOf(7)));
    const s = await tracedStatus();
    expect(firstIndexOf(s.commands, 'diff-files')).toBeLessThan(firstIndexOf(s.commands, 'ls-files -z'));
    expect(s.outputs.map((o) => [o.path, o.state, o.changes?.modified ?? []])).toEqual([
      ['ds1', 'up-to-date', []],
      ['ds2', 'modified', [nameOf(7)]],
    ]);
  });

  it('with targets, starts git only for the scanned output (none for the other mirror index)', async () => {
    const s = await tracedStatus(['ds1']);
    expect(s.outputs.map((o) => o.state)).toEqual(['up-to-date']);
    expect(s.vouched).toEqual([`ds1 ${FILES}/${FILES}`]);
    expect(countOf(s.commands, 'diff-files')).toBe(1);
  });

  it('skips mirror index files that are not of a stored generation, and starts none early beyond four', async () => {
    const junk = (n: number) => join(statDir(), `${String(n).repeat(32)}.json.${'a'.repeat(12)}.index`);
    writeFileSync(junk(1), 'not an index');
    writeFileSync(junk(2), 'not an index');
    expect(readdirSync(statDir()).filter((n) => n.endsWith('.index'))).toHaveLength(4);
    const four = await tracedStatus();
    expect(countOf(four.commands, 'diff-files')).toBe(OUTPUTS.length);
    expect(firstIndexOf(four.commands, 'diff-files')).toBeLessThan(firstIndexOf(four.commands, 'ls-files -z'));
    expect(four.vouched).toEqual(OUTPUTS.map((o) => `${o} ${FILES}/${FILES}`));

    writeFileSync(junk(3), 'not an index');
    const five = await tracedStatus();
    expect(countOf(five.commands, 'diff-files')).toBe(OUTPUTS.length);
    expect(firstIndexOf(five.commands, 'diff-files')).toBeGreaterThan(firstIndexOf(five.commands, 'ls-files -z'));
    expect(five.vouched).toEqual(OUTPUTS.map((o) => `${o} ${FILES}/${FILES}`));
    for (const n of [1, 2, 3]) rmSync(junk(n));
  });

  it('a mirror index that is a link to a copy outside: git never reads it (that output is walked), the answers stay right, the copy is byte-identical', async () => {
    const outside = join(traceDir, 'mirror-outside');
    mkdirSync(outside);
    const mirror = readdirSync(statDir()).filter((n) => n.endsWith('.index')).sort()[0]!;
    renameSync(join(statDir(), mirror), join(outside, mirror));
    symlinkSync(join(outside, mirror), join(statDir(), mirror));
    const before = snapshotTree(outside);
    const s = await tracedStatus();
    expect(s.outputs.map((o) => o.state)).toEqual(['up-to-date', 'up-to-date']);
    expect(countOf(s.commands, 'diff-files')).toBe(1);
    expect(s.vouched).toHaveLength(1);
    expect(snapshotTree(outside)).toEqual(before);
  });

  it('Ctrl-C while the early git runs: stops as interrupted (never an internal error), no temp file, and the next status answers as before', async () => {
    const trace = traceFile();
    const r = await keepingGit(repo, () => interruptWhen(repo, ['status', '--json'], () => gitCommandsIn(trace).some((c) => c.startsWith('diff-files')), { GIT_TRACE2_EVENT: trace }));
    expect(r.signal === 'SIGINT' || r.code === 130, `exit ${r.code} (${r.signal}): ${r.stderr}`).toBe(true);
    expect(r.stderr).not.toContain('internal error');
    expect(tempFilesUnder(repo)).toEqual([]);
    const s = await tracedStatus();
    expect(s.outputs.map((o) => o.state)).toEqual(['up-to-date', 'up-to-date']);
    expect(s.vouched).toEqual(OUTPUTS.map((o) => `${o} ${FILES}/${FILES}`));
  });
});

describe.skipIf(!isRoot)('status of every output, git started early, on a full disk (tmpfs; mounting needs root)', () => {
  it('still answers with the edit git saw; the row it cannot save is a warning naming ENOSPC; nothing half-written; saved once there is space', async () => {
    // The cache off the small disk: only the data, the stat cache and its mirror are on it.
    const small = await registryOnSmallDisk('12m');
    try {
      const full = small.repo;
      writeTree(full, Object.fromEntries(Array.from({ length: FILES }, (_, i) => [`ds/${nameOf(i)}`, `file ${String(i).padStart(5, '0')}\n`])));
      await intoNextSecond();
      await regOk(full, ['add', 'ds']);
      // Committed, so the registry overview has blob sizes to remember (a write that also fails).
      git(full, 'config', 'user.name', 'reg tests');
      git(full, 'config', 'user.email', 'tests@example.org');
      git(full, 'add', '-A');
      git(full, 'commit', '-q', '-m', 'ds');
      const sizesFile = join(full, '.reg', 'tmp', 'blob-sizes');
      editKeepingMtime(join(full, 'ds', nameOf(3)));
      small.fill(0);
      const trace = traceFile();
      const r = await keepingGit(full, () => reg(full, ['status', '--json'], { env: { GIT_TRACE2_EVENT: trace } }));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).toMatch(/stat cache was not saved \(ENOSPC/);
      expect(gitCommandsIn(trace)[0]).toBe('diff-files --name-only');
      const out = JSON.parse(r.stdout).outputs[0];
      expect([out.state, out.changes?.modified]).toEqual(['modified', [nameOf(3)]]);
      expect(tempFilesUnder(full)).toEqual([]);
      expect(existsSync(sizesFile)).toBe(false);
      small.unfill();
      const again = await keepingGit(full, () => reg(full, ['status', '--json']));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/not saved/);
      expect(again.stdout).toBe(r.stdout);
      expect(tempFilesUnder(full)).toEqual([]);
      expect(readFileSync(sizesFile, 'utf8')).toMatch(/^([0-9a-f]{40} \d+\n)+$/);
    } finally {
      small.cleanup();
    }
  }, 120_000);
});

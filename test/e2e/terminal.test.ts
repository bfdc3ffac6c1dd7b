import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGitRepo, reg, regOk, removeDir, REG_BIN, writeTree } from '../helpers/repo.js';

let repo: string;

beforeAll(async () => {
  repo = makeGitRepo();
  await regOk(repo, ['init']);
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`raw_datasets/set-${String(i).padStart(2, '0')}/part.txt`] = `part ${i}\n`;
  writeTree(repo, files);
  await regOk(repo, ['add', ...Object.keys(files).map((f) => f.replace('/part.txt', ''))]);
}, 120_000);
afterAll(() => removeDir(repo));

function expectNoCrash(stderr: string): void {
  expect(stderr).not.toMatch(/EPIPE|internal error|Unhandled|\n\s+at /);
}

/** Runs a shell pipeline in the repo; reg's exit code is reported on stderr as `reg-exit=N`. */
function shell(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // CI set: no "hooks not installed" note on stderr (as with the reg() helper).
    const child = spawn('sh', ['-c', script], { cwd: repo, env: { ...process.env, CI: 'true', REG: `${process.execPath} ${REG_BIN}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Spawns reg and closes the read end of its stdout at once: every write it makes hits EPIPE. */
function regWithClosedStdout(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [REG_BIN, ...args], { cwd: repo, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

describe('a closed stdout is a normal end', () => {
  it.each([[['status']], [['status', '--json']], [['status', '-v', 'raw_datasets/set-00', 'raw_datasets/set-01']]])('reg %j with its reader gone', async (args) => {
    const r = await regWithClosedStdout(args);
    expectNoCrash(r.stderr);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each([['status'], ['status --json']])('reg %s | true, and | head -1, through real shell pipes', async (args) => {
    const gone = await shell(`{ $REG ${args}; echo "reg-exit=$?" >&2; } | true`);
    expectNoCrash(gone.stderr);
    expect(gone.stderr).toBe('reg-exit=0\n');
    const head = await shell(`{ $REG ${args}; echo "reg-exit=$?" >&2; } | head -1`);
    expectNoCrash(head.stderr);
    expect(head.stderr).toBe('reg-exit=0\n');
    expect(head.stdout).toBe(args === 'status' ? 'raw_datasets/set-00: up to date\n' : '{\n');
  });

  it('keeps the command’s own exit code and error message when stdout is gone', async () => {
    const r = await shell('{ $REG status raw_datasets/nope; echo "reg-exit=$?" >&2; } | true');
    expectNoCrash(r.stderr);
    expect(r.stderr).toMatch(/^reg: error: raw_datasets\/nope is not tracked/);
    expect(r.stderr).toContain('reg-exit=2\n');
  });
});

describe('-q prints errors only', () => {
  it('silences results and notes; errors still show', async () => {
    writeTree(repo, { 'raw_datasets/quiet/a.txt': 'quiet' });
    const added = await reg(repo, ['-q', 'add', 'raw_datasets/quiet']);
    expect(added).toEqual({ code: 0, stdout: '', stderr: '' });
    const st = await reg(repo, ['status', '-q']);
    expect(st).toEqual({ code: 0, stdout: '', stderr: '' });
    const bad = await reg(repo, ['-q', 'status', 'raw_datasets/nope']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^reg: error: raw_datasets\/nope is not tracked/);
  });

  it('leaves --json alone: still exactly one JSON document', async () => {
    const r = await reg(repo, ['-q', '--json', 'status', 'raw_datasets/set-03']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).outputs[0].state).toBe('up-to-date');
  });
});

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../dist/context.js';
import { batch } from '../../dist/ops/publish/batch.js';
import type { Backend } from '../../dist/store/backend.js';
import { PROJECT_ROOT, REG_BIN, filesUnder, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * reg batch: a CSV of jobs is validated as a whole before anything runs, its dry run changes
 * nothing and prints the plan, a failing job does not stop the others, an interrupted run is
 * finished by --continue without redoing what was done, and shards split the jobs exactly.
 */
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

let root: string;
let repo: string;
let remote: string;
let incoming: string;

function hashTree(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).filter((f) => !f.startsWith('.git/')).map((f) => [f, sha(readFileSync(join(dir, f)))]));
}

/** n source folders subject-01.. with distinct files (three each: a, b, sub/c). */
function makeSources(n: number): void {
  for (let i = 1; i <= n; i++) {
    const s = String(i).padStart(2, '0');
    writeTree(join(incoming, `subject-${s}`), { 'a.txt': `subject ${s} a\n`, 'b.txt': `subject ${s} b, longer\n`, 'sub/c.txt': `subject ${s} c\n` });
  }
}

function csv(rows: string[]): string {
  const file = join(repo, 'jobs.csv');
  writeFileSync(file, ['action,entry,area,source,import,remote,force', ...rows].join('\n') + '\n');
  return file;
}

const pushRow = (i: number, mode = 'copy') => {
  const s = String(i).padStart(2, '0');
  return `push,subject-${s},raw_datasets,${join(incoming, `subject-${s}`)},${mode},,`;
};

beforeEach(async () => {
  root = tempDir('reg-batch-');
  repo = join(root, 'repo');
  remote = join(root, 'remote');
  incoming = join(root, 'incoming');
  const made = makeGitRepo();
  // The repository lives under root so sources sit outside it.
  await import('node:fs').then((fs) => fs.renameSync(made, repo));
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', remote, '--default']);
});

afterEach(() => removeDir(root));

describe('validation', () => {
  it('ten jobs with two bad rows: both lines named with their column, nothing runs', async () => {
    makeSources(8);
    const rows = [1, 2, 3, 4].map((i) => pushRow(i));
    rows.push('pusch,subject-05,raw_datasets,,,,'); // line 6: unknown action
    rows.push(...[6, 7].map((i) => pushRow(i)));
    rows.push(`push,subject-08,raw_datasets,${join(incoming, 'nowhere')},copy,,maybe`); // line 9: bad source and force
    rows.push(pushRow(5), `add,subject-09,raw_datasets,${join(incoming, 'subject-08')},,,`);
    const file = csv(rows);
    const before = hashTree(repo);
    const r = await reg(repo, ['batch', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nothing was run');
    expect(r.stderr).toMatch(/jobs\.csv:6: column action: unknown action "pusch"/);
    expect(r.stderr).toMatch(/jobs\.csv:9: column force: /);
    expect(r.stderr).toMatch(/jobs\.csv:9: column source: .*nowhere does not exist/);
    expect(r.stderr.match(/jobs\.csv:(\d+):/g)!.map((m) => m.split(':')[1])).toEqual(['6', '9', '9']);
    expect(hashTree(repo)).toEqual(before);
    expect(existsSync(remote)).toBe(false);
    expect(existsSync(join(repo, 'jobs.results.csv'))).toBe(false);
    expect(existsSync(join(incoming, 'subject-01'))).toBe(true);
  });
});

describe('dry run', () => {
  it('changes nothing in the repository, the sources or the remote, and prints the exact plan', async () => {
    makeSources(3);
    // A third job whose data is already on the remote: it is skipped.
    writeTree(join(repo, 'raw_datasets/done-before'), { 'x.txt': 'x\n' });
    await regOk(repo, ['add', 'raw_datasets/done-before']);
    await regOk(repo, ['push', 'raw_datasets/done-before']);
    const file = csv([pushRow(1), `add,subject-02,raw_datasets,${join(incoming, 'subject-02')},move,,`, 'push,done-before,raw_datasets,,,,', pushRow(3)]);
    const before = { repo: hashTree(repo), remote: hashTree(remote), incoming: hashTree(incoming) };
    const r = await regOk(repo, ['batch', file, '--dry-run']);
    expect(r.stdout).toBe(
      [
        `line 2: push raw_datasets/subject-01: copy 3 files (47 B) from ${join(incoming, 'subject-01')}; send at most 3 files, 4 objects (47 B)`,
        `line 3: add raw_datasets/subject-02: move 3 files (47 B) from ${join(incoming, 'subject-02')}`,
        `line 4: push raw_datasets/done-before: skip (raw_datasets/done-before (${/md5: ([0-9a-f.dir]+)/.exec(readFileSync(join(repo, 'raw_datasets/done-before.dvc'), 'utf8'))![1]}) is on store already)`,
        `line 5: push raw_datasets/subject-03: copy 3 files (47 B) from ${join(incoming, 'subject-03')}; send at most 3 files, 4 objects (47 B)`,
        'dry run: 3 jobs would run, 1 skipped; copy 9 files (141 B); send at most 6 files, 8 objects (94 B)',
        '',
      ].join('\n'),
    );
    expect({ repo: hashTree(repo), remote: hashTree(remote), incoming: hashTree(incoming) }).toEqual(before);
  });

  it('the example CSV in fixtures/ (the one the README shows) validates and plans against a matching layout', async () => {
    for (const n of ['subject-01', 'subject-02', 'subject-03', 'run-2024-06-01', 'run-2024-06-02']) writeTree(join(incoming, n), { 'f.txt': `${n}\n` });
    writeTree(join(repo, 'raw_datasets/ocr-pages'), { 'p.txt': 'p\n' });
    await regOk(repo, ['add', 'raw_datasets/ocr-pages']);
    const { execFileSync } = await import('node:child_process');
    execFileSync('git', ['add', '-A'], { cwd: repo });
    execFileSync('git', ['commit', '-q', '-m', 'pages'], { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e.org' } });
    execFileSync('git', ['tag', 'v2'], { cwd: repo });
    writeFileSync(join(repo, 'jobs.csv'), readFileSync(join(PROJECT_ROOT, 'fixtures/batch-jobs.csv')));
    const r = await regOk(repo, ['batch', 'jobs.csv', '--dry-run']);
    expect(r.stdout.trim().split('\n')).toHaveLength(7);
    expect(r.stdout).toContain('line 8: export raw_datasets/ocr-pages: write 1 file (2 B) to release');
    expect(r.stdout).toContain('dry run: 6 jobs would run, 0 skipped');
  });
});

describe('real runs', () => {
  it('one job failing mid-way does not stop the others; the results file says which and why', async () => {
    makeSources(5);
    const file = csv([1, 2, 3, 4, 5].map((i) => pushRow(i)));
    const badContent = createHash('md5').update('subject 03 b, longer\n').digest('hex');
    const wrap = (inner: Backend): Backend => {
      const w = Object.create(inner) as Backend;
      const fail = (key: string) => {
        if (key.endsWith(badContent.slice(2))) throw Object.assign(new Error(`injected: access denied for ${key}`), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      };
      w.putFile = async (key, path, size, o) => (fail(key), inner.putFile(key, path, size, o));
      w.putBytes = async (key, bytes, o) => (fail(key), inner.putBytes(key, bytes, o));
      return w;
    };
    const result = await batch(makeContext({ cwd: repo }), { csv: file, jobs: 2, wrapBackend: wrap, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    expect(result.failed).toBe(1);
    expect(result.done).toBe(4);
    const rows = parse(readFileSync(join(repo, 'jobs.results.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => [r.line, r.status])).toEqual([['2', 'done'], ['3', 'done'], ['4', 'failed'], ['5', 'done'], ['6', 'done']]);
    expect(rows[2]!.reason).toContain('injected: access denied');
    // The CLI reports it with a non-zero exit code, and a second run resumes only the failed job.
    const again = await reg(repo, ['batch', file, '--continue']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(4 finished by an earlier run)');
    expect(existsSync(join(remote, 'files/md5', badContent.slice(0, 2), badContent.slice(2)))).toBe(true);
  });

  it('--continue after a kill finishes without redoing completed jobs (transfers counted)', async () => {
    makeSources(6);
    const file = csv([1, 2, 3, 4, 5, 6].map((i) => pushRow(i)));
    // Kill the CLI (SIGKILL) as soon as it reports its second finished job.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [REG_BIN, 'batch', file, '--jobs', '1'], { cwd: repo, env: { ...process.env, CI: 'true' } });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if ((err.match(/: done \[/g) ?? []).length >= 2) child.kill('SIGKILL');
      });
      child.on('error', reject);
      child.on('close', () => resolve());
    });
    const before = parse(readFileSync(join(repo, 'jobs.results.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    const doneBefore = before.filter((r) => r.status === 'done').length;
    expect(doneBefore).toBeGreaterThanOrEqual(2);
    expect(doneBefore).toBeLessThan(6);
    const puts: string[] = [];
    const count = (inner: Backend): Backend => {
      const w = Object.create(inner) as Backend;
      w.putFile = async (key, path, size, o) => (puts.push(key), inner.putFile(key, path, size, o));
      w.putBytes = async (key, bytes, o) => (puts.push(key), inner.putBytes(key, bytes, o));
      return w;
    };
    const result = await batch(makeContext({ cwd: repo }), { csv: file, continue: true, wrapBackend: count });
    expect(result.previouslyDone).toBe(doneBefore);
    expect(result.failed).toBe(0);
    expect(result.outcomes.every((o) => o.status === 'done')).toBe(true);
    // Each remaining job sends its three files and its manifest, at most (a job cut off mid-push sends fewer).
    expect(puts.length).toBeLessThanOrEqual((6 - doneBefore) * 4);
    // Nothing of a job done before the kill is sent again: not its files' objects, not its manifest.
    // (The remote keys are content addresses, files/md5/xx/..., never entry names.)
    const objectKey = (oid: string) => `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
    const doneEntries = before.filter((r) => r.status === 'done').map((r) => r.entry ?? '');
    const doneObjects = doneEntries.flatMap((entry) => {
      const source = join(incoming, entry.slice(entry.lastIndexOf('/') + 1));
      const pointer = readFileSync(join(repo, `${entry}.dvc`), 'utf8');
      const manifest = /md5: ([0-9a-f]{32}\.dir)\n/.exec(pointer)?.[1];
      if (!manifest) throw new Error(`no manifest in ${entry}.dvc:\n${pointer}`);
      return [...filesUnder(source).map((f) => objectKey(md5(readFileSync(join(source, f))))), objectKey(manifest)];
    });
    expect(doneObjects).toHaveLength(doneBefore * 4);
    expect(puts.filter((key) => doneObjects.includes(key))).toEqual([]);
    expect(filesUnder(join(remote, 'files/md5'))).toHaveLength(6 * 4);
  });

  it('--shard 0/2 and 1/2 together run every job exactly once', async () => {
    makeSources(5);
    const file = csv([1, 2, 3, 4, 5].map((i) => pushRow(i)));
    await regOk(repo, ['batch', file, '--shard', '0/2']);
    await regOk(repo, ['batch', file, '--shard', '1/2']);
    const read = (name: string) => parse(readFileSync(join(repo, name), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    const a = read('jobs.results-0-of-2.csv');
    const b = read('jobs.results-1-of-2.csv');
    expect(a.map((r) => r.line)).toEqual(['2', '4', '6']);
    expect(b.map((r) => r.line)).toEqual(['3', '5']);
    expect([...a, ...b].every((r) => r.status === 'done')).toBe(true);
    expect(filesUnder(join(remote, 'files/md5'))).toHaveLength(5 * 4);
    for (let i = 1; i <= 5; i++) expect(existsSync(join(repo, `raw_datasets/subject-0${i}.dvc`))).toBe(true);
  });
});

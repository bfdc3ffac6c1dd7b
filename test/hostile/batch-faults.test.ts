import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statfsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../dist/context.js';
import { batch } from '../../dist/ops/publish/batch.js';
import { isTempName, removeStaleTemps } from '../../src/fsutil.js';
import { interruptWhen, STOPS_WITHIN_MS, type Interrupted } from '../helpers/interrupt.js';
import { PAGES, buildReleaseFixture, copyObjectToClone, type ReleaseFixture } from '../helpers/release-fixture.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree, type CliResult } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';
import { isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { makeSentinel, snapshotTree, tempPathsUnder } from './tree.js';

/**
 * Faults under `reg batch` (issue 11): Ctrl-C while an `add` job imports a source folder from
 * outside the repository (copied, or moved across filesystems) and while a `push` job uploads to
 * s3rver, and a disk that fills while a job imports. Each run leaves no temp file anywhere (repo,
 * cache, sources, results directory), a results file of complete rows, the sources intact (or,
 * for a move, every byte either still at the source or in place and hashed), the sentinel and
 * .git unchanged; an interrupted run is finished by `--continue` without redoing finished jobs.
 */
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

let s3: S3Server;
let sentinel: string;
let root: string;
let repo: string;
let incoming: string;
let jobsDir: string;

/** `name -> md5` of every file below dir. */
function hashes(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, md5(readFileSync(join(dir, f)))]));
}

/** A source folder of `count` files of `size` random bytes (in two sub-folders). */
function makeSource(dir: string, count: number, size: number): void {
  writeTree(dir, Object.fromEntries(Array.from({ length: count }, (_, i) => [`${i % 2 ? 'odd' : 'even'}/f${String(i).padStart(4, '0')}.bin`, randomBytes(size)])));
}

function writeJobs(rows: string[], header = 'action,entry,area,source,import,remote,force'): string {
  const file = join(jobsDir, 'jobs.csv');
  writeFileSync(file, [header, ...rows].join('\n') + '\n');
  return file;
}

const RESULTS_HEADER = 'key,line,action,entry,status,imported,reason,files,bytes,objects,error';

/** The results file, parsed strictly: the header reg writes, then complete rows of 11 fields, the file ending with a newline. */
function readResults(file: string): Array<Record<string, string>> {
  const text = readFileSync(file, 'utf8');
  expect(text.split('\n')[0]).toBe(RESULTS_HEADER);
  expect(text.endsWith('\n')).toBe(true);
  // csv-parse throws on a row with fewer or more fields than the header, and on an unclosed quote.
  return parse(text, { columns: true, relax_column_count: false }) as Array<Record<string, string>>;
}

/** Files in the cache (objects), as a set of `XX/REST` keys. */
function cacheKeys(): Set<string> {
  return new Set(filesUnder(join(repo, '.reg', 'cache', 'files', 'md5')));
}

beforeAll(async () => {
  s3 = await startS3Server('batch-faults');
  sentinel = makeSentinel();
}, 120_000);
afterAll(async () => {
  await s3?.stop();
  if (sentinel) removeDir(sentinel);
});

/** A registry at root/repo, sources in root/incoming and the jobs CSV (and its results) in root/jobs: all apart. */
async function freshWorld(): Promise<void> {
  root = tempDir('reg-batch-fault-');
  repo = join(root, 'repo');
  incoming = join(root, 'incoming');
  jobsDir = join(root, 'jobs');
  renameSync(makeGitRepo(), repo);
  await regOk(repo, ['init']);
  mkdirSync(jobsDir);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'registry');
}

/** Directories of a test made outside root (release fixtures). */
const extraDirs: string[] = [];
afterEach(() => {
  if (root) removeDir(root);
  for (const d of extraDirs.splice(0)) removeDir(d);
});

interface Before {
  git: Record<string, string>;
  sentinel: Record<string, string>;
}

function snapshotBefore(): Before {
  return { git: snapshotTree(join(repo, '.git')), sentinel: snapshotTree(sentinel) };
}

/** What every interrupted or failed batch run must leave: no temp anywhere, .git and the sentinel as they were. */
function expectNoTrace(before: Before, sources: string[]): void {
  expect(tempPathsUnder(repo)).toEqual([]);
  expect(tempPathsUnder(jobsDir)).toEqual([]);
  for (const s of sources) expect(tempPathsUnder(s)).toEqual([]);
  expect(snapshotTree(join(repo, '.git'))).toEqual(before.git);
  expect(snapshotTree(sentinel)).toEqual(before.sentinel);
}

/** An interrupted batch run: exit 130 promptly, no trace, the sources (copied, not moved) byte-identical. */
function expectStoppedCleanly(r: Interrupted, before: Before, sourcesBefore: Record<string, string>): void {
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).not.toMatch(/internal error/i);
  expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
  expectNoTrace(before, [incoming]);
  expect(hashes(incoming)).toEqual(sourcesBefore);
}

/**
 * A batch run on a full disk that fails some jobs: exit 1 (never an internal error), no trace, no
 * temp path on `disk`, the sources byte-identical; returns the rows of the results file.
 */
async function runFailingBatch(file: string, disk: string, before: Before, sourcesBefore: Record<string, string>): Promise<{ r: CliResult; rows: Array<Record<string, string>> }> {
  const r = await reg(repo, ['batch', file, '-j', '1', '--json']);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/internal error/i);
  expectNoTrace(before, [incoming]);
  expect(tempPathsUnder(disk)).toEqual([]);
  expect(hashes(incoming)).toEqual(sourcesBefore);
  return { r, rows: readResults(join(jobsDir, 'jobs.results.csv')) };
}

/** True once a temp directory holding at least `files` files has appeared in `dir` (an import under way, past the small jobs). */
function importUnderWay(dir: string, files = 10): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) => isTempName(e.name) && e.isDirectory() && filesUnder(join(dir, e.name)).length >= files);
}

/** Every file of an entry is in the cache under its md5 (it was hashed in). */
function expectHashedIn(entry: string): void {
  const keys = cacheKeys();
  for (const [f, h] of Object.entries(hashes(join(repo, entry)))) expect(keys.has(`${h.slice(0, 2)}/${h.slice(2)}`), `${entry}/${f}`).toBe(true);
}

describe('Ctrl-C under reg batch', () => {
  it('while an add job copies a source folder in (mid-way through a big file): exit 130, no temp file, sources byte-identical, results complete; --continue finishes without redoing done jobs', async () => {
    await freshWorld();
    makeSource(join(incoming, 'small-01'), 3, 64);
    makeSource(join(incoming, 'big'), 100, 256 << 10);
    // Copied last, by one copy that cannot be stopped: the signal lands while it is being written.
    writeFileSync(join(incoming, 'big', 'zz-huge.bin'), randomBytes(128 << 20));
    makeSource(join(incoming, 'small-02'), 3, 64);
    const file = writeJobs(['small-01', 'big', 'small-02'].map((n) => `add,${n},raw_datasets,${join(incoming, n)},copy,,`));
    const sourcesBefore = hashes(incoming);
    const before = snapshotBefore();

    const datasets = join(repo, 'raw_datasets');
    const hugeUnderWay = () => existsSync(datasets) && readdirSync(datasets).some((n) => isTempName(n) && existsSync(join(datasets, n, 'zz-huge.bin')));
    const r = await interruptWhen(repo, ['batch', file, '-j', '1'], hugeUnderWay);
    expectStoppedCleanly(r, before, sourcesBefore);
    const rows = readResults(join(jobsDir, 'jobs.results.csv'));
    expect(rows.map((row) => [row.line, row.status])).toEqual([['2', 'done'], ['3', 'interrupted'], ['4', 'pending']]);
    // The interrupted import left no entry (and so no pointer) behind.
    expect(existsSync(join(repo, 'raw_datasets', 'big'))).toBe(false);
    expect(existsSync(join(repo, 'raw_datasets', 'big.dvc'))).toBe(false);

    const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'])).stdout) as { previouslyDone: number; done: number; failed: number; outcomes: Array<{ status: string }> };
    expect(again.previouslyDone).toBe(rows.filter((row) => row.status === 'done').length);
    expect(again.failed).toBe(0);
    expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done', 'done']);
    for (const n of ['small-01', 'big', 'small-02']) {
      expect(hashes(join(repo, 'raw_datasets', n))).toEqual(hashes(join(incoming, n)));
      expect(existsSync(join(repo, 'raw_datasets', `${n}.dvc`))).toBe(true);
      expectHashedIn(`raw_datasets/${n}`);
    }
    expect(hashes(incoming)).toEqual(sourcesBefore);
  }, 240_000);

  it('the temp copy goes the moment the signal comes, while a copy that cannot be stopped still runs (a copy outlasting the grace period leaves nothing)', async () => {
    await freshWorld();
    mkdirSync(join(incoming, 'big'), { recursive: true });
    writeFileSync(join(incoming, 'big', 'huge.bin'), randomBytes(256 << 20));
    const file = writeJobs([`add,big,raw_datasets,${join(incoming, 'big')},copy,,`]);
    const controller = new AbortController();
    const datasets = join(repo, 'raw_datasets');
    let atAbort: string[] | undefined;
    const poll = setInterval(() => {
      if (atAbort !== undefined || !existsSync(datasets)) return;
      if (!readdirSync(datasets).some((n) => isTempName(n) && existsSync(join(datasets, n, 'huge.bin')))) return;
      controller.abort(new Error('interrupted'));
      // Synchronously after the signal: the copy of huge.bin is still going in the thread pool.
      atAbort = tempPathsUnder(repo);
    }, 1);
    try {
      await expect(batch(makeContext({ cwd: repo, signal: controller.signal }), { csv: file })).rejects.toThrow(/interrupted/);
    } finally {
      clearInterval(poll);
    }
    expect(atAbort).toEqual([]);
    expect(tempPathsUnder(repo)).toEqual([]);
    expect(existsSync(join(datasets, 'big'))).toBe(false);
  }, 240_000);

  it.skipIf(!isRoot)('a temp copy that cannot be removed at the signal (the copy still running adds to it; here a mount inside it) is no uncaught error: the run ends interrupted, and the leftover is a temp folder swept once stale', async () => {
    await freshWorld();
    makeSource(join(incoming, 'many'), 400, 64);
    const file = writeJobs([`add,many,raw_datasets,${join(incoming, 'many')},copy,,`]);
    const datasets = join(repo, 'raw_datasets');
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const controller = new AbortController();
    let mounted: string | undefined;
    const poll = setInterval(() => {
      if (controller.signal.aborted || !existsSync(datasets)) return;
      const temp = readdirSync(datasets).find((n) => isTempName(n));
      if (temp === undefined || !existsSync(join(datasets, temp, 'odd'))) return;
      // rmdir of a mount point fails (EBUSY) whatever the listener does: its removal cannot finish.
      mounted = join(datasets, temp, 'odd');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mounted]);
      controller.abort(new Error('interrupted'));
    }, 0);
    try {
      await expect(batch(makeContext({ cwd: repo, signal: controller.signal }), { csv: file })).rejects.toThrow(/interrupted/);
      // An error thrown by an abort listener surfaces on a later tick.
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
    } finally {
      clearInterval(poll);
      process.off('uncaughtException', onUncaught);
      if (mounted !== undefined) execFileSync('umount', [mounted]);
    }
    expect(mounted).toBeDefined();
    expect(existsSync(join(datasets, 'many'))).toBe(false);
    const left = readdirSync(datasets).filter((n) => isTempName(n));
    expect(left).toHaveLength(1);
    // Not swept while fresh (a run may still be copying into it); swept by the next add once stale.
    expect(removeStaleTemps(datasets)).toBe(0);
    const old = Date.now() / 1000 - 2 * 3600;
    for (const f of filesUnder(join(datasets, left[0]!))) utimesSync(join(datasets, left[0]!, f), old, old);
    utimesSync(join(datasets, left[0]!, 'odd'), old, old);
    utimesSync(join(datasets, left[0]!), old, old);
    mkdirSync(join(datasets, 'later'));
    writeFileSync(join(datasets, 'later', 'a.txt'), 'a');
    await regOk(repo, ['add', 'raw_datasets/later']);
    expect(readdirSync(datasets).filter((n) => isTempName(n))).toEqual([]);
  }, 240_000);

  it.skipIf(!isRoot)('while an add job moves a source folder from another filesystem: every byte still at the source or in place and hashed; --continue finishes the move', async () => {
    await freshWorld();
    // A move across filesystems is a copy, then the source is removed.
    const other: Tmpfs = mountTmpfs('256m');
    try {
      const source = join(other.dir, 'big');
      makeSource(source, 400, 256 << 10);
      makeSource(join(incoming, 'small-01'), 3, 64);
      const sourceBefore = hashes(source);
      const file = writeJobs([`add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,,`, `add,big,raw_datasets,${source},move,,`]);
      const before = snapshotBefore();

      const r = await interruptWhen(repo, ['batch', file, '-j', '1'], () => importUnderWay(join(repo, 'raw_datasets')));
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).not.toMatch(/internal error/i);
      expectNoTrace(before, [incoming, other.dir]);
      // Nothing lost: each file is at the source with its bytes, or in the entry with them and in the cache.
      const entry = join(repo, 'raw_datasets', 'big');
      const keys = cacheKeys();
      for (const [f, h] of Object.entries(sourceBefore)) {
        const atSource = existsSync(join(source, f)) && md5(readFileSync(join(source, f))) === h;
        const inPlace = existsSync(join(entry, f)) && md5(readFileSync(join(entry, f))) === h && keys.has(`${h.slice(0, 2)}/${h.slice(2)}`);
        expect(atSource || inPlace, f).toBe(true);
      }
      const rows = readResults(join(jobsDir, 'jobs.results.csv'));
      expect(rows.map((row) => row.status)).toEqual(['done', 'interrupted']);

      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'])).stdout) as { previouslyDone: number; outcomes: Array<{ status: string }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done']);
      expect(hashes(entry)).toEqual(sourceBefore);
      expectHashedIn('raw_datasets/big');
      expect(existsSync(source)).toBe(false);
    } finally {
      other.unmount();
    }
  }, 240_000);

  describe('while a job uploads to s3rver', () => {
    const stalls: StallProxy[] = [];
    afterAll(async () => {
      for (const p of stalls) await p.close();
    });
    const env = () => s3.env;

    /**
     * A fresh registry whose default remote `s3` is a fresh prefix of the bucket behind a proxy
     * that holds request `stallAt` half-read (the small job needs fewer): the big job's upload
     * never ends by itself.
     */
    async function s3World(stallAt: number): Promise<{ prefix: string; stall: StallProxy }> {
      await freshWorld();
      const stall = await startStallProxy({ upstream: s3.endpoint, every: 1_000_000, offset: stallAt, mode: 'upload' });
      stalls.push(stall);
      const prefix = `team-${randomBytes(4).toString('hex')}`;
      await regOk(repo, ['remote', 'add', 's3', `s3://${s3.bucket}/${prefix}`, '--default', '--local'], { env: env() });
      await regOk(repo, ['remote', 'modify', '--local', 's3', 'endpoint-url', stall.endpoint], { env: env() });
      await regOk(repo, ['remote', 'modify', '--local', 's3', 'path-style', 'true'], { env: env() });
      return { prefix, stall };
    }

    it('a push job: exit 130, no temp file, nothing lost; --continue uploads the rest without importing again', async () => {
      const { prefix, stall } = await s3World(40);
      const env = s3.env;
      makeSource(join(incoming, 'small-01'), 3, 64);
      makeSource(join(incoming, 'big'), 200, 16 << 10);
      makeSource(join(incoming, 'small-02'), 3, 64);
      const file = writeJobs(['small-01', 'big', 'small-02'].map((n) => `push,${n},raw_datasets,${join(incoming, n)},copy,s3,`));
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();
      const bucketObjects = () => filesUnder(join(s3.directory, s3.bucket, prefix)).filter((f) => f.endsWith('._S3rver_object'));

      const stalledBefore = stall.stats.stalled;
      const r = await interruptWhen(repo, ['batch', file, '-j', '1'], () => stall.stats.stalled > stalledBefore, env);
      expectStoppedCleanly(r, before, sourcesBefore);
      const rows = readResults(join(jobsDir, 'jobs.results.csv'));
      expect(rows.map((row) => [row.line, row.status, row.imported])).toEqual([['2', 'done', 'yes'], ['3', 'interrupted', 'yes'], ['4', 'pending', '']]);
      // The big entry was imported and hashed before its push began: in place, complete, in the cache.
      expect(hashes(join(repo, 'raw_datasets', 'big'))).toEqual(hashes(join(incoming, 'big')));
      expectHashedIn('raw_datasets/big');

      // --continue, through the same bucket without the stall: the big job is pushed, not imported again.
      await regOk(repo, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env });
      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'], { env })).stdout) as { previouslyDone: number; failed: number; outcomes: Array<{ status: string }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done', 'done']);
      expect(readResults(join(jobsDir, 'jobs.results.csv')).map((row) => row.status)).toEqual(['done', 'done', 'done']);
      // Every object of the three entries is on the remote: 3 + 200 + 3 files and 3 manifests.
      expect(bucketObjects().filter((f) => f.startsWith('files/md5/'))).toHaveLength(209);
      expect(hashes(incoming)).toEqual(sourcesBefore);
    }, 240_000);

    it('a sync-push job: exit 130, no temp file, the entry not presented as synced (no manifest on the remote); --continue completes it without importing again', async () => {
      const { prefix, stall } = await s3World(30);
      makeSource(join(incoming, 'run-01'), 3, 64);
      makeSource(join(incoming, 'run-02'), 200, 16 << 10);
      const file = writeJobs(['run-01', 'run-02'].map((n) => `sync-push,${n},processed_datasets,${join(incoming, n)},copy,s3,`));
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();
      const onRemote = () => filesUnder(join(s3.directory, s3.bucket, prefix)).filter((f) => f.endsWith('._S3rver_object')).map((f) => f.slice(0, -'._S3rver_object'.length));

      const stalledBefore = stall.stats.stalled;
      const r = await interruptWhen(repo, ['batch', file, '-j', '1'], () => stall.stats.stalled > stalledBefore, env());
      expectStoppedCleanly(r, before, sourcesBefore);
      const rows = readResults(join(jobsDir, 'jobs.results.csv'));
      expect(rows.map((row) => [row.line, row.status, row.imported])).toEqual([['2', 'done', 'yes'], ['3', 'interrupted', 'yes']]);
      // The manifest is written last: run-01 has one, run-02 (cut off) has none.
      expect(onRemote().filter((k) => k.endsWith('.reg-sync.json')).map((k) => k.split('/').slice(-2, -1)[0])).toEqual(['run-01']);
      expect(hashes(join(repo, 'processed_datasets', 'run-02'))).toEqual(hashes(join(incoming, 'run-02')));

      await regOk(repo, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env: env() });
      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'], { env: env() })).stdout) as { previouslyDone: number; outcomes: Array<{ status: string; files: number }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done']);
      // The files that arrived before the signal are known as this push's own: not sent again, no conflict.
      expect(again.outcomes[1]!.files).toBeGreaterThan(0);
      expect(again.outcomes[1]!.files).toBeLessThan(200);
      const keys = onRemote();
      expect(keys.filter((k) => k.endsWith('.reg-sync.json'))).toHaveLength(2);
      expect(keys.filter((k) => k.includes('/run-02/') && !k.endsWith('.reg-sync.json'))).toHaveLength(200);
      expect(hashes(incoming)).toEqual(sourcesBefore);
    }, 240_000);
  });
});

describe.skipIf(!isRoot)('a full disk under reg batch', () => {
  /** A fresh registry moved onto a 6 MiB tmpfs (work tree and cache); the sources and the jobs stay on the ordinary disk. */
  async function onFullDisk(test: (disk: Tmpfs) => Promise<void>): Promise<void> {
    await freshWorld();
    const disk = mountTmpfs('6m');
    try {
      execFileSync('mv', [repo, join(disk.dir, 'repo')]);
      repo = join(disk.dir, 'repo');
      await test(disk);
    } finally {
      removeDir(repo);
      disk.unmount();
    }
  }

  it('an add job whose import does not fit: exit 1, ENOSPC with the path in the results file, no temp file, no entry or pointer, the source intact; the other jobs done', async () => {
    await onFullDisk(async (disk) => {
      makeSource(join(incoming, 'small-01'), 3, 64);
      makeSource(join(incoming, 'big'), 40, 256 << 10);
      // One file bigger than the free space.
      makeSource(join(incoming, 'moved'), 1, 12 << 20);
      makeSource(join(incoming, 'small-02'), 3, 64);
      const file = writeJobs([
        `add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,,`,
        `add,big,raw_datasets,${join(incoming, 'big')},copy,,`,
        // A move across filesystems copies first: the source must survive the failed copy.
        `add,moved,raw_datasets,${join(incoming, 'moved')},move,,`,
        `add,small-02,raw_datasets,${join(incoming, 'small-02')},copy,,`,
      ]);
      expect(statfsSync(disk.dir).bavail * statfsSync(disk.dir).bsize).toBeLessThan(10 << 20);
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();

      const { r, rows } = await runFailingBatch(file, disk.dir, before, sourcesBefore);
      expect(rows.map((row) => [row.line, row.status])).toEqual([['2', 'done'], ['3', 'failed'], ['4', 'failed'], ['5', 'done']]);
      for (const [row, entry] of [[rows[1]!, 'big'], [rows[2]!, 'moved']] as const) {
        expect(row.reason).toContain('ENOSPC');
        expect(row.reason).toContain(join(repo, 'raw_datasets'));
        expect(row.reason).toMatch(/free some (disk )?space/);
        expect(row.error).toBe('failed');
        expect(row.imported).toBe('');
        expect(existsSync(join(repo, 'raw_datasets', entry))).toBe(false);
        expect(existsSync(join(repo, 'raw_datasets', `${entry}.dvc`))).toBe(false);
      }
      const doc = JSON.parse(r.stdout) as { done: number; failed: number };
      expect([doc.done, doc.failed]).toEqual([2, 2]);
      for (const n of ['small-01', 'small-02']) {
        expect(hashes(join(repo, 'raw_datasets', n))).toEqual(hashes(join(incoming, n)));
        expect(existsSync(join(repo, 'raw_datasets', `${n}.dvc`))).toBe(true);
        expectHashedIn(`raw_datasets/${n}`);
      }
    });
  }, 240_000);

  it('an add job whose import fits but whose hashing into the cache does not: exit 1, ENOSPC naming the cache in the results file, no pointer, no temp file; --continue adds it once there is space', async () => {
    await onFullDisk(async (disk) => {
      // 3.5 MiB fits in the work tree once, not twice (work tree and cache on the same 6 MiB).
      makeSource(join(incoming, 'half'), 14, 256 << 10);
      makeSource(join(incoming, 'small-01'), 3, 64);
      // The small job first: after the big one fills the disk, what a later job finds free is only
      // the pages of the failed copy's temp file (the objects copied before it stay cached).
      const file = writeJobs([`add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,,`, `add,half,raw_datasets,${join(incoming, 'half')},copy,,`]);
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();

      const { rows } = await runFailingBatch(file, disk.dir, before, sourcesBefore);
      expect(rows.map((row) => [row.line, row.status, row.imported])).toEqual([['2', 'done', 'yes'], ['3', 'failed', 'yes']]);
      expect(rows[1]!.reason).toContain('ENOSPC');
      expect(rows[1]!.reason).toContain(join(repo, '.reg', 'cache'));
      expect(rows[1]!.error).toBe('failed');
      // Imported (a copy: the source still has every byte), but not presented as added: no pointer.
      expect(hashes(join(repo, 'raw_datasets', 'half'))).toEqual(hashes(join(incoming, 'half')));
      expect(existsSync(join(repo, 'raw_datasets', 'half.dvc'))).toBe(false);

      // With space again (the tmpfs grown), --continue adds the imported data without importing it again.
      execFileSync('mount', ['-o', 'remount,size=32m', disk.dir]);
      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'])).stdout) as { previouslyDone: number; outcomes: Array<{ status: string }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done']);
      expect(existsSync(join(repo, 'raw_datasets', 'half.dvc'))).toBe(true);
      expectHashedIn('raw_datasets/half');
      expect(hashes(incoming)).toEqual(sourcesBefore);
    });
  }, 240_000);

  it('push and sync-push jobs to a directory remote on a full filesystem: exit 1, each failed with the remote named and the fix in the results file, imported and kept, no temp file or manifest on the remote; --continue sends them once there is space, without importing again', async () => {
    await freshWorld();
    const disk = mountTmpfs('6m');
    try {
      const remoteDir = join(disk.dir, 'remote');
      await regOk(repo, ['remote', 'add', 'nas', remoteDir, '--default', '--local']);
      makeSource(join(incoming, 'small-01'), 3, 64);
      makeSource(join(incoming, 'big'), 40, 256 << 10);
      makeSource(join(incoming, 'run-01'), 40, 256 << 10);
      const file = writeJobs([
        `add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,,`,
        `push,big,raw_datasets,${join(incoming, 'big')},copy,nas,`,
        `sync-push,run-01,processed_datasets,${join(incoming, 'run-01')},copy,nas,`,
      ]);
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();

      const { rows } = await runFailingBatch(file, disk.dir, before, sourcesBefore);
      expect(rows.map((row) => [row.line, row.status, row.imported, row.error])).toEqual([['2', 'done', 'yes', ''], ['3', 'failed', 'yes', 'transfer'], ['4', 'failed', 'yes', 'transfer']]);
      for (const row of rows.slice(1)) {
        expect(row.reason).toContain('ENOSPC');
        expect(row.reason).toMatch(/remote "?nas"?/);
        expect(row.reason).toContain(`free space on the disk holding ${remoteDir}`);
      }
      // Nothing on the remote presented as complete: no manifest of big, no sync manifest of run-01, every object whole.
      const objects = join(remoteDir, 'files', 'md5');
      for (const f of filesUnder(objects)) {
        expect(f.endsWith('.dir'), f).toBe(false);
        expect(md5(readFileSync(join(objects, f)))).toBe(f.replace('/', ''));
      }
      expect(existsSync(join(remoteDir, 'processed_datasets', 'run-01', '.reg-sync.json'))).toBe(false);
      // Imported and (big) hashed into the cache: --continue does not import again.
      expectHashedIn('raw_datasets/big');
      expect(hashes(join(repo, 'processed_datasets', 'run-01'))).toEqual(hashes(join(incoming, 'run-01')));

      execFileSync('mount', ['-o', 'remount,size=32m', disk.dir]);
      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'])).stdout) as { previouslyDone: number; outcomes: Array<{ status: string }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done', 'done']);
      expect(filesUnder(objects).filter((f) => f.endsWith('.dir'))).toHaveLength(1);
      expect(filesUnder(join(remoteDir, 'processed_datasets', 'run-01'))).toHaveLength(41);
      expect(hashes(incoming)).toEqual(sourcesBefore);
    } finally {
      disk.unmount();
    }
  }, 240_000);
});

describe('export jobs under reg batch', () => {
  const EXPORT_HEADER = 'action,entry,area,source,import,remote,force,rev,output';
  let halfBody: StallProxy;
  beforeAll(async () => {
    // Half of every response body, then nothing: a download leaves a temp file in the cache and stalls.
    halfBody = await startStallProxy({ upstream: s3.endpoint, every: 1, offset: 0, mode: 'body' });
  });
  afterAll(async () => {
    await halfBody?.close();
  });

  /** The release fixture (PAGES at v1 with a 6 MiB file, a card with a licence); the jobs and a small source under a fresh root. */
  async function releaseWorld(): Promise<ReleaseFixture> {
    root = tempDir('reg-batch-export-');
    jobsDir = join(root, 'jobs');
    incoming = join(root, 'incoming');
    mkdirSync(jobsDir);
    makeSource(join(incoming, 'small-01'), 3, 64);
    const fx = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': randomBytes(6 << 20) });
    extraDirs.push(fx.root, fx.remoteDir, fx.clone);
    return fx;
  }

  /** An export job of PAGES at v1 into `out` (from `remote`, if named), then an add job. */
  const exportJobs = (out: string, remote = '') => writeJobs([`export,${PAGES},,,,${remote},,v1,${out}`, `add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,,,,`], EXPORT_HEADER);

  const expectReleaseVerifies = (out: string) => expect(execFileSync('md5sum', ['-c', 'MD5SUMS'], { cwd: join(out, 'pages-v1'), encoding: 'utf8' })).toContain('data/big.bin: OK');

  it('Ctrl-C while an export job fetches the files the cache lacks: exit 130, no temp file, no release, the bucket untouched; --continue finishes it', async () => {
    const fx = await releaseWorld();
    const prefix = `export-${randomBytes(4).toString('hex')}`;
    const env = s3.env;
    await regOk(fx.root, ['remote', 'add', 's3', `s3://${s3.bucket}/${prefix}`, '--local'], { env });
    await regOk(fx.root, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env });
    await regOk(fx.root, ['remote', 'modify', '--local', 's3', 'path-style', 'true'], { env });
    await regOk(fx.root, ['push', '-r', 's3'], { env });
    // A teammate's clone: the manifest in its cache, none of the files; its remote reached through the stalling proxy.
    repo = fx.clone;
    copyObjectToClone(fx, fx.manifest);
    await regOk(repo, ['remote', 'add', 'half', `s3://${s3.bucket}/${prefix}`, '--local'], { env });
    await regOk(repo, ['remote', 'modify', '--local', 'half', 'endpoint-url', halfBody.endpoint], { env });
    await regOk(repo, ['remote', 'modify', '--local', 'half', 'path-style', 'true'], { env });
    const out = join(root, 'releases');
    const file = exportJobs(out, 'half');
    const sourcesBefore = hashes(incoming);
    const before = snapshotBefore();
    const bucket = snapshotTree(join(s3.directory, s3.bucket, prefix));

    const r = await interruptWhen(repo, ['batch', file, '-j', '1'], () => tempPathsUnder(join(repo, '.reg', 'cache')).length > 0, env);
    expectStoppedCleanly(r, before, sourcesBefore);
    expect(tempPathsUnder(out)).toEqual([]);
    expect(filesUnder(out)).toEqual([]);
    expect(snapshotTree(join(s3.directory, s3.bucket, prefix))).toEqual(bucket);
    expect(readResults(join(jobsDir, 'jobs.results.csv')).map((row) => [row.line, row.status])).toEqual([['2', 'interrupted'], ['3', 'pending']]);

    await regOk(repo, ['remote', 'modify', '--local', 'half', 'endpoint-url', s3.endpoint], { env });
    const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'], { env })).stdout) as { outcomes: Array<{ status: string }> };
    expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done']);
    expectReleaseVerifies(out);
  }, 240_000);

  it.skipIf(!isRoot)('an export job whose release does not fit in its output directory: exit 1, ENOSPC with the path and the fix in the results file, no temp file, no release; the other job done; --continue finishes it once there is space', async () => {
    const fx = await releaseWorld();
    repo = fx.root;
    const disk = mountTmpfs('4m');
    try {
      const out = join(disk.dir, 'releases');
      const file = exportJobs(out);
      const sourcesBefore = hashes(incoming);
      const before = snapshotBefore();

      const { rows } = await runFailingBatch(file, disk.dir, before, sourcesBefore);
      expect(filesUnder(out)).toEqual([]);
      expect(rows.map((row) => [row.line, row.status, row.error])).toEqual([['2', 'failed', 'failed'], ['3', 'done', '']]);
      expect(rows[0]!.reason).toContain('ENOSPC');
      expect(rows[0]!.reason).toContain(out);
      expect(rows[0]!.reason).toMatch(/free some space/);

      execFileSync('mount', ['-o', 'remount,size=32m', disk.dir]);
      const again = JSON.parse((await regOk(repo, ['batch', file, '--continue', '--json'])).stdout) as { previouslyDone: number; outcomes: Array<{ status: string }> };
      expect(again.previouslyDone).toBe(1);
      expect(again.outcomes.map((o) => o.status)).toEqual(['done', 'done']);
      expectReleaseVerifies(out);
    } finally {
      disk.unmount();
    }
  }, 240_000);
});

describe('a jobs or results CSV without end', () => {
  it('/dev/zero as the jobs CSV: exit 2 batch.csv-too-large after 256 MiB; as the results file of --continue: exit 3 batch.bad-results; nothing written', async () => {
    await freshWorld();
    makeSource(join(incoming, 'one'), 2, 64);
    const file = writeJobs([`add,one,raw_datasets,${join(incoming, 'one')},copy,,`]);
    const before = snapshotBefore();
    const jobs = await reg(repo, ['batch', '/dev/zero', '--json'], { timeoutMs: 60_000 });
    expect(jobs.code, jobs.stderr).toBe(2);
    expect(JSON.parse(jobs.stdout).error.code).toBe('batch.csv-too-large');
    expect(jobs.stderr).toContain('/dev/zero is longer than 256 MiB');
    const results = await reg(repo, ['batch', file, '--continue', '--results', '/dev/zero', '--json'], { timeoutMs: 60_000 });
    expect(results.code, results.stderr).toBe(3);
    expect(JSON.parse(results.stdout).error.code).toBe('batch.bad-results');
    expect(results.stderr).toContain('longer than 256 MiB');
    expectNoTrace(before, [incoming]);
    expect(filesUnder(join(repo, 'raw_datasets')).filter((f) => f.startsWith('one'))).toEqual([]);
  }, 120_000);
});

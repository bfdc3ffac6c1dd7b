import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interruptWhen, STOPS_WITHIN_MS, type Interrupted } from '../helpers/interrupt.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';
import { expectDiskFull, fillTo, isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { makeSentinel, snapshotTree, tempPathsUnder } from './tree.js';

/**
 * Faults under `reg sync push` and `reg sync pull` on their own (batch `sync-push` rows are in
 * batch-faults.test.ts): Ctrl-C while files travel to and from s3rver (a proxy holds one upload,
 * or every download half-way), a directory remote on a full filesystem (the data does not fit;
 * the data fits but the manifest does not), and a full local disk (pulling into it, pushing from
 * it). Each run exits with its code (130, 4 `remote.no-space` naming the remote, 1
 * `disk.no-space` naming the local path) and a hint, leaves no temp file or lock anywhere, no
 * manifest or sync state claiming a sync that did not finish, every file that did arrive
 * complete, `.git` and a sentinel tree outside the repository byte-identical; the same command
 * then completes (without sending again what arrived).
 */
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const ENTRY = 'processed_datasets/run-01';

let s3: S3Server;
let env: Record<string, string>;
let sentinel: string;
const dirs: string[] = [];
const proxies: StallProxy[] = [];

beforeAll(async () => {
  s3 = await startS3Server('sync-faults');
  env = { ...s3.env, AWS_EC2_METADATA_DISABLED: 'true' };
  sentinel = makeSentinel();
}, 120_000);
afterAll(async () => {
  for (const p of proxies) await p.close();
  await s3?.stop();
  for (const d of [sentinel, ...dirs]) if (d) removeDir(d);
});

/** `relpath -> md5` of every file below dir. */
function hashes(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, md5(readFileSync(join(dir, f)))]));
}

/** A registry (committed) at `at` (default: a fresh temp directory). */
async function freshRepo(at?: string): Promise<string> {
  const repo = at ?? makeGitRepo();
  if (at) {
    mkdirSync(at);
    git(at, 'init', '-q', '-b', 'main');
    git(at, 'config', 'user.name', 'reg tests');
    git(at, 'config', 'user.email', 'tests@example.org');
  } else dirs.push(repo);
  await regOk(repo, ['init']);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'registry');
  return repo;
}

/** Points the local remote `name` of `repo` at an S3 prefix of s3rver through `endpoint`. */
async function s3Remote(repo: string, name: string, prefix: string, endpoint: string): Promise<void> {
  await regOk(repo, ['remote', 'add', name, `s3://${s3.bucket}/${prefix}`, '--default', '--local'], { env });
  await regOk(repo, ['remote', 'modify', '--local', name, 'endpoint-url', endpoint], { env });
  await regOk(repo, ['remote', 'modify', '--local', name, 'path-style', 'true'], { env });
}

/** The objects s3rver holds under a prefix (keys relative to it) and their md5s. */
function bucketObjects(prefix: string): Record<string, string> {
  const root = join(s3.directory, s3.bucket, prefix);
  const suffix = '._S3rver_object';
  return Object.fromEntries(filesUnder(root).filter((f) => f.endsWith(suffix)).map((f) => [f.slice(0, -suffix.length), md5(readFileSync(join(root, f)))]));
}

const stateFile = (repo: string, remote: string) => join(repo, '.reg', 'tmp', 'sync', remote, `${ENTRY}.json`);

interface Guard {
  git: Record<string, string>;
  sentinel: Record<string, string>;
}
const guard = (repo: string): Guard => ({ git: snapshotTree(join(repo, '.git')), sentinel: snapshotTree(sentinel) });
function expectGuarded(repo: string, before: Guard): void {
  expect(snapshotTree(join(repo, '.git'))).toEqual(before.git);
  expect(snapshotTree(sentinel)).toEqual(before.sentinel);
}

function expectInterrupted(r: Interrupted): void {
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toContain('interrupted');
  expect(r.stderr).not.toMatch(/internal error/i);
  expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
}

/** Every file of `got` (relpath -> md5) is one of `want`'s, with its bytes: nothing half-written. */
function expectComplete(got: Record<string, string>, want: Record<string, string>): void {
  for (const [f, h] of Object.entries(got)) expect(want[f], f).toBe(h);
}

describe('Ctrl-C under reg sync', () => {
  it('sync push while an upload is held: exit 130, no temp file, no manifest, the remote lock released; the re-run completes without sending again what arrived', async () => {
    const repo = await freshRepo();
    // Request 20 (after the manifest read and the lock) is an upload, held half-read.
    const stall = await startStallProxy({ upstream: s3.endpoint, every: 1_000_000, offset: 20, mode: 'upload' });
    proxies.push(stall);
    const prefix = `push-${randomBytes(4).toString('hex')}`;
    await s3Remote(repo, 's3', prefix, stall.endpoint);
    writeTree(join(repo, ENTRY), Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`part-${String(i).padStart(2, '0')}.bin`, randomBytes(16 << 10)])));
    const local = hashes(join(repo, ENTRY));
    const before = guard(repo);

    const r = await interruptWhen(repo, ['sync', 'push', ENTRY, '-j', '2'], () => stall.stats.stalled > 0, env);
    expectInterrupted(r);
    expect(tempPathsUnder(repo)).toEqual([]);
    const remote = bucketObjects(prefix);
    // Not presented as synced: no manifest, no sync state; no lock left to block the next push.
    expect(Object.keys(remote).filter((k) => k.endsWith('.reg-sync.json') || k.includes('.reg-sync-locks'))).toEqual([]);
    expect(existsSync(stateFile(repo, 's3'))).toBe(false);
    expectComplete(Object.fromEntries(Object.entries(remote).map(([k, h]) => [k.slice(ENTRY.length + 1), h])), local);
    expect(Object.keys(remote).length).toBeLessThan(40);
    expectGuarded(repo, before);

    await regOk(repo, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env });
    const again = JSON.parse((await regOk(repo, ['sync', 'push', ENTRY, '--json'], { env })).stdout) as { transferred: number };
    // What arrived is not sent again (an upload in flight at the signal may land after the listing above).
    expect(again.transferred).toBeGreaterThan(0);
    expect(again.transferred).toBeLessThanOrEqual(40 - Object.keys(remote).length);
    const after = bucketObjects(prefix);
    expect(Object.keys(after).filter((k) => k.includes('.reg-sync-locks'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(s3.directory, s3.bucket, prefix, ENTRY, '.reg-sync.json._S3rver_object'), 'utf8')) as { files: Record<string, { md5: string }> };
    expect(Object.fromEntries(Object.entries(manifest.files).map(([k, f]) => [k, f.md5]))).toEqual(local);
  }, 180_000);

  it('sync pull while a download stalls half-way: exit 130, no temp file in the entry, no sync state, the remote untouched; the re-run completes', async () => {
    const a = await freshRepo();
    const prefix = `pull-${randomBytes(4).toString('hex')}`;
    await s3Remote(a, 's3', prefix, s3.endpoint);
    writeTree(join(a, ENTRY), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': randomBytes(6 << 20) });
    await regOk(a, ['sync', 'push', ENTRY], { env });
    const want = hashes(join(a, ENTRY));
    const clone = tempDir('reg-sync-clone-');
    dirs.push(clone);
    git(clone, 'clone', '-q', a, '.');
    // Request 0 reads the remote manifest; request 1, the first download, stalls half-way.
    const halfBody = await startStallProxy({ upstream: s3.endpoint, every: 1_000_000, offset: 1, mode: 'body' });
    proxies.push(halfBody);
    await s3Remote(clone, 's3', prefix, halfBody.endpoint);
    const before = guard(clone);
    const bucket = snapshotTree(s3.directory);
    const status = git(clone, 'status', '--porcelain', '--untracked-files=all');

    const r = await interruptWhen(clone, ['sync', 'pull', ENTRY], () => halfBody.stats.stalled > 0 && existsSync(join(clone, ENTRY)) && tempPathsUnder(join(clone, ENTRY)).length > 0, env);
    expectInterrupted(r);
    expect(tempPathsUnder(clone)).toEqual([]);
    expect(existsSync(stateFile(clone, 's3'))).toBe(false);
    expectComplete(hashes(join(clone, ENTRY)), want);
    expect(snapshotTree(s3.directory)).toEqual(bucket);
    expect(git(clone, 'status', '--porcelain', '--untracked-files=all')).toBe(status);
    expectGuarded(clone, before);

    await regOk(clone, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env });
    await regOk(clone, ['sync', 'pull', ENTRY], { env });
    expect(hashes(join(clone, ENTRY))).toEqual(want);
    expect(existsSync(stateFile(clone, 's3'))).toBe(true);
  }, 180_000);
});

describe.skipIf(!isRoot)('a full disk under reg sync', () => {
  let disk: Tmpfs | undefined;
  beforeAll(() => {
    if (!isRoot) console.warn('disk-full tests of reg sync skipped: they mount a tmpfs, which needs root');
  });

  /** Runs `test` with a fresh 6 MiB tmpfs, unmounted afterwards. */
  async function withDisk(test: (dir: string) => Promise<void>): Promise<void> {
    disk = mountTmpfs('6m');
    try {
      await test(disk.dir);
    } finally {
      disk.unmount();
    }
  }

  it('sync push to a directory remote on a full filesystem, the data bigger than the free space: exit 4 naming the remote, no temp file, no manifest, no lock; the re-run completes once there is space', async () => {
    await withDisk(async (dir) => {
      const repo = await freshRepo();
      const remoteDir = join(dir, 'remote');
      await regOk(repo, ['remote', 'add', 'nas', remoteDir, '--default', '--local']);
      writeTree(join(repo, ENTRY), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': randomBytes(8 << 20) });
      const local = hashes(join(repo, ENTRY));
      const before = guard(repo);

      const r = await reg(repo, ['sync', 'push', ENTRY, '--json']);
      expectDiskFull(r, 'remote', remoteDir);
      expect(tempPathsUnder(dir)).toEqual([]);
      expect(tempPathsUnder(repo)).toEqual([]);
      const remoteEntry = join(remoteDir, ...ENTRY.split('/'));
      expect(existsSync(join(remoteEntry, '.reg-sync.json'))).toBe(false);
      expect(filesUnder(join(remoteDir, 'processed_datasets', '.reg-sync-locks'))).toEqual([]);
      expectComplete(hashes(remoteEntry), local);
      expect(existsSync(stateFile(repo, 'nas'))).toBe(false);
      expectGuarded(repo, before);

      execFileSync('mount', ['-o', 'remount,size=32m', dir]);
      await regOk(repo, ['sync', 'push', ENTRY]);
      expect(hashes(remoteEntry)).toEqual({ ...local, '.reg-sync.json': md5(readFileSync(join(remoteEntry, '.reg-sync.json'))) });
    });
  }, 120_000);

  it('sync push whose data fits on the remote but whose manifest does not: exit 4 naming the remote, every file complete, no manifest; the re-run sends nothing again and writes it', async () => {
    await withDisk(async (dir) => {
      const repo = await freshRepo();
      const remoteDir = join(dir, 'remote');
      await regOk(repo, ['remote', 'add', 'nas', remoteDir, '--default', '--local']);
      const big = randomBytes(3_000_000);
      writeTree(join(repo, ENTRY), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': big });
      const local = hashes(join(repo, ENTRY));
      const page = 4096;
      // Room for the data and the push's lock object, not one page more.
      const unfill = fillTo(dir, (Math.ceil(big.length / page) + 2 + 1) * page);
      const r = await reg(repo, ['sync', 'push', ENTRY, '--json']);
      expectDiskFull(r, 'remote', remoteDir);
      const remoteEntry = join(remoteDir, ...ENTRY.split('/'));
      expect(tempPathsUnder(dir)).toEqual([]);
      expect(hashes(remoteEntry)).toEqual(local);
      expect(filesUnder(join(remoteDir, 'processed_datasets', '.reg-sync-locks'))).toEqual([]);
      expect(existsSync(stateFile(repo, 'nas'))).toBe(false);

      unfill();
      const again = JSON.parse((await regOk(repo, ['sync', 'push', ENTRY, '--json'])).stdout) as { transferred: number };
      expect(again.transferred).toBe(0);
      const manifest = JSON.parse(readFileSync(join(remoteEntry, '.reg-sync.json'), 'utf8')) as { files: Record<string, { md5: string }> };
      expect(Object.fromEntries(Object.entries(manifest.files).map(([k, f]) => [k, f.md5]))).toEqual(local);
      expect(existsSync(stateFile(repo, 'nas'))).toBe(true);
    });
  }, 120_000);

  it('sync pull into a repository on a full disk: exit 1 naming the work-tree file (was exit 4, "check the remote\'s settings"), no temp file, no sync state; the re-run completes once there is space', async () => {
    await withDisk(async (dir) => {
      const a = await freshRepo();
      const remoteDir = tempDir('reg-sync-remote-');
      dirs.push(remoteDir);
      await regOk(a, ['remote', 'add', 'nas', remoteDir, '--default']);
      writeTree(join(a, ENTRY), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': randomBytes(8 << 20) });
      await regOk(a, ['sync', 'push', ENTRY]);
      git(a, 'add', '-A');
      git(a, 'commit', '-qm', 'remote nas');
      const want = hashes(join(a, ENTRY));
      const clone = join(dir, 'clone');
      git(dir, 'clone', '-q', a, 'clone');
      const before = guard(clone);
      const remoteBefore = snapshotTree(remoteDir);

      expectDiskFull(await reg(clone, ['sync', 'pull', ENTRY, '--json']), 'local', join(clone, ENTRY));
      expect(tempPathsUnder(clone)).toEqual([]);
      expect(existsSync(stateFile(clone, 'nas'))).toBe(false);
      expectComplete(hashes(join(clone, ENTRY)), want);
      expect(snapshotTree(remoteDir)).toEqual(remoteBefore);
      expectGuarded(clone, before);

      execFileSync('mount', ['-o', 'remount,size=32m', dir]);
      await regOk(clone, ['sync', 'pull', ENTRY]);
      expect(hashes(join(clone, ENTRY))).toEqual(want);
    });
  }, 120_000);

  it('sync push from a repository on a full disk: exit 1 naming the file under .reg it could not write, nothing sent; the re-run completes once there is space', async () => {
    await withDisk(async (dir) => {
      const repo = join(dir, 'clone');
      await freshRepo(repo);
      const remoteDir = tempDir('reg-sync-remote-');
      dirs.push(remoteDir);
      await regOk(repo, ['remote', 'add', 'nas', remoteDir, '--default', '--local']);
      writeTree(join(repo, ENTRY), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n' });
      const local = hashes(join(repo, ENTRY));
      const before = guard(repo);
      const unfill = fillTo(dir, 0);

      expectDiskFull(await reg(repo, ['sync', 'push', ENTRY, '--json']), 'local', join(repo, '.reg'));
      expect(tempPathsUnder(repo)).toEqual([]);
      expect(filesUnder(remoteDir)).toEqual([]);
      expectGuarded(repo, before);

      unfill();
      await regOk(repo, ['sync', 'push', ENTRY]);
      expect(hashes(join(remoteDir, ...ENTRY.split('/')))).toEqual({ ...local, '.reg-sync.json': md5(readFileSync(join(remoteDir, ...ENTRY.split('/'), '.reg-sync.json'))) });
    });
  }, 120_000);
});

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTempName } from '../../src/fsutil.js';
import { commitOnDay } from '../helpers/history-fixture.js';
import { interruptWhen, sparseFile, STOPS_WITHIN_MS, type Interrupted } from '../helpers/interrupt.js';
import { PAGES, PAGES_CARD, buildReleaseFixture, type ReleaseFixture } from '../helpers/release-fixture.js';
import { configureRemote } from '../helpers/remote-config.js';
import { filesUnder, git, makeGitRepo, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';
import { makeSentinel, snapshotTree, tempPathsUnder } from './tree.js';

/**
 * Ctrl-C under the commands of issues 9-11. The real CLI is spawned and SIGINT is sent at a
 * deterministic point: when a download has left a temp file in the cache (a proxy in front of
 * s3rver sends half of every response body, then stalls), when a request reaches a server that
 * never answers, or when a release or site starts to appear. Each run must exit 130 promptly,
 * leave no temp file or temp directory anywhere, nothing half-written at its destination (absent,
 * or complete and verified), the work tree, .git and a sentinel tree byte-identical where it
 * should not write, nothing deleted on the remote; and the same command then completes.
 */
const ENV_BASE = { AWS_EC2_METADATA_DISABLED: 'true' };

let s3: S3Server;
let env: Record<string, string>;
let fx: ReleaseFixture;
/** Half of every response body, then nothing (a temp file appears in the cache, then stalls). */
let halfBody: StallProxy;
/** Reads every request and never answers. */
let silent: StallProxy;
let sentinel: string;
let v1Manifest: string;

const BIG = randomBytes(6 << 20);
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

const hasTemp = (root: string) => existsSync(root) && tempPathsUnder(root).length > 0;

beforeAll(async () => {
  s3 = await startS3Server('fault-bucket');
  env = { ...s3.env, ...ENV_BASE };
  fx = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'big.bin': BIG });
  v1Manifest = fx.manifest;
  // The tracked remote s3 (and the directory remote store) hold every version.
  await configureRemote(fx.root, 's3', `s3://${s3.bucket}/team`, { 'endpoint-url': s3.endpoint, 'path-style': 'true' });
  await regOk(fx.root, ['push', '-r', 's3'], { env });
  rmSync(join(fx.root, PAGES, 'big.bin'));
  writeFileSync(join(fx.root, PAGES, 'c.txt'), 'charlie\n');
  await regOk(fx.root, ['add', PAGES]);
  await regOk(fx.root, ['push']);
  await regOk(fx.root, ['push', '-r', 's3'], { env });
  commitOnDay(fx.root, 'pages v2: without big.bin; remote s3', 2);
  halfBody = await startStallProxy({ upstream: s3.endpoint, every: 1, offset: 0, mode: 'body' });
  silent = await startStallProxy({ upstream: s3.endpoint, every: 1, offset: 0, mode: 'headers' });
  sentinel = makeSentinel();
}, 240_000);

afterAll(async () => {
  await halfBody?.close();
  await silent?.close();
  await s3?.stop();
  for (const d of [fx?.root, fx?.remoteDir, fx?.clone, sentinel]) if (d) removeDir(d);
});

/**
 * A fresh clone of the fixture at HEAD (v2) whose cache holds only the v1 manifest (so the first
 * download is data), with the local remotes `half` and `silent` (the same bucket through the two
 * proxies).
 */
async function freshClone(): Promise<string> {
  const c = tempDir('reg-int-clone-');
  git(c, 'clone', '-q', fx.root, '.');
  const rel = join('.reg', 'cache', 'files', 'md5', v1Manifest.slice(0, 2));
  execFileSync('mkdir', ['-p', join(c, rel)]);
  writeFileSync(join(c, rel, v1Manifest.slice(2)), readFileSync(join(fx.root, rel, v1Manifest.slice(2))));
  for (const [name, proxy] of [['half', halfBody], ['silent', silent]] as const) {
    await configureRemote(c, name, `s3://${s3.bucket}/team`, { 'endpoint-url': proxy.endpoint, 'path-style': 'true' }, { local: true });
  }
  return c;
}

/** Everything except the cache (which may keep verified objects and gain empty directories) and reg's derived caches. */
const outsideCache = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.startsWith('.reg/cache') && !k.startsWith('.reg/tmp')));

interface Scene {
  clone: string;
  out: string;
  before: { clone: Record<string, string>; sentinel: Record<string, string>; bucket: Record<string, string> };
}

async function scene(): Promise<Scene> {
  const clone = await freshClone();
  const out = tempDir('reg-int-out-');
  return { clone, out, before: { clone: outsideCache(snapshotTree(clone)), sentinel: snapshotTree(sentinel), bucket: snapshotTree(s3.directory) } };
}

/** The checks every interrupted run must pass. */
function expectCleanInterrupt(r: Interrupted, s: Scene): void {
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toContain('interrupted');
  expect(r.stderr).not.toMatch(/internal error/i);
  // Bounded, never a speed: within the grace period reg exits at once anyway, so a slow stop would leave temp files.
  expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
  expect(tempPathsUnder(s.clone)).toEqual([]);
  expect(tempPathsUnder(s.out)).toEqual([]);
  expect(outsideCache(snapshotTree(s.clone))).toEqual(s.before.clone);
  // Nothing but empty directories was added to the cache, apart from whole objects that verified.
  expect(snapshotTree(sentinel)).toEqual(s.before.sentinel);
  expect(snapshotTree(s.out)).toEqual({ '': 'dir 700' });
  expect(snapshotTree(s3.directory)).toEqual(s.before.bucket);
}

function cleanup(s: Scene): void {
  removeDir(s.clone);
  removeDir(s.out);
}

describe('Ctrl-C mid-download from a remote that stalls half-way through every body', () => {
  it('get of a directory: exit 130, no temp file, no output; the re-run completes', async () => {
    const s = await scene();
    try {
      const dest = join(s.out, 'pages');
      const r = await interruptWhen(s.clone, ['get', PAGES, '--rev', 'v1', '-r', 'half', '-o', dest], () => hasTemp(join(s.clone, '.reg', 'cache')), env);
      expectCleanInterrupt(r, s);
      await regOk(s.clone, ['get', PAGES, '--rev', 'v1', '-r', 's3', '-o', dest], { env });
      expect(readFileSync(join(dest, 'big.bin')).equals(BIG)).toBe(true);
      expect(filesUnder(dest)).toEqual(['a.txt', 'big.bin', 'sub/b.txt']);
    } finally {
      cleanup(s);
    }
  }, 120_000);

  it('get of one file: exit 130, no temp file, no output; the re-run completes', async () => {
    const s = await scene();
    try {
      const dest = join(s.out, 'big.bin');
      const r = await interruptWhen(s.clone, ['get', `${PAGES}/big.bin`, '--rev', 'v1', '-r', 'half', '-o', dest], () => hasTemp(join(s.clone, '.reg', 'cache')), env);
      expectCleanInterrupt(r, s);
      await regOk(s.clone, ['get', `${PAGES}/big.bin`, '--rev', 'v1', '-r', 's3', '-o', dest], { env });
      expect(readFileSync(dest).equals(BIG)).toBe(true);
    } finally {
      cleanup(s);
    }
  }, 120_000);

  it('restore: exit 130, no temp file, pointer and data untouched; the re-run completes', async () => {
    const s = await scene();
    try {
      const r = await interruptWhen(s.clone, ['restore', PAGES, '--rev', 'v1', '-r', 'half'], () => hasTemp(join(s.clone, '.reg', 'cache')), env);
      expectCleanInterrupt(r, s);
      await regOk(s.clone, ['restore', PAGES, '--rev', 'v1', '-r', 's3'], { env });
      expect(readFileSync(join(s.clone, PAGES, 'big.bin')).equals(BIG)).toBe(true);
      expect(readFileSync(join(s.clone, `${PAGES}.dvc`))).toEqual(Buffer.from(git(fx.root, 'show', `v1:${PAGES}.dvc`)));
    } finally {
      cleanup(s);
    }
  }, 120_000);

  it('export fetching the files the cache lacks: exit 130, no temp file, no release; the re-run completes and verifies', async () => {
    const s = await scene();
    try {
      const r = await interruptWhen(s.clone, ['export', PAGES, '--rev', 'v1', '-r', 'half', '-o', s.out], () => hasTemp(join(s.clone, '.reg', 'cache')), env);
      expectCleanInterrupt(r, s);
      await regOk(s.clone, ['export', PAGES, '--rev', 'v1', '-r', 's3', '-o', s.out], { env });
      expect(execFileSync('md5sum', ['-c', 'MD5SUMS'], { cwd: join(s.out, 'pages-v1'), encoding: 'utf8' })).toContain('data/big.bin: OK');
    } finally {
      cleanup(s);
    }
  }, 120_000);
});

describe('Ctrl-C while a remote that never answers holds the request', () => {
  const silentCases: Array<[string, (out: string) => string[], (c: string, out: string) => Promise<void>]> = [
    ['share', (out) => ['share', PAGES, '--rev', 'v1', '-r', 'silent', '-o', out], async (c, out) => {
      await regOk(c, ['share', PAGES, '--rev', 'v1', '-r', 's3', '-o', out], { env });
      expect(readFileSync(join(out, 'links.tsv'), 'utf8').trim().split('\n')).toHaveLength(4);
    }],
    ['gc --remote --yes', () => ['gc', '--remote', 'silent', '--yes'], async (c) => {
      await regOk(c, ['gc', '--remote', 's3'], { env });
    }],
    ['verify --remote', () => ['verify', '--remote', 'silent'], async (c) => {
      await regOk(c, ['fetch', '-r', 's3'], { env });
      await regOk(c, ['verify', '--remote', 's3'], { env });
    }],
    ['verify --remote --all-commits', () => ['verify', '--remote', 'silent', '--all-commits'], async (c) => {
      await regOk(c, ['verify', '--remote', 's3', '--all-commits'], { env });
    }],
    ['catalog publish', () => ['catalog', 'publish', '-r', 'silent'], async (c) => {
      const done = JSON.parse((await regOk(c, ['catalog', 'publish', '-r', 's3', '--json'], { env })).stdout) as { uploaded: string[]; files: number };
      expect(done.uploaded).toHaveLength(done.files);
    }],
  ];
  for (const [what, args, rerun] of silentCases) {
    it(`${what}: exit 130, nothing written or deleted; the re-run completes`, async () => {
      const s = await scene();
      try {
        const seen = silent.stats.requests;
        const r = await interruptWhen(s.clone, args(s.out), () => silent.stats.requests > seen, env);
        expectCleanInterrupt(r, s);
        await rerun(s.clone, s.out);
      } finally {
        cleanup(s);
      }
    }, 120_000);
  }
});

describe('Ctrl-C of the read-only history commands while the remote holds the manifest request', () => {
  // The clone's cache holds only the v1 manifest: each command must fetch v2's (or ask the remote
  // which versions it holds), and the signal lands while that request hangs. A read-only command
  // writes nothing: not the work tree, not the index, no temp file, no half manifest in the cache.
  const readOnlyCases: Array<[string, string[], string[], (out: string) => void]> = [
    ['log --remote', ['log', PAGES, '-r', 'silent'], ['log', PAGES, '-r', 's3'], (out) => expect(out).toContain('pages v2')],
    ['diff of v1 and HEAD', ['diff', 'v1', 'HEAD', PAGES, '-r', 'silent'], ['diff', 'v1', 'HEAD', PAGES, '-r', 's3'], (out) => expect(out).toContain(`${PAGES}: modified: +1 file, -1 file`)],
    ['ls -R of the version the work tree names', ['ls', '-R', PAGES, '-r', 'silent'], ['ls', '-R', PAGES, '-r', 's3'], (out) => expect([out.includes('c.txt'), out.includes('b.txt'), out.includes('big.bin')]).toEqual([true, true, false])],
  ];
  for (const [what, args, rerun, check] of readOnlyCases) {
    it(`${what}: exit 130, nothing written (work tree, index, cache); the re-run completes`, async () => {
      const s = await scene();
      try {
        const status = git(s.clone, 'status', '--porcelain', '--untracked-files=all', '--ignored');
        const index = readFileSync(join(s.clone, '.git', 'index'));
        const cacheFiles = filesUnder(join(s.clone, '.reg', 'cache'));
        const seen = silent.stats.requests;
        const r = await interruptWhen(s.clone, args, () => silent.stats.requests > seen, env);
        expectCleanInterrupt(r, s);
        expect(git(s.clone, 'status', '--porcelain', '--untracked-files=all', '--ignored')).toBe(status);
        expect(readFileSync(join(s.clone, '.git', 'index')).equals(index)).toBe(true);
        // Not even a verified object: the cache holds exactly what it held (at most empty directories more).
        expect(filesUnder(join(s.clone, '.reg', 'cache'))).toEqual(cacheFiles);
        check((await regOk(s.clone, rerun, { env })).stdout);
      } finally {
        cleanup(s);
      }
    }, 120_000);
  }
});

describe('Ctrl-C of reg check --ci while the remote holds its first request', () => {
  it('exit 130, nothing written (work tree, index, cache, remote); the re-run against the answering remote completes', async () => {
    const s = await scene();
    try {
      // The check asks the default remote: the silent one, set only in this clone.
      await regOk(s.clone, ['remote', 'default', '--local', 'silent']);
      s.before.clone = outsideCache(snapshotTree(s.clone));
      const index = readFileSync(join(s.clone, '.git', 'index'));
      const cacheFiles = filesUnder(join(s.clone, '.reg', 'cache'));
      const seen = silent.stats.requests;
      const r = await interruptWhen(s.clone, ['check', '--ci', '--range', `${'0'.repeat(40)}..HEAD`], () => silent.stats.requests > seen, env);
      expectCleanInterrupt(r, s);
      expect(readFileSync(join(s.clone, '.git', 'index')).equals(index)).toBe(true);
      expect(filesUnder(join(s.clone, '.reg', 'cache'))).toEqual(cacheFiles);
      await regOk(s.clone, ['remote', 'default', '--local', 's3']);
      const again = JSON.parse((await regOk(s.clone, ['check', '--ci', '--range', `${'0'.repeat(40)}..HEAD`, '--json'], { env })).stdout) as { ci: { missing: number; pointers: number } };
      expect(again.ci.missing).toBe(0);
      expect(again.ci.pointers).toBeGreaterThan(0);
    } finally {
      cleanup(s);
    }
  }, 120_000);
});

describe('Ctrl-C while writing locally', () => {
  let repo: string;
  beforeAll(async () => {
    repo = makeGitRepo();
    await regOk(repo, ['init']);
    writeTree(repo, { [`${PAGES}.card.md`]: PAGES_CARD, [`${PAGES}/a.txt`]: 'alpha\n' });
    sparseFile(join(repo, PAGES, 'huge.bin'), 768 << 20);
    await regOk(repo, ['add', PAGES]);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'pages with a large file');
  }, 240_000);
  afterAll(() => removeDir(repo));

  it('export copying a large object: exit 130, the temp release removed, nothing at the destination; the re-run completes', async () => {
    const out = tempDir('reg-int-out-');
    const before = { repo: snapshotTree(repo), sentinel: snapshotTree(sentinel) };
    try {
      const r = await interruptWhen(repo, ['export', PAGES, '-o', out], () => existsSync(out) && readdirSync(out).some((n) => isTempName(n) && existsSync(join(out, n, 'data', 'huge.bin'))));
      expect(r.code, r.stderr).toBe(130);
      expect(tempPathsUnder(out)).toEqual([]);
      expect(readdirSync(out)).toEqual([]);
      expect(snapshotTree(repo)).toEqual(before.repo);
      expect(snapshotTree(sentinel)).toEqual(before.sentinel);
      await regOk(repo, ['export', PAGES, '-o', out]);
      const [bundle] = readdirSync(out);
      expect(bundle).toMatch(/^pages-/);
      expect(execFileSync('md5sum', ['-c', 'MD5SUMS'], { cwd: join(out, bundle!), encoding: 'utf8' })).toContain('data/huge.bin: OK');
    } finally {
      removeDir(out);
    }
  }, 240_000);
});

describe('Ctrl-C under local gc --yes', () => {
  it('mid-deletion of many objects: exit 130, every referenced object present and verifying, no temp file; the re-run finishes', async () => {
    const repo = makeGitRepo();
    try {
      await regOk(repo, ['init']);
      const kept = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`raw_datasets/kept/k${i}.txt`, `kept ${i}\n`]));
      writeTree(repo, kept);
      await regOk(repo, ['add', 'raw_datasets/kept']);
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'kept');
      // 4,000 objects no version refers to: added, never committed, pointer and data removed.
      writeTree(repo, Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`raw_datasets/gone/g${i}.txt`, `gone ${i}\n`])));
      await regOk(repo, ['add', 'raw_datasets/gone']);
      const goneManifest = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(repo, 'raw_datasets/gone.dvc'), 'utf8'))![1]!;
      rmSync(join(repo, 'raw_datasets/gone.dvc'));
      rmSync(join(repo, 'raw_datasets/gone'), { recursive: true });
      const objects = join(repo, '.reg', 'cache', 'files', 'md5');
      const objectPath = (oid: string) => join(objects, oid.slice(0, 2), oid.slice(2));
      const keptOids = [/md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(repo, 'raw_datasets/kept.dvc'), 'utf8'))![1]!, ...Object.values(kept).map((c) => md5(c))];
      const goneOids = Array.from({ length: 4000 }, (_, i) => md5(`gone ${i}\n`));
      expect(goneOids.every((o) => existsSync(objectPath(o)))).toBe(true);
      const before = { git: snapshotTree(join(repo, '.git')), sentinel: snapshotTree(sentinel) };

      // gc deletes the manifests first: once the unreferenced one is gone, the deletion is under way.
      const r = await interruptWhen(repo, ['gc', '--yes', '--grace', '0'], () => !existsSync(objectPath(goneManifest)));
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain('interrupted');
      expect(r.stderr).not.toMatch(/internal error/i);
      const left = goneOids.filter((o) => existsSync(objectPath(o))).length;
      // Stopped mid-way: some unreferenced objects are still there.
      expect(left).toBeGreaterThan(0);
      for (const [i, oid] of keptOids.entries()) {
        expect(existsSync(objectPath(oid)), oid).toBe(true);
        if (i > 0) expect(md5(readFileSync(objectPath(oid)))).toBe(oid);
      }
      expect(tempPathsUnder(repo)).toEqual([]);
      expect(snapshotTree(join(repo, '.git'))).toEqual(before.git);
      expect(snapshotTree(sentinel)).toEqual(before.sentinel);
      await regOk(repo, ['verify']);

      const again = JSON.parse((await regOk(repo, ['gc', '--yes', '--grace', '0', '--json'])).stdout) as { deleted: string[] };
      expect(again.deleted).toHaveLength(left);
      expect(goneOids.filter((o) => existsSync(objectPath(o)))).toEqual([]);
      expect(keptOids.every((o) => existsSync(objectPath(o)))).toBe(true);
      await regOk(repo, ['verify']);
    } finally {
      removeDir(repo);
    }
  }, 240_000);
});

describe('Ctrl-C under catalog build', () => {
  // The build asks the (default, silent) remote whether each entry is pushed before it writes a
  // file: the signal lands there, deterministically. (A build that fails while writing removes
  // what it wrote: see the disk-full tests.)
  it('catalog build --remote-status: exit 130, no site written; the re-run completes', async () => {
    const s = await scene();
    try {
      await configureRemote(s.clone, 'silent-default', `s3://${s3.bucket}/team`, { 'endpoint-url': silent.endpoint, 'path-style': 'true' }, { local: true, isDefault: true });
      s.before.clone = outsideCache(snapshotTree(s.clone));
      const seen = silent.stats.requests;
      const site = join(s.out, 'site');
      const r = await interruptWhen(s.clone, ['catalog', 'build', '--remote-status', '-o', site], () => silent.stats.requests > seen, env);
      expectCleanInterrupt(r, s);
      await regOk(s.clone, ['remote', 'modify', '--local', 'silent-default', 'endpoint-url', s3.endpoint], { env });
      const done = JSON.parse((await regOk(s.clone, ['catalog', 'build', '--remote-status', '-o', site, '--json'], { env })).stdout) as { written: number; files: number };
      expect(done.written).toBe(done.files);
    } finally {
      cleanup(s);
    }
  }, 120_000);
});

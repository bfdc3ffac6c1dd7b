import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitOnDay } from '../helpers/history-fixture.js';
import { PAGES, buildReleaseFixture, type ReleaseFixture } from '../helpers/release-fixture.js';
import { filesUnder, git, reg, regOk, removeDir, tempFilesUnder } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { errorOf, expectDiskFull, fillTo, isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { keepingGit, makeSentinel, snapshotTree } from './tree.js';

/**
 * A full disk (a tmpfs of 6 MiB) under the commands of issues 9-11 that write files: get -o,
 * restore, export -o, share -o and catalog build -o. Each exits 1 with `disk.no-space`, a message naming
 * ENOSPC and the path, leaves no temp file, presents nothing half-written as complete (the
 * output is absent, or for the catalog has no site index), and leaves the source registry and a
 * sentinel tree byte-identical. Mounting needs root: the tests skip, saying so, otherwise.
 */
let tmpfs: Tmpfs | undefined;
let big: ReleaseFixture;
let sentinel: string;
const BIG = 8 << 20;

/** v2 of PAGES drops big.bin: restoring v1 needs its bytes again. */
async function addSecondVersion(fx: ReleaseFixture): Promise<void> {
  rmSync(join(fx.root, PAGES, 'big.bin'));
  writeFileSync(join(fx.root, PAGES, 'b.txt'), 'second version\n');
  await regOk(fx.root, ['add', PAGES]);
  await regOk(fx.root, ['push']);
  commitOnDay(fx.root, 'pages v2: without big.bin', 2);
}

beforeAll(async () => {
  if (!isRoot) {
    console.warn('disk-full tests of the new commands skipped: they mount a tmpfs, which needs root');
    return;
  }
  tmpfs = mountTmpfs('6m');
  sentinel = makeSentinel();
  big = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'big.bin': randomBytes(BIG) });
  await addSecondVersion(big);
}, 120_000);
afterAll(() => {
  tmpfs?.unmount();
  for (const d of [big?.root, big?.remoteDir, big?.clone, sentinel]) if (d) removeDir(d);
});

interface Outcome {
  message: string;
  stderr: string;
}

/**
 * Runs `reg --json args` in `cwd`, expecting exit 1 with ENOSPC naming a path under `under`; checks
 * that the registry `guarded` (except its cache, which may keep verified objects), the sentinel
 * and the tmpfs hold no temp file and that the guarded trees are byte-identical.
 */
async function expectNoSpace(cwd: string, args: string[], under: string, guarded: string[], mayChange: string[] = []): Promise<Outcome> {
  const skipped = ['.reg/cache', '.reg/tmp', ...mayChange];
  const strip = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !skipped.some((p) => k === p || k.startsWith(p + '/'))));
  const before = guarded.map((d) => strip(snapshotTree(d)));
  const sentinelBefore = snapshotTree(sentinel);
  const r = await reg(cwd, ['--json', ...args]);
  expectDiskFull(r, 'local', under);
  const e = errorOf(r.stdout);
  expect(tempFilesUnder(tmpfs!.dir)).toEqual([]);
  for (const d of guarded) expect(tempFilesUnder(d)).toEqual([]);
  guarded.forEach((d, i) => expect(strip(snapshotTree(d)), d).toEqual(before[i]));
  expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
  return { message: e.message, stderr: r.stderr };
}

describe.skipIf(!isRoot)('disk full (tmpfs of 6 MiB) under the new commands', () => {
  it('get -o of a directory bigger than the free space: exit 1 naming the output, no temp directory, no output', async () => {
    const out = join(tmpfs!.dir, 'pages');
    await expectNoSpace(big.root, ['get', PAGES, '--rev', 'v1', '-o', out], tmpfs!.dir, [big.root]);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('get -o of one file bigger than the free space: exit 1 naming the output, no partial file', async () => {
    const out = join(tmpfs!.dir, 'big.bin');
    await expectNoSpace(big.root, ['get', `${PAGES}/big.bin`, '--rev', 'v1', '-o', out], tmpfs!.dir, [big.root]);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('export -o of a release bigger than the free space: exit 1 naming the output, no release directory', async () => {
    const out = join(tmpfs!.dir, 'releases');
    await expectNoSpace(big.root, ['export', PAGES, '--rev', 'v1', '-o', out], tmpfs!.dir, [big.root]);
    expect(existsSync(join(out, 'pages-v1'))).toBe(false);
  }, 60_000);

  it('export --archive tar -o of a release bigger than the free space: exit 1, no release directory', async () => {
    const out = join(tmpfs!.dir, 'releases-tar');
    await expectNoSpace(big.root, ['export', PAGES, '--rev', 'v1', '--archive', 'tar', '-o', out], tmpfs!.dir, [big.root]);
    expect(existsSync(join(out, 'pages-v1'))).toBe(false);
  }, 60_000);

  it('restore in a clone on the full disk, objects bigger than the free space: exit 1 naming the cache, pointers and data untouched', async () => {
    const clone = join(tmpfs!.dir, 'clone');
    git(tmpfs!.dir, 'clone', '-q', big.root, 'clone');
    try {
      await expectNoSpace(clone, ['restore', PAGES, '--rev', 'v1'], join(clone, '.reg', 'cache'), [clone, big.root]);
    } finally {
      removeDir(clone);
    }
  }, 60_000);

  // The data directory may hold the files written before the disk filled (ignored by Git, their
  // bytes in the cache); the pointer, which says which version the entry is at, is put back.
  it('restore whose objects fit in the cache but not again in the work tree: exit 1 naming the work-tree file, the pointer put back', async () => {
    const mid = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'big.bin': randomBytes(4 << 20) });
    const clone = join(tmpfs!.dir, 'clone-mid');
    try {
      await addSecondVersion(mid);
      git(tmpfs!.dir, 'clone', '-q', mid.root, 'clone-mid');
      const pointer = readFileSync(join(clone, `${PAGES}.dvc`));
      const r = await expectNoSpace(clone, ['restore', PAGES, '--rev', 'v1'], join(clone, PAGES), [clone, mid.root], [PAGES]);
      expect(readFileSync(join(clone, `${PAGES}.dvc`)).equals(pointer)).toBe(true);
      expect(r.stderr).toContain(`the pointers of ${PAGES} were put back`);
    } finally {
      removeDir(clone);
      for (const d of [mid.root, mid.remoteDir, mid.clone]) removeDir(d);
    }
  }, 60_000);

  it('catalog build -o on a disk with a few KiB free: exit 1 naming the output, no file of the half-built site left; the re-run into the same directory completes', async () => {
    const out = join(tmpfs!.dir, 'site');
    const unfill = fillTo(tmpfs!.dir, 16 << 10);
    try {
      await expectNoSpace(big.root, ['catalog', 'build', '-o', out], out, [big.root]);
      // The files written before the disk filled are removed again: no half site.
      expect(filesUnder(out)).toEqual([]);
    } finally {
      unfill();
    }
    // With the space back, the same build into the same directory completes.
    try {
      await regOk(big.root, ['catalog', 'build', '-o', out]);
      expect(existsSync(join(out, '.reg-catalog.json'))).toBe(true);
    } finally {
      removeDir(out);
    }
  }, 60_000);
});

describe.skipIf(!isRoot)('a full directory remote under catalog publish', () => {
  it('catalog publish to a directory remote on a disk with a few KiB free: exit 4 naming the remote and the fix, no temp file, no site marker (nothing presented as published); the re-run completes', async () => {
    const remote = join(tmpfs!.dir, 'catalog-remote');
    await regOk(big.root, ['remote', 'add', 'full', remote, '--local']);
    const unfill = fillTo(tmpfs!.dir, 16 << 10);
    try {
      expectDiskFull(await keepingGit(big.root, () => reg(big.root, ['--json', 'catalog', 'publish', '-r', 'full'])), 'remote', remote);
      expect(tempFilesUnder(tmpfs!.dir)).toEqual([]);
      // The marker is the publish's commit point: written last, so absent.
      expect(existsSync(join(remote, 'catalog', '.reg-catalog.json'))).toBe(false);
    } finally {
      unfill();
    }
    try {
      const done = JSON.parse((await keepingGit(big.root, () => regOk(big.root, ['catalog', 'publish', '-r', 'full', '--json']))).stdout) as { files: number; unchanged: number };
      // Pages that arrived before the disk filled are not sent again.
      expect(done.unchanged).toBeGreaterThan(0);
      expect(filesUnder(join(remote, 'catalog'))).toHaveLength(done.files);
    } finally {
      removeDir(remote);
      await regOk(big.root, ['remote', 'remove', 'full']);
    }
  }, 60_000);
});

describe.skipIf(!isRoot)('disk full under share -o', () => {
  let s3: S3Server;
  let fx: ReleaseFixture;
  let env: Record<string, string>;
  beforeAll(async () => {
    s3 = await startS3Server('share-full');
    env = { ...s3.env, AWS_EC2_METADATA_DISABLED: 'true' };
    fx = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'c.bin': randomBytes(64 << 10) });
    await regOk(fx.root, ['remote', 'add', 's3', `s3://${s3.bucket}/team`, '--local'], { env });
    await regOk(fx.root, ['remote', 'modify', '--local', 's3', 'endpoint-url', s3.endpoint], { env });
    await regOk(fx.root, ['remote', 'modify', '--local', 's3', 'path-style', 'true'], { env });
    await regOk(fx.root, ['push', '-r', 's3'], { env });
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
    for (const d of [fx?.root, fx?.remoteDir, fx?.clone]) if (d) removeDir(d);
  });

  // No room at all, and room for links.tsv but not for download.sh: either way neither file is
  // left (a links.tsv alone would make the re-run refuse with "already exists").
  for (const [what, free] of [['no space at all', 0], ['room for links.tsv only', 4096]] as const) {
    it(`${what}: exit 1 naming the output, neither links.tsv nor download.sh left; the re-run without --force completes`, async () => {
      const out = join(tmpfs!.dir, 'share');
      const unfill = fillTo(tmpfs!.dir, free);
      try {
        expectDiskFull(await keepingGit(fx.root, () => reg(fx.root, ['--json', 'share', PAGES, '--rev', 'v1', '-r', 's3', '-o', out], { env })), 'local', out);
        expect(filesUnder(out)).toEqual([]);
        expect(tempFilesUnder(tmpfs!.dir)).toEqual([]);
      } finally {
        unfill();
      }
      try {
        await keepingGit(fx.root, () => regOk(fx.root, ['share', PAGES, '--rev', 'v1', '-r', 's3', '-o', out], { env }));
        expect(filesUnder(out)).toEqual(['download.sh', 'links.tsv']);
        expect(readFileSync(join(out, 'links.tsv'), 'utf8').trim().split('\n')).toHaveLength(4);
      } finally {
        removeDir(out);
      }
    }, 120_000);
  }
});

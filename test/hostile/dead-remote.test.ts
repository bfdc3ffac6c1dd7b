import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { IMAGES, MODEL, buildHistoryFixture, type HistoryFixture } from '../helpers/history-fixture.js';
import { PAGES, buildReleaseFixture, copyObjectToClone, type ReleaseFixture } from '../helpers/release-fixture.js';
import { configureRemote } from '../helpers/remote-config.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * The commands that reach a remote against an S3 remote nobody answers (a closed port) and one
 * that accepts connections but never answers (the stall proxy): each exits 4 (a remote failure,
 * never "internal error") within the retry budget, with a message naming the remote and a hint,
 * writes nothing at its output or in the cache (at most empty object directories), deletes
 * nothing, and leaves the work tree, .git and a sentinel tree outside the repository
 * byte-identical.
 */
const ENV = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };

/** The cache, and reg's derived caches under .reg/tmp (sizes of manifests read), may gain entries; nothing else may change. */
const withoutCache = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.startsWith('.reg/cache') && !k.startsWith('.reg/tmp')));

let fx: HistoryFixture;
let remoteDir: string;
let clone: string;
let release: ReleaseFixture;
let sentinel: string;
let stall: StallProxy;
let closedPort: number;

/**
 * The retry budgets (seconds). What these tests check is exit 4 within the budget, naming the
 * remote, with nothing written: not the budget's length, so the shortest budgets that still
 * retry keep each command from waiting longer than that needs. A closed port refuses at once, so
 * one second still means several attempts; a stalled endpoint takes read-timeout (1 s) per
 * attempt, so two seconds allow a retry.
 */
const BUDGET = { dead: '1', stalled: '2' } as const;

/**
 * Makes `name` a local S3 remote of `repo` at `endpoint` with the retry budget `budget` (and short
 * timeouts), written as `reg remote add --local` and `reg remote modify --local` write it.
 */
async function addUnreachableRemote(repo: string, name: string, endpoint: string, isDefault: boolean, budget: string): Promise<void> {
  await configureRemote(repo, name, 's3://bucket/x', { 'endpoint-url': endpoint, 'retry-budget': budget, 'read-timeout': '1', 'connect-timeout': '1' }, { local: true, isDefault });
}

beforeAll(async () => {
  remoteDir = tempDir('reg-dead-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  clone = tempDir('reg-dead-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
  sentinel = makeSentinel();
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  // Every request is read and never answered.
  stall = await startStallProxy({ upstream: `http://127.0.0.1:${closedPort}`, every: 1, offset: 0, mode: 'headers' });
  // The clone's only way to the data is a dead endpoint (the local config overrides the tracked remote).
  await configureRemote(clone, 'dead', 's3://bucket/x', { 'endpoint-url': `http://127.0.0.1:${closedPort}`, 'retry-budget': BUDGET.dead }, { local: true, isDefault: true });

  // The publishing commands: a clone whose cache holds the manifest of PAGES but none of its files.
  release = await buildReleaseFixture({ 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n', 'c.bin': Buffer.alloc(4096, 3) });
  copyObjectToClone(release, release.manifest);
  await addUnreachableRemote(release.clone, 'dead', `http://127.0.0.1:${closedPort}`, true, BUDGET.dead);
  await addUnreachableRemote(release.clone, 'stalled', stall.endpoint, false, BUDGET.stalled);
}, 240_000);
afterAll(async () => {
  await stall?.close();
  for (const d of [fx?.root, remoteDir, clone, sentinel, release?.root, release?.remoteDir, release?.clone]) if (d) removeDir(d);
});

/** Runs reg in `repo`, asserts exit 4 naming `remote` within the budget, and that nothing was written anywhere. */
async function expectRemoteFailure(repo: string, args: string[], remote: string, out: string): Promise<string> {
  const before = { repo: snapshotTree(repo), sentinel: snapshotTree(sentinel), out: snapshotTree(out) };
  const started = Date.now();
  const r = await reg(repo, args, { env: ENV });
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).not.toMatch(/internal error/i);
  // Parallel requests all listening on Ctrl-C are no leak: Node must not warn about one.
  expect(r.stderr).not.toMatch(/MaxListenersExceeded/);
  expect(r.stderr).toMatch(new RegExp(`remote "?${remote}"?`));
  expect(r.stderr).toMatch(/hint: /);
  expect(Date.now() - started).toBeLessThan(60_000);
  // The cache may have gained empty directories for the objects it tried to fetch; never a file.
  const after = snapshotTree(repo);
  expect(Object.entries(after).filter(([k, v]) => k.startsWith('.reg/cache') && !before.repo[k] && !v.startsWith('dir '))).toEqual([]);
  expect(withoutCache(after)).toEqual(withoutCache(before.repo));
  expect(snapshotTree(sentinel)).toEqual(before.sentinel);
  expect(snapshotTree(out)).toEqual(before.out);
  return r.stderr;
}

describe('a dead remote under the history commands', () => {
  const cases: Array<[string, (out: string) => string[]]> = [
    ['get of a directory entry', (out) => ['get', IMAGES, '--rev', 'v2', '-r', 'dead', '-o', join(out, 'images')]],
    ['get of a single-file entry', (out) => ['get', MODEL, '--rev', 'v2', '-r', 'dead', '-o', join(out, 'model.bin')]],
    ['restore', () => ['restore', IMAGES, '--rev', 'v2', '-r', 'dead']],
    ['ls of a manifest the cache lacks', () => ['ls', IMAGES, '--rev', 'v2', '-r', 'dead']],
    ['diff of two versions whose manifests the cache lacks', () => ['diff', 'v1', 'v2', IMAGES, '-r', 'dead']],
    ['log --remote (which versions still have their data)', () => ['log', IMAGES, '-r', 'dead']],
  ];
  for (const [what, args] of cases) {
    it(`${what}: exit 4 within the budget, nothing written anywhere`, async () => {
      const out = tempDir('reg-dead-out-');
      try {
        await expectRemoteFailure(clone, args(out), 'dead', out);
      } finally {
        removeDir(out);
      }
    }, 120_000);
  }
});

describe('a dead or stalled remote under the publishing, gc and verify commands', () => {
  const cases: Array<[string, (remote: string, out: string) => string[]]> = [
    ['export (files missing from the cache)', (r, out) => ['export', PAGES, '--rev', 'v1', '-r', r, '-o', out]],
    // Presigning needs no network, but share first checks that every object is on the remote:
    // links to objects nobody could confirm are refused rather than written.
    ['share', (r, out) => ['share', PAGES, '--rev', 'v1', '-r', r, '-o', out]],
    ['gc --remote (dry run)', (r) => ['gc', '--remote', r]],
    ['gc --remote --yes', (r) => ['gc', '--remote', r, '--yes']],
    ['verify --remote', (r) => ['verify', '--remote', r]],
    ['verify --remote --all-commits', (r) => ['verify', '--remote', r, '--all-commits']],
    ['catalog publish', (r) => ['catalog', 'publish', '-r', r]],
    ['catalog publish --dry-run', (r) => ['catalog', 'publish', '-r', r, '--dry-run']],
  ];
  for (const remote of ['dead', 'stalled']) {
    for (const [what, args] of cases) {
      it(`${what} against the ${remote} remote: exit 4 within the budget naming the remote, nothing written or deleted`, async () => {
        const out = tempDir('reg-dead-out-');
        try {
          await expectRemoteFailure(release.clone, args(remote, out), remote, out);
        } finally {
          removeDir(out);
        }
      }, 120_000);
    }
  }
});

// `reg catalog build --remote-status` asks each entry's remote (its default remote here) whether
// the current version is pushed: against a closed port or a remote that never answers, the build
// stops with exit 4 naming the remote before a file of the site is written, in a new output
// directory (not even created) as over a site an earlier build left (kept byte for byte).
describe('a dead or stalled remote under catalog build --remote-status', () => {
  const clones = new Map<string, string>();
  beforeAll(async () => {
    for (const [remote, endpoint] of [['dead', `http://127.0.0.1:${closedPort}`], ['stalled', stall.endpoint]] as const) {
      const dir = tempDir(`reg-catalog-${remote}-`);
      git(dir, 'clone', '-q', release.root, '.');
      // These tests also assert "giving up after N attempts" (plural): budgets with a margin of
      // seconds over one attempt, so a retry happens however slow the machine.
      await addUnreachableRemote(dir, remote, endpoint, true, remote === 'dead' ? '2' : '3');
      clones.set(remote, dir);
    }
  }, 120_000);
  afterAll(() => {
    for (const d of clones.values()) removeDir(d);
  });

  for (const remote of ['dead', 'stalled']) {
    it(`into a new output directory against the ${remote} remote: exit 4 within the budget naming the remote, no directory made`, async () => {
      const out = tempDir('reg-dead-out-');
      try {
        const stderr = await expectRemoteFailure(clones.get(remote)!, ['catalog', 'build', '--remote-status', '-o', join(out, 'site')], remote, out);
        // The server it could not reach, and what to check or change.
        expect(stderr).toMatch(/cannot reach the server: giving up after \d+ attempts/);
        expect(stderr).toMatch(remote === 'dead' ? /hint: check that the server at http:\/\/127\.0\.0\.1:\d+ is running/ : /hint: the connection to http:\/\/127\.0\.0\.1:\d+ broke or stalled: .*read-timeout/);
      } finally {
        removeDir(out);
      }
    }, 120_000);

    it(`over an earlier site against the ${remote} remote: exit 4, the site left as it was, no temp file`, async () => {
      const out = tempDir('reg-dead-out-');
      try {
        const repo = clones.get(remote)!;
        await regOk(repo, ['catalog', 'build', '-o', join(out, 'site')], { env: ENV });
        const site = snapshotTree(join(out, 'site'));
        expect(Object.keys(site)).toContain('index.html');
        // A later commit changes the card, so a build that got through would rewrite pages.
        writeFileSync(join(repo, `${PAGES}.card.md`), readFileSync(join(repo, `${PAGES}.card.md`), 'utf8') + '\nA later paragraph.\n');
        git(repo, 'commit', '-q', '-am', 'card: a later paragraph');
        try {
          await expectRemoteFailure(repo, ['catalog', 'build', '--remote-status', '-o', join(out, 'site')], remote, out);
        } finally {
          git(repo, 'reset', '-q', '--hard', 'HEAD~1');
        }
      } finally {
        removeDir(out);
      }
    }, 120_000);
  }
});

describe('a dead or stalled remote under reg batch', () => {
  it('push and sync-push jobs to the closed port and a push job to the stalled endpoint fail with a transfer error in the results file, within the budget; the other jobs finish; exit 1', async () => {
    const root = tempDir('reg-dead-batch-');
    try {
      const repo = join(root, 'repo');
      const incoming = join(root, 'incoming');
      renameSync(makeGitRepo(), repo);
      await regOk(repo, ['init']);
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'registry');
      await addUnreachableRemote(repo, 'dead', `http://127.0.0.1:${closedPort}`, true, BUDGET.dead);
      await addUnreachableRemote(repo, 'stalled', stall.endpoint, false, BUDGET.stalled);
      const names = ['small-01', 'pushed-dead', 'run-dead', 'pushed-stalled', 'small-02'];
      for (const n of names) writeTree(join(incoming, n), { 'a.txt': `${n} a\n`, 'sub/b.txt': `${n} b\n` });
      mkdirSync(join(root, 'jobs'));
      const file = join(root, 'jobs', 'jobs.csv');
      writeFileSync(
        file,
        [
          'action,entry,area,source,import,remote',
          `add,small-01,raw_datasets,${join(incoming, 'small-01')},copy,`,
          `push,pushed-dead,raw_datasets,${join(incoming, 'pushed-dead')},copy,dead`,
          `sync-push,run-dead,processed_datasets,${join(incoming, 'run-dead')},copy,dead`,
          `push,pushed-stalled,raw_datasets,${join(incoming, 'pushed-stalled')},copy,stalled`,
          `add,small-02,raw_datasets,${join(incoming, 'small-02')},copy,`,
        ].join('\n') + '\n',
      );
      const before = { git: snapshotTree(join(repo, '.git')), sentinel: snapshotTree(sentinel), incoming: snapshotTree(incoming) };
      // The dry run cannot ask the dead remote whether run-dead exists there: it says so for that row (exit 1), plans the others, changes nothing.
      const repoBefore = snapshotTree(repo);
      const dry = await reg(repo, ['batch', file, '--dry-run'], { env: ENV });
      expect(dry.code, dry.stderr).toBe(1);
      expect(dry.stdout).toMatch(/line 4: sync-push processed_datasets\/run-dead: cannot be planned: remote "?dead"?/);
      expect(dry.stdout).toContain('dry run: 4 jobs would run, 0 skipped, 1 cannot be planned');
      expect(snapshotTree(repo)).toEqual(repoBefore);
      const started = Date.now();
      const r = await reg(repo, ['batch', file, '-j', '1'], { env: ENV });
      expect(Date.now() - started).toBeLessThan(90_000);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/internal error/i);
      const rows = parse(readFileSync(join(root, 'jobs', 'jobs.results.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
      expect(rows.map((row) => [row.line, row.status, row.error])).toEqual([
        ['2', 'done', ''],
        ['3', 'failed', 'transfer'],
        ['4', 'failed', 'transfer'],
        ['5', 'failed', 'transfer'],
        ['6', 'done', ''],
      ]);
      for (const [row, remote] of [[rows[1]!, 'dead'], [rows[2]!, 'dead'], [rows[3]!, 'stalled']] as const) {
        expect(row.reason).toMatch(new RegExp(`remote "?${remote}"?`));
        // The fix, in the hint the reason ends with.
        expect(row.reason).toMatch(/\(.*(check|endpoint|network|retry|reachable).*\)$/i);
      }
      // What the add part legitimately did: both pushes' entries imported and added (pointer, cache), nothing else.
      for (const n of ['small-01', 'pushed-dead', 'pushed-stalled', 'small-02']) {
        expect(filesUnder(join(repo, 'raw_datasets', n))).toEqual(['a.txt', 'sub/b.txt']);
        expect(existsSync(join(repo, 'raw_datasets', `${n}.dvc`))).toBe(true);
      }
      // The sync-push job failed before its import: nothing of it in the work tree.
      expect(existsSync(join(repo, 'processed_datasets', 'run-dead'))).toBe(false);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(tempFilesUnder(join(root, 'jobs'))).toEqual([]);
      expect(snapshotTree(join(repo, '.git'))).toEqual(before.git);
      expect(snapshotTree(sentinel)).toEqual(before.sentinel);
      expect(snapshotTree(incoming)).toEqual(before.incoming);
    } finally {
      removeDir(root);
    }
  }, 180_000);
});

describe('a dead or stalled remote under reg sync push and pull', () => {
  let repo: string;
  beforeAll(async () => {
    repo = makeGitRepo();
    await regOk(repo, ['init']);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'registry');
    await addUnreachableRemote(repo, 'dead', `http://127.0.0.1:${closedPort}`, true, BUDGET.dead);
    await addUnreachableRemote(repo, 'stalled', stall.endpoint, false, BUDGET.stalled);
    writeTree(join(repo, 'processed_datasets', 'run-01'), { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n' });
  }, 120_000);
  afterAll(() => {
    if (repo) removeDir(repo);
  });

  for (const remote of ['dead', 'stalled']) {
    for (const direction of ['push', 'pull']) {
      it(`sync ${direction} against the ${remote} remote: exit 4 within the budget naming the remote, nothing written (no sync state, the entry as it was)`, async () => {
        const out = tempDir('reg-dead-out-');
        try {
          await expectRemoteFailure(repo, ['sync', direction, 'processed_datasets/run-01', '-r', remote], remote, out);
          expect(existsSync(join(repo, '.reg', 'tmp', 'sync'))).toBe(false);
        } finally {
          removeDir(out);
        }
      }, 120_000);
    }
  }
});

describe('a dead or stalled remote under a batch export job', () => {
  for (const remote of ['dead', 'stalled']) {
    it(`an export job that must fetch from the ${remote} remote: failed with a transfer error naming the remote and the fix in the results file, within the budget; the other job done; nothing written at the output`, async () => {
      const root = tempDir('reg-dead-batch-export-');
      try {
        const out = join(root, 'releases');
        const source = join(root, 'incoming', 'small');
        writeTree(source, { 'a.txt': 'a\n' });
        mkdirSync(join(root, 'jobs'));
        const file = join(root, 'jobs', 'jobs.csv');
        // The clone's cache holds the manifest of PAGES, none of its files: the export must fetch them.
        writeFileSync(file, ['action,entry,area,source,remote,rev,output', `export,${PAGES},,,${remote},v1,${out}`, `add,small,raw_datasets,${source},,,`].join('\n') + '\n');
        const before = { clone: withoutCache(snapshotTree(release.clone)), git: snapshotTree(join(release.clone, '.git')), sentinel: snapshotTree(sentinel) };
        const started = Date.now();
        const r = await reg(release.clone, ['batch', file, '-j', '1'], { env: ENV });
        expect(Date.now() - started).toBeLessThan(60_000);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).not.toMatch(/internal error/i);
        const rows = parse(readFileSync(join(root, 'jobs', 'jobs.results.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
        expect(rows.map((row) => [row.line, row.status, row.error])).toEqual([['2', 'failed', 'transfer'], ['3', 'done', '']]);
        expect(rows[0]!.reason).toMatch(new RegExp(`remote "?${remote}"?`));
        expect(rows[0]!.reason).toMatch(/\(.*(check|endpoint|network|retry|reachable).*\)$/i);
        expect(filesUnder(out)).toEqual([]);
        expect(tempFilesUnder(release.clone)).toEqual([]);
        expect(tempFilesUnder(root)).toEqual([]);
        // What the add job legitimately did (the entry, its pointer and .gitignore), nothing else.
        const added = new Set(['raw_datasets/small', 'raw_datasets/small/a.txt', 'raw_datasets/small.dvc', 'raw_datasets/.gitignore']);
        const after = Object.fromEntries(Object.entries(withoutCache(snapshotTree(release.clone))).filter(([k]) => !added.has(k)));
        expect(after).toEqual(Object.fromEntries(Object.entries(before.clone).filter(([k]) => !added.has(k))));
        expect(snapshotTree(join(release.clone, '.git'))).toEqual(before.git);
        expect(snapshotTree(sentinel)).toEqual(before.sentinel);
      } finally {
        removeDir(root);
        // Back to the clone as the other tests expect it.
        git(release.clone, 'checkout', '-q', '--', '.');
        git(release.clone, 'clean', '-qfdx', '-e', '.reg/');
      }
    }, 120_000);
  }
});

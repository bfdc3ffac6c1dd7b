import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { checkout } from '../../dist/ops/data/checkout.js';
import { gc, type GcResult } from '../../dist/ops/history/gc.js';
import { push } from '../../dist/ops/remote/push.js';
import { remoteModify } from '../../dist/ops/remote/remote.js';
import { sync } from '../../dist/ops/registry/sync.js';
import { setConfigValue } from '../../dist/config.js';
import { makeContext, type Context } from '../../dist/context.js';
import { parseManifest } from '../../dist/data/manifest.js';
import type { Backend } from '../../dist/store/backend.js';
import { expectRegError } from '../helpers/expect-error.js';
import { counting, CountingBackend, type BackendCall } from '../helpers/counting-backend.js';
import { filesUnder, git, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { snapshotTree } from '../hostile/tree.js';
import { buildHistoryFixture, CONTENT, IMAGES, md5, type HistoryFixture } from '../helpers/history-fixture.js';

const DAY = 86_400_000;
const key = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;
const textKey = (text: string) => key(md5(text));

/** Sets every file below `dir` to `days` days old. */
function age(dir: string, days: number): void {
  const t = (Date.now() - days * DAY) / 1000;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) utimesSync(p, t, t);
    }
  };
  if (existsSync(dir)) walk(dir);
}

function copyTree(from: string, prefix: string): string {
  const to = tempDir(prefix);
  execFileSync('cp', ['-a', `${from}/.`, to]);
  return to;
}

/** Adds a file entry with unique content and commits it; returns the content. */
async function commitEntry(ctx: Context, root: string, rel: string, text: string, message: string): Promise<void> {
  writeTree(root, { [rel]: text });
  await add(ctx, { targets: [rel] });
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', message);
}

let fx: HistoryFixture;
let remoteDir: string;

beforeAll(async () => {
  remoteDir = tempDir('reg-gc-remote-');
  fx = await buildHistoryFixture({ remoteDir });
}, 180_000);
afterAll(() => {
  removeDir(fx.root);
  removeDir(remoteDir);
});

describe('gc of the local cache: every protected class survives, only the unreachable old objects go', () => {
  let clone: string;
  let ctx: Context;
  let cacheDir: string;
  let dry: GcResult;
  let narrowed: GcResult;
  let done: GcResult;
  const audit: string[] = [];
  let cacheBefore: Record<string, string>;
  let cacheAfterDry: Record<string, string>;
  let remoteBefore: Record<string, string>;
  const GONE_X = 'gone x\n';
  const GONE_Y = 'gone y\n';
  let goneOid: string;
  let goneManifestSize: number;

  beforeAll(async () => {
    clone = tempDir('reg-gc-clone-');
    git(clone, 'clone', '-q', fx.root, '.');
    cacheDir = join(clone, '.reg', 'cache');
    execFileSync('cp', ['-a', join(fx.root, '.reg', 'cache'), cacheDir]);
    ctx = makeContext({ cwd: clone });
    await checkout(ctx, { targets: [] });
    // Only on a local branch.
    git(clone, 'checkout', '-q', '-b', 'solo');
    await commitEntry(ctx, clone, 'raw_datasets/solo.txt', 'only on branch solo\n', 'solo');
    git(clone, 'checkout', '-q', 'main');
    // Only on a tag (a detached commit).
    git(clone, 'checkout', '-q', '--detach');
    await commitEntry(ctx, clone, 'raw_datasets/tagged.txt', 'only on a tag\n', 'tagged');
    git(clone, 'tag', 'only-tag');
    git(clone, 'checkout', '-q', 'main');
    // Unreachable: a branch that was deleted (its commit only in the reflog).
    git(clone, 'checkout', '-q', '-b', 'doomed');
    writeTree(clone, { 'raw_datasets/gone/x.txt': GONE_X, 'raw_datasets/gone/y.txt': GONE_Y });
    await add(ctx, { targets: ['raw_datasets/gone'] });
    goneOid = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(clone, 'raw_datasets', 'gone.dvc'), 'utf8'))![1]!;
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'doomed');
    git(clone, 'checkout', '-q', 'main');
    git(clone, 'branch', '-q', '-D', 'doomed');
    rmSync(join(clone, 'raw_datasets', 'gone'), { recursive: true, force: true });
    // A stash: an edit that a forced checkout saved.
    writeTree(clone, { [`${IMAGES}/a.txt`]: 'an edit that was stashed\n' });
    await checkout(ctx, { targets: [IMAGES], force: true });
    // Only in the work tree (added, not committed).
    writeTree(clone, { 'raw_datasets/wip.txt': 'work in progress\n' });
    await add(ctx, { targets: ['raw_datasets/wip.txt'] });
    // Unreferenced objects: one old, one fresh.
    writeTree(cacheDir, { [textKey('old stray\n')]: 'old stray\n', [textKey('fresh stray\n')]: 'fresh stray\n' });
    age(cacheDir, 30);
    const now = Date.now() / 1000;
    utimesSync(join(cacheDir, textKey('fresh stray\n')), now, now);

    goneManifestSize = lstatSync(join(cacheDir, key(goneOid))).size;
    remoteBefore = snapshotTree(remoteDir);
    cacheBefore = snapshotTree(cacheDir);
    dry = await gc(ctx);
    narrowed = await gc(ctx, { workspace: true });
    cacheAfterDry = snapshotTree(cacheDir);
    done = await gc(ctx, { yes: true, onDelete: (k) => audit.push(k) });
  }, 180_000);
  afterAll(() => removeDir(clone));

  const doomedKeys = () => [key(goneOid), textKey(GONE_X), textKey(GONE_Y), textKey('old stray\n')];

  it('the dry run lists exactly the unreachable old objects, manifests first, and changes nothing', () => {
    expect(dry.dryRun).toBe(true);
    expect(dry.objects.map((o) => o.key)).toEqual([key(goneOid), ...[textKey(GONE_X), textKey(GONE_Y), textKey('old stray\n')].sort()]);
    expect(dry.count).toBe(4);
    expect(dry.objects[0]!.size).toBe(goneManifestSize);
    expect(dry.bytes).toBe(goneManifestSize + GONE_X.length + GONE_Y.length + 'old stray\n'.length);
    expect(dry.deleted).toEqual([]);
    expect(cacheAfterDry).toEqual(cacheBefore);
    expect(snapshotTree(remoteDir)).toEqual(remoteBefore);
    // What the objects belonged to, from the reflog.
    const x = dry.objects.find((o) => o.key === textKey(GONE_X))!;
    expect(x.usedBy).toEqual([{ entry: 'raw_datasets/gone', file: 'x.txt', version: expect.stringMatching(/^reflog [0-9a-f]{10}$/) }]);
    expect(dry.objects.find((o) => o.key === textKey('old stray\n'))!.usedBy).toEqual([]);
    expect(dry.kept.recent).toBe(1);
  });

  it('--yes deletes exactly what the dry run listed, through the one deleter, manifests before their files', () => {
    expect(done.deleted).toEqual(dry.objects.map((o) => o.key));
    expect(audit).toEqual(done.deleted);
    expect(audit[0]).toBe(key(goneOid));
    for (const k of doomedKeys()) expect(existsSync(join(cacheDir, k)), k).toBe(false);
    // Everything else is still there.
    const left = Object.keys(cacheBefore).filter((k) => !doomedKeys().includes(k));
    for (const k of left) expect(existsSync(join(cacheDir, k)), k).toBe(true);
  });

  it('a version only on a local branch survives', () => {
    expect(existsSync(join(cacheDir, textKey('only on branch solo\n')))).toBe(true);
  });

  it('a version only on a tag survives', () => {
    expect(existsSync(join(cacheDir, textKey('only on a tag\n')))).toBe(true);
  });

  it('a version only on a remote-tracking branch (origin/experiment) survives, manifest and files', () => {
    expect(existsSync(join(cacheDir, key(fx.imagesOid.exp)))).toBe(true);
    expect(existsSync(join(cacheDir, key(fx.modelOid.exp)))).toBe(true);
  });

  it('a stash survives', () => {
    expect(existsSync(join(cacheDir, textKey('an edit that was stashed\n')))).toBe(true);
  });

  it('a version only in the work tree survives', () => {
    expect(existsSync(join(cacheDir, textKey('work in progress\n')))).toBe(true);
  });

  it('an unreferenced object newer than the grace period survives', () => {
    expect(existsSync(join(cacheDir, textKey('fresh stray\n')))).toBe(true);
  });

  it('old versions in the history (the DVC 2 one too) survive', () => {
    expect(existsSync(join(cacheDir, key(fx.imagesOid.v0, true)))).toBe(true);
    expect(existsSync(join(cacheDir, key(fx.aLegacyMd5, true)))).toBe(true);
    expect(existsSync(join(cacheDir, key(md5(CONTENT.d))))).toBe(true);
  });

  it('a narrowed scope says which versions it no longer protects, and would delete their objects (but never the stash or the work tree\'s)', () => {
    expect(narrowed.scope.narrowed).toBe(true);
    const lost = narrowed.noLongerProtected.map((v) => `${v.entry} ${v.version}`);
    expect(lost).toContain(`${IMAGES} ${fx.commits.c1.slice(0, 10)} (tag: v0)`);
    expect(lost.some((l) => l.startsWith('raw_datasets/solo.txt '))).toBe(true);
    const keys = narrowed.objects.map((o) => o.key);
    expect(keys).toContain(key(fx.imagesOid.v0, true));
    expect(keys).toContain(textKey('only on branch solo\n'));
    expect(keys).not.toContain(textKey('an edit that was stashed\n'));
    expect(keys).not.toContain(textKey('work in progress\n'));
    expect(keys).not.toContain(key(fx.imagesOid.v1));
  });
});

/** A backend whose deletes fail after the first `n` (an interrupted gc). */
class FailingDeletes extends CountingBackend {
  private deletes = 0;
  constructor(inner: Backend, calls: BackendCall[], private readonly n: number) {
    super(inner, calls);
  }
  override async delete(key: string): Promise<void> {
    if (this.deletes++ >= this.n) throw new Error(`injected failure deleting ${key}`);
    return super.delete(key);
  }
}

/** Every `.dir` left on a directory remote lists only files that are there. */
function incompleteManifests(remote: string): string[] {
  const problems: string[] = [];
  for (const k of filesUnder(remote).filter((f) => f.endsWith('.dir'))) {
    const legacy = !k.startsWith('files/');
    for (const e of parseManifest(readFileSync(join(remote, k)), k)) {
      if (!existsSync(join(remote, key(e.md5, legacy)))) problems.push(`${k} lists ${e.relpath}, which is gone`);
    }
  }
  return problems;
}

describe('gc of a remote', () => {
  let origin: string;
  let remote: string;
  let pristine: string;
  let clone: string;
  let ctx: Context;
  const doomedFiles: string[] = [];
  const doomedManifests: string[] = [];

  beforeAll(async () => {
    // A copy of the fixture whose remote is a copy of its directory remote.
    origin = copyTree(fx.root, 'reg-gc-origin-');
    remote = copyTree(remoteDir, 'reg-gc-store-');
    const octx = makeContext({ cwd: origin });
    await remoteModify(octx, { name: 'store', option: 'url', value: remote });
    // Synced areas: one mirrored under its own prefix, one whose prefix is the objects' own layout.
    setConfigValue(join(origin, '.reg', 'config.yaml'), ['areas', 'shared'], { mode: 'synced' });
    git(origin, 'add', '-A');
    git(origin, 'commit', '-q', '-m', 'remote copy, a synced area');
    // Three directory versions pushed from branches that were then deleted.
    for (let i = 1; i <= 3; i++) {
      git(origin, 'checkout', '-q', '-b', `doomed${i}`);
      const files = { a: `doomed ${i} a\n`, b: `doomed ${i} b\n`, c: `doomed ${i} c\n` };
      writeTree(origin, Object.fromEntries(Object.entries(files).map(([n, t]) => [`raw_datasets/doomed${i}/${n}.txt`, t])));
      await add(octx, { targets: [`raw_datasets/doomed${i}`] });
      git(origin, 'add', '-A');
      git(origin, 'commit', '-q', '-m', `doomed ${i}`);
      await push(octx, { targets: [`raw_datasets/doomed${i}`] });
      doomedManifests.push(key(/md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(origin, 'raw_datasets', `doomed${i}.dvc`), 'utf8'))![1]!));
      doomedFiles.push(...Object.values(files).map(textKey));
      git(origin, 'checkout', '-q', 'main');
      git(origin, 'branch', '-q', '-D', `doomed${i}`);
    }
    writeTree(origin, { 'shared/table/rows.csv': 'a,b\n1,2\n' });
    await sync(octx, { direction: 'push', targets: ['shared/table'] });
    age(remote, 30);
    pristine = copyTree(remote, 'reg-gc-pristine-');
    clone = tempDir('reg-gc-remote-clone-');
    git(clone, 'clone', '-q', origin, '.');
    ctx = makeContext({ cwd: clone });
  }, 300_000);
  afterAll(() => [origin, remote, pristine, clone].forEach(removeDir));

  it('refuses while the remote-tracking branches are older than the grace period; a git fetch makes it possible', async () => {
    const logs = join(clone, '.git', 'logs', 'refs', 'remotes');
    age(logs, 30);
    const e = await expectRegError(gc(ctx, { remote: true }), 'gc.stale-refs', 5);
    expect(e.message).toContain('Git remote origin were last fetched 30 days ago');
    expect(e.hint).toContain('git fetch');
    git(clone, 'fetch', '-q', 'origin');
    const r = await gc(ctx, { remote: true });
    expect(r.gitRemotes).toEqual([expect.objectContaining({ name: 'origin', branches: 2 })]);
  });

  it('the dry run lists exactly the unreachable objects and changes nothing on the remote', async () => {
    const before = snapshotTree(remote);
    const cacheBefore = snapshotTree(join(clone, '.reg', 'cache'));
    const calls: BackendCall[] = [];
    const r = await gc(ctx, { remote: 'store', wrapBackend: counting(calls) });
    expect(r.target).toEqual({ kind: 'remote', name: 'store', location: remote });
    expect(r.objects.map((o) => o.key)).toEqual([...doomedManifests.sort(), ...doomedFiles.sort()]);
    expect(r.objects.every((o) => o.usedBy.length === 0)).toBe(true);
    // The experiment branch was never pushed: its manifest is nowhere, and said so.
    expect(r.unknownManifests.map((u) => u.version)).toEqual([expect.stringContaining('raw_datasets/images at ')]);
    expect(calls.filter((c) => c.op === 'delete' || c.op.startsWith('put'))).toEqual([]);
    expect(snapshotTree(remote)).toEqual(before);
    expect(snapshotTree(join(clone, '.reg', 'cache'))).toEqual(cacheBefore);
  });

  it('--yes deletes exactly the listed keys (manifests first), and nothing of the synced area', async () => {
    const listed = (await gc(ctx, { remote: true })).objects.map((o) => o.key);
    const calls: BackendCall[] = [];
    const audit: string[] = [];
    const r = await gc(ctx, { remote: true, yes: true, wrapBackend: counting(calls), onDelete: (k) => audit.push(k) });
    const deletes = calls.filter((c) => c.op === 'delete').map((c) => c.key);
    expect(deletes.sort()).toEqual([...listed].sort());
    expect(audit.sort()).toEqual([...listed].sort());
    expect(r.deleted.slice(0, 3).sort()).toEqual([...doomedManifests].sort());
    expect(filesUnder(join(remote, 'shared'))).toEqual(['table/.reg-sync.json', 'table/rows.csv']);
    for (const k of listed) expect(existsSync(join(remote, k))).toBe(false);
    // Every version still referenced is whole.
    expect(incompleteManifests(remote)).toEqual([]);
    expect(existsSync(join(remote, key(fx.imagesOid.v0, true)))).toBe(true);
    expect((await gc(ctx, { remote: true })).count).toBe(0);
  });

  it('an interrupted remote gc leaves every remaining manifest complete', async () => {
    for (const n of [1, 3, 5]) {
      rmSync(remote, { recursive: true, force: true });
      execFileSync('cp', ['-a', pristine, remote]);
      const calls: BackendCall[] = [];
      const e = await expectRegError(gc(ctx, { remote: true, yes: true, jobs: 1, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, wrapBackend: (b) => new FailingDeletes(b, calls, n) }), 'gc.delete-failed', 4);
      expect(e.message).toContain(`after deleting ${n} of 12 objects`);
      expect(calls.filter((c) => c.op === 'delete')).toHaveLength(n);
      expect(incompleteManifests(remote), `failing after ${n}`).toEqual([]);
    }
  });

  it('a synced area whose prefix is the objects\' own layout is never touched', async () => {
    rmSync(remote, { recursive: true, force: true });
    execFileSync('cp', ['-a', pristine, remote]);
    // areas.mirror.prefix = files/md5: entry `ab` with a 30-hex-digit file name looks exactly like an object.
    const name = '0123456789abcdef0123456789abcd';
    writeFileSync(join(clone, '.reg', 'config.local.yaml'), 'areas:\n  mirror:\n    mode: synced\n    prefix: files/md5\n');
    writeTree(clone, { [`mirror/ab/${name}`]: 'synced bytes\n' });
    await sync(ctx, { direction: 'push', targets: ['mirror/ab'] });
    age(join(remote, 'files', 'md5', 'ab'), 30);
    const r = await gc(ctx, { remote: true, yes: true });
    expect(r.deleted.filter((k) => k.startsWith('files/'))).toEqual([]);
    expect(readFileSync(join(remote, 'files', 'md5', 'ab', name), 'utf8')).toBe('synced bytes\n');
    rmSync(join(clone, '.reg', 'config.local.yaml'));
  });
});

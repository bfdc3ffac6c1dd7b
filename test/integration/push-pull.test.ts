import { existsSync, readFileSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { push } from '../../dist/ops/remote/push.js';
import { fetch } from '../../dist/ops/remote/fetch.js';
import { pull } from '../../dist/ops/remote/pull.js';
import { remoteStatus } from '../../dist/ops/remote/remote-status.js';
import { remoteAdd, remoteList, remoteModify, remoteRemove, remoteDefault } from '../../dist/ops/remote/remote.js';
import { makeContext, type Context } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import { FlakyBackend } from '../../dist/store/flaky.js';
import type { Backend, PutOptions } from '../../dist/store/backend.js';
import { md5Hex } from '../../dist/data/manifest.js';
import { git, makeGitRepo, removeDir, tempDir, writeTree, filesUnder, tempFilesUnder } from '../helpers/repo.js';
import { expectRegError } from '../helpers/expect-error.js';

const FAST_RETRY = { attempts: 8, baseDelayMs: 1, maxDelayMs: 5 };
/**
 * For the ~20% failure injection: a download attempt fails when the request does (0.2) or its body
 * is cut (0.8 x 0.2), 0.36 in all, so 8 attempts all failed for one of 64 objects in ~1.8% of runs
 * (0.36^8 x 64; seen once in CI). 16 attempts: ~5e-6 per run.
 */
const PATIENT_RETRY = { ...FAST_RETRY, attempts: 16 };

let repoA: string;
let repoB: string;
let remoteDir: string;
const ctxA = (extra: Partial<Context> = {}) => makeContext({ cwd: repoA, ...extra });
const ctxB = (extra: Partial<Context> = {}) => makeContext({ cwd: repoB, ...extra });

/** Every `.dir` manifest on the remote must have all of its files there (dvc-compat §5.2). */
function assertManifestsComplete(root: string): number {
  let checked = 0;
  for (const key of filesUnder(root)) {
    if (!key.endsWith('.dir')) continue;
    const entries = JSON.parse(readFileSync(join(root, key), 'utf8')) as Array<{ md5: string }>;
    const base = key.startsWith('files/md5/') ? 'files/md5/' : '';
    for (const e of entries) expect(existsSync(join(root, base, e.md5.slice(0, 2), e.md5.slice(2))), `${key} lists ${e.md5}`).toBe(true);
    checked++;
  }
  return checked;
}

function dataset(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) files[`data/part-${i}.csv`] = `row ${i}\n`.repeat(1 + (i % 7));
  files['data/nested/deep/readme.txt'] = 'nested\n';
  files['data/empty'] = '';
  return files;
}

beforeEach(async () => {
  repoA = makeGitRepo();
  remoteDir = tempDir('reg-remote-');
  await init(ctxA());
  writeTree(repoA, { ...dataset(60), 'model.bin': Buffer.alloc(3 << 20, 7) });
  await add(ctxA(), { targets: ['data', 'model.bin'] });
  await remoteAdd(ctxA(), { name: 'store', url: remoteDir, default: true });
  git(repoA, 'add', '-A');
  git(repoA, 'commit', '-qm', 'data');
  repoB = tempDir('reg-clone-');
  git(repoB, 'clone', '-q', repoA, '.');
});
afterEach(() => {
  removeDir(repoA);
  removeDir(repoB);
  removeDir(remoteDir);
});

describe('push / fetch / pull through a directory remote', () => {
  it('pushes in the DVC layout, then a second push is a no-op with one check per dataset', async () => {
    const r = await push(ctxA(), { targets: [] });
    // 61 distinct file contents... count what the cache holds instead of guessing.
    const cacheObjects = filesUnder(join(repoA, '.reg', 'cache', 'files', 'md5'));
    expect(r.pushed).toBe(cacheObjects.length);
    expect(r.failed).toBe(0);
    expect(r.outputs.map((o) => o.state)).toEqual(['pushed', 'pushed']);
    const remote = filesUnder(join(remoteDir, 'files', 'md5'));
    expect(remote).toEqual(cacheObjects);
    for (const k of remote) {
      expect(readFileSync(join(remoteDir, 'files', 'md5', k)).equals(readFileSync(join(repoA, '.reg', 'cache', 'files', 'md5', k))), k).toBe(true);
      expect(statSync(join(remoteDir, 'files', 'md5', k)).mode & 0o777).toBe(0o444);
    }
    expect(assertManifestsComplete(remoteDir)).toBe(1);

    const again = await push(ctxA(), { targets: [] });
    expect(again.pushed).toBe(0);
    expect(again.outputs.map((o) => o.state)).toEqual(['up-to-date', 'up-to-date']);
    // Two outputs: one estimate listing plus at most one check each, never a member listing.
    expect(again.query.requests).toBeLessThanOrEqual(3);
  });

  it('--dry-run sends nothing', async () => {
    const r = await push(ctxA(), { targets: [], dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.pushed).toBeGreaterThan(60);
    expect(filesUnder(remoteDir)).toEqual([]);
  });

  it('a clone fetches into the cache only, then pull makes the workspace byte-identical', async () => {
    await push(ctxA(), { targets: [] });
    const f = await fetch(ctxB(), { targets: ['data'] });
    expect(f.failed).toBe(0);
    expect(f.fetched).toBeGreaterThan(60);
    expect(existsSync(join(repoB, 'data'))).toBe(false);
    expect(tempFilesUnder(join(repoB, '.reg', 'cache'))).toEqual([]);
    for (const k of filesUnder(join(repoB, '.reg', 'cache'))) {
      expect(statSync(join(repoB, '.reg', 'cache', k)).mode & 0o777).toBe(0o444);
    }
    const p = await pull(ctxB(), { targets: [] });
    expect(p.failed).toBe(0);
    for (const rel of [...filesUnder(join(repoA, 'data')).map((f) => `data/${f}`), 'model.bin']) {
      expect(readFileSync(join(repoB, rel)).equals(readFileSync(join(repoA, rel))), rel).toBe(true);
    }
    const again = await pull(ctxB(), { targets: [] });
    expect(again.fetched).toBe(0);
  });

  it('remoteStatus reports per output what is missing, then pushed', async () => {
    const before = await remoteStatus(ctxA(), { targets: [] });
    expect(before.outputs.map((o) => o.state)).toEqual(['not-pushed', 'not-pushed']);
    const model = before.outputs.find((o) => o.path === 'model.bin')!;
    expect(model.missingObjects).toBe(1);
    expect(model.missingBytes).toBe(3 << 20);
    await push(ctxA(), { targets: ['model.bin'] });
    const after = await remoteStatus(ctxA(), { targets: [] });
    expect(after.outputs.find((o) => o.path === 'model.bin')!.state).toBe('pushed');
    expect(after.outputs.find((o) => o.path === 'data')!.state).toBe('not-pushed');
    expect(after.summary.pushed).toBe(1);
  });

  it('a corrupt object on the remote is an integrity error naming it; nothing corrupt enters the cache or workspace', async () => {
    await push(ctxA(), { targets: [] });
    const md5 = readFileSync(join(repoA, 'model.bin.dvc'), 'utf8').match(/md5: ([0-9a-f]{32})/)![1]!;
    const key = `files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;
    chmodSync(join(remoteDir, key), 0o644);
    writeFileSync(join(remoteDir, key), Buffer.alloc(3 << 20, 8));
    const err = await expectRegError(pull(ctxB(), { targets: ['model.bin'] }), 'pull.integrity', 6);
    expect(err.message).toContain(key);
    expect(existsSync(join(repoB, 'model.bin'))).toBe(false);
    expect(filesUnder(join(repoB, '.reg', 'cache')).filter((k) => k.includes(md5.slice(2)))).toEqual([]);
    expect(tempFilesUnder(join(repoB, '.reg', 'cache'))).toEqual([]);
  });

  it('an object missing on the remote is a transfer error (exit 4)', async () => {
    await push(ctxA(), { targets: ['model.bin'] });
    await expectRegError(fetch(ctxB(), { targets: ['data'] }), 'fetch.incomplete', 4);
  });
});

describe('failures and retries', () => {
  it('retries injected 503s, timeouts and connection resets (~20%) until push and fetch succeed', async () => {
    let flaky: FlakyBackend | undefined;
    const wrap = (b: Backend) => (flaky = new FlakyBackend(b, { failureRate: 0.2, seed: 7 }));
    const r = await push(ctxA(), { targets: [], retry: PATIENT_RETRY, jobs: 8, wrapBackend: wrap });
    expect(r.failed).toBe(0);
    expect(flaky!.stats.injected).toBeGreaterThan(5);
    assertManifestsComplete(remoteDir);
    expect(filesUnder(join(remoteDir, 'files', 'md5'))).toEqual(filesUnder(join(repoA, '.reg', 'cache', 'files', 'md5')));

    const p = await pull(ctxB(), { targets: [], retry: PATIENT_RETRY, jobs: 8, wrapBackend: (b) => (flaky = new FlakyBackend(b, { failureRate: 0.2, seed: 11 })) });
    expect(p.failed).toBe(0);
    expect(flaky!.stats.injected).toBeGreaterThan(5);
    expect(readFileSync(join(repoB, 'data', 'part-5.csv'), 'utf8')).toBe(readFileSync(join(repoA, 'data', 'part-5.csv'), 'utf8'));
  });

  it('a push that dies part-way lists what failed, leaves no incomplete manifest, and a re-run sends only the rest', async () => {
    const wrap = (b: Backend) => new FlakyBackend(b, { failureRate: 0, failPutsAfter: 10 });
    const err = await expectRegError(push(ctxA(), { targets: [], retry: FAST_RETRY, wrapBackend: wrap }), 'push.incomplete', 4);
    const details = err.details as { pushed: number; failed: number; failures: Array<{ key: string; error: string }> };
    // The 10th successful upload cuts the connection; uploads already in flight may still land.
    expect(details.pushed).toBeGreaterThanOrEqual(10);
    expect(details.pushed).toBe(filesUnder(remoteDir).length);
    expect(details.failures.length).toBe(details.failed);
    expect(details.failures.some((f) => f.key.endsWith('.dir') && /files failed/.test(f.error))).toBe(true);
    expect(err.message).toMatch(/files\/md5\/[0-9a-f]{2}\//);
    expect(filesUnder(remoteDir).filter((k) => k.endsWith('.dir'))).toEqual([]);
    expect(assertManifestsComplete(remoteDir)).toBe(0);

    const total = filesUnder(join(repoA, '.reg', 'cache', 'files', 'md5')).length;
    const rerun = await push(ctxA(), { targets: [] });
    expect(rerun.pushed).toBe(total - details.pushed);
    expect(assertManifestsComplete(remoteDir)).toBe(1);
  });

  it('one file that cannot be sent keeps its own directory\'s manifest off the remote, not the manifest of a directory whose files all went', async () => {
    writeTree(repoA, { 'more/a.txt': 'more a\n', 'more/b.txt': 'more b\n' });
    await add(ctxA(), { targets: ['more'] });
    const keyOf = (md5: string) => `files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;
    const pointerKey = (pointer: string) => keyOf(readFileSync(join(repoA, pointer), 'utf8').match(/md5: ([0-9a-f]{32}\.dir)/)![1]!);
    const victim = keyOf(md5Hex('row 3\n'.repeat(4)));
    // A failure the queue neither retries nor takes as the remote's end: only this object is lost.
    const refuse = (key: string) => {
      if (key === victim) throw new RegError('test.refused', 'transfer', `refused ${key}`);
    };
    class RefuseOne extends FlakyBackend {
      override async putFile(key: string, path: string, size: number, options?: PutOptions): Promise<void> {
        refuse(key);
        return super.putFile(key, path, size, options);
      }
      override async putBytes(key: string, bytes: Buffer, options?: PutOptions): Promise<void> {
        refuse(key);
        return super.putBytes(key, bytes, options);
      }
    }
    const err = await expectRegError(push(ctxA(), { targets: ['data', 'more'], jobs: 2, wrapBackend: (b) => new RefuseOne(b, { failureRate: 0 }) }), 'push.incomplete', 4);
    const details = err.details as { failures: Array<{ key: string; code?: string }>; outputs: Array<{ path: string; state: string }> };
    const dataDir = pointerKey('data.dvc');
    const moreDir = pointerKey('more.dvc');
    expect(details.failures.map((f) => [f.key, f.code]).sort()).toEqual([[dataDir, 'transfer.dependency-failed'], [victim, 'test.refused']].sort());
    expect(Object.fromEntries(details.outputs.map((o) => [o.path, o.state]))).toEqual({ data: 'failed', more: 'pushed' });
    expect(existsSync(join(remoteDir, victim))).toBe(false);
    expect(existsSync(join(remoteDir, dataDir))).toBe(false);
    expect(existsSync(join(remoteDir, moreDir))).toBe(true);
    expect(assertManifestsComplete(remoteDir)).toBe(1);
    // Every other file of data went: a re-run sends the one file, then the manifest.
    const rerun = await push(ctxA(), { targets: ['data', 'more'] });
    expect(rerun.pushed).toBe(2);
    expect(assertManifestsComplete(remoteDir)).toBe(2);
  });

  it('an aborted push (Ctrl-C after N objects) never leaves a manifest without its files', async () => {
    const controller = new AbortController();
    const wrap = (b: Backend) => new FlakyBackend(b, { failureRate: 0, failPutsAfter: 25, onPutLimit: () => controller.abort(new RegError('interrupted', 'interrupted', 'interrupted')) });
    await expectRegError(push(ctxA({ signal: controller.signal }), { targets: [], jobs: 4, wrapBackend: wrap }), 'interrupted', 130);
    assertManifestsComplete(remoteDir);
    const r = await push(ctxA(), { targets: [] });
    expect(r.failed).toBe(0);
    expect(assertManifestsComplete(remoteDir)).toBe(1);
  });

  it('more files than one upload batch, directories sharing files, and a file output equal to a member: each object once, manifests last', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 4200; i++) files[`big/d${i % 7}/f${i}.txt`] = `big file ${i}\n`;
    for (let i = 0; i < 100; i++) files[`big2/shared-${i}.txt`] = `big file ${i * 41}\n`;
    for (let i = 0; i < 5; i++) files[`big2/own-${i}.txt`] = `own ${i}\n`;
    files['single.txt'] = 'big file 4199\n';
    writeTree(repoA, files);
    await add(ctxA(), { targets: ['big', 'big2', 'single.txt'] });
    const targets = ['big', 'big2', 'single.txt'];
    const dry = await push(ctxA(), { targets, dryRun: true });
    expect(filesUnder(remoteDir)).toEqual([]);
    const r = await push(ctxA(), { targets });
    expect(r.failed).toBe(0);
    // 4200 + 5 distinct files (big2's shared ones and single.txt are big's) and two manifests.
    expect(r.pushed).toBe(4207);
    expect(dry.pushed).toBe(r.pushed);
    expect(dry.bytes).toBe(r.bytes);
    const rows = Object.fromEntries(r.outputs.map((o) => [o.path, o]));
    expect(rows['big']).toMatchObject({ state: 'pushed', objects: 4201, failedObjects: 0 });
    expect(rows['big2']).toMatchObject({ state: 'pushed', objects: 106, failedObjects: 0 });
    expect(rows['single.txt']).toMatchObject({ state: 'pushed', objects: 1, failedObjects: 0 });
    expect(assertManifestsComplete(remoteDir)).toBe(2);
    const remote = filesUnder(join(remoteDir, 'files', 'md5'));
    for (const k of remote) expect(readFileSync(join(remoteDir, 'files', 'md5', k)).equals(readFileSync(join(repoA, '.reg', 'cache', 'files', 'md5', k))), k).toBe(true);
    const again = await push(ctxA(), { targets });
    expect(again.pushed).toBe(0);
    expect(again.outputs.map((o) => o.state)).toEqual(['up-to-date', 'up-to-date', 'up-to-date']);
  });

  it('objects missing from the local cache fail the push and block their manifest', async () => {
    const cacheRoot = join(repoA, '.reg', 'cache', 'files', 'md5');
    const victim = filesUnder(cacheRoot).find((k) => !k.endsWith('.dir'))!;
    removeDir(join(cacheRoot, victim));
    const err = await expectRegError(push(ctxA(), { targets: ['data'] }), 'push.incomplete', 4);
    expect(err.message).toContain('not in the local cache');
    expect(filesUnder(remoteDir).some((k) => k.endsWith('.dir'))).toBe(false);
  });
});

describe('remote configuration', () => {
  it('adds, modifies, lists (redacted), sets default and removes remotes', async () => {
    await remoteAdd(ctxA(), { name: 'Origin', url: 's3://team-bucket/registry' });
    await remoteModify(ctxA(), { name: 'origin', option: 'endpoint-url', value: 'https://s3.example.org' });
    await remoteModify(ctxA(), { name: 'origin', option: 'path-style', value: 'true' });
    await remoteModify(ctxA(), { name: 'origin', option: 'profile', value: 'sso-dev', local: true });
    await remoteModify(ctxA(), { name: 'origin', option: 'secret-access-key', value: 'SuperSecretValue123', local: true });
    await expectRegError(remoteModify(ctxA(), { name: 'origin', option: 'secret-access-key', value: 'x' }), 'remote.secret-not-local', 3);
    await expectRegError(remoteModify(ctxA(), { name: 'origin', option: 'colour', value: 'x' }), 'remote.unknown-option', 2);
    await expectRegError(remoteModify(ctxA(), { name: 'origin', option: 'checksums', value: 'sometimes' }), 'remote.bad-value', 2);
    const cfg = readFileSync(join(repoA, '.reg', 'config.yaml'), 'utf8');
    expect(cfg).toContain('origin:');
    expect(cfg).toContain('endpoint-url: https://s3.example.org');
    expect(cfg).toContain('path-style: true');
    expect(cfg).not.toContain('sso-dev');
    expect(readFileSync(join(repoA, '.reg', 'config.local.yaml'), 'utf8')).toContain('profile: sso-dev');
    const list = await remoteList(ctxA());
    expect(JSON.stringify(list)).not.toContain('SuperSecretValue123');
    expect(list.remotes.find((r) => r.name === 'origin')!.options['secret-access-key']).toBe('***');
    expect(list.default).toBe('store');
    await remoteDefault(ctxA(), { name: 'origin' });
    expect((await remoteDefault(ctxA(), {})).default).toBe('origin');
    await remoteRemove(ctxA(), { name: 'origin' });
    expect((await remoteList(ctxA())).remotes.map((r) => r.name)).toEqual(['store']);
    expect((await remoteDefault(ctxA(), {})).default).toBeUndefined();
  });

  it('stores relative directory remotes relative to .reg/ and resolves them from there', async () => {
    mkdirSync(join(repoA, 'sub'));
    const r = await remoteAdd(makeContext({ cwd: join(repoA, 'sub') }), { name: 'rel', url: '../../rel-remote-' + process.pid });
    expect(r.value).toBe('../../rel-remote-' + process.pid);
    const p = await push(ctxA(), { targets: ['model.bin'], remote: 'rel' });
    expect(p.pushed).toBe(1);
    const where = join(repoA, '..', 'rel-remote-' + process.pid);
    expect(filesUnder(where).length).toBe(1);
    removeDir(where);
  });

  it('refuses to use remotes while credentials sit in the tracked config', async () => {
    writeFileSync(join(repoA, '.reg', 'config.yaml'), readFileSync(join(repoA, '.reg', 'config.yaml'), 'utf8').replace(/(\n  store:\n)/, '$1    secret-access-key: LeakedKey999\n'));
    const err = await expectRegError(push(ctxA(), { targets: [] }), 'config.secret-in-tracked-file', 3);
    expect(err.message).toContain('.reg/config.yaml');
    expect(err.message).not.toContain('LeakedKey999');
    expect(err.hint).toContain('--local');
  });
});

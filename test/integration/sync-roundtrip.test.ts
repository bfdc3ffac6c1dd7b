import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { init } from '../../dist/ops/registry/init.js';
import { sync } from '../../dist/ops/registry/sync.js';
import { setConfigValue } from '../../dist/config.js';
import { makeContext } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import type { Backend } from '../../dist/store/backend.js';
import { makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

const ENTRY = 'processed_datasets/tokenized';

function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), rel + e.name + '/');
      else out[rel + e.name] = readFileSync(join(d, e.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

async function workspace(remote: Record<string, unknown>): Promise<string> {
  const repo = makeGitRepo();
  await init(makeContext({ cwd: repo }));
  setConfigValue(join(repo, '.reg/config.yaml'), ['remotes', 'team'], remote);
  setConfigValue(join(repo, '.reg/config.yaml'), ['core', 'remote'], 'team');
  return repo;
}

/** A wrapBackend that replaces some of the real backend's methods (a remote whose listing says something else). */
function overriding(methods: (inner: Backend) => Partial<Backend>): (inner: Backend) => Backend {
  return (inner) => {
    const replaced = methods(inner) as Record<PropertyKey, unknown>;
    return new Proxy(inner, {
      get(target, prop) {
        if (prop in replaced) return replaced[prop];
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}

async function refused(p: Promise<unknown>): Promise<RegError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    return err as RegError;
  }
  throw new Error('expected the sync to be refused');
}

describe('reg sync through a directory remote', () => {
  let a: string;
  let b: string;
  let store: string;
  const push = (repo: string, extra: Record<string, unknown> = {}) => sync(makeContext({ cwd: repo }), { direction: 'push', targets: [ENTRY], ...extra });
  const pull = (repo: string, extra: Record<string, unknown> = {}) => sync(makeContext({ cwd: repo }), { direction: 'pull', targets: [ENTRY], ...extra });
  const remoteEntry = () => filesUnder(join(store, ENTRY));

  beforeEach(async () => {
    store = tempDir('reg-sync-store-');
    a = await workspace({ url: store });
    b = await workspace({ url: store });
  });
  afterEach(() => [a, b, store].forEach(removeDir));

  it('round trip: content-aware push, pull, overwrite guard, --force, --delete, --dry-run', async () => {
    writeTree(a, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/sub/b.txt`]: 'beta' });
    const dry = await push(a, { dryRun: true });
    expect(dry.entries[0]).toMatchObject({ state: 'would-sync', transferred: ['a.txt', 'sub/b.txt'] });
    expect(remoteEntry()).toEqual({});

    let r = await push(a);
    expect(r.entries[0]).toMatchObject({ entry: ENTRY, state: 'synced', transferred: ['a.txt', 'sub/b.txt'], unchanged: 0 });
    const remote = remoteEntry();
    expect(remote['a.txt']).toBe('alpha');
    expect(remote['sub/b.txt']).toBe('beta');
    const manifest = JSON.parse(remote['.reg-sync.json']!);
    expect(manifest.format).toBe('reg-sync/1');
    expect(Object.keys(manifest.files)).toEqual(['a.txt', 'sub/b.txt']);

    // nothing changed: nothing sent; a same-size edit is still detected (md5, not size+mtime)
    expect((await push(a)).entries[0]).toMatchObject({ state: 'up-to-date', transferred: [], unchanged: 2 });
    writeFileSync(join(a, ENTRY, 'a.txt'), 'alphb');
    expect((await push(a)).entries[0]).toMatchObject({ state: 'synced', transferred: ['a.txt'], unchanged: 1 });

    // a second workspace pulls it, byte-identical
    r = await pull(b);
    expect(r.entries[0]).toMatchObject({ transferred: ['a.txt', 'sub/b.txt'] });
    expect(filesUnder(join(b, ENTRY))).toEqual({ 'a.txt': 'alphb', 'sub/b.txt': 'beta' });
    expect((await pull(b)).entries[0]).toMatchObject({ state: 'up-to-date', transferred: [] });

    // B changes a file and pushes; A (stale) would overwrite it: refused, nothing sent
    writeFileSync(join(b, ENTRY, 'sub/b.txt'), 'beta from b');
    expect((await push(b)).entries[0]).toMatchObject({ transferred: ['sub/b.txt'] });
    writeFileSync(join(a, ENTRY, 'a.txt'), 'alpha v3');
    const err = await refused(push(a));
    expect(err.code).toBe('sync.conflict');
    expect(err.exitCode).toBe(7);
    expect(err.message).toContain(`${ENTRY}: the remote copy changed since this workspace last synced it`);
    expect(err.message).toContain('sub/b.txt');
    expect(remoteEntry()['sub/b.txt']).toBe('beta from b');
    expect(remoteEntry()['a.txt']).toBe('alphb');
    // pulling would overwrite A's unsaved edit of a.txt: refused too
    const perr = await refused(pull(a));
    expect(perr.message).toContain('a.txt');
    expect(readFileSync(join(a, ENTRY, 'a.txt'), 'utf8')).toBe('alpha v3');
    // --force overwrites the remote
    expect((await push(a, { force: true })).entries[0]).toMatchObject({ transferred: ['a.txt', 'sub/b.txt'] });
    expect(remoteEntry()['sub/b.txt']).toBe('beta');

    // --delete only when asked
    rmSync(join(a, ENTRY, 'a.txt'));
    expect((await push(a)).entries[0]).toMatchObject({ state: 'up-to-date', deleted: [] });
    expect(remoteEntry()['a.txt']).toBe('alpha v3');
    expect((await push(a, { delete: true, dryRun: true })).entries[0]).toMatchObject({ deleted: ['a.txt'] });
    expect(remoteEntry()['a.txt']).toBe('alpha v3');
    expect((await push(a, { delete: true })).entries[0]).toMatchObject({ state: 'synced', deleted: ['a.txt'] });
    expect(Object.keys(remoteEntry()).sort()).toEqual(['.reg-sync.json', 'sub/b.txt']);

    // B's sub/b.txt is what B last synced (then overwritten by A's --force): not a local edit, so pull updates it
    r = await pull(b);
    expect(filesUnder(join(b, ENTRY))).toEqual({ 'a.txt': 'alphb', 'sub/b.txt': 'beta' });
    expect((await pull(b, { delete: true })).entries[0]).toMatchObject({ deleted: ['a.txt'] });
    expect(filesUnder(join(b, ENTRY))).toEqual({ 'sub/b.txt': 'beta' });
    // a file removed from the remote leaves no empty directory behind
    rmSync(join(a, ENTRY, 'sub/b.txt'));
    writeTree(a, { [`${ENTRY}/c.txt`]: 'c' });
    await push(a, { delete: true });
    await pull(b, { delete: true });
    expect(filesUnder(join(b, ENTRY))).toEqual({ 'c.txt': 'c' });
    expect(existsSync(join(b, ENTRY, 'sub'))).toBe(false);
  });

  it('after a cut-off first push, a same-sized file another tool put at the key is not taken for its own (its bytes are hashed)', async () => {
    writeTree(a, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/b.txt`]: 'bravo' });
    // What a first push cut off after both copies had started leaves behind: its pending list.
    const pending = join(a, '.reg/tmp/sync-pending/team', `${ENTRY}.json`);
    mkdirSync(join(pending, '..'), { recursive: true });
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    writeFileSync(pending, JSON.stringify({ files: { 'a.txt': { md5: md5('alpha'), size: 5 }, 'b.txt': { md5: md5('bravo'), size: 5 } } }));
    // b.txt arrived; at a.txt another tool wrote 5 other bytes. A directory listing has sizes, no md5.
    writeTree(store, { [`${ENTRY}/b.txt`]: 'bravo', [`${ENTRY}/a.txt`]: 'omega' });
    const e = await refused(push(a));
    expect(e.code).toBe('sync.conflict');
    expect(e.message).toContain('a.txt');
    expect(remoteEntry()).toEqual({ 'a.txt': 'omega', 'b.txt': 'bravo' });
    // With the other tool's file gone, the same push completes and sends only what is missing.
    writeFileSync(join(store, ENTRY, 'a.txt'), 'alpha');
    expect((await push(a)).entries[0]!.transferred).toEqual([]);
    expect(existsSync(pending)).toBe(false);
  });

  it('after a cut-off first push, a directory file longer than listed (grown since) or a symlink is refused (exit 7), never read to the end or through', async () => {
    writeTree(a, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/c.txt`]: 'charl' });
    const pending = join(a, '.reg/tmp/sync-pending/team', `${ENTRY}.json`);
    mkdirSync(join(pending, '..'), { recursive: true });
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    writeFileSync(pending, JSON.stringify({ files: { 'a.txt': { md5: md5('alpha'), size: 5 }, 'c.txt': { md5: md5('charl'), size: 5 } } }));
    // a.txt was listed at 5 bytes and grew since: the listing (untrusted, like any remote's) says 5, the file holds more.
    const grown = 'alpha, and more bytes written after the listing';
    writeTree(store, { [`${ENTRY}/a.txt`]: grown });
    // A key that is not there stays not there (undefined), as a HEAD of a missing object says.
    const listedAt5 = overriding((inner) => ({
      head: async (key, options) => {
        const info = await inner.head(key, options);
        return info && { ...info, size: 5 };
      },
    }));
    let e = await refused(push(a, { wrapBackend: listedAt5 }));
    expect(e.code).toBe('sync.remote-file-changed');
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain(`${ENTRY}/a.txt`);
    expect(e.message).toContain('more than the 5 bytes listed');
    expect(remoteEntry()).toEqual({ 'a.txt': grown });

    // c.txt: listed as a file, a symlink (to 5 bytes outside that match) by the time it is read.
    rmSync(join(store, ENTRY, 'a.txt'));
    const outside = tempDir('reg-sync-outside-');
    writeFileSync(join(outside, 'secret'), 'charl');
    symlinkSync(join(outside, 'secret'), join(store, ENTRY, 'c.txt'));
    const listsTheLink = overriding((inner) => ({
      list: async function* (prefix: string, options?: object) {
        yield* inner.list(prefix, options);
        yield [{ key: `${ENTRY}/c.txt` }];
      },
    }));
    e = await refused(push(a, { wrapBackend: listsTheLink }));
    expect(e.code).toBe('sync.remote-file-changed');
    expect(e.message).toContain(`${ENTRY}/c.txt`);
    expect(e.message).toContain('symbolic link');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('charl');
    removeDir(outside);
  });

  it('syncs whole areas, discovers remote-only entries on pull, adopts a layout made without reg', async () => {
    writeTree(a, { 'processed_datasets/one/x.txt': '1', 'champion_models/bart-base/model.bin': 'weights' });
    const r = await sync(makeContext({ cwd: a }), { direction: 'push', targets: [] });
    expect(r.entries.map((e) => e.entry)).toEqual(['champion_models/bart-base', 'processed_datasets/one']);
    const p = await sync(makeContext({ cwd: b }), { direction: 'pull', targets: ['champion_models'] });
    expect(p.entries.map((e) => e.entry)).toEqual(['champion_models/bart-base']);
    expect(readFileSync(join(b, 'champion_models/bart-base/model.bin'), 'utf8')).toBe('weights');

    // a bucket layout written by `aws s3 sync` (no manifest), under a configured prefix
    writeTree(store, { 'legacy/results/run-7/metrics.json': '{"acc":1}' });
    setConfigValue(join(b, '.reg/config.yaml'), ['areas', 'training_results', 'prefix'], 'legacy/results');
    writeTree(b, { 'training_results/run-7/metrics.json': '{"acc":0}' });
    const e = await refused(sync(makeContext({ cwd: b }), { direction: 'push', targets: ['training_results/run-7'] }));
    expect(e.message).toContain('the remote has files that reg did not sync');
    rmSync(join(b, 'training_results/run-7'), { recursive: true });
    await sync(makeContext({ cwd: b }), { direction: 'pull', targets: ['training_results/run-7'] });
    expect(readFileSync(join(b, 'training_results/run-7/metrics.json'), 'utf8')).toBe('{"acc":1}');
    writeTree(b, { 'training_results/run-7/metrics.json': '{"acc":2}' });
    const s = await sync(makeContext({ cwd: b }), { direction: 'push', targets: ['training_results/run-7'] });
    expect(s.entries[0]).toMatchObject({ key: 'legacy/results/run-7', transferred: ['metrics.json'] });
    expect(existsSync(join(store, 'legacy/results/run-7/.reg-sync.json'))).toBe(true);
  });

  it('refuses targets outside synced areas', async () => {
    const e = await refused(sync(makeContext({ cwd: a }), { direction: 'push', targets: ['raw_datasets/x'] }));
    expect(e.code).toBe('sync.not-synced');
    expect(e.hint).toContain('reg push');
  });
});

describe('reg sync through S3 (s3rver)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server('sync-bucket');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('push from one workspace, pull into another, guard on a changed remote', async () => {
    const remote = { url: `s3://${s3.bucket}/team`, 'endpoint-url': s3.endpoint, 'path-style': true };
    const a = await workspace(remote);
    const b = await workspace(remote);
    const env = { ...s3.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const ctxA = makeContext({ cwd: a, env });
    const ctxB = makeContext({ cwd: b, env });
    try {
      writeTree(a, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/big.bin`]: Buffer.alloc(300_000, 7) });
      expect((await sync(ctxA, { direction: 'push', targets: [ENTRY] })).entries[0]!.transferred).toEqual(['a.txt', 'big.bin']);
      expect((await sync(ctxA, { direction: 'push', targets: [ENTRY] })).entries[0]!.transferred).toEqual([]);
      expect((await sync(ctxB, { direction: 'pull', targets: [ENTRY] })).entries[0]!.transferred).toEqual(['a.txt', 'big.bin']);
      expect(readFileSync(join(b, ENTRY, 'big.bin')).equals(Buffer.alloc(300_000, 7))).toBe(true);
      writeFileSync(join(b, ENTRY, 'a.txt'), 'from b');
      await sync(ctxB, { direction: 'push', targets: [ENTRY] });
      writeFileSync(join(a, ENTRY, 'a.txt'), 'from a');
      const e = await refused(sync(ctxA, { direction: 'push', targets: [ENTRY] }));
      expect(e.code).toBe('sync.conflict');
    } finally {
      removeDir(a);
      removeDir(b);
    }
  });

  it('after a cut-off first push, a same-sized file another tool put at the key is not taken for its own (the ETag is compared)', async () => {
    const remote = { url: `s3://${s3.bucket}/cutoff`, 'endpoint-url': s3.endpoint, 'path-style': true };
    const a = await workspace(remote);
    const env = { ...s3.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const { S3Client, PutObjectCommand, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY! } });
    try {
      writeTree(a, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/b.txt`]: 'bravo' });
      // What a first push cut off after both uploads had started leaves behind: its pending list.
      const pending = join(a, '.reg/tmp/sync-pending/team', `${ENTRY}.json`);
      mkdirSync(join(pending, '..'), { recursive: true });
      const md5 = (s: string) => createHash('md5').update(s).digest('hex');
      writeFileSync(pending, JSON.stringify({ files: { 'a.txt': { md5: md5('alpha'), size: 5 }, 'b.txt': { md5: md5('bravo'), size: 5 } } }));
      // b.txt arrived; at a.txt another tool wrote 5 other bytes.
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `cutoff/${ENTRY}/b.txt`, Body: 'bravo' }));
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `cutoff/${ENTRY}/a.txt`, Body: 'omega' }));
      const e = await refused(sync(makeContext({ cwd: a, env }), { direction: 'push', targets: [ENTRY] }));
      expect(e.code).toBe('sync.conflict');
      expect(e.message).toContain('a.txt');
      const stored = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `cutoff/${ENTRY}/a.txt` }));
      expect(await stored.Body!.transformToString()).toBe('omega');
      // With the other tool's file gone, the same push completes and sends only what is missing.
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `cutoff/${ENTRY}/a.txt`, Body: 'alpha' }));
      const done = await sync(makeContext({ cwd: a, env }), { direction: 'push', targets: [ENTRY] });
      expect(done.entries[0]!.transferred).toEqual([]);
      expect(existsSync(pending)).toBe(false);
    } finally {
      client.destroy();
      removeDir(a);
    }
  });
});

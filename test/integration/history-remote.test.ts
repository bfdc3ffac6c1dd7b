import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { diff } from '../../dist/ops/history/diff.js';
import { log } from '../../dist/ops/history/log.js';
import { ls } from '../../dist/ops/history/ls.js';
import { remoteAdd, remoteModify } from '../../dist/ops/remote/remote.js';
import { S3Backend } from '../../dist/store/s3.js';
import { makeContext, type Context } from '../../dist/context.js';
import { expectRegError } from '../helpers/expect-error.js';
import { filesUnder, tempFilesUnder, git, removeDir, tempDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { CountingBackend, counting, type BackendCall } from '../helpers/counting-backend.js';
import type { Backend, GetOptions } from '../../dist/store/backend.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, size, type HistoryFixture } from '../helpers/history-fixture.js';

let fx: HistoryFixture;
let remoteDir: string;
let s3: S3Server;
let s3Prefix: string;
let clone: string;
const ctxB = (extra: Partial<Context> = {}) => makeContext({ cwd: clone, env: s3.env, ...extra });

const key = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;
const reads = (calls: BackendCall[]) => calls.filter((c) => c.op === 'get' || c.op === 'readSmall');

beforeAll(async () => {
  remoteDir = tempDir('reg-history-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  s3 = await startS3Server('history-bucket');
  s3Prefix = `reg-${randomBytes(4).toString('hex')}`;
  const raw = new S3Backend(
    { bucket: s3.bucket, prefix: s3Prefix, endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8 },
    { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  );
  for (const k of filesUnder(remoteDir)) await raw.putFile(k, join(remoteDir, k), readFileSync(join(remoteDir, k)).length);
  raw.close();
}, 180_000);
afterAll(async () => {
  removeDir(fx.root);
  removeDir(remoteDir);
  await s3?.stop();
});

beforeEach(() => {
  // A fresh clone: Git history, the remote settings, an empty cache.
  clone = tempDir('reg-history-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
  expect(existsSync(join(clone, '.reg', 'cache'))).toBe(false);
});
afterEach(() => removeDir(clone));

describe('manifests of other versions from a directory remote', () => {
  it('ls fetches exactly the one .dir object, verified into the cache; the next ls asks nothing', async () => {
    const calls: BackendCall[] = [];
    const r = await ls(ctxB(), { target: IMAGES, rev: 'v2', recursive: true, wrapBackend: counting(calls) });
    expect(calls).toEqual([{ op: 'readSmall', key: key(fx.imagesOid.v2) }]);
    expect(r.entries.map((e) => [e.path, e.md5, e.size])).toEqual([
      ['a.txt', md5(CONTENT.a), null],
      ['dup1.txt', md5(CONTENT.dup), null],
      ['dup2.txt', md5(CONTENT.dup), null],
      ['e.txt', md5(CONTENT.e), null],
      ['sub/b-renamed.txt', md5(CONTENT.b), null],
      ['sub/c.txt', md5(CONTENT.c2), null],
    ]);
    expect(r.unknownSizes).toBe(6);
    expect(readFileSync(join(clone, '.reg', 'cache', key(fx.imagesOid.v2)))).toEqual(readFileSync(join(remoteDir, key(fx.imagesOid.v2))));
    const again: BackendCall[] = [];
    await ls(ctxB(), { target: IMAGES, rev: 'v2', wrapBackend: counting(again) });
    expect(again).toEqual([]);
  });

  it('--sizes reads object metadata (one HEAD per file), never the data', async () => {
    const calls: BackendCall[] = [];
    const r = await ls(ctxB(), { target: IMAGES, rev: 'v1', recursive: true, sizes: true, wrapBackend: counting(calls) });
    expect(r.entries.map((e) => [e.path, e.size])).toEqual([
      ['a.txt', size(CONTENT.a)],
      ['b.txt', size(CONTENT.b)],
      ['d.txt', size(CONTENT.d)],
      ['sub/c.txt', size(CONTENT.c)],
    ]);
    expect(reads(calls)).toEqual([{ op: 'readSmall', key: key(fx.imagesOid.v1) }]);
    expect(calls.filter((c) => c.op === 'head').map((c) => c.key).sort()).toEqual([CONTENT.a, CONTENT.b, CONTENT.d, CONTENT.c].map((t) => key(md5(t))).sort());
    expect(calls).toHaveLength(5);
    // Sizes once known are remembered for that manifest: the next listing asks the remote nothing.
    const again: BackendCall[] = [];
    const second = await ls(ctxB(), { target: IMAGES, rev: 'v1', recursive: true, wrapBackend: counting(again) });
    expect(again).toEqual([]);
    expect(second.entries.map((e) => e.size)).toEqual(r.entries.map((e) => e.size));
    // A damaged memory is ignored, never believed.
    writeFileSync(join(clone, '.reg', 'tmp', 'sizes', fx.imagesOid.v1), '[1, 2]');
    expect((await ls(ctxB(), { target: IMAGES, rev: 'v1', recursive: true })).unknownSizes).toBe(4);
  });

  it('diff of two versions fetches their two manifests and nothing else, same result as where the data lives', async () => {
    const calls: BackendCall[] = [];
    const here = await diff(ctxB(), { from: 'v1', to: 'v2', wrapBackend: counting(calls) });
    expect(reads(calls).map((c) => c.key).sort()).toEqual([key(fx.imagesOid.v1), key(fx.imagesOid.v2)].sort());
    expect(calls).toHaveLength(2);
    const there = await diff(makeContext({ cwd: fx.root }), { from: 'v1', to: 'v2' });
    const shape = (r: typeof here) => r.outputs.map((o) => ({ ...o, added: o.added.map((f) => f.path), deleted: o.deleted.map((f) => f.path), modified: o.modified.map((f) => f.path), renamed: o.renamed.map((f) => [f.from, f.to]), totals: undefined }));
    expect(shape(here)).toEqual(shape(there));
    expect(here.outputs[1]!.totals.unknownSizes).toBe(5);
    // The DVC 2 version: its manifest lives in the legacy layout on the remote.
    const legacyCalls: BackendCall[] = [];
    await diff(ctxB(), { from: 'v0', to: 'v1', targets: [IMAGES], wrapBackend: counting(legacyCalls) });
    expect(reads(legacyCalls)).toEqual([{ op: 'readSmall', key: key(fx.imagesOid.v0, true) }]);
  });

  it('log --remote: one existence check per distinct version; the unpushed experiment is marked missing', async () => {
    const calls: BackendCall[] = [];
    const r = await log(ctxB(), { target: IMAGES, all: true, checkRemote: true, wrapBackend: counting(calls) });
    expect(r.versions.map((v) => [v.commit, v.refs.remotes, v.remote])).toEqual([
      [fx.commits.c7, ['origin/main'], { name: 'store', present: true }],
      [fx.commits.c5, [], { name: 'store', present: true }],
      [fx.commits.c4, ['origin/experiment'], { name: 'store', present: false }],
      [fx.commits.c3, [], { name: 'store', present: true }],
      [fx.commits.c2, [], { name: 'store', present: true }],
      [fx.commits.c1, [], { name: 'store', present: true }],
    ]);
    expect(r.missingOnRemote).toBe(1);
    expect(calls.map((c) => c.op)).toEqual(['exists', 'exists', 'exists', 'exists', 'exists']);
    expect(calls.map((c) => c.key).sort()).toEqual([key(fx.imagesOid.v1), key(fx.imagesOid.v3), key(fx.imagesOid.exp), key(fx.imagesOid.v2), key(fx.imagesOid.v0, true)].sort());
    // The clone has no local experiment branch: without --all that version is not in scope.
    expect((await log(ctxB(), { target: IMAGES })).versions.map((v) => v.commit)).not.toContain(fx.commits.c4);
    const model = await log(ctxB(), { target: MODEL, all: true, checkRemote: true });
    expect(model.versions.map((v) => v.remote?.present)).toEqual([false, true]);
  });

  it('a manifest neither cached nor pushed is a transfer error naming the remote', async () => {
    const e = await expectRegError(ls(ctxB(), { target: IMAGES, rev: 'origin/experiment' }), 'history.manifest-missing', 4);
    expect(e.message).toContain(fx.imagesOid.exp);
    expect(e.message).toContain('store');
  });

  it('a corrupt .dir on the remote is refused (integrity, exit 6) and never enters the cache', async () => {
    await withCorruptV3Manifest(async () => {
      await expectRegError(ls(ctxB(), { target: IMAGES, rev: 'v3' }), 'remote.corrupt-object', 6);
      await expectRegError(diff(ctxB(), { from: 'v2', to: 'v3' }), 'remote.corrupt-object', 6);
      expect(filesUnder(join(clone, '.reg', 'cache')).filter((f) => f.includes(fx.imagesOid.v3.slice(2)))).toEqual([]);
      expect(tempFilesUnder(join(clone, '.reg', 'cache'))).toEqual([]);
    });
  });
});

/** Runs `fn` while the remote's copy of v3's manifest is corrupt (one entry's md5 changed), then puts it back. */
async function withCorruptV3Manifest(fn: () => Promise<void>): Promise<void> {
  const path = join(remoteDir, key(fx.imagesOid.v3));
  const good = readFileSync(path);
  chmodSync(path, 0o644);
  writeFileSync(path, good.toString('utf8').replace('dup-a', 'dup-x'));
  try {
    await fn();
  } finally {
    writeFileSync(path, good);
    chmodSync(path, 0o444);
  }
}

/** Holds every read of `slowKey` back by `ms` (the other keys go straight through). */
class SlowKeyBackend extends CountingBackend {
  constructor(inner: Backend, private readonly slowKey: string, private readonly ms: number) {
    super(inner, []);
  }
  override get(k: string, o?: GetOptions): Promise<{ body: Readable; size?: number }> {
    return k === this.slowKey ? delay(this.ms).then(() => super.get(k, o)) : super.get(k, o);
  }
  override get readSmall(): Backend['readSmall'] {
    const inner = super.readSmall;
    return inner && ((k: string, max: number) => (k === this.slowKey ? delay(this.ms).then(() => inner(k, max)) : inner(k, max)));
  }
}

describe('a command that fails on one download', () => {
  it('returns only once its other downloads have ended: nothing of reg diff lands in the cache after it failed', async () => {
    await withCorruptV3Manifest(async () => {
      // v2's manifest comes late; v3's is corrupt and fails at once.
      const slow = (b: Backend) => new SlowKeyBackend(b, key(fx.imagesOid.v2), 400);
      await expectRegError(diff(ctxB(), { from: 'v2', to: 'v3', wrapBackend: slow }), 'remote.corrupt-object', 6);
      const cache = join(clone, '.reg', 'cache');
      const atReturn = existsSync(cache) ? filesUnder(cache).sort() : [];
      expect(tempFilesUnder(clone)).toEqual([]);
      await delay(800);
      expect(existsSync(cache) ? filesUnder(cache).sort() : []).toEqual(atReturn);
      expect(atReturn.filter((f) => f.includes(fx.imagesOid.v3.slice(2)))).toEqual([]);
    });
  });
});

describe('manifests of other versions from S3 (s3rver)', () => {
  beforeEach(async () => {
    await remoteAdd(ctxB(), { name: 's3', url: `s3://${s3.bucket}/${s3Prefix}` });
    await remoteModify(ctxB(), { name: 's3', option: 'endpoint-url', value: s3.endpoint });
    await remoteModify(ctxB(), { name: 's3', option: 'path-style', value: 'true' });
  });

  it('ls and diff GET only the .dir objects they need', async () => {
    const calls: BackendCall[] = [];
    const r = await ls(ctxB(), { target: IMAGES, rev: 'v3', remote: 's3', wrapBackend: counting(calls) });
    expect(calls).toEqual([{ op: 'get', key: key(fx.imagesOid.v3) }]);
    expect(r.entries.map((e) => e.path)).toEqual(['a.txt', 'e.txt', 'sub', 'z']);
    const diffCalls: BackendCall[] = [];
    const d = await diff(ctxB(), { from: 'v2', to: 'v3', remote: 's3', wrapBackend: counting(diffCalls) });
    // v3's manifest is cached by now: only v2's is fetched.
    expect(diffCalls).toEqual([{ op: 'get', key: key(fx.imagesOid.v2) }]);
    expect(d.outputs[1]!.renamed.map((x) => [x.from, x.to])).toEqual([[`${IMAGES}/dup1.txt`, `${IMAGES}/z/dup-a.txt`], [`${IMAGES}/dup2.txt`, `${IMAGES}/z/dup-b.txt`]]);
  });

  it('--sizes asks S3 for object metadata; log --remote checks existence', async () => {
    const calls: BackendCall[] = [];
    const r = await diff(ctxB(), { from: 'v1', to: 'v2', remote: 's3', sizes: true, wrapBackend: counting(calls) });
    const images = r.outputs[1]!;
    expect(images.totals.unknownSizes).toBe(0);
    expect(images.totals.addedBytes).toBe(2 * size(CONTENT.dup) + size(CONTENT.e));
    expect(reads(calls).every((c) => c.key.endsWith('.dir'))).toBe(true);
    expect(reads(calls)).toHaveLength(2);
    const logCalls: BackendCall[] = [];
    const l = await log(ctxB(), { target: MODEL, all: true, checkRemote: true, remote: 's3', wrapBackend: counting(logCalls) });
    expect(l.versions.map((v) => v.remote)).toEqual([{ name: 's3', present: false }, { name: 's3', present: true }]);
    expect(logCalls.map((c) => c.op)).toEqual(['exists', 'exists']);
  });
});

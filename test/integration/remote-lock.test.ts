import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConditionalWritesUnsupported, isPreconditionFailed } from '../../dist/store/backend.js';
import { LocalBackend } from '../../dist/store/local.js';
import { LockBusyError, MAX_CONTENDERS, acquireRemoteLock } from '../../dist/store/remote-lock.js';
import { S3Backend } from '../../dist/store/s3.js';
import { filesUnder, removeDir, tempDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/** The building blocks of race-free sync pushes, against a real directory and a real S3 server. */
let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server('lock-bucket');
});
afterAll(async () => {
  await s3?.stop();
});

const s3Backend = (prefix: string) =>
  new S3Backend(
    { bucket: s3.bucket, prefix, endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 4 },
    { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  );

/** A limit far above what these tests store. */
const SMALL = { limit: { maxBytes: 1024, tooBig: () => new Error('too big') } };

/** `fn` on a fresh directory remote or S3 prefix, closed (and the directory removed) after. */
async function withLockBackend(kind: 'directory' | 's3', fn: (b: LocalBackend | S3Backend) => Promise<void>): Promise<void> {
  const root = tempDir('reg-lock-');
  const b = kind === 'directory' ? new LocalBackend(root) : s3Backend(`lock-${randomBytes(3).toString('hex')}`);
  try {
    await fn(b);
  } finally {
    b.close();
    removeDir(root);
  }
}

async function keysUnder(b: LocalBackend | S3Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of b.list(prefix)) for (const o of page) keys.push(o.key);
  return keys;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('conditional writes', () => {
  it('directory remote: create only if absent, replace only the version read', async () => {
    const root = tempDir('reg-cas-');
    const b = new LocalBackend(root);
    try {
      const v1 = await b.putIfVersion('e/.reg-sync.json', Buffer.from('one'), undefined);
      expect(isPreconditionFailed(await rejection(b.putIfVersion('e/.reg-sync.json', Buffer.from('two'), undefined)))).toBe(true);
      expect(isPreconditionFailed(await rejection(b.putIfVersion('e/.reg-sync.json', Buffer.from('two'), 'not-the-version')))).toBe(true);
      expect((await b.readVersioned('e/.reg-sync.json', SMALL))!.bytes.toString()).toBe('one');
      const v2 = await b.putIfVersion('e/.reg-sync.json', Buffer.from('two'), v1);
      expect(v2).not.toBe(v1);
      expect(await b.readVersioned('e/.reg-sync.json', SMALL)).toEqual({ bytes: Buffer.from('two'), version: v2 });
      expect(filesUnder(root)).toEqual(['e/.reg-sync.json']);
    } finally {
      removeDir(root);
    }
  });

  it('S3: a server that ignores If-Match / If-None-Match (s3rver) is detected, never trusted, and the probe leaves nothing', async () => {
    const prefix = `cas-${randomBytes(3).toString('hex')}`;
    const b = s3Backend(prefix);
    try {
      await b.putBytes('e/.reg-sync.json', Buffer.from('one'));
      const err = await rejection(b.putIfVersion('e/.reg-sync.json', Buffer.from('two'), undefined));
      expect(isConditionalWritesUnsupported(err)).toBe(true);
      expect((await b.readVersioned('e/.reg-sync.json', SMALL))!.bytes.toString()).toBe('one');
      const keys: string[] = [];
      for await (const page of b.list('')) for (const o of page) keys.push(o.key);
      expect(keys).toEqual(['e/.reg-sync.json']);
    } finally {
      b.close();
    }
  });
});

describe('remote lock', () => {
  for (const kind of ['directory', 's3'] as const) {
    it(`${kind}: one owner at a time; the refused one learns who holds it; released locks leave nothing`, async () => {
      await withLockBackend(kind, async (b) => {
        const first = await acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b');
        const busy = await rejection(acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b'));
        expect(busy).toBeInstanceOf(LockBusyError);
        expect((busy as LockBusyError).holder).toMatchObject({ host: hostname(), pid: process.pid, state: 'held', purpose: 'reg sync push of a/b' });
        await first.release();
        const second = await acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b');
        await second.release();
        expect(await keysUnder(b, 'locks/')).toEqual([]);
      });
    });
  }

  it('a lock left by a process of this host that no longer exists, or not refreshed for 10 minutes, is taken over', async () => {
    const root = tempDir('reg-lock-stale-');
    const b = new LocalBackend(root);
    try {
      const dead = { id: 'dead', host: hostname(), pid: 2 ** 22 + 12345, purpose: 'reg sync push of a/b', state: 'held', at: new Date().toISOString() };
      const old = { id: 'old', host: 'elsewhere', pid: 1, purpose: 'reg sync push of a/b', state: 'held', at: new Date(Date.now() - 11 * 60_000).toISOString() };
      await b.putBytes('locks/entry/dead.json', Buffer.from(JSON.stringify(dead)));
      await b.putBytes('locks/entry/old.json', Buffer.from(JSON.stringify(old)));
      const lock = await acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b');
      expect(filesUnder(root)).toEqual([`locks/entry/${lock.info.id}.json`]);
      await lock.release();
      // A live holder elsewhere is respected.
      const live = { ...old, id: 'live', at: new Date().toISOString() };
      await b.putBytes('locks/entry/live.json', Buffer.from(JSON.stringify(live)));
      expect(await rejection(acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b'))).toBeInstanceOf(LockBusyError);
    } finally {
      removeDir(root);
    }
  });

  it(`directory: more than ${MAX_CONTENDERS} fresh lock objects (planted) are refused at once, none of them read, ours withdrawn`, async () => {
    await withLockBackend('directory', async (b) => {
      const planted = MAX_CONTENDERS + 1;
      for (let i = 0; i < planted; i++) {
        const info = { id: `p${i}`, host: 'elsewhere', pid: 1, purpose: 'planted', state: 'trying', at: new Date().toISOString() };
        await b.putBytes(`locks/entry/p${i}.json`, Buffer.from(JSON.stringify(info)));
      }
      let reads = 0;
      const get = b.get.bind(b);
      b.get = (key, options) => ((reads += 1), get(key, options));
      const read = b.readVersioned.bind(b);
      b.readVersioned = (key, options) => ((reads += 1), read(key, options));
      const busy = await rejection(acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b', { random: () => 0 }));
      expect(busy).toBeInstanceOf(LockBusyError);
      expect((busy as LockBusyError).crowd).toBe(planted);
      expect(reads).toBe(0);
      expect((await keysUnder(b, 'locks/entry/')).length).toBe(planted);
    });
  });

  for (const kind of ['directory', 's3'] as const) {
    it(`${kind}: an unreadable lock object is a contender while it is fresh, stale once not written for 10 minutes (S3: the listing's time; directories: a HEAD)`, async () => {
      await withLockBackend(kind, async (b) => {
        await b.putBytes('locks/entry/garbage.json', Buffer.from('{"id": "half-writ'));
        const busy = await rejection(acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b', { random: () => 0 }));
        expect(busy).toBeInstanceOf(LockBusyError);
        expect((busy as LockBusyError).holder).toBeUndefined();
        // Eleven minutes on (the clock reg reads; the object's time stays the server's).
        const later = () => Date.now() + 11 * 60_000;
        const lock = await acquireRemoteLock(b, 'locks/entry', 'reg sync push of a/b', { now: later });
        await lock.release();
        expect(await keysUnder(b, 'locks/')).toEqual([]);
      });
    }, 60_000);
  }
});

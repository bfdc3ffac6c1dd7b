import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { FOLLOW_HASH_MIN_BYTES } from '../../dist/store/follow-hash.js';
import { cleanedAfterEach } from '../helpers/cleanup.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { interruptWhen } from '../helpers/interrupt.js';
import { tempFilesUnder } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { commit, makeWorld, md5, pointerText, putRemoteObject, runGuarded, type World } from './world.js';

/**
 * Objects of FOLLOW_HASH_MIN_BYTES or more download with their md5 computed on a worker thread
 * that reads the temp file back behind the writer (store/follow-hash.ts). The same guarantees as
 * the in-line hash: the bytes are checked before they enter the cache, a corrupt or cut-off body
 * leaves no temp file, no cache object and no work-tree file, and nothing outside the repo moves.
 */
const BIG = randomBytes(FOLLOW_HASH_MIN_BYTES + 12_345);
const OID = md5(BIG);
const objectPath = (w: World) => join(w.repo, '.reg/cache/files/md5', OID.slice(0, 2), OID.slice(2));

function expectNothingLeft(w: World): void {
  expect(existsSync(join(w.repo, 'raw_datasets/big.bin'))).toBe(false);
  expect(existsSync(objectPath(w))).toBe(false);
  expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
  expect(tempFilesUnder(join(w.repo, 'raw_datasets'))).toEqual([]);
}

describe('a big object (hashed behind the download on a worker thread)', () => {
  const cleaned = cleanedAfterEach<World>();
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
  });

  /** A clone whose committed pointer names BIG, which only the s3rver remote holds. */
  const bigObjectWorld = async (): Promise<World> => {
    const w = cleaned(await makeWorld('s3rver', s3));
    await putRemoteObject(w, BIG);
    commit(w, { 'raw_datasets/big.bin.dvc': pointerText([{ md5: OID, size: BIG.length, path: 'big.bin' }]) });
    return w;
  };

  it('pulls from s3rver byte for byte: cached read-only, checked out, no temp file', async () => {
    const w = await bigObjectWorld();
    const r = await runGuarded(w, ['pull', 'raw_datasets/big.bin']);
    expect(r.code, r.stderr).toBe(0);
    const data = join(w.repo, 'raw_datasets/big.bin');
    expect(readFileSync(data).equals(BIG)).toBe(true);
    expect(statSync(objectPath(w)).mode & 0o777).toBe(0o444);
    expect(statSync(data).mode & 0o200).toBe(0o200);
    expect(statSync(data).ino).not.toBe(statSync(objectPath(w)).ino);
    // The work-tree copy was written during the download (the early copy), not copied from the
    // cache afterwards: its last write is no later than the object's publication in the cache.
    expect(statSync(data).mtimeMs).toBeLessThanOrEqual(statSync(objectPath(w)).ctimeMs);
    expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
    expect(tempFilesUnder(join(w.repo, 'raw_datasets'))).toEqual([]);
  }, 180_000);

  it('cache.type hardlink: the pull links the object (no early copy is written or left behind)', async () => {
    const w = await bigObjectWorld();
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    const r = await runGuarded(w, ['pull', 'raw_datasets/big.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(w.repo, 'raw_datasets/big.bin')).ino).toBe(statSync(objectPath(w)).ino);
    expect(readFileSync(objectPath(w)).equals(BIG)).toBe(true);
    expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
  }, 180_000);

  it('unsaved bytes under the file: the download is cached, the pull refuses (exit 7), the file is untouched and the early copy removed', async () => {
    const w = await bigObjectWorld();
    const mine = Buffer.from('my own unsaved work\n');
    writeFileSync(join(w.repo, 'raw_datasets/big.bin'), mine);
    const r = await runGuarded(w, ['pull', 'raw_datasets/big.bin']);
    expect(r.code, r.stderr).toBe(7);
    expect(readFileSync(join(w.repo, 'raw_datasets/big.bin')).equals(mine)).toBe(true);
    expect(readFileSync(objectPath(w)).equals(BIG)).toBe(true);
    expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
    expect(tempFilesUnder(join(w.repo, 'raw_datasets'))).toEqual([]);
  }, 180_000);

  it('a corrupt object of the right length (one byte flipped at the end): exit 6, nothing cached or checked out', async () => {
    const w = cleaned(await makeWorld('fake-s3'));
    const bad = Buffer.from(BIG);
    bad[bad.length - 1]! ^= 0xff;
    await w.putRemote(`files/md5/${OID.slice(0, 2)}/${OID.slice(2)}`, bad);
    commit(w, { 'raw_datasets/big.bin.dvc': pointerText([{ md5: OID, size: BIG.length, path: 'big.bin' }]) });
    const r = await runGuarded(w, ['pull', 'raw_datasets/big.bin']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout + r.stderr).toContain('remote.corrupt-object');
    expectNothingLeft(w);
  }, 180_000);
});

describe('a big object whose body the server cuts off or stalls half-way', () => {
  const cleaned = cleanedAfterEach<World>();
  let server: TestHttpServer;
  let url: string;
  let requests = 0;
  let mode: 'cut' | 'stall' = 'cut';
  let halfSent = false;
  beforeAll(async () => {
    server = await startHttpServer((req, res) => {
      requests++;
      if (!req.url?.endsWith(`/${OID.slice(0, 2)}/${OID.slice(2)}`)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(BIG.length), 'content-type': 'application/octet-stream' });
      res.write(BIG.subarray(0, BIG.length >> 1), () => {
        halfSent = true;
        if (mode === 'cut') res.destroy();
      });
    });
    url = server.url;
  });
  afterAll(() => server?.close());

  const webWorld = async (): Promise<World> => {
    const w = cleaned(await makeWorld('none'));
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['remotes', 'web'], { url, 'retry-budget': 5, 'read-timeout': 5, 'connect-timeout': 2 });
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['core', 'remote'], 'web');
    commit(w, { 'raw_datasets/big.bin.dvc': pointerText([{ md5: OID, size: BIG.length, path: 'big.bin' }]) });
    return w;
  };

  it('cut off every time: retried, then exit 4 within the retry budget; no temp file, nothing cached or checked out', async () => {
    mode = 'cut';
    const w = await webWorld();
    const started = Date.now();
    const r = await runGuarded(w, ['pull', 'raw_datasets/big.bin']);
    expect(r.code, r.stderr).toBe(4);
    expect(requests).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    expectNothingLeft(w);
  }, 120_000);

  it('Ctrl-C while half of it is written and the server stalls: exit 130 at once, the temp file removed, nothing cached or checked out', async () => {
    mode = 'stall';
    halfSent = false;
    const w = await webWorld();
    const r = await interruptWhen(w.repo, ['pull', 'raw_datasets/big.bin'], () => halfSent && tempFilesUnder(join(w.repo, '.reg/cache')).length > 0);
    expect(r.code, r.stderr).toBe(130);
    expect(r.afterSignalMs).toBeLessThan(10_000);
    expectNothingLeft(w);
  }, 120_000);
});

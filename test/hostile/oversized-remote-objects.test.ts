import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { regOk, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { snapshotTree } from './tree.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * The small objects reg reads whole from a remote: an entry's sync manifest (`.reg-sync.json`),
 * the site index a catalog publish left (`.reg-catalog.json`) and the files it compares. Whoever
 * can write to the bucket or directory decides their size, or streams one without end: reg reads
 * none past its limit (sync manifests 256 MiB, site indexes 64 MiB, a site file one byte past the
 * local file). A named error, nothing written in the work tree or on the remote, the sentinel
 * tree and `.git` byte-identical (runGuarded). Before, each was read whole into memory (a 3 GiB
 * sparse file ended in Node's "file too large"; an endless body until memory ran out).
 */
const MiB = 1024 * 1024;
const ENTRY = 'processed_datasets/tokenized';
const HANG_MS = 60_000;

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** A directory-remote world whose synced entry has been pushed once. */
async function pushedEntry(kind: 'dir' | 's3rver', s3?: S3Server): Promise<World> {
  const w = (world = await makeWorld(kind, s3));
  writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
  writeTree(w.repo, { [`${ENTRY}/a.txt`]: 'alpha', [`${ENTRY}/b.txt`]: 'bravo' });
  await regOk(w.repo, ['sync', 'push', ENTRY], { env: w.env });
  return w;
}

describe('a sync manifest on a directory remote', () => {
  it('over 256 MiB (sparse): sync pull and sync push refuse it by name (exit 6 sync.bad-manifest), nothing moves', async () => {
    const w = await pushedEntry('dir');
    truncateSync(join(w.remoteDir!, ENTRY, '.reg-sync.json'), 256 * MiB + 1);
    const workTree = snapshotTree(join(w.repo, ENTRY));
    const seen: Record<string, string> = {};
    for (const args of [['sync', 'pull', ENTRY], ['sync', 'push', ENTRY]]) {
      const r = await runGuarded(w, args, [w.remoteDir!], { timeoutMs: HANG_MS });
      seen[args.join(' ')] = `${r.code} ${r.errorCode} ${r.stderr.includes(`${ENTRY}/.reg-sync.json is larger than 256 MiB`)}`;
    }
    expect(seen).toEqual({ [`sync pull ${ENTRY}`]: '6 sync.bad-manifest true', [`sync push ${ENTRY}`]: '6 sync.bad-manifest true' });
    expect(snapshotTree(join(w.repo, ENTRY))).toEqual(workTree);
  }, 120_000);
});

describe('lock objects planted on a directory remote', () => {
  it('more than 64 under an entry: sync push refuses at once by name (exit 7 sync.lock-crowded), transfers nothing', async () => {
    const w = await pushedEntry('dir');
    const locks = join(w.remoteDir!, 'processed_datasets/.reg-sync-locks/tokenized');
    mkdirSync(locks, { recursive: true });
    for (let i = 0; i < 65; i++) writeFileSync(join(locks, `p${i}.json`), JSON.stringify({ id: `p${i}`, host: 'elsewhere', pid: 1, purpose: 'planted', state: 'trying', at: new Date().toISOString() }));
    writeFileSync(join(w.repo, ENTRY, 'c.txt'), 'charlie');
    const remote = snapshotTree(join(w.remoteDir!, ENTRY));
    const r = await runGuarded(w, ['sync', 'push', ENTRY], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(7);
    expect(r.errorCode).toBe('sync.lock-crowded');
    expect(r.stderr).toContain('processed_datasets/.reg-sync-locks/tokenized/ on remote team holds over 64 lock objects');
    expect(snapshotTree(join(w.remoteDir!, ENTRY))).toEqual(remote);
  }, 120_000);
});

describe('a directory nested past PATH_MAX on a directory remote', () => {
  it('sync pull of the area: exit 4 remote.bad-listing naming the directory (shortened) and the fix, not an internal error; nothing written', async () => {
    const w = await pushedEntry('dir');
    // Made a level at a time through the last level's descriptor, as only a planting tool can
    // (no path to it fits in PATH_MAX); removed with rm -rf, which walks it the same way.
    const deep = join(w.remoteDir!, 'processed_datasets/deep');
    mkdirSync(deep);
    let fd = openSync(deep, 'r');
    for (let depth = 0; depth < 25; depth++) {
      mkdirSync(`/proc/self/fd/${fd}/${'d'.repeat(200)}`);
      const below = openSync(`/proc/self/fd/${fd}/${'d'.repeat(200)}`, 'r');
      closeSync(fd);
      fd = below;
    }
    closeSync(fd);
    const workTree = snapshotTree(join(w.repo, 'processed_datasets'));
    let r: Awaited<ReturnType<typeof runGuarded>>;
    try {
      r = await runGuarded(w, ['sync', 'pull', 'processed_datasets'], [], { timeoutMs: HANG_MS });
    } finally {
      execFileSync('rm', ['-rf', deep]);
    }
    expect(r.code, r.stderr).toBe(4);
    expect(r.errorCode).toBe('remote.bad-listing');
    expect(r.stderr).toMatch(/processed_datasets\/deep\/d+\.\.\. \(\d+ characters\) nests deeper than a path may be long \(ENAMETOOLONG\)/);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(snapshotTree(join(w.repo, 'processed_datasets'))).toEqual(workTree);
  }, 120_000);
});

describe('a sync manifest on S3 served by a server that lies about it', () => {
  let s3: S3Server;
  let proxy: { server: Server; endpoint: string; sent: number; mode: 'long-length' | 'endless'; key: string };
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    s3 = await startS3Server('oversized');
    const upstream = new URL(s3.endpoint);
    // Everything goes to s3rver but a GET of a key holding `/${proxy.key}`: announced as 1 GiB, or sent without end.
    const server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url ?? '').split('?')[0]!.includes(`/${proxy.key}`)) {
        req.resume();
        const chunk = Buffer.alloc(256 * 1024, 0x20);
        res.writeHead(200, proxy.mode === 'long-length' ? { 'content-length': String(1024 * MiB), etag: '"x"' } : { etag: '"x"' });
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) proxy.sent += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: 0, mode: 'endless', key: '.reg-sync.json' };
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy?.server.close(resolve));
    await s3?.stop();
  });

  /** A pushed entry whose remote is reached through the proxy, which lies (`mode`) about the keys holding `/${key}`. */
  const entryBehindProxy = async (mode: 'long-length' | 'endless', key: string): Promise<World> => {
    const w = await pushedEntry('s3rver', s3);
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['remotes', 'team', 'endpoint-url'], proxy.endpoint);
    Object.assign(proxy, { mode, key, sent: 0 });
    return w;
  };

  for (const mode of ['long-length', 'endless'] as const) {
    it(`${mode === 'long-length' ? 'a Content-Length of 1 GiB: refused on the headers' : 'an endless body: stopped at 256 MiB'}, exit 6 sync.bad-manifest, the work tree unchanged`, async () => {
      const w = await entryBehindProxy(mode, '.reg-sync.json');
      const workTree = snapshotTree(join(w.repo, ENTRY));
      const r = await runGuarded(w, ['sync', 'pull', ENTRY], [], { timeoutMs: HANG_MS });
      expect(r.code, r.stderr).toBe(6);
      expect(r.errorCode).toBe('sync.bad-manifest');
      expect(r.stderr).toContain(`${ENTRY}/.reg-sync.json is larger than 256 MiB`);
      // Socket buffers let a server run ahead a little; an unbounded read would take it all.
      expect(proxy.sent).toBeLessThan(mode === 'long-length' ? 64 * MiB : 320 * MiB);
      expect(snapshotTree(join(w.repo, ENTRY))).toEqual(workTree);
    }, 120_000);
  }

  it("reg doctor's probe object read back without end: the remote check fails (exit 1), the probe deleted", async () => {
    const w = await entryBehindProxy('endless', '.reg-doctor/probe-');
    const before = (await w.remoteKeys()).filter((k) => k.startsWith('.reg-doctor/'));
    const r = await runGuarded(w, ['doctor'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toContain('the remote sends back more bytes than were written');
    expect(proxy.sent).toBeLessThan(64 * MiB);
    expect((await w.remoteKeys()).filter((k) => k.startsWith('.reg-doctor/'))).toEqual(before);
  }, 120_000);

  it('a file of the entry sent without end: stopped at the size its manifest lists (exit 6), no temp file, nothing written', async () => {
    const w = await entryBehindProxy('endless', 'a.txt');
    rmSync(join(w.repo, ENTRY, 'a.txt'));
    const workTree = snapshotTree(join(w.repo, ENTRY));
    const r = await runGuarded(w, ['sync', 'pull', ENTRY], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain('more than the 5 bytes its manifest lists');
    expect(proxy.sent).toBeLessThan(64 * MiB);
    expect(snapshotTree(join(w.repo, ENTRY))).toEqual(workTree);
  }, 120_000);
});

describe('an S3 listing that never advances', () => {
  it('a server that hands back the continuation token it was given: sync pull of an area stops (exit 4 remote.bad-listing), not asking forever', async () => {
    const w = (world = await makeWorld('fake-s3'));
    writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    w.fake!.stuckListing = true;
    const r = await runGuarded(w, ['sync', 'pull', 'processed_datasets'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(4);
    expect(r.errorCode).toBe('remote.bad-listing');
    expect(r.stderr).toContain('does not advance');
    expect(w.fake!.requests.filter((q) => q.url.includes('list-type=2')).length).toBeLessThan(10);
  }, 120_000);

  it('a listing page without end: the SDK reads at most 64 MiB of it (exit 4 naming the oversized response)', async () => {
    const w = (world = await makeWorld('fake-s3'));
    writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    w.fake!.endlessListing = true;
    const r = await runGuarded(w, ['sync', 'pull', 'processed_datasets'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('a response longer than 67108864 bytes');
    // Socket buffers let the server run ahead a little; the SDK's own collector would take it all.
    expect(w.fake!.listingBytes).toBeLessThan(80 * MiB);
  }, 120_000);
});

describe('what an earlier catalog publish left on a directory remote', () => {
  it('a site index over 64 MiB: catalog publish refuses it by name (exit 6), deletes nothing', async () => {
    const w = (world = await makeWorld('dir'));
    await regOk(w.repo, ['catalog', 'publish'], { env: w.env });
    const index = join(w.remoteDir!, 'catalog/.reg-catalog.json');
    truncateSync(index, 64 * MiB + 1);
    const before = snapshotTree(w.remoteDir!);
    const r = await runGuarded(w, ['catalog', 'publish'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(6);
    expect(r.errorCode).toBe('catalog.bad-site-index');
    expect(r.stderr).toContain('catalog/.reg-catalog.json on the remote team');
    expect(snapshotTree(w.remoteDir!)).toEqual(before);
  }, 120_000);

  it('a site file of 3 GiB (sparse) where the site has a small one: compared without reading it, replaced by the site\'s', async () => {
    const w = (world = await makeWorld('dir'));
    await regOk(w.repo, ['catalog', 'publish'], { env: w.env });
    const page = join(w.remoteDir!, 'catalog/index.html');
    const good = readFileSync(page);
    truncateSync(page, 3 * 1024 * MiB);
    const r = await runGuarded(w, ['catalog', 'publish'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(0);
    expect((r.json as { uploaded: string[] }).uploaded).toContain('index.html');
    expect(readFileSync(page).equals(good)).toBe(true);
  }, 120_000);
});

describe('a lock object of a sync push', () => {
  it('a 3 GiB one (sparse), just written: a contender, never read (exit 7 sync.locked); garbage older than 10 minutes: stale, removed, the push goes on', async () => {
    const w = await pushedEntry('dir');
    const locks = join(w.remoteDir!, 'processed_datasets/.reg-sync-locks/tokenized');
    mkdirSync(locks, { recursive: true });
    const lock = join(locks, 'zzz-other.json');
    writeFileSync(lock, '');
    truncateSync(lock, 3 * 1024 * MiB);
    writeFileSync(join(w.repo, ENTRY, 'c.txt'), 'charlie');
    const busy = await runGuarded(w, ['sync', 'push', ENTRY], [], { timeoutMs: HANG_MS });
    expect(busy.code, busy.stderr).toBe(7);
    expect(busy.errorCode).toBe('sync.locked');
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(lock, old, old);
    const pushed = await runGuarded(w, ['sync', 'push', ENTRY], [], { timeoutMs: HANG_MS });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(readFileSync(join(w.remoteDir!, ENTRY, 'c.txt'), 'utf8')).toBe('charlie');
    expect(snapshotTree(locks)).toEqual({ '': expect.stringMatching(/^dir /) });
  }, 120_000);
});

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { S3Backend } from '../../dist/store/s3.js';
import { regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { snapshotTree } from './tree.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * A server that never goes quiet for a whole read-timeout but sends next to nothing: a byte every
 * 200 ms of the object bodies, or of the response headers (the status line included). Every byte
 * reset the idle timeout, so `reg pull` waited forever. Now fewer than 1 KiB in a read-timeout
 * window fails the request like a stall: retried within the retry budget, then exit 4 naming the
 * trickle; no data file written, no temp file left, the sentinel tree and `.git` byte-identical.
 * The one answer S3 itself pads a byte at a time (CompleteMultipartUpload's keep-alive spaces)
 * still completes.
 */
const DATASET = 'raw_datasets/images';
const FILES = { [`${DATASET}/a.bin`]: randomBytes(48 * 1024), [`${DATASET}/b.bin`]: randomBytes(48 * 1024) };
const TRICKLE_MS = 200;
const HANG_MS = 90_000;

type Mode = 'body' | 'headers' | 'padded-complete' | 'slow-reader';

/** An HTTP proxy in front of `upstream` that trickles what `mode` says and passes everything else through. */
async function startTrickleProxy(upstream: string): Promise<{ endpoint: string; mode: Mode | undefined; trickled: number; padded: number; close(): Promise<void> }> {
  const up = new URL(upstream);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const drip = (res: ServerResponse, bytes: Buffer, onByte: () => void) => {
    let at = 0;
    const timer = setInterval(() => {
      if (res.destroyed || at >= bytes.length) {
        clearInterval(timer);
        return void res.end();
      }
      res.write(bytes.subarray(at, ++at));
      onByte();
    }, TRICKLE_MS);
    timers.add(timer);
  };
  const forward = (req: IncomingMessage, onAnswer: (answer: IncomingMessage) => void, onError: () => void) => {
    const u = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, onAnswer);
    u.on('error', onError);
    req.pipe(u);
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const isData = req.method === 'GET' && path.includes('/files/md5/');
    if (state.mode === 'body' && isData) {
      return forward(req, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => drip(res, Buffer.concat(chunks), () => state.trickled++));
      }, () => res.destroy());
    }
    if (state.mode === 'headers' && isData) {
      req.resume();
      // Written straight to the socket, a byte at a time: the status line and a long header.
      res.socket?.on('error', () => undefined);
      const head = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\nx-padding: ${'p'.repeat(8000)}\r\n\r\nx`);
      let at = 0;
      const timer = setInterval(() => {
        if (!res.socket || res.socket.destroyed || at >= head.length) return clearInterval(timer);
        res.socket.write(head.subarray(at, ++at));
        state.trickled++;
      }, TRICKLE_MS);
      timers.add(timer);
      return;
    }
    if (state.mode === 'slow-reader' && req.method === 'PUT' && path.includes('/files/md5/')) {
      // Takes an upload's body a byte every 200 ms and never answers: once the socket buffers are
      // full, the sender's writes wait for a window that opens by one byte at a time.
      req.pause();
      const timer = setInterval(() => {
        if (req.destroyed || req.readableEnded) return clearInterval(timer);
        if (req.read(1) !== null) state.trickled++;
      }, TRICKLE_MS);
      timers.add(timer);
      return;
    }
    if (state.mode === 'padded-complete' && req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '')) {
      // As S3 does while it assembles the parts: 200 at once, a space now and then, the XML last.
      res.writeHead(200, { 'content-type': 'application/xml' });
      const pad = setInterval(() => {
        res.write(' ');
        state.padded++;
      }, TRICKLE_MS);
      timers.add(pad);
      return forward(req, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => setTimeout(() => (clearInterval(pad), res.end(Buffer.concat(chunks))), 2_500));
      }, () => res.destroy());
    }
    forward(req, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    }, () => res.destroy());
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode: undefined as Mode | undefined,
    trickled: 0,
    padded: 0,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return state;
}

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Asserts a pull that met a trickle: exit 4 naming it, no data file, no temp file, nothing in the cache. */
async function expectTricklingPull(w: World, remoteName: string, what: RegExp): Promise<void> {
  const started = Date.now();
  const r = await runGuarded(w, ['pull', DATASET], [], { timeoutMs: HANG_MS });
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toMatch(what);
  expect(r.stderr).toContain(`reg remote modify ${remoteName} read-timeout`);
  expect(r.stderr).not.toMatch(/internal error/i);
  // read-timeout 1 s, retry budget 3 s: a few windows per object, far from the test's kill.
  expect(Date.now() - started).toBeLessThan(45_000);
  expect(Object.keys(snapshotTree(join(w.repo, 'raw_datasets'))).filter((k) => k.startsWith('images/'))).toEqual([]);
  expect(tempFilesUnder(w.repo)).toEqual([]);
}

/** A world whose dataset is pushed and then gone from the work tree and the cache. */
async function pushedAndForgotten(w: World): Promise<void> {
  writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
  writeTree(w.repo, FILES);
  await regOk(w.repo, ['add', DATASET], { env: w.env });
  await regOk(w.repo, ['push', DATASET], { env: w.env });
  rmSync(join(w.repo, DATASET), { recursive: true });
  rmSync(join(w.repo, '.reg/cache'), { recursive: true });
}

const configOf = (w: World) => join(w.repo, '.reg/config.yaml');

describe('an S3 remote that trickles', () => {
  let s3: S3Server;
  let proxy: Awaited<ReturnType<typeof startTrickleProxy>>;
  beforeAll(async () => {
    s3 = await startS3Server('trickle');
    proxy = await startTrickleProxy(s3.endpoint);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  const behindProxy = async (mode: Mode): Promise<World> => {
    const w = (world = await makeWorld('s3rver', s3));
    await pushedAndForgotten(w);
    for (const [option, value] of [['endpoint-url', proxy.endpoint], ['read-timeout', 1], ['retry-budget', 3]] as const) setConfigValue(configOf(w), ['remotes', 'team', option], value);
    Object.assign(proxy, { mode, trickled: 0 });
    return w;
  };

  it('object bodies a byte every 200 ms: reg pull exits 4 naming the trickle, within the retry budget, nothing written', async () => {
    const w = await behindProxy('body');
    await expectTricklingPull(w, 'team', /fewer than the 1024 bytes per read-timeout reg requires/);
    expect(proxy.trickled).toBeGreaterThan(0);
  }, 120_000);

  it('response headers a byte every 200 ms: the same', async () => {
    const w = await behindProxy('headers');
    await expectTricklingPull(w, 'team', /bytes of response headers in 1 s, fewer than the 1024/);
    expect(proxy.trickled).toBeGreaterThan(0);
  }, 120_000);

  it('a server that reads an upload a byte every 200 ms: reg push exits 4 within the retry budget, the object never on the remote', async () => {
    const w = (world = await makeWorld('s3rver', s3));
    writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    // Larger than loopback's socket buffers on both ends (a few MiB each), so the writes must wait.
    const big = randomBytes(40 << 20);
    writeTree(w.repo, { [`${DATASET}/big.bin`]: big });
    await regOk(w.repo, ['add', DATASET], { env: w.env });
    for (const [option, value] of [['endpoint-url', proxy.endpoint], ['read-timeout', 1], ['retry-budget', 3]] as const) setConfigValue(configOf(w), ['remotes', 'team', option], value);
    Object.assign(proxy, { mode: 'slow-reader', trickled: 0 });
    try {
      const started = Date.now();
      const r = await runGuarded(w, ['push', DATASET], [], { timeoutMs: HANG_MS });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/cannot reach the server: giving up after \d+ attempts over [\d.]+ s: TimeoutError: no data moved for 1 s \(read-timeout\)/);
      expect(r.stderr).not.toMatch(/internal error/i);
      // Only reg's own report: the SDK warned on the console once per failed attempt.
      expect(r.stderr.split('\n').filter((line) => line !== '' && !/^(reg: |  )/.test(line))).toEqual([]);
      expect(Date.now() - started).toBeLessThan(45_000);
      expect(proxy.trickled).toBeGreaterThan(0);
      const md5 = createHash('md5').update(big).digest('hex');
      const direct = new S3Backend({ bucket: s3.bucket, prefix: '', endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 4 }, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
      try {
        const keys: string[] = [];
        for await (const page of direct.list('')) for (const o of page) keys.push(o.key);
        expect(keys.filter((k) => k.includes(md5.slice(2)))).toEqual([]);
      } finally {
        direct.close();
      }
    } finally {
      proxy.mode = undefined;
    }
  }, 120_000);

  it("CompleteMultipartUpload padded with a space every 200 ms for 2.5 s (what S3 does while it assembles the parts) completes under a 1 s read-timeout", async () => {
    proxy.mode = 'padded-complete';
    proxy.padded = 0;
    const options = { bucket: s3.bucket, prefix: `padded-${Date.now()}`, endpointUrl: proxy.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required' as const, maxSockets: 4, readTimeout: 1, multipartThreshold: 6 << 20, partSize: 5 << 20 };
    const backend = new S3Backend(options, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    const dir = tempDir('reg-padded-');
    try {
      const bytes = randomBytes((11 << 20) + 3);
      writeFileSync(join(dir, 'big.bin'), bytes);
      const md5 = createHash('md5').update(bytes).digest('hex');
      await backend.putFile('files/md5/big', join(dir, 'big.bin'), bytes.length, { expectMd5: md5 });
      expect(proxy.padded).toBeGreaterThanOrEqual(10);
      const { body } = await backend.get('files/md5/big');
      const got: Buffer[] = [];
      for await (const c of body) got.push(c as Buffer);
      expect(createHash('md5').update(Buffer.concat(got)).digest('hex')).toBe(md5);
    } finally {
      backend.close();
      removeDir(dir);
      proxy.mode = undefined;
    }
  }, 120_000);
});

describe('an HTTP(S) remote that trickles', () => {
  it('object bodies a byte every 200 ms: reg pull exits 4 naming the trickle, nothing written', async () => {
    const w = (world = await makeWorld('dir'));
    await pushedAndForgotten(w);
    let trickled = 0;
    const timers = new Set<NodeJS.Timeout>();
    const server = createServer((req, res) => {
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(w.remoteDir!, decodeURIComponent((req.url ?? '/').split('?')[0]!)));
      } catch {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': String(bytes.length) });
      if (req.method === 'HEAD') return void res.end();
      let at = 0;
      const timer = setInterval(() => {
        if (res.destroyed || at >= bytes.length) return clearInterval(timer);
        res.write(bytes.subarray(at, ++at));
        trickled++;
      }, TRICKLE_MS);
      timers.add(timer);
    });
    const sockets = new Set<Socket>();
    server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      setConfigValue(configOf(w), ['remotes', 'web'], { url, 'read-timeout': 1, 'retry-budget': 3 });
      setConfigValue(configOf(w), ['core', 'remote'], 'web');
      await expectTricklingPull(w, 'web', /fewer than the 1024 bytes per read-timeout reg requires/);
      expect(trickled).toBeGreaterThan(0);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);
});

import { get, request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOW_SPEED_BYTES, watchBody, watchingAgents } from '../../dist/store/response-watch.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';

/**
 * watchBody: a response body fails with a TimeoutError once no byte arrives for the read-timeout,
 * or fewer than LOW_SPEED_BYTES arrive in one (a trickle), while the reader wants more; a reader
 * that is slow (the body holds bytes it has not taken) is never mistaken for a stalled server.
 * watchingAgents: the wait for response headers that arrive a byte at a time is cut the same way.
 */
const CHUNK = Buffer.alloc(256 * 1024, 7);
let server: TestHttpServer;
let base: string;

beforeAll(async () => {
  server = await startHttpServer((req, res) => {
    res.writeHead(200, { 'content-length': String(CHUNK.length * 4) });
    if (req.url === '/stall') res.write(CHUNK); // a quarter, then nothing more
    else if (req.url === '/trickle' || req.url === '/padded') trickle(res, req.url === '/padded' ? 12 : Infinity);
    else {
      res.write(CHUNK);
      setTimeout(() => res.end(Buffer.concat([CHUNK, CHUNK, CHUNK])), 50);
    }
  });
  base = server.url;
});
afterAll(() => server?.close());

/** A byte every 100 ms: `count` of them, then the rest of the body at once (a keep-alive-padded answer), or without end. */
function trickle(res: import('node:http').ServerResponse, count: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    if (sent++ < count) return void res.write(' ');
    clearInterval(timer);
    res.end(Buffer.alloc(CHUNK.length * 4 - count, 1));
  }, 100);
}

const drain = (body: NodeJS.ReadableStream) => {
  let received = 0;
  return pipeline(body, new Writable({ write: (c: Buffer, _e, cb) => ((received += c.length), cb()) })).then(
    () => ({ received, err: undefined }),
    (err: Error) => ({ received, err }),
  );
};

const request = (path: string) => new Promise<IncomingMessage>((resolve, reject) => get(`${base}${path}`, resolve).on('error', reject));

describe('watchBody', () => {
  it('a body that stalls half-way fails with a TimeoutError after about the read-timeout', async () => {
    const body = watchBody(await request('/stall'), 400);
    const started = Date.now();
    let received = 0;
    const err = await pipeline(body, new Writable({ write: (c: Buffer, _e, cb) => ((received += c.length), cb()) })).then(() => undefined, (e: Error) => e);
    expect(err?.name).toBe('TimeoutError');
    expect(err?.message).toContain('read-timeout');
    expect(received).toBe(CHUNK.length);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a reader slower than the timeout is not a stall: the whole body arrives', async () => {
    const body = watchBody(await request('/slow-reader'), 200);
    let received = 0;
    // Each write takes longer than the read-timeout: the body sits full (backpressure) meanwhile.
    const slow = new Writable({ highWaterMark: 1, write: (c: Buffer, _e, cb) => setTimeout(() => ((received += c.length), cb()), 300) });
    await pipeline(body, slow);
    expect(received).toBe(CHUNK.length * 4);
  }, 60_000);

  it('a body trickled a byte every 100 ms fails with a TimeoutError after about one read-timeout window, naming the low speed', async () => {
    const started = Date.now();
    const { err, received } = await drain(watchBody(await request('/trickle'), 400));
    expect(err?.name).toBe('TimeoutError');
    expect(err?.message).toMatch(new RegExp(`the server sent \\d+ bytes of the response in [\\d.]+ s, fewer than the ${LOW_SPEED_BYTES} bytes per read-timeout`));
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(20);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('with the low-speed rule off (floor 0: the padded CompleteMultipartUpload answer) the same trickle is read to its end', async () => {
    const { err, received } = await drain(watchBody(await request('/padded'), 400, 0));
    expect(err).toBeUndefined();
    expect(received).toBe(CHUNK.length * 4);
  });
});

describe('watchingAgents', () => {
  let tcp: import('node:net').Server;
  let port: number;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Answers '/slow' with its status line and headers a byte every 100 ms, anything else at once.
    tcp = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', (head: Buffer) => {
        const answer = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-padding: ' + 'p'.repeat(4000) + '\r\n\r\nok');
        if (!head.toString('latin1').startsWith('GET /slow ')) return void socket.end(answer);
        let at = 0;
        const timer = setInterval(() => {
          if (socket.destroyed || at >= answer.length) return clearInterval(timer);
          socket.write(answer.subarray(at, ++at));
        }, 100);
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => tcp.close(resolve));
  });

  const fetchWith = (path: string) => {
    const { httpAgent, httpsAgent } = watchingAgents({ readTimeoutMs: 400, maxSockets: 1 });
    httpsAgent.destroy();
    return new Promise<{ status?: number; err?: Error }>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, agent: httpAgent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
      });
      req.on('error', (err) => resolve({ err }));
      req.end();
    }).finally(() => httpAgent.destroy());
  };

  it('response headers trickled a byte every 100 ms: the request fails with a TimeoutError after about one window', async () => {
    const started = Date.now();
    const { err, status } = await fetchWith('/slow');
    expect(status).toBeUndefined();
    expect(err?.name).toBe('TimeoutError');
    expect(err?.message).toContain('bytes of response headers in 0.4 s');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('headers that arrive at once pass', async () => {
    expect(await fetchWith('/fast')).toEqual({ status: 200 });
  });
});

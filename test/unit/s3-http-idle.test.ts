import { get, type IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchBody } from '../../dist/store/s3-http.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';

/**
 * watchBody: a response body fails with a TimeoutError once no byte arrives for the read-timeout
 * while the reader wants more; a reader that is slow (the body holds bytes it has not taken) is
 * never mistaken for a stalled server.
 */
const CHUNK = Buffer.alloc(256 * 1024, 7);
let server: TestHttpServer;
let base: string;

beforeAll(async () => {
  server = await startHttpServer((req, res) => {
    res.writeHead(200, { 'content-length': String(CHUNK.length * 4) });
    if (req.url === '/stall') res.write(CHUNK); // a quarter, then nothing more
    else {
      res.write(CHUNK);
      setTimeout(() => res.end(Buffer.concat([CHUNK, CHUNK, CHUNK])), 50);
    }
  });
  base = server.url;
});
afterAll(() => server?.close());

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
});

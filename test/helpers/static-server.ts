import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';

/**
 * A small static file server on 127.0.0.1 for the HTTP(S) remote tests: serves a directory
 * (e.g. a pushed directory remote) with HEAD, GET, ETag, Accept-Ranges and single ranges
 * (`bytes=N-`, honouring If-Range), and can misbehave on purpose:
 *
 * - `stall(path)`: send the headers and half the body, then nothing (a stalled response);
 * - `breakOnce(path)`: send half the body, then reset the connection, once per path;
 * - `corrupt(path)`: serve other bytes than the file holds.
 */
export interface StaticServerHooks {
  stall?: (path: string) => boolean;
  breakOnce?: (path: string) => boolean;
  corrupt?: (path: string) => boolean;
}

export interface StaticServer {
  url: string;
  hooks: StaticServerHooks;
  requests: Array<{ method: string; path: string; range?: string }>;
  close(): Promise<void>;
}

export async function startStaticServer(root: string, hooks: StaticServerHooks = {}): Promise<StaticServer> {
  const sockets = new Set<Socket>();
  const broken = new Set<string>();
  const requests: StaticServer['requests'] = [];
  const state: StaticServer = { url: '', hooks, requests, close: async () => undefined };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const rel = normalize(path).replace(/^\/+/, '');
    if (rel.startsWith('..')) return void res.writeHead(400).end();
    const file = join(root, rel);
    let st;
    try {
      st = statSync(file);
    } catch {
      return void res.writeHead(404, { 'content-length': '0' }).end();
    }
    if (!st.isFile()) return void res.writeHead(404, { 'content-length': '0' }).end();
    let body = readFileSync(file);
    if (state.hooks.corrupt?.(path)) body = Buffer.from(body.map((b) => b ^ 0xff));
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const headers: Record<string, string> = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (ifRange === undefined || ifRange === etag)) start = Number(range[1]);
    const chunk = body.subarray(start);
    if (start > 0) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    headers['content-length'] = String(chunk.length);
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();
    if (state.hooks.stall?.(path)) return void res.write(chunk.subarray(0, chunk.length >> 1));
    if (start === 0 && !broken.has(path) && state.hooks.breakOnce?.(path)) {
      broken.add(path);
      res.write(chunk.subarray(0, chunk.length >> 1), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(chunk);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP proxy in front of a test S3 server that holds a deterministic subset of requests open,
 * the way a bad network or an overloaded server does:
 *
 * - `headers`: the request is read but never answered;
 * - `body`: the response headers and half of the body are sent, then nothing more;
 * - `upload`: half of the request body is read, then the proxy stops reading (the client's
 *   upload stalls; a body small enough to fit in the socket buffers stalls like `headers`);
 * - `mixed`: the three in turn.
 *
 * Request number n (in arrival order, from 0) stalls when n % every === offset. Stalled
 * connections stay open until close().
 */
export type StallMode = 'headers' | 'body' | 'upload' | 'mixed';

export interface StallProxyOptions {
  /** The server to forward to, e.g. http://127.0.0.1:4568. */
  upstream: string;
  /** Stall one request in `every` (50 = 2 %). */
  every: number;
  offset?: number;
  mode?: StallMode;
}

export interface StallProxy {
  endpoint: string;
  stats: { requests: number; stalled: number; byMode: Record<Exclude<StallMode, 'mixed'>, number> };
  close(): Promise<void>;
}

const CYCLE: Array<Exclude<StallMode, 'mixed'>> = ['headers', 'body', 'upload'];

export async function startStallProxy(options: StallProxyOptions): Promise<StallProxy> {
  const upstream = new URL(options.upstream);
  const sockets = new Set<Socket>();
  const stats: StallProxy['stats'] = { requests: 0, stalled: 0, byMode: { headers: 0, body: 0, upload: 0 } };
  const offset = options.offset ?? Math.floor(options.every / 2);

  const forward = (req: IncomingMessage, res: ServerResponse, onResponse: (up: IncomingMessage) => void) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      onResponse,
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const n = stats.requests++;
    const stalled = n % options.every === offset;
    const mode = !stalled ? undefined : options.mode === undefined || options.mode === 'mixed' ? CYCLE[stats.stalled % CYCLE.length]! : options.mode;
    if (mode) {
      stats.stalled++;
      stats.byMode[mode]++;
    }
    if (mode === 'headers') {
      req.resume();
      return;
    }
    if (mode === 'upload') {
      const length = Number(req.headers['content-length'] ?? 0);
      let got = 0;
      req.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= length / 2) req.pause();
      });
      return;
    }
    forward(req, res, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (mode !== 'body') {
        up.pipe(res);
        return;
      }
      const half = Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        const part = chunk.subarray(0, Math.min(chunk.length, half - sent));
        sent += part.length;
        res.write(part);
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

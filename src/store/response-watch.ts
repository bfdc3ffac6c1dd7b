import { Agent as HttpAgent, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable, Transform, finished, type TransformCallback } from 'node:stream';

/**
 * The least a server must send in every read-timeout window while reg waits for its answer (the
 * idea of git's http.lowSpeedLimit). Without it a server sending one byte every 59 s was never
 * idle long enough for the read-timeout and held a command forever. A window with no byte at all
 * is the idle timeout's (its own message); this rule is for the trickle.
 */
export const LOW_SPEED_BYTES = 1024;

/** The error an idle request ends with: a TimeoutError, which the retry layer treats as transient. */
export function idleTimeoutError(ms: number, what: string): Error {
  return Object.assign(new Error(`no data ${what} for ${seconds(ms)} s (read-timeout)`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

/** The error a trickling answer ends with: also a TimeoutError, retried within the retry budget. */
export function lowSpeedError(ms: number, what: string, bytes: number): Error {
  return Object.assign(new Error(`the server sent ${bytes} bytes of ${what} in ${seconds(ms)} s, fewer than the ${LOW_SPEED_BYTES} bytes per read-timeout reg requires (a trickling or stuck server)`), {
    name: 'TimeoutError',
    code: 'ETIMEDOUT',
  });
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

type Socketed = { socket?: { bytesRead?: number } | null };

/**
 * Fails the body with a TimeoutError when, while the reader wants more, no byte arrives for `ms`
 * (the idle rule) or fewer than `floor` bytes arrive in a window of `ms` (the low-speed rule; 0
 * turns it off, for the one answer S3 pads with keep-alive spaces: CompleteMultipartUpload).
 * The body is returned as it is, watched from the side: a timer every `ms / 8` looks at the
 * socket's byte count, so nothing runs per chunk and no stream stage is added (for a 1 GiB
 * download that stage was 16,000 pushes and timer re-arms). While the body holds bytes the reader
 * has not taken, the silence is the reader's, not the server's. A body without a socket is passed
 * through a guard stream instead (the idle rule only).
 */
export function watchBody(source: Readable, ms: number, floor = LOW_SPEED_BYTES): Readable {
  const socket = (source as Readable & Socketed).socket;
  if (socket === null || socket === undefined || typeof socket.bytesRead !== 'number') return guardBody(source, ms);
  watchSocketBody(source, socket as { bytesRead: number }, ms, floor);
  return source;
}

/**
 * watchBody for a body whose socket is known (an http.IncomingMessage): watched in place, so the
 * caller keeps using `source` itself.
 */
export function watchSocketBody(source: Readable, socket: { bytesRead: number }, ms: number, floor = LOW_SPEED_BYTES): void {
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  let windowStart = quietSince;
  let windowMark = seen;
  const timer = setInterval(() => {
    const now = Date.now();
    const read = socket.bytesRead;
    if (source.readableLength > 0) {
      seen = windowMark = read;
      quietSince = windowStart = now;
      return;
    }
    if (read !== seen) {
      seen = read;
      quietSince = now;
    } else if (now - quietSince >= ms) {
      clearInterval(timer);
      source.destroy(idleTimeoutError(ms, 'received'));
      return;
    }
    if (now - windowStart >= ms) {
      const got = read - windowMark;
      if (got < floor) {
        clearInterval(timer);
        source.destroy(lowSpeedError(now - windowStart, 'the response', got));
        return;
      }
      windowStart = now;
      windowMark = read;
    }
  }, Math.max(1, Math.floor(ms / 8)));
  timer.unref();
  finished(source, { writable: false }, () => clearInterval(timer));
}

/** Passes the body through a stream that fails with a TimeoutError when no byte arrives for `ms` while the reader wants more. */
function guardBody(source: Readable, ms: number): Readable {
  const guard = new IdleGuard(ms);
  // Both ends are tied: a stall or a reader that gives up also destroys the socket's stream, and a
  // body that fails or closes early fails the guard. Not stream.pipeline: it costs an
  // AbortController and a DOMException with its stack trace per call, i.e. per request.
  finished(source, { writable: false }, (err) => {
    if (err) guard.destroy(err);
  });
  guard.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(guard);
  return guard;
}

class IdleGuard extends Transform {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    super();
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(idleTimeoutError(this.ms, 'received')), this.ms);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // While the reader is behind (push returns false), silence is the reader's, not the server's.
    if (this.push(chunk)) this.arm();
    else this.disarm();
    cb();
  }

  override _read(size: number): void {
    if (!this.writableFinished) this.arm();
    super._read(size);
  }

  override _flush(cb: TransformCallback): void {
    this.disarm();
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.disarm();
    cb(err);
  }
}

/**
 * The low-speed rule for the wait between a request being sent and its response headers, which
 * no body watch sees: a server that trickles its status line and headers (Node's parser takes up
 * to 16 KiB of them) reset every idle timer at each byte. Checked once per window of `ms` from the
 * moment the request is fully written; a window without any byte is left to the socket's idle
 * timeout.
 */
export function watchResponseHeaders(req: ClientRequest, ms: number): void {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => clearInterval(timer);
  req.once('finish', () => {
    const socket = req.socket;
    if (socket === null || req.destroyed) return;
    let mark = socket.bytesRead;
    timer = setInterval(() => {
      const read = socket.bytesRead;
      if (read > mark && read - mark < LOW_SPEED_BYTES) {
        stop();
        req.destroy(lowSpeedError(ms, 'response headers', read - mark));
      }
      mark = read;
    }, ms);
    timer.unref();
  });
  req.once('response', stop);
  req.once('close', stop);
}

type AddRequest = (req: ClientRequest, options: unknown) => void;

export interface AgentSettings {
  readTimeoutMs: number;
  /** Sockets kept open per host (at least 8). */
  maxSockets: number;
  /** false disables TLS verification; a CA bundle (PEM) replaces the default ones. */
  sslVerify?: boolean | { caBundle: Buffer } | undefined;
}

/**
 * The keep-alive HTTP and HTTPS agents of a remote, every request under watchResponseHeaders.
 * `addRequest` is where an agent receives each request (agent-base and the proxy agents hook it
 * the same way); Node's typings leave it out.
 */
export function watchingAgents(settings: AgentSettings): { httpAgent: HttpAgent; httpsAgent: HttpsAgent } {
  const options = { keepAlive: true, maxSockets: Math.max(8, settings.maxSockets) };
  const httpAgent = new HttpAgent(options);
  const httpsAgent = new HttpsAgent({
    ...options,
    ...(settings.sslVerify === false ? { rejectUnauthorized: false } : {}),
    ...(typeof settings.sslVerify === 'object' ? { ca: settings.sslVerify.caBundle } : {}),
  });
  for (const agent of [httpAgent, httpsAgent] as unknown as Array<{ addRequest: AddRequest }>) {
    const add = agent.addRequest.bind(agent);
    agent.addRequest = (req, opts) => {
      watchResponseHeaders(req, settings.readTimeoutMs);
      add(req, opts);
    };
  }
  return { httpAgent, httpsAgent };
}

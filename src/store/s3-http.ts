import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type { NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import { readBody } from './body.js';
import { watchBody } from './response-watch.js';

// CommonJS loaded by `require` (no export scan; see s3.ts); the client loads the same module.
const { NodeHttpHandler, streamCollector } = createRequire(import.meta.url)('@smithy/node-http-handler') as typeof import('@smithy/node-http-handler');

/** The most of one response the SDK reads into memory: a listing page of 1000 keys is ~1 MB, error bodies less. */
export const MAX_COLLECTED_BYTES = 64 * 1024 * 1024;

/**
 * The client's `streamCollector`: what the SDK reads whole (listing pages, error bodies, every
 * response but a GetObject body, which reg streams itself) stops at MAX_COLLECTED_BYTES. The SDK's
 * own collector has no limit: a hostile endpoint's endless listing page was read until memory ran
 * out. Anything but a Node stream goes to the SDK's collector.
 */
export function boundedStreamCollector(stream: unknown): Promise<Uint8Array> {
  if (!(stream instanceof Readable)) return streamCollector(stream as Parameters<typeof streamCollector>[0]);
  return readBody(stream, undefined, undefined, {
    maxBytes: MAX_COLLECTED_BYTES,
    tooBig: () => Object.assign(new Error(`the server sent a response longer than ${MAX_COLLECTED_BYTES} bytes where reg expects a small one (a listing page, an error)`), { name: 'OversizedResponse' }),
  });
}
type NodeHttpHandler = InstanceType<typeof NodeHttpHandler>;

type HandleArgs = Parameters<NodeHttpHandler['handle']>;
type HandleResult = Awaited<ReturnType<NodeHttpHandler['handle']>>;

/**
 * The SDK's HTTP handler with timeouts that really end a stalled request: the socket timeout (no
 * bytes moving either way: a connection that never answers, an upload the server stopped
 * reading), a watch on the response body (a download that stalls or trickles half-way, which the
 * socket timeout no longer sees once the SDK has handed the body over), and, through the agents
 * of `watchingAgents`, a trickled wait for the response headers. The SDK's own `requestTimeout`
 * only logs a warning, and a total deadline would cut long healthy transfers.
 */
export class IdleTimeoutHandler extends NodeHttpHandler {
  constructor(private readonly idleMs: number, options: NodeHttpHandlerOptions) {
    super({ ...options, socketTimeout: idleMs });
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): Promise<HandleResult> {
    const result = await super.handle(request, options);
    const body: unknown = result.response.body;
    // CompleteMultipartUpload: S3 answers 200 at once, then pads with a space every few seconds while it assembles the parts.
    const keepAlivePadded = request.method === 'POST' && request.query?.['uploadId'] !== undefined;
    if (body instanceof Readable) result.response.body = watchBody(body, this.idleMs, keepAlivePadded ? 0 : undefined);
    return result;
  }
}

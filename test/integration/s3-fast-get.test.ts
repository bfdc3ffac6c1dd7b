import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound } from '../../dist/store/backend.js';
import { remoteError, type RemoteIdentity } from '../../dist/store/remote-errors.js';
import { S3Backend } from '../../dist/store/s3.js';
import { isRetriable } from '../../dist/store/transfer.js';

/**
 * S3Backend.get sends every GetObject after the first straight through the SDK's signer and HTTP
 * handler (no middleware stack). These tests hold that route to the SDK's: the request is signed,
 * and every error response becomes an error the retry layer and the error classes treat exactly
 * as the SDK's own error for the same response.
 */
interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const answers = new Map<string, Answer>();
const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
let server: Server;
let endpoint: string;

const xmlError = (code: string, message: string, extra = '') => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message>${extra}<RequestId>req-1</RequestId></Error>`;
const key = (n: number) => `files/md5/${String(n).padStart(2, '0')}/${'a'.repeat(30)}`;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    const path = (req.url ?? '').split('?')[0]!;
    const a = answers.get(path) ?? { status: 404, body: xmlError('NoSuchKey', 'The specified key does not exist.') };
    res.writeHead(a.status, { 'content-type': a.status === 200 ? 'application/octet-stream' : 'application/xml', 'content-length': Buffer.byteLength(a.body), 'x-amz-request-id': 'req-1', ...a.headers });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

function backend(): S3Backend {
  return new S3Backend({ bucket: 'bkt', prefix: 'pre', endpointUrl: endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 4, readTimeout: 10, connectTimeout: 5 }, { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' });
}

const identity: RemoteIdentity = { name: 'origin', description: 's3://bkt/pre', kind: 's3', endpoint: 'http://127.0.0.1', credentials: 'test', secrets: [] };

async function read(b: S3Backend, k: string): Promise<{ bytes: string; size?: number }> {
  const { body, size } = await b.get(k);
  let bytes = '';
  for await (const c of body) bytes += (c as Buffer).toString();
  return { bytes, ...(size !== undefined ? { size } : {}) };
}

async function failure(b: S3Backend, k: string): Promise<Record<string, unknown> & Error> {
  try {
    await read(b, k);
  } catch (err) {
    return err as Record<string, unknown> & Error;
  }
  throw new Error(`get ${k} succeeded`);
}

describe('S3 GetObject after the first: direct route', () => {
  it('sends later GetObjects signed (SigV4, same credential scope) without the SDK middleware, to the same path', async () => {
    for (const n of [1, 2, 3]) answers.set(`/bkt/pre/${key(n)}`, { status: 200, body: `object ${n}` });
    const b = backend();
    try {
      seen.length = 0;
      expect(await read(b, key(1))).toEqual({ bytes: 'object 1', size: 8 });
      expect(await read(b, key(2))).toEqual({ bytes: 'object 2', size: 8 });
      expect(await read(b, key(3))).toEqual({ bytes: 'object 3', size: 8 });
      expect(seen.map((s) => s.url.split('?')[0])).toEqual([1, 2, 3].map((n) => `/bkt/pre/${key(n)}`));
      // The SDK sends its invocation id; the direct route has no middleware to add it.
      expect(seen[0]!.headers['amz-sdk-invocation-id']).toBeDefined();
      for (const s of seen.slice(1)) {
        expect(s.headers['amz-sdk-invocation-id']).toBeUndefined();
        expect(s.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
        expect(s.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
        expect(s.headers['x-amz-content-sha256']).toBeDefined();
      }
    } finally {
      b.close();
    }
  });

  const cases: Array<[string, Answer]> = [
    ['404 NoSuchKey', { status: 404, body: xmlError('NoSuchKey', 'The specified key does not exist.') }],
    ['403 AccessDenied', { status: 403, body: xmlError('AccessDenied', 'Access Denied') }],
    ['403 InvalidAccessKeyId', { status: 403, body: xmlError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.') }],
    ['404 NoSuchBucket', { status: 404, body: xmlError('NoSuchBucket', 'The specified bucket does not exist') }],
    ['503 SlowDown', { status: 503, body: xmlError('SlowDown', 'Please reduce your request rate.') }],
    ['500 InternalError', { status: 500, body: xmlError('InternalError', 'We encountered an internal error. Please try again.') }],
    ['301 PermanentRedirect', { status: 301, body: xmlError('PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.', '<Region>eu-west-1</Region>'), headers: { 'x-amz-bucket-region': 'eu-west-1' } }],
    ['502 without a body', { status: 502, body: '' }],
    ['429 without a body', { status: 429, body: '' }],
    ['404 without a body', { status: 404, body: '' }],
    ['403 without a body', { status: 403, body: '' }],
  ];
  for (const [what, answer] of cases) {
    it(`${what}: the same error (name, status, class, retriable or not) as the SDK's`, async () => {
      answers.set(`/bkt/pre/${key(1)}`, { status: 200, body: 'object 1' });
      answers.set(`/bkt/pre/${key(9)}`, answer);
      const viaSdk = backend();
      const direct = backend();
      try {
        const sdkErr = await failure(viaSdk, key(9)); // the first get of a backend goes through the SDK
        await read(direct, key(1)); // learns the route
        seen.length = 0;
        const directErr = await failure(direct, key(9));
        expect(seen[0]!.headers['amz-sdk-invocation-id']).toBeUndefined(); // it did take the direct route
        expect(directErr.name).toBe(sdkErr.name);
        expect(isNotFound(directErr)).toBe(isNotFound(sdkErr));
        expect(isRetriable(directErr)).toBe(isRetriable(sdkErr));
        expect((directErr.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode).toBe((sdkErr.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode);
        const a = remoteError(sdkErr, identity) as { code?: string; exit?: string; message: string };
        const b = remoteError(directErr, identity) as { code?: string; exit?: string; message: string };
        expect(b.code).toBe(a.code);
        expect(b.exit).toBe(a.exit);
        expect(b.message).toBe(a.message);
      } finally {
        viaSdk.close();
        direct.close();
      }
    });
  }
});

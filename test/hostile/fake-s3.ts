import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny S3 endpoint (plain node:http) that serves a fixed set of objects with whatever keys the
 * test gives it, `..` segments, newlines and all: s3rver normalises such keys, real S3 does not.
 * It answers what a pull needs, path-style: ListObjectsV2, GetObject and HeadObject. Requests it
 * does not know get a 501 S3 error (and are recorded, so a test can assert nothing was written).
 * The real AWS SDK talks to it through the remote's `endpoint-url`; authentication is not checked.
 */
export interface FakeS3 {
  endpoint: string;
  bucket: string;
  objects: Map<string, Buffer>;
  /** Every request seen: method and raw URL. */
  requests: Array<{ method: string; url: string }>;
  /** Set: every listing page is empty, truncated, and names the token it was asked with (a listing that never advances). */
  stuckListing: boolean;
  /** Set: a listing is answered with an XML body that never ends (bytes sent counted in listingBytes). */
  endlessListing: boolean;
  listingBytes: number;
  env: Record<string, string>;
  stop(): Promise<void>;
}

const xmlText = (s: string) =>
  s.replace(/[&<>"']|[\u0000-\u001f\u007f]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : c === "'" ? '&apos;' : `&#x${c.charCodeAt(0).toString(16)};`));

function etag(b: Buffer): string {
  return `"${createHash('md5').update(b).digest('hex')}"`;
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlText(message)}</Message></Error>`);
}

export async function startFakeS3(objects: Record<string, string | Buffer>, bucket = 'hostile-bucket'): Promise<FakeS3> {
  const store = new Map(Object.entries(objects).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
  const requests: FakeS3['requests'] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    requests.push({ method: req.method ?? '', url });
    req.resume();
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const prefix = `/${bucket}`;
    if (!rawPath.startsWith(prefix)) return s3Error(res, 404, 'NoSuchBucket', `no bucket in ${rawPath}`);
    const key = decodeURIComponent(rawPath.slice(prefix.length + 1));
    if (req.method === 'GET' && key === '' && query.get('list-type') === '2' && fake.endlessListing) {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.write('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>');
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) fake.listingBytes += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    if (req.method === 'GET' && key === '' && query.get('list-type') === '2') {
      const p = query.get('prefix') ?? '';
      const max = Number(query.get('max-keys') ?? 1000);
      const keys = [...store.keys()].filter((k) => k.startsWith(p)).sort();
      const start = Number(query.get('continuation-token') ?? 0);
      const page = fake.stuckListing ? [] : keys.slice(start, start + max);
      const truncated = fake.stuckListing || start + max < keys.length;
      const contents = page
        .map((k) => `<Contents><Key>${xmlText(k)}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>${xmlText(etag(store.get(k)!))}</ETag><Size>${store.get(k)!.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
        .join('');
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xmlText(p)}</Prefix>` +
          `<KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>` +
          (truncated ? `<NextContinuationToken>${fake.stuckListing ? start : start + max}</NextContinuationToken>` : '') +
          `${contents}</ListBucketResult>`,
      );
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && key !== '') {
      const body = store.get(key);
      if (body === undefined) {
        if (req.method === 'HEAD') {
          res.writeHead(404);
          res.end();
          return;
        }
        return s3Error(res, 404, 'NoSuchKey', `no such key ${key}`);
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag: etag(body), 'last-modified': new Date(0).toUTCString() });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    s3Error(res, 501, 'NotImplemented', `${req.method} ${url} is not supported by the fake S3 server`);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeS3 = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    objects: store,
    requests,
    stuckListing: false,
    endlessListing: false,
    listingBytes: 0,
    env: {
      AWS_ACCESS_KEY_ID: 'FAKE',
      AWS_SECRET_ACCESS_KEY: 'FAKE',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

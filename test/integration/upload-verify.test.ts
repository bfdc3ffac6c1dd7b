import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../dist/store/backend.js';
import { LocalBackend } from '../../dist/store/local.js';
import { S3Backend } from '../../dist/store/s3.js';
import { md5OfBuffer } from '../../dist/data/hash.js';
import { RegError } from '../../dist/errors.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { filesUnder } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/**
 * Backends hash what they read for an upload (PutOptions.expectMd5) and never let bytes that do
 * not match appear under the key: checked by listing the backend and by looking at the storage
 * directory itself (the remote directory, s3rver's data directory).
 */
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

let s3: S3Server;
const scratch = mkdtempSync(join(tmpdir(), 'reg-upload-verify-'));

beforeAll(async () => {
  s3 = await startS3Server('verify');
});
afterAll(async () => {
  await s3?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** An S3 backend of the test server at `endpoint`, with parts small enough for the test sizes. */
function s3Backend(endpoint: string, bucket: string, prefix: string, extra: { readTimeout?: number } = {}): S3Backend {
  return new S3Backend(
    { bucket, prefix, endpointUrl: endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8, multipartThreshold: 6 << 20, partSize: 5 << 20, ...extra },
    { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  );
}

/** A file of `size` bytes one byte off the good bytes, and the key the good bytes belong under. */
function corruptFile(label: string, size: number): { good: Buffer; bad: Buffer; path: string; oid: string; key: string } {
  const good = randomBytes(size);
  const bad = Buffer.from(good);
  bad[Math.floor(size / 2)]! ^= 0xff;
  const path = join(scratch, `bad-${label}-${randomBytes(3).toString('hex')}`);
  writeFileSync(path, bad);
  const oid = md5(good);
  return { good, bad, path, oid, key: `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}` };
}

interface Made {
  backend: Backend;
  /** Files the storage holds on disk, for this backend's keys. */
  stored(): string[];
}

const backends: Array<[string, () => Made]> = [
  [
    'directory',
    () => {
      const root = mkdtempSync(join(scratch, 'dir-'));
      return { backend: new LocalBackend(root), stored: () => filesUnder(root) };
    },
  ],
  [
    's3 (s3rver)',
    () => {
      const prefix = `p${randomBytes(4).toString('hex')}`;
      const backend = s3Backend(s3.endpoint, 'verify', prefix);
      // Everything s3rver keeps for the prefix: objects, metadata and multipart parts.
      return { backend, stored: () => filesUnder(s3.directory).filter((f) => f.includes(prefix)) };
    },
  ],
];

async function listKeys(b: Backend): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of b.list('')) for (const o of page) keys.push(o.key);
  return keys.sort();
}

const SIZES = [
  ['in memory', 1000],
  ['streamed', (2 << 20) + 17],
  ['multipart', (11 << 20) + 3],
] as const;

describe.each(backends)('uploads verify their bytes: %s', (_name, make) => {
  it.each(SIZES)('a %s object whose bytes do not match its name is refused and stored nowhere', async (label, size) => {
    const { backend, stored } = make();
    const { good, bad, path, oid, key } = corruptFile(label, size);
    const err = await backend.putFile(key, path, size, { expectMd5: oid }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code).toBe('store.content-mismatch');
    expect((err as RegError).exitCode).toBe(6);
    expect((err as RegError).message).toContain(md5(bad));
    expect(await backend.exists(key)).toBe(false);
    expect(await listKeys(backend)).toEqual([]);
    // Nothing on disk under the key either: no temp file, no truncated object (s3rver keeps
    // the parts of an aborted multipart upload apart from objects, in its uploads directory).
    expect(stored()).toEqual([]);

    // The same key takes the good bytes.
    writeFileSync(path, good);
    await backend.putFile(key, path, size, { expectMd5: oid });
    expect(await listKeys(backend)).toEqual([key]);
    backend.close();
  });

  it('refuses corrupt in-memory bytes before sending them', async () => {
    const { backend, stored } = make();
    const oid = md5(Buffer.from('good'));
    await expect(backend.putBytes(`files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`, Buffer.from('bad!'), { expectMd5: oid })).rejects.toMatchObject({ code: 'store.content-mismatch' });
    expect(stored()).toEqual([]);
    backend.close();
  });

  it.each(SIZES)('legacy (DVC 2) CRLF text of the %s size passes with the md5-dos2unix rule', async (label, size) => {
    const { backend } = make();
    let text = '';
    for (let i = 0; text.length < size; i++) text += `row ${i},value ${i * 7}\r\n`;
    const bytes = Buffer.from(text.slice(0, size));
    const oid = md5OfBuffer(bytes, true);
    expect(oid).not.toBe(md5(bytes));
    const path = join(scratch, `legacy-${label}-${randomBytes(3).toString('hex')}`);
    writeFileSync(path, bytes);
    const key = `${oid.slice(0, 2)}/${oid.slice(2)}`;
    await backend.putFile(key, path, size, { expectMd5: oid, legacy: true });
    expect(await listKeys(backend)).toEqual([key]);
    // Hashed as plain md5 it would not match: the rule matters.
    await expect(backend.putFile(`${key}x`, path, size, { expectMd5: oid })).rejects.toMatchObject({ code: 'store.content-mismatch' });
    backend.close();
  });
});

/** A streamed upload's size: over the in-memory limit, under the multipart threshold. */
const STREAMED = (2 << 20) + 17;

describe('uploads verify their bytes: a lenient server slow to store an upload', () => {
  let slow: S3Server;
  beforeAll(async () => {
    slow = await startS3Server('slow', { putDelayMs: 300 });
  });
  afterAll(async () => {
    await slow?.stop();
  });

  // s3rver keeps the body of a request its client aborted. When it is slow to start storing it,
  // the object appears after the client's first look for it has found nothing.
  it('a refused streamed object that the server creates after the abort is removed', async () => {
    const prefix = `p${randomBytes(4).toString('hex')}`;
    const backend = s3Backend(slow.endpoint, 'slow', prefix);
    const { path, oid, key } = corruptFile('slow', STREAMED);
    await expect(backend.putFile(key, path, STREAMED, { expectMd5: oid })).rejects.toMatchObject({ code: 'store.content-mismatch' });
    expect(await listKeys(backend)).toEqual([]);
    // Long after the server's delay: nothing came back.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await listKeys(backend)).toEqual([]);
    expect(filesUnder(slow.directory).filter((f) => f.includes(prefix))).toEqual([]);
    backend.close();
  });
});

/**
 * After a refused streamed upload reg looks for what the server kept. A server that takes the
 * upload and then answers the look with `onLook` (nothing: a stalled remote; or a 404).
 */
async function refusingServer(onLook: (res: ServerResponse) => void): Promise<{ server: TestHttpServer; looks: () => number }> {
  let looks = 0;
  const server = await startHttpServer((req, res) => {
    req.resume();
    const key = new URL(req.url ?? '/', 'http://x').pathname.split('/').slice(2).join('/');
    if (req.method === 'PUT') return; // the client aborts it
    if (req.method === 'HEAD' && key === '') return void res.writeHead(200).end(); // the bucket exists
    if (req.method === 'HEAD') {
      looks++;
      return onLook(res);
    }
    res.writeHead(501).end();
  });
  return { server, looks: () => looks };
}

describe('uploads verify their bytes: the looks after a refusal end', () => {
  it('when the remote does not answer one: a single look, then the refusal (exit 6)', async () => {
    const { server, looks } = await refusingServer(() => undefined);
    const backend = s3Backend(server.url, 'stalled', 'p', { readTimeout: 1 });
    try {
      const { path, oid, key } = corruptFile('stalled', STREAMED);
      const err = await backend.putFile(key, path, STREAMED, { expectMd5: oid }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RegError);
      expect((err as RegError).code).toBe('store.content-mismatch');
      expect((err as RegError).exitCode).toBe(6);
      expect(looks()).toBe(1);
    } finally {
      backend.close();
      await server.close();
    }
  });

  it('when the remote drops the connection at the look: a single look, then the refusal (exit 6)', async () => {
    const { server, looks } = await refusingServer((res) => res.socket?.destroy());
    const backend = s3Backend(server.url, 'dropped', 'p');
    try {
      const { path, oid, key } = corruptFile('dropped', STREAMED);
      await expect(backend.putFile(key, path, STREAMED, { expectMd5: oid })).rejects.toMatchObject({ code: 'store.content-mismatch', exitCode: 6 });
      expect(looks()).toBe(1);
    } finally {
      backend.close();
      await server.close();
    }
  });

  it('when the command is interrupted: no look after the interrupt, and the refusal stands', async () => {
    const interrupt = new AbortController();
    const { server, looks } = await refusingServer((res) => {
      interrupt.abort(new Error('Ctrl-C'));
      res.writeHead(404).end();
    });
    const backend = s3Backend(server.url, 'interrupted', 'p');
    try {
      const { path, oid, key } = corruptFile('interrupted', STREAMED);
      await expect(backend.putFile(key, path, STREAMED, { expectMd5: oid, signal: interrupt.signal })).rejects.toMatchObject({ code: 'store.content-mismatch' });
      expect(looks()).toBe(1);
    } finally {
      backend.close();
      await server.close();
    }
  });
});

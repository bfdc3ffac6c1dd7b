import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../dist/store/backend.js';
import { LocalBackend } from '../../dist/store/local.js';
import { S3Backend } from '../../dist/store/s3.js';
import { md5OfBuffer } from '../../dist/data/hash.js';
import { RegError } from '../../dist/errors.js';
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
      const backend = new S3Backend(
        {
          bucket: 'verify',
          prefix,
          endpointUrl: s3.endpoint,
          region: 'us-east-1',
          pathStyle: true,
          checksums: 'when_required',
          maxSockets: 8,
          multipartThreshold: 6 << 20,
          partSize: 5 << 20,
        },
        { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      );
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
    const good = randomBytes(size);
    const bad = Buffer.from(good);
    bad[Math.floor(size / 2)]! ^= 0xff;
    const path = join(scratch, `bad-${label}-${randomBytes(3).toString('hex')}`);
    writeFileSync(path, bad);
    const oid = md5(good);
    const key = `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
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
    const backend = new S3Backend(
      { bucket: 'slow', prefix, endpointUrl: slow.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8, multipartThreshold: 6 << 20, partSize: 5 << 20 },
      { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    );
    const size = (2 << 20) + 17;
    const good = randomBytes(size);
    const bad = Buffer.from(good);
    bad[size >> 1]! ^= 0xff;
    const path = join(scratch, `slow-${randomBytes(3).toString('hex')}`);
    writeFileSync(path, bad);
    const oid = md5(good);
    const key = `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
    await expect(backend.putFile(key, path, size, { expectMd5: oid })).rejects.toMatchObject({ code: 'store.content-mismatch' });
    expect(await listKeys(backend)).toEqual([]);
    // Long after the server's delay: nothing came back.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await listKeys(backend)).toEqual([]);
    expect(filesUnder(slow.directory).filter((f) => f.includes(prefix))).toEqual([]);
    backend.close();
  });
});

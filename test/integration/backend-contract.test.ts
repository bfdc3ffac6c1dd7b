import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../dist/store/backend.js';
import { isNotFound } from '../../dist/store/backend.js';
import { LocalBackend } from '../../dist/store/local.js';
import { S3Backend } from '../../dist/store/s3.js';
import { mapLimit } from '../../dist/fsutil.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/**
 * One contract, two backends: the directory backend and the S3 backend against s3rver.
 * Everything above the backend (object store, push, fetch) relies only on these properties.
 */
async function readAll(b: Backend, key: string): Promise<Buffer> {
  const { body } = await b.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listKeys(b: Backend, prefix: string, limit?: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of b.list(prefix, limit === undefined ? {} : { limit })) for (const o of page) keys.push(o.key);
  return keys.sort();
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

let s3: S3Server;
const scratch = mkdtempSync(join(tmpdir(), 'reg-contract-'));

beforeAll(async () => {
  s3 = await startS3Server('contract');
});
afterAll(async () => {
  await s3?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const backends: Array<[string, () => Backend]> = [
  ['directory', () => new LocalBackend(mkdtempSync(join(scratch, 'dir-')))],
  [
    's3 (s3rver)',
    () =>
      new S3Backend(
        {
          bucket: 'contract',
          prefix: `p${randomBytes(4).toString('hex')}/nested`,
          endpointUrl: s3.endpoint,
          region: 'us-east-1',
          pathStyle: true,
          checksums: 'when_required',
          maxSockets: 16,
          multipartThreshold: 6 << 20,
          partSize: 5 << 20,
        },
        { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      ),
  ],
];

describe.each(backends)('backend contract: %s', (_name, make) => {
  it('reports missing objects as missing', async () => {
    const b = make();
    expect(await b.exists('files/md5/00/nothing')).toBe(false);
    expect(await b.head('files/md5/00/nothing')).toBeUndefined();
    await expect(b.get('files/md5/00/nothing')).rejects.toSatisfy(isNotFound);
    expect(await listKeys(b, 'files/md5/')).toEqual([]);
    b.close();
  });

  it('stores bytes and files of every size class and reads them back exactly', async () => {
    const b = make();
    const small = Buffer.from('hello\r\nworld');
    await b.putBytes('files/md5/aa/small', small);
    expect(await b.exists('files/md5/aa/small')).toBe(true);
    expect((await b.head('files/md5/aa/small'))?.size).toBe(small.length);
    expect(await readAll(b, 'files/md5/aa/small')).toEqual(small);

    for (const [label, size] of [['empty', 0], ['tiny', 100], ['streamed', (2 << 20) + 17], ['multipart', (11 << 20) + 3]] as const) {
      const bytes = randomBytes(size);
      const path = join(scratch, `${label}-${randomBytes(3).toString('hex')}`);
      writeFileSync(path, bytes);
      let reported = 0;
      await b.putFile(`files/md5/bb/${label}`, path, size, { onBytes: (n) => (reported += n) });
      expect(reported, label).toBe(size);
      expect((await b.head(`files/md5/bb/${label}`))?.size, label).toBe(size);
      const back = await readAll(b, `files/md5/bb/${label}`);
      expect(back.length, label).toBe(size);
      expect(md5(back), label).toBe(md5(bytes));
    }
    b.close();
  });

  it('overwrites and deletes', async () => {
    const b = make();
    await b.putBytes('x/one', Buffer.from('first'));
    await b.putBytes('x/one', Buffer.from('second'));
    expect((await readAll(b, 'x/one')).toString()).toBe('second');
    await b.delete('x/one');
    expect(await b.exists('x/one')).toBe(false);
    await b.delete('x/one'); // deleting a missing object is not an error
    b.close();
  });

  it('lists by plain string prefix (not by directory), across nesting, with a limit', async () => {
    const b = make();
    const keys = ['files/md5/00/0aaa', 'files/md5/00/0bbb', 'files/md5/00/1ccc', 'files/md5/01/dddd', 'files/md5/ff/eeee.dir', '00/legacyobj'];
    for (const k of keys) await b.putBytes(k, Buffer.from(k));
    expect(await listKeys(b, 'files/md5/00/0')).toEqual(['files/md5/00/0aaa', 'files/md5/00/0bbb']);
    expect(await listKeys(b, 'files/md5/')).toEqual(keys.filter((k) => k.startsWith('files/')).sort());
    expect(await listKeys(b, '')).toEqual([...keys].sort());
    expect(await listKeys(b, '00/')).toEqual(['00/legacyobj']);
    expect((await listKeys(b, 'files/md5/', 2)).length).toBe(2);
    b.close();
  });

  it('pages through more than 1000 keys', async () => {
    const b = make();
    const keys = Array.from({ length: 1010 }, (_, i) => `files/md5/7f/${i.toString().padStart(30, '0')}`);
    await mapLimit(keys, 16, (k) => b.putBytes(k, Buffer.from('x')));
    const listed = await listKeys(b, 'files/md5/7f/');
    expect(listed).toEqual(keys);
    b.close();
  });
});

describe('directory backend specifics', () => {
  it('publishes read-only objects atomically and leaves no temp files', async () => {
    const root = mkdtempSync(join(scratch, 'ro-'));
    const b = new LocalBackend(root);
    const src = join(scratch, 'ro-src');
    writeFileSync(src, 'payload');
    await b.putFile('files/md5/ab/cdef', src, 7);
    await b.putBytes('files/md5/ab/0123.dir', Buffer.from('[]'));
    expect(statSync(join(root, 'files/md5/ab/cdef')).mode & 0o777).toBe(0o444);
    expect(readdirSync(join(root, 'files/md5/ab')).sort()).toEqual(['0123.dir', 'cdef']);
    // Re-publishing over a read-only object works (rename replaces it).
    await b.putBytes('files/md5/ab/cdef', Buffer.from('payload'));
  });
});

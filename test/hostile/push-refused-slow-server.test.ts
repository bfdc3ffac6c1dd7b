import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, regOk, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { rot } from './tree.js';
import { makeWorld, md5, runGuarded } from './world.js';

/**
 * The real CLI pushes a cache object that rotted after it was stored (its verify stamp kept, so
 * only the upload's hash sees it), big enough to be streamed, to an s3rver that keeps the bodies
 * of aborted uploads and starts storing each one 300 ms late: the object appears on the server
 * after reg's first look for it. Push refuses it with exit 6 (not "internal error"); the rotten
 * bytes are not on the remote, then or later; the sentinel tree and `.git` stay byte-identical.
 */
const STREAMED = (2 << 20) + 17;

let slow: S3Server;
beforeAll(async () => {
  slow = await startS3Server('slow-push', { putDelayMs: 300 });
}, 60_000);
afterAll(async () => {
  await slow?.stop();
});

describe('push of a rotten streamed object to a slow, lenient S3 server (real CLI)', () => {
  it('exit 6, and the rotten bytes are not on the remote, then or after the server caught up', async () => {
    const w = await makeWorld('s3rver', slow);
    try {
      const bytes = randomBytes(STREAMED);
      writeTree(w.repo, { 'raw_datasets/big.bin': bytes });
      await regOk(w.repo, ['add', 'raw_datasets/big.bin'], { env: w.env });
      git(w.repo, 'add', '-A');
      git(w.repo, 'commit', '-qm', 'big file', '--no-verify');
      const oid = md5(bytes);
      const key = `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
      rot(join(w.repo, '.reg/cache', key));

      const r = await runGuarded(w, ['push', '--no-check']);
      expect(r.code, r.stderr).toBe(6);
      expect(r.stderr).not.toMatch(/internal error/i);
      expect(r.stderr).toContain(`${key}: corrupt in the local cache`);
      expect(await w.remoteKeys()).not.toContain(key);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await w.remoteKeys()).not.toContain(key);
    } finally {
      await w.cleanup();
    }
  }, 120_000);
});

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobReader, forbidLazyFetch, gitRun } from '../../dist/git/read.js';
import { git, removeDir, tempDir } from '../helpers/repo.js';

/**
 * `reg get --repo` reads another registry through a partial clone (a promisor repository). There,
 * git fetches a missing object by itself, from that registry's server, with no timeout: a server
 * that accepts and never answers would stall the read for good. After forbidLazyFetch(dir), every
 * git process reg starts in `dir` sees a missing object as missing at once.
 */
let silent: Server;
const sockets = new Set<Socket>();
let repo: string;
const ABSENT = '0123456789abcdef0123456789abcdef01234567';

beforeAll(async () => {
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  repo = tempDir('reg-promisor-');
  git(repo, 'init', '-q', '--bare', '.');
  git(repo, 'remote', 'add', 'origin', `http://127.0.0.1:${(silent.address() as AddressInfo).port}/x.git`);
  git(repo, 'config', 'remote.origin.promisor', 'true');
  git(repo, 'config', 'remote.origin.partialclonefilter', 'blob:none');
  forbidLazyFetch(repo);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
  removeDir(repo);
});

describe('a partial clone reg reads after forbidLazyFetch', () => {
  it('git cat-file --batch (BlobReader) answers "missing" for an absent object, never asking the silent server', async () => {
    const reader = new BlobReader(repo);
    try {
      expect(await reader.read(ABSENT)).toBe('missing');
    } finally {
      reader.close();
    }
    expect(sockets.size).toBe(0);
  }, 15_000);

  it('a plumbing read through gitRun fails at once, never asking the silent server', async () => {
    const r = await gitRun(repo, ['cat-file', '-p', ABSENT], undefined, { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(sockets.size).toBe(0);
  }, 15_000);
});

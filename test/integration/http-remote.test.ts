import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';

/**
 * Read-only HTTP(S) remotes: a pushed directory remote served by a static file server is read
 * with HEAD and GET only — fetch, pull, ls — every object verified as from S3; pushes are
 * refused; a stalled body times out and is retried, a broken one resumed with a ranged GET.
 * Anonymous S3: unsigned requests read a bucket with no credentials anywhere.
 */
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const objectPath = (oid: string) => `/files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;

const FILES: Record<string, Buffer> = {
  'a.txt': Buffer.from('alpha\n'),
  'b.txt': Buffer.from('bravo\n'),
  'sub/c.txt': Buffer.from('charlie\n'),
  'sub/big.bin': randomBytes((3 << 20) + 17),
};
const BIG = md5(FILES['sub/big.bin']!);

let origin: string;
let remoteDir: string;
let server: StaticServer;
const NO_AWS = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config' };

beforeAll(async () => {
  origin = makeGitRepo();
  remoteDir = tempDir('reg-http-remote-');
  await regOk(origin, ['init']);
  writeTree(join(origin, 'raw_datasets/pages'), FILES);
  await regOk(origin, ['add', 'raw_datasets/pages']);
  await regOk(origin, ['remote', 'add', 'store', remoteDir, '--default']);
  await regOk(origin, ['push', 'raw_datasets/pages']);
  git(origin, 'add', '-A');
  git(origin, 'commit', '-q', '-m', 'v1');
  git(origin, 'tag', 'v1');
  server = await startStaticServer(remoteDir);
});

afterAll(async () => {
  await server?.close();
  removeDir(origin);
  removeDir(remoteDir);
});

/** A clone of origin with an empty cache and the HTTP remote `public` as its default. */
async function cloneWithHttpRemote(options: string[][] = []): Promise<string> {
  const dir = tempDir('reg-http-clone-');
  execFileSync('git', ['clone', '-q', origin, dir]);
  await regOk(dir, ['remote', 'add', 'public', `${server.url}/`, '--default', '--local']);
  for (const o of options) await regOk(dir, ['remote', 'modify', '--local', 'public', ...o]);
  return dir;
}

describe('an HTTP remote serving a pushed directory remote', () => {
  it('pull fetches every object with HEAD/GET only and the work tree matches', async () => {
    const clone = await cloneWithHttpRemote();
    try {
      server.requests.length = 0;
      await regOk(clone, ['pull', 'raw_datasets/pages'], { env: NO_AWS });
      for (const [rel, bytes] of Object.entries(FILES)) expect(readFileSync(join(clone, 'raw_datasets/pages', rel)).equals(bytes)).toBe(true);
      expect(new Set(server.requests.map((r) => r.method))).toEqual(new Set(['GET']));
      expect(server.requests.some((r) => r.path === objectPath(BIG))).toBe(true);
    } finally {
      removeDir(clone);
    }
  });

  it('ls reads the manifest over HTTP and --sizes asks HEAD per file', async () => {
    const clone = await cloneWithHttpRemote();
    try {
      server.requests.length = 0;
      const r = await regOk(clone, ['--json', 'ls', 'raw_datasets/pages', '--rev', 'v1', '-R', '--sizes']);
      const listing = JSON.parse(r.stdout) as { entries: Array<{ path: string; size: number }> };
      expect(listing.entries.map((e) => [e.path, e.size])).toEqual(Object.entries(FILES).map(([p, b]) => [p, b.length]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
      expect(server.requests.filter((q) => q.method === 'HEAD')).toHaveLength(4);
    } finally {
      removeDir(clone);
    }
  });

  it('fetch into an empty cache: every object, verified', async () => {
    const clone = await cloneWithHttpRemote();
    try {
      await regOk(clone, ['fetch', 'raw_datasets/pages']);
      expect(filesUnder(join(clone, '.reg/cache/files/md5'))).toHaveLength(5);
    } finally {
      removeDir(clone);
    }
  });

  it('push and sync push to it are refused before anything is sent (exit 3, remote.read-only)', async () => {
    const clone = await cloneWithHttpRemote();
    try {
      writeTree(join(clone, 'raw_datasets/more'), { 'x.txt': 'x\n' });
      await regOk(clone, ['add', 'raw_datasets/more']);
      server.requests.length = 0;
      const r = await reg(clone, ['--json', 'push', 'raw_datasets/more', '-r', 'public']);
      expect(r.code).toBe(3);
      const err = (JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } }).error;
      expect(err.code).toBe('remote.read-only');
      expect(err.message).toContain('HEAD and GET only');
      expect(err.hint).toContain('reg push -r');
      expect(server.requests).toEqual([]);
    } finally {
      removeDir(clone);
    }
  });

  it('a corrupt object is refused (exit 6) and never enters the cache', async () => {
    const clone = await cloneWithHttpRemote();
    server.hooks.corrupt = (p) => p === objectPath(md5(FILES['b.txt']!));
    try {
      const r = await reg(clone, ['fetch', 'raw_datasets/pages']);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('corrupt');
      expect(existsSync(join(clone, '.reg/cache', objectPath(md5(FILES['b.txt']!))))).toBe(false);
    } finally {
      server.hooks.corrupt = undefined;
      removeDir(clone);
    }
  });

  it('a stalled response times out (read-timeout) and the retry completes the fetch', async () => {
    const clone = await cloneWithHttpRemote([['read-timeout', '1']]);
    let stalls = 0;
    server.hooks.stall = (p) => p === objectPath(BIG) && stalls++ === 0;
    try {
      server.requests.length = 0;
      const started = Date.now();
      await regOk(clone, ['fetch', 'raw_datasets/pages']);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(server.requests.filter((q) => q.path === objectPath(BIG) && q.method === 'GET').length).toBeGreaterThanOrEqual(2);
      expect(md5(readFileSync(join(clone, '.reg/cache', objectPath(BIG))))).toBe(BIG);
    } finally {
      server.hooks.stall = undefined;
      removeDir(clone);
    }
  });

  it('a body cut off mid-way is resumed with a ranged GET (If-Range), not started over', async () => {
    const clone = await cloneWithHttpRemote();
    server.hooks.breakOnce = (p) => p === objectPath(BIG);
    try {
      server.requests.length = 0;
      await regOk(clone, ['fetch', 'raw_datasets/pages']);
      const gets = server.requests.filter((q) => q.path === objectPath(BIG));
      expect(gets).toHaveLength(2);
      expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
      expect(md5(readFileSync(join(clone, '.reg/cache', objectPath(BIG))))).toBe(BIG);
    } finally {
      server.hooks.breakOnce = undefined;
      removeDir(clone);
    }
  });
});

describe('anonymous S3', () => {
  let s3: S3Server;
  let pushed: string;
  beforeAll(async () => {
    s3 = await startS3Server('public-bucket');
    pushed = makeGitRepo();
    await regOk(pushed, ['init']);
    writeTree(join(pushed, 'raw_datasets/open'), { 'one.txt': 'one\n', 'two.txt': 'two\n' });
    await regOk(pushed, ['add', 'raw_datasets/open']);
    await regOk(pushed, ['remote', 'add', 'open', 's3://public-bucket/reg', '--default']);
    await regOk(pushed, ['remote', 'modify', 'open', 'endpoint-url', s3.endpoint]);
    await regOk(pushed, ['remote', 'modify', 'open', 'path-style', 'true']);
    await regOk(pushed, ['push', 'raw_datasets/open'], { env: s3.env });
    git(pushed, 'add', '-A');
    git(pushed, 'commit', '-q', '-m', 'open data');
  });
  afterAll(async () => {
    await s3?.stop();
    removeDir(pushed);
  });

  it('reads a public bucket with unsigned requests and no credentials anywhere; refuses to push', async () => {
    const clone = tempDir('reg-anon-clone-');
    try {
      execFileSync('git', ['clone', '-q', pushed, clone]);
      const env = { ...NO_AWS, AWS_REGION: 'us-east-1' };
      // Without `anonymous` the SDK looks for credentials and finds none.
      const signed = await reg(clone, ['pull', 'raw_datasets/open'], { env });
      expect(signed.code).toBe(4);
      await regOk(clone, ['remote', 'modify', 'open', 'anonymous', 'true']);
      await regOk(clone, ['pull', 'raw_datasets/open'], { env });
      expect(readFileSync(join(clone, 'raw_datasets/open/two.txt'), 'utf8')).toBe('two\n');
      writeTree(join(clone, 'raw_datasets/new'), { 'n.txt': 'n\n' });
      await regOk(clone, ['add', 'raw_datasets/new']);
      const push = await reg(clone, ['--json', 'push', 'raw_datasets/new'], { env });
      expect(push.code).toBe(3);
      expect((JSON.parse(push.stdout) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'remote.read-only', message: expect.stringContaining('anonymous') });
    } finally {
      removeDir(clone);
    }
  });
});

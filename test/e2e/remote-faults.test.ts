import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureRemote } from '../helpers/remote-config.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { startStallProxy } from '../helpers/stall-proxy.js';

/**
 * Remote faults through the real CLI: stalled requests never hang a transfer, and every remote
 * condition (dead endpoint, reset connections, refused credentials, wrong bucket, no region,
 * missing directory) exits 4 with its own code and a hint that fixes it — never "internal error".
 */
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server('fault-bucket');
});
afterAll(async () => {
  await s3?.stop();
});

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = Date.now();
  const value = await fn();
  return { value, seconds: (Date.now() - start) / 1000 };
}

/**
 * A registry with one small tracked file and an S3 remote `origin` at `endpoint` (path-style),
 * with `options` set on it as `reg remote modify` sets them.
 */
async function repoWithS3Remote(endpoint: string | undefined, bucket = s3.bucket, options: Record<string, string> = {}): Promise<string> {
  const repo = makeGitRepo();
  await regOk(repo, ['init']);
  writeTree(repo, { 'one.txt': `one ${randomBytes(4).toString('hex')}\n` });
  await regOk(repo, ['add', 'one.txt']);
  await configureRemote(repo, 'origin', `s3://${bucket}/p-${randomBytes(3).toString('hex')}`, { ...(endpoint !== undefined ? { 'endpoint-url': endpoint, 'path-style': 'true' } : {}), ...options }, { isDefault: true });
  return repo;
}

function errorOf(stdout: string): { code: string; message: string; hint?: string } {
  return (JSON.parse(stdout) as { error: { code: string; message: string; hint?: string } }).error;
}

describe('stalled requests (2 % of requests held open by a proxy)', () => {
  it('push and pull of many small files and one multipart-size file finish within a bounded time', async () => {
    const proxy = await startStallProxy({ upstream: s3.endpoint, every: 50, mode: 'mixed' });
    const a = makeGitRepo();
    const b = tempDir('reg-stall-clone-');
    try {
      await regOk(a, ['init']);
      const files: Record<string, string | Buffer> = {};
      for (let i = 0; i < 150; i++) files[`data/f${i}.txt`] = `small file ${i} ${randomBytes(8).toString('hex')}\n`;
      files['data/mid.bin'] = randomBytes((3 << 20) + 7); // a streamed single-part PUT
      files['big.bin'] = randomBytes((65 << 20) + 11); // above the 64 MiB multipart threshold
      writeTree(a, files);
      await regOk(a, ['add', 'data', 'big.bin']);
      await configureRemote(a, 'origin', `s3://${s3.bucket}/stall`, { 'endpoint-url': proxy.endpoint, 'path-style': 'true', 'read-timeout': '3', 'connect-timeout': '3' }, { isDefault: true });
      git(a, 'add', '-A');
      git(a, 'commit', '-qm', 'data');

      const pushed = await timed(() => reg(a, ['push', '-j', '8', '--json'], { env: s3.env }));
      expect(pushed.value.code, pushed.value.stderr).toBe(0);
      expect(pushed.seconds).toBeLessThan(120);
      const stalledDuringPush = proxy.stats.stalled;
      expect(stalledDuringPush).toBeGreaterThan(0);

      git(b, 'clone', '-q', a, '.');
      const pulled = await timed(() => reg(b, ['pull', '-j', '8'], { env: s3.env }));
      expect(pulled.value.code, pulled.value.stderr).toBe(0);
      expect(pulled.seconds).toBeLessThan(120);
      expect(proxy.stats.stalled).toBeGreaterThan(stalledDuringPush);
      for (const f of ['big.bin', 'data/mid.bin', 'data/f7.txt', 'data/f149.txt']) expect(md5(readFileSync(join(b, f))), f).toBe(md5(readFileSync(join(a, f))));
      expect(filesUnder(join(b, '.reg', 'cache')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await proxy.close();
      removeDir(a);
      removeDir(b);
    }
  }, 300_000);

  it('a remote that holds every response open gives up with exit 4 (remote.network), not a hang', async () => {
    const proxy = await startStallProxy({ upstream: s3.endpoint, every: 1, offset: 0, mode: 'headers' });
    // One attempt takes read-timeout (1 s): a 2 s budget still retries (the message may say either).
    const repo = await repoWithS3Remote(proxy.endpoint, s3.bucket, { 'read-timeout': '1', 'retry-budget': '2' });
    try {
      const r = await timed(() => reg(repo, ['push', '--json'], { env: s3.env }));
      expect(r.value.code, r.value.stderr).toBe(4);
      expect(errorOf(r.value.stdout).code).toBe('remote.network');
      expect(errorOf(r.value.stdout).message).toMatch(/giving up after \d+ attempts? over [\d.]+ s: .*read-timeout/);
      expect(r.seconds).toBeLessThan(30);
    } finally {
      await proxy.close();
      removeDir(repo);
    }
  }, 60_000);
});

describe('remote conditions each have their own code, exit 4 and a fitting hint', () => {
  it('a dead endpoint (closed port) exits 4 with remote.network in under 30 s, push and pull', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const repo = await repoWithS3Remote(`http://127.0.0.1:${port}`);
    try {
      for (const args of [['push'], ['pull', '--force']]) {
        const r = await timed(() => reg(repo, [...args, '--json'], { env: s3.env }));
        expect(r.value.code, r.value.stderr).toBe(4);
        const e = errorOf(r.value.stdout);
        expect(e.code).toBe('remote.network');
        expect(e.message).toContain('ECONNREFUSED');
        expect(e.message).toMatch(/giving up after \d+ attempts over [\d.]+ s/);
        expect(e.hint).toMatch(/running and can be reached/);
        expect(r.seconds).toBeLessThan(30);
        expect(r.value.stderr).not.toContain('internal error');
      }
    } finally {
      removeDir(repo);
    }
  }, 120_000);

  it('a server that resets every connection exits 4 with remote.network in under 30 s', async () => {
    const resetting: Server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    const repo = await repoWithS3Remote(`http://127.0.0.1:${(resetting.address() as AddressInfo).port}`);
    try {
      const r = await timed(() => reg(repo, ['push', '--json'], { env: s3.env }));
      expect(r.value.code, r.value.stderr).toBe(4);
      expect(errorOf(r.value.stdout).code).toBe('remote.network');
      expect(errorOf(r.value.stdout).hint).toMatch(/connection .* broke or stalled/);
      expect(r.seconds).toBeLessThan(30);
    } finally {
      await new Promise<void>((resolve) => resetting.close(() => resolve()));
      removeDir(repo);
    }
  }, 60_000);

  it('credentials the server does not know: remote.auth with a credentials hint (push and pull)', async () => {
    const repo = await repoWithS3Remote(s3.endpoint);
    try {
      const env = { ...s3.env, AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG1' };
      const pushed = await reg(repo, ['push', '--json'], { env });
      expect(pushed.code, pushed.stderr).toBe(4);
      expect(errorOf(pushed.stdout).code).toBe('remote.auth');
      expect(errorOf(pushed.stdout).hint).toMatch(/credentials from (the )?environment \(AWS_ACCESS_KEY_ID/);
      await regOk(repo, ['push'], { env: s3.env });
      removeDir(join(repo, '.reg', 'cache'));
      const pulled = await reg(repo, ['pull', '--force', '--json'], { env });
      expect(pulled.code, pulled.stderr).toBe(4);
      const e = errorOf(pulled.stdout);
      expect(e.code).toBe('remote.auth');
      expect(e.message).toContain('InvalidAccessKeyId');
      expect(e.hint).toMatch(/were rejected: check them with aws sts get-caller-identity/);
      expect(e.hint).not.toMatch(/re-run/);
    } finally {
      removeDir(repo);
    }
  }, 60_000);

  it('a bucket that does not exist: remote.no-such-bucket pointing at reg remote list, not "never pushed"', async () => {
    const repo = await repoWithS3Remote(s3.endpoint, 'no-such-bucket-here');
    try {
      for (const args of [['push'], ['status', '--remote'], ['pull', '--force']]) {
        const r = await reg(repo, [...args, '--json'], { env: s3.env });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(4);
        const e = errorOf(r.stdout);
        expect(e.code).toBe('remote.no-such-bucket');
        expect(e.hint).toContain('reg remote list');
        expect(e.hint).not.toMatch(/never pushed/);
      }
    } finally {
      removeDir(repo);
    }
  }, 60_000);

  it('an AWS remote with no region anywhere: remote.region with the command that sets it, nothing sent', async () => {
    const repo = await repoWithS3Remote(undefined, 'some-aws-bucket');
    const home = tempDir('reg-no-aws-home-');
    try {
      const env: Record<string, string> = {
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE01',
        AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key-not-a-real-secret',
        AWS_REGION: '',
        AWS_DEFAULT_REGION: '',
        AWS_ENDPOINT_URL: '',
        AWS_ENDPOINT_URL_S3: '',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: join(home, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
        HOME: home,
        // Anything that did try the network would go to this dead proxy, not leave 127.0.0.1.
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
      };
      const r = await timed(() => reg(repo, ['push', '--json'], { env }));
      expect(r.value.code, r.value.stderr).toBe(4);
      const e = errorOf(r.value.stdout);
      expect(e.code).toBe('remote.region');
      expect(e.hint).toContain('reg remote modify origin region');
      expect(r.seconds).toBeLessThan(30);
    } finally {
      removeDir(repo);
      removeDir(home);
    }
  }, 60_000);

  it('a directory remote that does not exist: remote.missing-directory on pull, not "never pushed"', async () => {
    const repo = makeGitRepo();
    const remote = tempDir('reg-missing-remote-');
    try {
      await regOk(repo, ['init']);
      writeTree(repo, { 'one.txt': 'one\n' });
      await regOk(repo, ['add', 'one.txt']);
      await regOk(repo, ['remote', 'add', 'nas', join(remote, 'registry'), '--default']);
      await regOk(repo, ['push']);
      removeDir(remote);
      removeDir(join(repo, '.reg', 'cache'));
      const r = await reg(repo, ['pull', '--force', '--json']);
      expect(r.code, r.stderr).toBe(4);
      const e = errorOf(r.stdout);
      expect(e.code).toBe('remote.missing-directory');
      expect(e.hint).toMatch(/mount the share or create the directory/);
    } finally {
      removeDir(repo);
      removeDir(remote);
    }
  }, 60_000);
});

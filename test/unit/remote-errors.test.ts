import { describe, expect, it } from 'vitest';
import { NotFoundError, type Backend, type ObjectInfo } from '../../dist/store/backend.js';
import { GuardedBackend } from '../../dist/store/guarded-backend.js';
import { RetriesExhaustedError, classifyRemoteError, isConnectFailure, remoteError, type RemoteIdentity } from '../../dist/store/remote-errors.js';
import { RemoteHealth, retryDelay, runTransfers, withRetry, type RetryPolicy } from '../../dist/store/transfer.js';
import { RegError, diskError } from '../../dist/errors.js';
import { findSecrets, findSecretsByLine, splitUrlCredentials } from '../../dist/policy/secrets.js';

/** Shapes of the errors the AWS SDK, Node and the filesystem produce (inputs to classification). */
const sdk = (name: string, status?: number, message = name) => Object.assign(new Error(message), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
const errno = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${code}: failed`), { code, ...extra });

const s3: RemoteIdentity = { name: 'origin', description: 's3://bucket/p', kind: 's3', credentials: 'profile "dev"', profile: 'dev', secrets: ['SuperSecretValue'] };
const dir: RemoteIdentity = { name: 'nas', description: '/mnt/nas/reg', kind: 'directory', root: '/mnt/nas/reg', secrets: [] };
const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 60_000, unreachableMs: 60_000 };

describe('classifyRemoteError', () => {
  const table: Array<[string, unknown, string | undefined, RemoteIdentity?]> = [
    ['InvalidAccessKeyId', sdk('InvalidAccessKeyId', 403), 'auth'],
    ['SignatureDoesNotMatch', sdk('SignatureDoesNotMatch', 403), 'auth'],
    ['AccessDenied', sdk('AccessDenied', 403), 'auth'],
    ['ExpiredToken', sdk('ExpiredToken', 400), 'auth'],
    ['a HEAD 403 without body', sdk('Unknown', 403, 'UnknownError'), 'auth'],
    ['missing credentials', sdk('CredentialsProviderError', undefined, 'Could not load credentials from any providers'), 'auth'],
    ['NoSuchBucket', sdk('NoSuchBucket', 404), 'no-such-bucket'],
    ['PermanentRedirect', sdk('PermanentRedirect', 301), 'region'],
    ['AuthorizationHeaderMalformed', sdk('AuthorizationHeaderMalformed', 400), 'region'],
    ['no region configured', new Error('Region is missing'), 'region'],
    ['refused', errno('ECONNREFUSED'), 'network'],
    ['DNS', errno('ENOTFOUND'), 'network'],
    ['reset', errno('ECONNRESET'), 'network'],
    ['SDK timeout', sdk('TimeoutError'), 'network'],
    ['certificate', errno('CERT_HAS_EXPIRED'), 'tls'],
    ['SlowDown', sdk('SlowDown', 503), 'throttled'],
    ['429', sdk('TooManyRequests', 429), 'throttled'],
    ['InternalError', sdk('InternalError', 500), 'server-error'],
    ['NotImplemented', sdk('NotImplemented', 501), 'rejected'],
    ['missing object', new NotFoundError('k', 'remote'), 'not-found'],
    ['remote disk full', errno('ENOSPC', { path: '/mnt/nas/reg/files/x.tmp' }), 'no-space', dir],
    ['remote read-only', errno('EROFS', { path: '/mnt/nas/reg/files/x' }), 'read-only', dir],
    ['remote permission', errno('EACCES', { path: '/mnt/nas/reg/files' }), 'permission', dir],
    ['remote root gone', errno('ENOENT', { path: '/mnt/nas/reg' }), 'missing-directory', dir],
    ['one remote object gone', errno('ENOENT', { path: '/mnt/nas/reg/files/md5/00/x' }), 'not-found', dir],
    ['local disk full is not a remote condition', errno('ENOSPC', { path: '/home/u/repo/.reg/cache/x.tmp' }), undefined, dir],
    ['a bug is not a remote condition', new TypeError('x is undefined'), undefined],
  ];
  it.each(table)('%s', (_what, err, expected, identity) => {
    expect(classifyRemoteError(err, identity)).toBe(expected);
  });

  it("a server's error text of 1 MiB is looked at and repeated only as its first 1024 characters", () => {
    // 'a.a.a…' is what made the region pattern and the URL redaction quadratic.
    const long = sdk('InternalError', 500, `${'a.'.repeat(512 * 1024)}\nsecond line`);
    expect(classifyRemoteError(long, s3)).toBe('server-error');
    const e = remoteError(long, s3) as RegError;
    expect(e.message.length).toBeLessThan(1200);
    expect(e.message).toContain('a.a.a.');
    expect(e.message).toContain('.a…');
    expect((e.details as { cause: string }).cause.length).toBeLessThan(1100);
  });

  it('tells connection failures from broken connections', () => {
    expect(isConnectFailure(errno('ECONNREFUSED'))).toBe(true);
    expect(isConnectFailure(sdk('TimeoutError', undefined, '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 10000 ms.'))).toBe(true);
    expect(isConnectFailure(errno('ECONNRESET'))).toBe(false);
  });
});

describe('remoteError', () => {
  it('is a RegError with remote.<class>, exit 4, the remote named, secrets redacted, a class hint', () => {
    const e = remoteError(sdk('InvalidAccessKeyId', 403, 'The key SuperSecretValue is unknown'), s3) as RegError;
    expect(e).toBeInstanceOf(RegError);
    expect(e.code).toBe('remote.auth');
    expect(e.exitCode).toBe(4);
    expect(e.message).toContain('remote origin (s3://bucket/p)');
    expect(e.message).not.toContain('SuperSecretValue');
    expect(e.hint).toContain('aws sts get-caller-identity --profile dev');
    const region = remoteError(Object.assign(sdk('PermanentRedirect', 301), { Region: 'eu-west-3' }), s3) as RegError;
    expect(region.hint).toContain('reg remote modify origin region eu-west-3');
    const bucket = remoteError(sdk('NoSuchBucket', 404), s3) as RegError;
    expect(bucket.hint).toContain('reg remote list');
    const full = remoteError(errno('ENOSPC', { path: '/mnt/nas/reg/x.tmp' }), dir) as RegError;
    expect(full.code).toBe('remote.no-space');
  });

  it('leaves bugs and local disk errors to their own reporting', () => {
    const bug = new TypeError('oops');
    expect(remoteError(bug, s3)).toBe(bug);
    const local = errno('ENOSPC', { path: '/home/u/repo/.reg/cache/x.tmp' });
    expect(remoteError(local, dir)).toBe(local);
    const named = diskError(local)!;
    expect(named.code).toBe('disk.no-space');
    expect(named.exitCode).toBe(1);
    expect(named.message).toContain('ENOSPC');
    expect(named.message).toContain('/home/u/repo/.reg/cache/x.tmp');
  });
});

describe('retry budget', () => {
  it('gives up after the attempts with "giving up after N attempts over T s: cause"', async () => {
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
      throw errno('ECONNRESET');
    }, FAST).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect((err as Error).message).toMatch(/^giving up after 4 attempts over [\d.]+ s: ECONNRESET: failed/);
  });

  it('does not retry what retrying cannot fix', async () => {
    let calls = 0;
    await withRetry(async () => {
      calls++;
      throw sdk('AccessDenied', 403);
    }, FAST).catch(() => undefined);
    expect(calls).toBe(1);
  });

  it('a remote that refuses every connection for the connect budget is given up for every later request', async () => {
    let clock = 0;
    const health = new RemoteHealth({ ...FAST, attempts: 100, unreachableMs: 15_000 }, () => clock);
    let calls = 0;
    const first = await withRetry(async () => {
      calls++;
      clock += 4_000; // each attempt takes 4 s to fail
      throw errno('ECONNREFUSED');
    }, health.policy, undefined, { health }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RetriesExhaustedError);
    expect(calls).toBe(4); // 4 s, 8 s, 12 s, 16 s >= 15 s
    let later = 0;
    await expect(withRetry(async () => void later++, health.policy, undefined, { health })).rejects.toBe(first);
    expect(later).toBe(0);
  });

  it('never waits past the budget: the last backoff is cut to what is left of it', () => {
    let clock = 0;
    const policy = { ...FAST, baseDelayMs: 8_000, maxDelayMs: 8_000, budgetMs: 10_000, unreachableMs: 4_000 };
    const health = new RemoteHealth(policy, () => clock);
    const always = () => 0.999;
    clock = 1_000;
    expect(health.failed(sdk('InternalError', 500), 0)).toBe(false);
    expect(retryDelay(3, policy, sdk('InternalError', 500), health, always)).toBe(7_992);
    clock = 7_500;
    expect(retryDelay(3, policy, sdk('InternalError', 500), health, always)).toBe(2_500);
    // Connection failures have the (shorter) connect budget.
    expect(retryDelay(3, policy, errno('ECONNREFUSED'), health, always)).toBe(0);
    // Without a shared health (one request on its own), the backoff as it is.
    expect(retryDelay(3, policy, sdk('InternalError', 500), undefined, always)).toBe(7_992);
  });

  it('a success resets the failing clock', () => {
    let clock = 0;
    const health = new RemoteHealth({ ...FAST, budgetMs: 10_000 }, () => clock);
    expect(health.failed(sdk('InternalError', 500), 0)).toBe(false);
    clock = 9_000;
    health.activity();
    clock = 15_000;
    expect(health.failed(sdk('InternalError', 500), 14_000)).toBe(false);
    clock = 30_000;
    expect(health.failed(sdk('InternalError', 500), 29_000)).toBe(true);
  });

  it('the transfer queue stops at a failure every further transfer would share', async () => {
    const started: string[] = [];
    const fatal = new RegError('remote.auth', 'transfer', 'access refused');
    const tasks = Array.from({ length: 20 }, (_, i) => ({
      key: `k${i}`,
      size: 1,
      run: async () => {
        started.push(`k${i}`);
        if (i === 2) throw fatal;
      },
    }));
    const outcome = await runTransfers(tasks, { jobs: 1, retry: FAST });
    expect(outcome.fatal).toBe(fatal);
    expect(started).toEqual(['k0', 'k1', 'k2']);
  });
});

/** A backend that only lists, with `list` as given. */
function listingBackend(description: string, list: (prefix: string) => AsyncIterable<ObjectInfo[]>): Backend {
  return { description, traversePrefixLen: 3, remote: true, list, close() {} } as unknown as Backend;
}

describe('GuardedBackend', () => {
  it('restarts a listing that breaks part-way without yielding a key twice', async () => {
    let listings = 0;
    const keys = Array.from({ length: 10 }, (_, i) => `files/md5/00/${String(i).padStart(30, '0')}`);
    const inner = listingBackend('flaky listing', async function* () {
      listings++;
      yield keys.slice(0, 4).map((key) => ({ key }));
      if (listings === 1) throw errno('ECONNRESET');
      yield keys.slice(4).map((key) => ({ key }));
    });
    const guarded = new GuardedBackend(inner, s3, FAST);
    const seen: string[] = [];
    for await (const page of guarded.list('files/md5/00/')) for (const o of page) seen.push(o.key);
    expect(listings).toBe(2);
    expect(seen).toEqual(keys);
    // The keys yielded again after the restart are not counted twice against the limit.
    listings = 0;
    const atLimit: string[] = [];
    for await (const page of new GuardedBackend(inner, s3, FAST, undefined, undefined, keys.length).list('files/md5/00/')) for (const o of page) atLimit.push(o.key);
    expect(atLimit).toEqual(keys);
  });

  it('stops a listing that never ends (a fresh continuation token each page) at the key limit: remote.bad-listing, exit 4, no retry', async () => {
    let listings = 0;
    let pages = 0;
    const inner = listingBackend('s3://endless', async function* () {
      listings++;
      for (;;) {
        const page = pages++;
        yield Array.from({ length: 1000 }, (_, i) => ({ key: `files/md5/00/${String(page * 1000 + i).padStart(30, '0')}` }));
      }
    });
    const got: string[] = [];
    const listing = (async () => {
      for await (const page of new GuardedBackend(inner, s3, FAST, undefined, undefined, 2500).list('files/md5/')) for (const o of page) got.push(o.key);
    })();
    const err = await listing.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegError);
    expect(err).toMatchObject({ code: 'remote.bad-listing', exitCode: 4, details: { limit: 2500 } });
    expect((err as RegError).message).toContain('s3://endless: the listings in progress (at files/md5/) passed 2,500 keys');
    expect(got).toHaveLength(2000);
    expect({ listings, pages }).toEqual({ listings: 1, pages: 3 });
  });

  it('counts the keys of the listings in progress together, and gives a finished listing\'s keys back', async () => {
    const inner = listingBackend('s3://wide', async function* (prefix) {
      for (let page = 0; page < 3; page++) {
        await new Promise((r) => setTimeout(r, 5));
        yield Array.from({ length: 500 }, (_, i) => ({ key: `${prefix}${String(page * 500 + i).padStart(30, '0')}` }));
      }
    });
    const drain = async (guarded: GuardedBackend, prefix: string) => {
      let n = 0;
      for await (const page of guarded.list(prefix)) n += page.length;
      return n;
    };
    const guarded = new GuardedBackend(inner, s3, FAST, undefined, undefined, 2000);
    // One after another: 1,500 keys each, never more than 1,500 held.
    for (const prefix of ['a/', 'b/', 'c/']) expect(await drain(guarded, prefix)).toBe(1500);
    // Side by side, pages alternating: 2,500 held once the third page of one comes, past the limit.
    const both = await Promise.allSettled([drain(guarded, 'a/'), drain(guarded, 'b/')]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'remote.bad-listing' });
    // The failed listing gave its keys back too.
    expect(await drain(guarded, 'c/')).toBe(1500);
  });
});

describe('credentials in URLs and config text', () => {
  it('splits user-info off s3:// and http URLs, secrets with "/" included', () => {
    expect(splitUrlCredentials('s3://AKIAXX:ab/cd+ef@my-bucket/some/prefix')).toEqual({ url: 's3://my-bucket/some/prefix', user: 'AKIAXX', password: 'ab/cd+ef' });
    expect(splitUrlCredentials('http://user:p%40ss@minio.local:9000')).toEqual({ url: 'http://minio.local:9000', user: 'user', password: 'p@ss' });
    expect(splitUrlCredentials('s3://bucket/path@with-at')).toEqual({ url: 's3://bucket/path@with-at' });
    expect(splitUrlCredentials('https://host/a@b')).toEqual({ url: 'https://host/a@b' });
  });

  it('finds URL credentials and keys in YAML and INI text', () => {
    expect(findSecrets('remotes:\n  o:\n    url: s3://KEY:SEC/RET@bucket/p\n').map((h) => h.line)).toEqual([3]);
    expect(findSecrets('remotes:\n  o:\n    url: https://host/x@y\n    endpoint-url: ssh://git@host/\n')).toEqual([]);
    expect(findSecretsByLine('[core]\n  remote = s3\n  secret_access_key = abc123\n').map((h) => h.line)).toEqual([3]);
  });
});

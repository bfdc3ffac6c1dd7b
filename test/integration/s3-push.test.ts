import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { push } from '../../dist/ops/remote/push.js';
import { fetch } from '../../dist/ops/remote/fetch.js';
import { pull } from '../../dist/ops/remote/pull.js';
import { remoteStatus } from '../../dist/ops/remote/remote-status.js';
import { remoteAdd, remoteModify } from '../../dist/ops/remote/remote.js';
import { makeContext, type Context } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import { S3Backend } from '../../dist/store/s3.js';
import { FlakyBackend } from '../../dist/store/flaky.js';
import type { Backend } from '../../dist/store/backend.js';
import { git, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

let s3: S3Server;
let repoA: string;
let repoB: string;
let prefix: string;
const ctxA = (extra: Partial<Context> = {}) => makeContext({ cwd: repoA, env: s3.env, ...extra });
const ctxB = () => makeContext({ cwd: repoB, env: s3.env });

function rawBackend(): S3Backend {
  return new S3Backend(
    { bucket: s3.bucket, prefix, endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8 },
    { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  );
}

async function remoteKeys(): Promise<string[]> {
  const b = rawBackend();
  const keys: string[] = [];
  for await (const page of b.list('')) for (const o of page) keys.push(o.key);
  b.close();
  return keys.sort();
}

async function expectRegError(p: Promise<unknown>, code: string, exit: number): Promise<RegError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code, (err as Error).message).toBe(code);
    expect((err as RegError).exitCode).toBe(exit);
    return err as RegError;
  }
  throw new Error(`expected RegError ${code}`);
}

beforeAll(async () => {
  s3 = await startS3Server('team-bucket');
});
afterAll(async () => {
  await s3?.stop();
});

beforeEach(async () => {
  prefix = `registry-${randomBytes(4).toString('hex')}`;
  repoA = makeGitRepo();
  await init(ctxA());
  const files: Record<string, string | Buffer> = {};
  for (let i = 0; i < 40; i++) files[`data/f${i}.txt`] = `line ${i}\n`;
  files['data/big.bin'] = randomBytes((2 << 20) + 5); // streamed single-part PUT
  writeTree(repoA, files);
  await add(ctxA(), { targets: ['data'] });
  await remoteAdd(ctxA(), { name: 'origin', url: `s3://${s3.bucket}/${prefix}`, default: true });
  await remoteModify(ctxA(), { name: 'origin', option: 'endpoint-url', value: s3.endpoint });
  await remoteModify(ctxA(), { name: 'origin', option: 'path-style', value: 'true' });
  git(repoA, 'add', '-A');
  git(repoA, 'commit', '-qm', 'data');
  repoB = tempDir('reg-s3-clone-');
  git(repoB, 'clone', '-q', repoA, '.');
});
afterEach(() => {
  removeDir(repoA);
  removeDir(repoB);
});

describe('S3 remote (s3rver)', () => {
  it('push -> clone -> pull is byte-identical; objects sit at <prefix>/files/md5/XX/REST', async () => {
    const r = await push(ctxA(), { targets: [] });
    expect(r.failed).toBe(0);
    const cacheKeys = readdirKeys(join(repoA, '.reg', 'cache'));
    expect(await remoteKeys()).toEqual(cacheKeys);
    const again = await push(ctxA(), { targets: [] });
    expect(again.pushed).toBe(0);
    expect(again.query.requests).toBe(1); // one HEAD of the .dir for one unchanged dataset

    const p = await pull(ctxB(), { targets: [] });
    expect(p.failed).toBe(0);
    for (const f of ['data/f3.txt', 'data/big.bin']) {
      expect(md5(readFileSync(join(repoB, f)))).toBe(md5(readFileSync(join(repoA, f))));
    }
    expect((await remoteStatus(ctxB(), { targets: [] })).outputs[0]!.state).toBe('pushed');
  });

  it('checksums=when_supported against s3rver fails loudly (ETag check), when_required works', async () => {
    await remoteModify(ctxA(), { name: 'origin', option: 'checksums', value: 'when_supported' });
    const err = await expectRegError(push(ctxA(), { targets: [] }), 'push.integrity', 6);
    expect(err.message).toMatch(/ETag/);
    expect(err.hint).toContain('checksums when_required');
    // The directory manifest was not uploaded: the remote does not claim a complete directory.
    expect((await remoteKeys()).some((k) => k.endsWith('.dir'))).toBe(false);

    await remoteModify(ctxA(), { name: 'origin', option: 'checksums', value: 'when_required' });
    const ok = await push(ctxA(), { targets: [] });
    expect(ok.failed).toBe(0);
    const f = await fetch(ctxB(), { targets: [] });
    expect(f.failed).toBe(0);
  });

  it('retries injected failures against S3 and downloads verify', async () => {
    // A download attempt fails at 0.2 (the request) plus 0.8 x 0.2 (a cut body): with 8 attempts an
    // object failed them all in 0.36^8 of cases, which push-pull.test.ts met once in CI. 16 attempts.
    const retry = { attempts: 16, baseDelayMs: 1, maxDelayMs: 5 };
    const wrap = (b: Backend) => new FlakyBackend(b, { failureRate: 0.2, seed: 3 });
    expect((await push(ctxA(), { targets: [], retry, wrapBackend: wrap })).failed).toBe(0);
    expect((await pull(ctxB(), { targets: [], retry, wrapBackend: wrap })).failed).toBe(0);
    expect(md5(readFileSync(join(repoB, 'data/big.bin')))).toBe(md5(readFileSync(join(repoA, 'data/big.bin'))));
  });

  it('a corrupted object on S3 makes pull fail with an integrity error and leaves the workspace alone', async () => {
    await push(ctxA(), { targets: [] });
    const victim = md5(readFileSync(join(repoA, 'data/f7.txt')));
    const b = rawBackend();
    await b.putBytes(`files/md5/${victim.slice(0, 2)}/${victim.slice(2)}`, Buffer.from('tampered\n'));
    b.close();
    const err = await expectRegError(pull(ctxB(), { targets: [] }), 'pull.integrity', 6);
    expect(err.message).toContain(`${victim.slice(0, 2)}/${victim.slice(2)}`);
    expect(() => readFileSync(join(repoB, 'data/f7.txt'))).toThrow();
  });
});

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function readdirKeys(cacheRoot: string): string[] {
  const out: string[] = [];
  const base = join(cacheRoot, 'files', 'md5');
  for (const d of readdirSync(base)) for (const f of readdirSync(join(base, d))) out.push(`files/md5/${d}/${f}`);
  return out.sort();
}

import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { get } from '../../dist/ops/history/get.js';
import { init } from '../../dist/ops/registry/init.js';
import { openRemote } from '../../dist/ops/remote/open-remote.js';
import { openRepo } from '../../dist/repo.js';
import { makeContext } from '../../dist/context.js';
import { filesUnder, git, makeGitRepo, removeDir, tempDir } from '../helpers/repo.js';
import { addS3Remote, startS3Server, type S3Server } from '../helpers/s3server.js';
import { counting, type BackendCall } from '../helpers/counting-backend.js';
import { md5 } from '../helpers/history-fixture.js';

const FILES = 10_000;
const fileName = (i: number) => `d${String(i % 100).padStart(2, '0')}/f${String(i).padStart(5, '0')}.txt`;
const fileText = (i: number) => `file ${i}\n`;

let s3: S3Server;
let origin: string;
let clone: string;
let manifestKey: string;

beforeAll(async () => {
  s3 = await startS3Server('get-bucket');
  origin = makeGitRepo();
  const ctx = makeContext({ cwd: origin, env: s3.env });
  await init(ctx);
  await addS3Remote(ctx, s3);
  for (let d = 0; d < 100; d++) mkdirSync(join(origin, 'data', 'big', `d${String(d).padStart(2, '0')}`), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(origin, 'data', 'big', fileName(i)), fileText(i));
  await add(ctx, { targets: ['data/big'] });
  git(origin, 'add', '-A');
  git(origin, 'commit', '-q', '-m', 'a 10k-file version');
  git(origin, 'tag', 'v1');
  const oid = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(origin, 'data', 'big.dvc'), 'utf8'))![1]!;
  manifestKey = `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
  // Only the objects the tests may fetch go to the server (s3rver stores 10k objects slowly); any
  // request for another key would show in the counted calls anyway.
  const remote = openRemote(openRepo(ctx), ctx, { remote: 's3' });
  try {
    const needed = [manifestKey, ...Array.from({ length: FILES / 100 }, (_, k) => key(fileText(7 + 100 * k))), key(fileText(4242))];
    for (const k of needed) {
      const local = join(origin, '.reg', 'cache', k);
      await remote.store.backend.putFile(k, local, statSync(local).size);
    }
  } finally {
    remote.close();
  }
  clone = tempDir('reg-get-s3-clone-');
  git(clone, 'clone', '-q', origin, '.');
}, 600_000);
afterAll(async () => {
  await s3?.stop();
  removeDir(origin);
  removeDir(clone);
}, 300_000);

const key = (text: string) => `files/md5/${md5(text).slice(0, 2)}/${md5(text).slice(2)}`;

describe('reg get from a 10k-file version on S3 (s3rver)', () => {
  it('one file: exactly two requests, the manifest and that object', async () => {
    const calls: BackendCall[] = [];
    const out = tempDir('reg-get-s3-out-');
    const r = await get(makeContext({ cwd: clone, env: s3.env }), { path: `data/big/${fileName(4242)}`, rev: 'v1', out: join(out, 'one.txt'), wrapBackend: counting(calls) });
    expect(calls).toEqual([
      { op: 'get', key: manifestKey },
      { op: 'get', key: key(fileText(4242)) },
    ]);
    expect(readFileSync(join(out, 'one.txt'), 'utf8')).toBe(fileText(4242));
    expect(r.objects).toEqual({ fetched: 1, cached: 0, manifests: 1 });
    removeDir(out);
  }, 120_000);

  it('a sub-directory: its 100 objects and nothing else (the manifest is cached by now)', async () => {
    const calls: BackendCall[] = [];
    const out = tempDir('reg-get-s3-out-');
    await get(makeContext({ cwd: clone, env: s3.env }), { path: 'data/big/d07', rev: 'v1', out: join(out, 'd07'), wrapBackend: counting(calls) });
    const expected = Array.from({ length: FILES / 100 }, (_, k) => 7 + 100 * k);
    expect(filesUnder(join(out, 'd07'))).toEqual(expected.map((i) => fileName(i).slice(4)));
    expect(calls.every((c) => c.op === 'get')).toBe(true);
    expect(calls.map((c) => c.key).sort()).toEqual(expected.map((i) => key(fileText(i))).sort());
    removeDir(out);
  }, 120_000);
});

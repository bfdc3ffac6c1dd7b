import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { restore } from '../../dist/ops/history/restore.js';
import { init } from '../../dist/ops/registry/init.js';
import { push } from '../../dist/ops/remote/push.js';
import { makeContext } from '../../dist/context.js';
import { git, makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { addS3Remote, startS3Server, type S3Server } from '../helpers/s3server.js';
import { counting, type BackendCall } from '../helpers/counting-backend.js';
import { md5 } from '../helpers/history-fixture.js';

const V1 = { 'a.txt': 'one\n', 'b.txt': 'two\n', 'sub/c.txt': 'three\n' };
const V2 = { 'a.txt': 'one\n', 'b.txt': 'two, changed\n', 'sub/d.txt': 'four\n' };

let s3: S3Server;
let origin: string;
let clone: string;

beforeAll(async () => {
  s3 = await startS3Server('restore-bucket');
  origin = makeGitRepo();
  const ctx = makeContext({ cwd: origin, env: s3.env });
  await init(ctx);
  await addS3Remote(ctx, s3);
  writeTree(join(origin, 'data', 'set'), V1);
  await add(ctx, { targets: ['data/set'] });
  git(origin, 'add', '-A');
  git(origin, 'commit', '-q', '-m', 'v1');
  git(origin, 'tag', 'v1');
  await push(ctx, { targets: [] });
  removeDir(join(origin, 'data', 'set'));
  writeTree(join(origin, 'data', 'set'), V2);
  await add(ctx, { targets: ['data/set'] });
  git(origin, 'add', '-A');
  git(origin, 'commit', '-q', '-m', 'v2');
  await push(ctx, { targets: [] });
  clone = tempDir('reg-restore-s3-clone-');
  git(clone, 'clone', '-q', origin, '.');
}, 300_000);
afterAll(async () => {
  removeDir(origin);
  removeDir(clone);
  await s3?.stop();
});

describe('reg restore from S3 (s3rver)', () => {
  it('fetches the manifest and each object once, verified, then writes the version; a second restore asks nothing', async () => {
    const calls: BackendCall[] = [];
    const ctx = makeContext({ cwd: clone, env: s3.env });
    const r = await restore(ctx, { targets: ['data/set'], rev: 'v1', wrapBackend: counting(calls) });
    const oid = /md5: ([0-9a-f]{32}\.dir)/.exec(git(clone, 'show', 'v1:data/set.dvc'))![1]!;
    const k = (o: string) => `files/md5/${o.slice(0, 2)}/${o.slice(2)}`;
    expect(calls.filter((c) => c.op === 'get').map((c) => c.key).sort()).toEqual([k(oid), ...Object.values(V1).map((t) => k(md5(t)))].sort());
    expect(calls.filter((c) => c.op !== 'get')).toEqual([]);
    expect(r.objects).toEqual({ fetched: 3, manifests: 1 });
    expect(r.remotes).toEqual(['s3']);
    for (const [rel, text] of Object.entries(V1)) expect(readFileSync(join(clone, 'data/set', rel), 'utf8')).toBe(text);
    expect(readFileSync(join(clone, 'data/set.dvc'), 'utf8')).toBe(git(clone, 'show', 'v1:data/set.dvc'));
    expect(git(clone, 'status', '--porcelain')).toBe(' M data/set.dvc\n');

    const again: BackendCall[] = [];
    git(clone, 'checkout', '-q', '--', 'data/set.dvc');
    await restore(ctx, { targets: ['data/set'], rev: 'v1', wrapBackend: counting(again) });
    expect(again).toEqual([]);
  }, 120_000);
});

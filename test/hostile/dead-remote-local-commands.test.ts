import { readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, regOk, writeTree } from '../helpers/repo.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * The commands that work on the local checkout alone — `status` (plain and --json), `add`,
 * `checkout`, `diff` (workspace and two versions whose manifests the cache holds) and `log` —
 * with the default remote an S3 endpoint on a closed port, and one that accepts connections and
 * never answers. The real CLI, spawned: each exits 0 within a bound that only catches a hang (60 s,
 * not a speed), and the stalling server sees no connection at all; a pointer file that is a symlink
 * (pointer-file-kind) is refused with exit 3, again without a connection. The sentinel tree and
 * `.git` stay byte-identical (runGuarded). (`log --remote`, `diff --sizes`, push, pull, fetch,
 * sync and the publishing commands do reach the remote: test/hostile/dead-remote.test.ts.)
 */
const ENV = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
const HANG_BOUND_MS = 60_000;
const DS = 'ds';

let stall: TestHttpServer;
let connections = 0;
let closedPort: number;

beforeAll(async () => {
  // Reads every request and never answers.
  stall = await startHttpServer(() => undefined);
  stall.server.on('connection', (s: Socket) => {
    connections++;
    s.on('error', () => undefined);
  });
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(async () => {
  await stall?.close();
});

/** A registry with two committed versions of `ds` (both manifests in the cache) and `endpoint` as its default S3 remote. */
async function worldWithRemote(endpoint: string): Promise<World> {
  const w = await makeWorld('none');
  Object.assign(w.env, ENV);
  writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
  writeTree(w.repo, { [`${DS}/a.txt`]: 'a1\n', [`${DS}/sub/b.txt`]: 'b1\n' });
  await regOk(w.repo, ['add', DS], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'v1');
  writeFileSync(join(w.repo, DS, 'a.txt'), 'a2\n');
  await regOk(w.repo, ['add', DS], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'v2');
  await regOk(w.repo, ['remote', 'add', 'dead', 's3://bucket/x', '--default', '--local'], { env: w.env });
  for (const [option, value] of [['endpoint-url', endpoint], ['retry-budget', '3'], ['read-timeout', '1'], ['connect-timeout', '1']]) {
    await regOk(w.repo, ['remote', 'modify', '--local', 'dead', option!, value!], { env: w.env });
  }
  return w;
}

/** Runs a command guarded, asserting its exit code within the hang bound and no connection to the stalling server. */
async function expectLocal(w: World, args: string[], exit = 0, json = false): Promise<string> {
  const before = connections;
  const started = Date.now();
  const r = await runGuarded(w, args, [], { json });
  expect(Date.now() - started, `${args.join(' ')} hung`).toBeLessThan(HANG_BOUND_MS);
  expect(r.stderr, args.join(' ')).not.toMatch(/internal error/i);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(exit);
  expect(connections - before, `${args.join(' ')} connected to the remote`).toBe(0);
  return r.stdout;
}

const remotes: Array<[string, () => string]> = [
  ['a closed port', () => `http://127.0.0.1:${closedPort}`],
  ['a server that accepts and never answers', () => stall.url],
];

describe.each(remotes)('the default remote is %s', (_, endpoint) => {
  let w: World;
  beforeAll(async () => {
    w = await worldWithRemote(endpoint());
  }, 120_000);
  afterAll(async () => {
    await w?.cleanup();
  });

  it('status, status --json, diff (workspace, two versions) and log answer from the checkout alone', async () => {
    expect(await expectLocal(w, ['status', DS])).toContain(`${DS}: up to date`);
    expect(JSON.parse(await expectLocal(w, ['status', DS], 0, true)).outputs[0].state).toBe('up-to-date');
    // The whole registry's status (areas, cards) too.
    await expectLocal(w, ['status']);
    writeFileSync(join(w.repo, DS, 'a.txt'), 'a3\n');
    expect(JSON.parse(await expectLocal(w, ['status', DS], 0, true)).outputs[0].changes.modified).toEqual(['a.txt']);
    expect(await expectLocal(w, ['diff'])).toContain(`${DS}: modified: 1 modified`);
    expect(await expectLocal(w, ['diff', 'HEAD~1', 'HEAD'])).toContain(`${DS}: modified: 1 modified`);
    expect(JSON.parse(await expectLocal(w, ['log', DS], 0, true)).versions).toHaveLength(2);
  });

  it('add and checkout (another version, then back) never touch the remote', async () => {
    writeFileSync(join(w.repo, DS, 'a.txt'), 'a4\n');
    await expectLocal(w, ['add', DS]);
    git(w.repo, 'checkout', '-q', '--', `${DS}.dvc`);
    // The work tree still holds what add just stored: checkout --force of HEAD's version discards it into the stash.
    await expectLocal(w, ['checkout', '--force', DS]);
    expect(readFileSync(join(w.repo, DS, 'a.txt'), 'utf8')).toBe('a2\n');
    git(w.repo, 'checkout', '-q', 'HEAD~1', '--', `${DS}.dvc`);
    await expectLocal(w, ['checkout', DS]);
    expect(readFileSync(join(w.repo, DS, 'a.txt'), 'utf8')).toBe('a1\n');
    git(w.repo, 'checkout', '-q', 'HEAD', '--', `${DS}.dvc`);
    await expectLocal(w, ['checkout', DS]);
    expect(readFileSync(join(w.repo, DS, 'a.txt'), 'utf8')).toBe('a2\n');
  });

  it('a pointer file that is a symlink: status, checkout and add exit 3 without a connection', async () => {
    const pointer = join(w.repo, `${DS}.dvc`);
    const text = readFileSync(pointer, 'utf8');
    writeFileSync(join(w.outside, 'ds.dvc'), text);
    unlinkSync(pointer);
    symlinkSync(join(w.outside, 'ds.dvc'), pointer);
    try {
      for (const args of [['status', DS], ['checkout', DS], ['add', DS]]) {
        await expectLocal(w, args, 3);
      }
    } finally {
      rmSync(pointer);
      git(w.repo, 'checkout', '-q', '--', `${DS}.dvc`);
    }
  });
});

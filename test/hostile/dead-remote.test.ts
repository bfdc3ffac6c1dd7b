import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, reg, regOk, removeDir, tempDir } from '../helpers/repo.js';
import { IMAGES, MODEL, buildHistoryFixture, type HistoryFixture } from '../helpers/history-fixture.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * The history commands that download (get, restore, ls of a manifest not in the cache) against an
 * S3 remote nobody answers: each exits 4 (a remote failure, never "internal error") within the
 * retry budget, writes nothing at its output or in the cache (at most empty object directories),
 * and leaves the work tree, .git and a sentinel tree outside the repository byte-identical.
 */
const ENV = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };

const withoutCache = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.startsWith('.reg/cache')));

let fx: HistoryFixture;
let remoteDir: string;
let clone: string;
let sentinel: string;

beforeAll(async () => {
  remoteDir = tempDir('reg-dead-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  clone = tempDir('reg-dead-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
  sentinel = makeSentinel();
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  // The clone's only way to the data is a dead endpoint (the local config overrides the tracked remote).
  await regOk(clone, ['remote', 'add', 'dead', 's3://bucket/x', '--default', '--local'], { env: ENV });
  await regOk(clone, ['remote', 'modify', '--local', 'dead', 'endpoint-url', `http://127.0.0.1:${closedPort}`], { env: ENV });
  await regOk(clone, ['remote', 'modify', '--local', 'dead', 'retry-budget', '3'], { env: ENV });
}, 240_000);
afterAll(() => {
  for (const d of [fx?.root, remoteDir, clone, sentinel]) if (d) removeDir(d);
});

describe('a dead remote under the history commands', () => {
  const cases: Array<[string, (out: string) => string[]]> = [
    ['get of a directory entry', (out) => ['get', IMAGES, '--rev', 'v2', '-r', 'dead', '-o', join(out, 'images')]],
    ['get of a single-file entry', (out) => ['get', MODEL, '--rev', 'v2', '-r', 'dead', '-o', join(out, 'model.bin')]],
    ['restore', () => ['restore', IMAGES, '--rev', 'v2', '-r', 'dead']],
    ['ls of a manifest the cache lacks', () => ['ls', IMAGES, '--rev', 'v2', '-r', 'dead']],
  ];
  for (const [what, args] of cases) {
    it(`${what}: exit 4 within the budget, nothing written anywhere`, async () => {
      const out = tempDir('reg-dead-out-');
      try {
        const before = { clone: snapshotTree(clone), sentinel: snapshotTree(sentinel), out: snapshotTree(out) };
        const started = Date.now();
        const r = await reg(clone, args(out), { env: ENV });
        expect(r.code, r.stderr).toBe(4);
        expect(r.stderr).not.toMatch(/internal error/i);
        expect(r.stderr).toMatch(/remote dead/);
        expect(Date.now() - started).toBeLessThan(60_000);
        // The cache may have gained empty directories for the objects it tried to fetch; never a file.
        const after = snapshotTree(clone);
        expect(Object.entries(after).filter(([k, v]) => k.startsWith('.reg/cache') && !v.startsWith('dir '))).toEqual([]);
        expect(withoutCache(after)).toEqual(withoutCache(before.clone));
        expect(snapshotTree(sentinel)).toEqual(before.sentinel);
        expect(snapshotTree(out)).toEqual(before.out);
      } finally {
        removeDir(out);
      }
    }, 120_000);
  }
});

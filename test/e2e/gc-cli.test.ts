import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { snapshotTree } from '../hostile/tree.js';
import { buildHistoryFixture, md5, type HistoryFixture } from '../helpers/history-fixture.js';

const DAY = 86_400_000;
let fx: HistoryFixture;
let remoteDir: string;
let cache: string;
const stray = 'an object nothing uses\n';
const strayKey = `files/md5/${md5(stray).slice(0, 2)}/${md5(stray).slice(2)}`;

function age(dir: string, days: number): void {
  const t = (Date.now() - days * DAY) / 1000;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) utimesSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name), t, t);
  }
}

beforeAll(async () => {
  remoteDir = tempDir('reg-gc-cli-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  cache = join(fx.root, '.reg', 'cache');
  writeTree(cache, { [strayKey]: stray });
  age(cache, 30);
}, 120_000);
afterAll(() => [fx.root, remoteDir].forEach(removeDir));

describe('reg gc (CLI)', () => {
  it('dry run by default: lists, prints the count and bytes, deletes nothing; --json is one document', async () => {
    const before = snapshotTree(cache);
    const r = await regOk(fx.root, ['gc']);
    expect(r.stdout).toContain(`would delete 1 object (${stray.length} B) from the cache ${cache}:`);
    expect(r.stdout).toContain(`  ${strayKey}`);
    expect(r.stdout).toContain('(no known commit uses it)');
    expect(r.stdout).toContain('dry run: nothing was deleted; run again with --yes to delete 1 object');
    const j = JSON.parse((await regOk(fx.root, ['gc', '--json'])).stdout);
    expect(j).toMatchObject({ dryRun: true, count: 1, bytes: stray.length, deleted: [], target: { kind: 'cache' } });
    expect(snapshotTree(cache)).toEqual(before);
  });

  it('a narrowed scope names the versions it no longer protects (stderr)', async () => {
    const r = await regOk(fx.root, ['gc', '--workspace', '--grace', '0']);
    expect(r.stderr).toContain('not protected by this narrowed scope: raw_datasets/images @');
    expect(r.stderr).toContain('(tag: v0)');
  });

  it('--yes deletes; a bad --grace is exit 3; remote gc without a Git remote is refused (exit 5)', async () => {
    const bad = await reg(fx.root, ['gc', '--grace', 'soon']);
    expect(bad.code).toBe(3);
    const remote = await reg(fx.root, ['gc', '--remote', '--yes']);
    expect(remote.code).toBe(5);
    expect(remote.stderr).toContain('no Git remote');
    const r = await regOk(fx.root, ['gc', '--yes']);
    expect(r.stdout).toContain(`deleted 1 object (${stray.length} B)`);
    expect(existsSync(join(cache, strayKey))).toBe(false);
    expect((await regOk(fx.root, ['gc'])).stdout).toContain('nothing to delete');
  });
});

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../dist/ops/remote/verify.js';
import { makeContext, type Context } from '../../dist/context.js';
import { git, reg, removeDir, tempDir } from '../helpers/repo.js';
import { buildHistoryFixture, CONTENT, IMAGES, MODEL, md5, type HistoryFixture } from '../helpers/history-fixture.js';

let fx: HistoryFixture;
let remoteDir: string;
let clone: string;
let ctx: Context;
const key = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;
const legacyB = key(md5(CONTENT.b), true);

beforeAll(async () => {
  remoteDir = tempDir('reg-verify-history-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  // The DVC 2 version (tag v0) loses one file on the remote; nothing else uses that object.
  rmSync(join(remoteDir, legacyB));
  clone = tempDir('reg-verify-history-clone-');
  git(clone, 'clone', '-q', fx.root, '.');
  ctx = makeContext({ cwd: clone });
}, 180_000);
afterAll(() => [fx.root, remoteDir, clone].forEach(removeDir));

describe('reg verify over history', () => {
  it('--all-commits --remote reports the object missing for the old tagged version, by entry, version and file', async () => {
    const r = await verify(ctx, { targets: [], checkRemote: true, history: { allCommits: true } });
    expect(r.ok).toBe(false);
    const v0 = r.outputs.find((o) => o.oid === fx.imagesOid.v0)!;
    expect(v0).toMatchObject({ path: IMAGES, pointer: `${IMAGES}.dvc`, state: 'damaged', versions: [`${fx.commits.c1.slice(0, 10)} (tag: v0)`] });
    expect(v0.problems).toEqual([expect.objectContaining({ where: 'remote', problem: 'missing', key: legacyB, relpaths: ['b.txt'], remote: 'store' })]);
    // Each distinct version once, with every commit it was found at (v1 is also the rolled-back HEAD).
    const v1 = r.outputs.find((o) => o.oid === fx.imagesOid.v1)!;
    expect(v1.state).toBe('ok');
    expect(v1.versions).toEqual([`${fx.commits.c7.slice(0, 10)} (main, origin/main)`, `${fx.commits.c2.slice(0, 10)} (tag: v1)`]);
    expect(r.outputs.filter((o) => o.path === IMAGES).map((o) => o.oid).sort()).toEqual(Object.values(fx.imagesOid).sort());
    // The experiment version was never pushed: its manifest is missing, so its files cannot be listed.
    const exp = r.outputs.find((o) => o.oid === fx.imagesOid.exp)!;
    expect(exp.membersUnknown).toBe(true);
    expect(exp.problems).toEqual([expect.objectContaining({ problem: 'missing', manifest: true, key: key(fx.imagesOid.exp) })]);
    const model = r.outputs.filter((o) => o.path === MODEL);
    expect(model.map((o) => o.state).sort()).toEqual(['damaged', 'ok']);
  });

  it('--rev and --all-tags select tips; the work tree alone is intact', async () => {
    const v0 = await verify(ctx, { targets: [IMAGES], checkRemote: true, history: { revs: ['v0'] } });
    expect(v0.outputs.map((o) => [o.oid, o.state])).toEqual([[fx.imagesOid.v0, 'damaged']]);
    const tags = await verify(ctx, { targets: [IMAGES], checkRemote: true, history: { allTags: true } });
    expect(tags.outputs.map((o) => o.versions)).toHaveLength(4);
    expect(tags.missing).toBe(1);
    const here = await verify(ctx, { targets: [], checkRemote: true });
    expect(here.ok).toBe(true);
    expect(here.outputs.every((o) => o.versions === undefined)).toBe(true);
  });

  it('the CLI lists the gap per entry, version and file (exit 4)', async () => {
    const r = await reg(clone, ['verify', '--remote', '--all-tags']);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`${IMAGES} @ ${fx.commits.c1.slice(0, 10)} (tag: v0): 1 problem`);
    expect(r.stdout).toContain(`remote store: missing ${legacyB} (${IMAGES}/b.txt)`);
    const both = await reg(clone, ['verify', '--workspace', '--all-commits']);
    expect(both.code).toBe(2);
  });
});

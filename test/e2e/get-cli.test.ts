import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, reg, regOk, removeDir, REG_BIN, tempDir } from '../helpers/repo.js';
import { buildHistoryFixture, CONTENT, IMAGES, md5, type HistoryFixture } from '../helpers/history-fixture.js';

let fx: HistoryFixture;
let remoteDir: string;
let bare: string;
let outside: string;
let tmp: string;

beforeAll(async () => {
  remoteDir = tempDir('reg-get-cli-remote-');
  fx = await buildHistoryFixture({ remoteDir });
  bare = tempDir('reg-get-cli-bare-');
  git(bare, 'clone', '-q', '--bare', fx.root, '.');
  // The other repository's per-user config is never read: this one would fail to parse, and points elsewhere.
  writeFileSync(join(fx.root, '.reg', 'config.local.yaml'), 'remotes: [ not: valid yaml\n');
}, 120_000);
afterAll(() => {
  for (const d of [fx.root, remoteDir, bare]) removeDir(d);
});

/** A directory that is neither a Git repository nor a registry, and a private TMPDIR to see what is left behind. */
function freshOutside(): void {
  outside = tempDir('reg-get-cli-outside-');
  tmp = tempDir('reg-get-cli-tmp-');
}

describe('reg get --repo (another registry, not cloned)', () => {
  it('file:// URL of a bare repository, data on a directory remote, run outside any registry; the temp repo and cache are removed', async () => {
    freshOutside();
    const r = await regOk(outside, ['get', '--repo', `file://${bare}`, `${IMAGES}/sub/c.txt`, '--rev', 'v2', '-o', 'c.txt', '--json'], { env: { TMPDIR: tmp } });
    expect(readFileSync(join(outside, 'c.txt'), 'utf8')).toBe(CONTENT.c2);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ repo: `file://${bare}`, rev: 'v2', commit: fx.commits.c3, path: `${IMAGES}/sub/c.txt`, type: 'file', remote: 'store', cache: 'temporary', objects: { fetched: 1, cached: 0, manifests: 1 } });
    expect(readdirSync(tmp)).toEqual([]);
    expect(filesUnder(outside)).toEqual(['c.txt']);
  });

  it('a local work tree path, a whole directory entry at a tag, into an existing directory', async () => {
    freshOutside();
    const r = await regOk(outside, ['get', '--repo', fx.root, IMAGES, '--rev', 'v1', '-o', 'data/'], { env: { TMPDIR: tmp } });
    expect(filesUnder(join(outside, 'data'))).toEqual(['images/a.txt', 'images/b.txt', 'images/d.txt', 'images/sub/c.txt']);
    expect(readFileSync(join(outside, 'data', 'images', 'a.txt'), 'utf8')).toBe(CONTENT.a);
    expect(r.stdout).toContain(`from ${IMAGES} at v1 of ${fx.root}`);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a full commit id, and the default branch when no --rev is given', async () => {
    freshOutside();
    await regOk(outside, ['get', '--repo', bare, `${IMAGES}/e.txt`, '--rev', fx.commits.c5, '-o', 'e.txt']);
    expect(readFileSync(join(outside, 'e.txt'), 'utf8')).toBe(CONTENT.e);
    // HEAD of the bare repository is main, whose images are v1 again (with d.txt).
    await regOk(outside, ['get', '--repo', bare, `${IMAGES}/d.txt`]);
    expect(readFileSync(join(outside, 'd.txt'), 'utf8')).toBe(CONTENT.d);
  });

  it('-o - streams one file to a pipe (and a reader that leaves early is a normal end)', async () => {
    freshOutside();
    const r = await regOk(outside, ['get', '--repo', bare, `${IMAGES}/a.txt`, '--rev', 'v2', '-o', '-']);
    expect(r.stdout).toBe(CONTENT.a);
    const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${REG_BIN}" get --repo "${bare}" ${IMAGES}/a.txt --rev v2 -o - | head -c 5`], { cwd: outside, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    expect(piped.status).toBe(0);
    expect(piped.stdout).toBe(CONTENT.a.slice(0, 5));
    const json = await reg(outside, ['get', '--repo', bare, `${IMAGES}/a.txt`, '--rev', 'v2', '-o', '-', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error.code).toBe('get.json-to-stdout');
  });

  it('an unknown revision is exit 2, a repository that is not a registry exit 3, a missing path exit 2; nothing written', async () => {
    freshOutside();
    const unknown = await reg(outside, ['get', '--repo', bare, `${IMAGES}/a.txt`, '--rev', 'no-such-tag']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no branch, tag or commit no-such-tag');
    const plain = tempDir('reg-get-cli-plain-');
    git(plain, 'init', '-q', '-b', 'main');
    writeFileSync(join(plain, 'x.txt'), 'x');
    git(plain, 'add', '-A');
    git(plain, 'commit', '-q', '-m', 'x');
    const notReg = await reg(outside, ['get', '--repo', plain, 'x.txt']);
    expect(notReg.code).toBe(3);
    expect(notReg.stderr).toContain('not a reg registry');
    const option = await reg(outside, ['get', '--repo', bare, `${IMAGES}/a.txt`, '--rev', '--upload-pack=touch /tmp/pwned']);
    expect(option.code).not.toBe(0);
    const missingPath = await reg(outside, ['get', '--repo', join(outside, 'nope'), 'x']);
    expect(missingPath.code).toBe(2);
    expect(filesUnder(outside)).toEqual([]);
    removeDir(plain);
  });

  it('remote settings of the other repository that name local files are refused (exit 3)', async () => {
    freshOutside();
    const hostile = tempDir('reg-get-cli-hostile-');
    git(hostile, 'clone', '-q', fx.root, '.');
    execFileSync('node', [REG_BIN, 'remote', 'modify', 'store', 'credential-path', '/home/someone/.aws/credentials'], { cwd: hostile, env: { ...process.env, CI: 'true' } });
    git(hostile, 'commit', '-q', '-am', 'credential path');
    const r = await reg(outside, ['get', '--repo', hostile, `${IMAGES}/a.txt`, '--rev', 'main']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('credential-path');
    expect(filesUnder(outside)).toEqual([]);
    removeDir(hostile);
  });
});

describe('reg get in this repository (CLI)', () => {
  it('text output names what was written and where the objects came from', async () => {
    freshOutside();
    const clone = tempDir('reg-get-cli-clone-');
    git(clone, 'clone', '-q', fx.root, '.');
    const r = await regOk(clone, ['get', `${IMAGES}/sub/c.txt`, '--rev', 'v2', '-o', join(outside, 'c.txt')]);
    expect(r.stdout.trim()).toBe(`${join(outside, 'c.txt')} (${CONTENT.c2.length} B) from ${IMAGES} at v2: 1 object fetched from store`);
    expect(md5(readFileSync(join(outside, 'c.txt')))).toBe(md5(CONTENT.c2));
    const again = await regOk(clone, ['get', `${IMAGES}/sub/c.txt`, '--rev', 'v2', '-o', join(outside, 'c.txt'), '--force']);
    expect(again.stdout).toContain('all objects were in the cache');
    removeDir(clone);
  });
});

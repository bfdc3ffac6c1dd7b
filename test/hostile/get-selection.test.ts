import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, removeDir, tempDir } from '../helpers/repo.js';
import { commit, makeWorld, manifestBytes, md5, pointerText, putRemoteObject, runGuarded, type World } from './world.js';

/**
 * `reg get` of a file or sub-directory of a directory entry validates only the manifest entries
 * it writes (selectManifestEntries): the manifest's bytes must still hash to the pointer's oid,
 * the document must still be a JSON list of objects, and every entry at or below the target is
 * checked in full. These cases run the real CLI against a teammate's hostile manifests on the
 * remote and assert, through runGuarded, that the sentinel tree outside the repository and
 * `.git/` are byte-identical afterwards; what was written is compared file by file.
 */

const PAYLOAD = '#!/bin/sh\necho owned > /tmp/reg-hostile-owned\n';
const OK = 'clean bytes\n';
const SUB = 'sub file\n';

describe('get of one file or sub-directory from a manifest with hostile entries elsewhere', () => {
  let w: World;
  let payload: string;
  let ok: string;
  let sub: string;
  const outs: string[] = [];
  const outDir = () => {
    const d = tempDir('reg-get-selection-');
    outs.push(d);
    return d;
  };
  /** Commits `raw_datasets/<name>.dvc` naming a manifest put on the remote only (as a teammate's push leaves it). */
  const entryWith = async (name: string, manifest: string) => {
    const oid = await putRemoteObject(w, manifest, '.dir');
    commit(w, { [`raw_datasets/${name}.dvc`]: pointerText([{ md5: oid, size: 1000, path: name }]) }, name);
    return oid;
  };
  /** A get that must fail: exit 3 with a manifest error, nothing at the output path, nothing outside changed. */
  const refused = async (target: string, errorCode: string | RegExp) => {
    const out = join(outDir(), 'got');
    const r = await runGuarded(w, ['get', target, '--rev', 'HEAD', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.errorCode).toMatch(errorCode);
    expect(existsSync(out)).toBe(false);
    return r;
  };

  beforeAll(async () => {
    w = await makeWorld('dir');
    payload = await putRemoteObject(w, PAYLOAD);
    ok = await putRemoteObject(w, OK);
    sub = await putRemoteObject(w, SUB);
    await entryWith(
      'mixed',
      manifestBytes([
        { relpath: '../../escape.sh', md5: payload },
        { relpath: '/tmp/reg-hostile-abs.sh', md5: payload },
        { relpath: '.git/config', md5: payload },
        { relpath: '.git/hooks/post-checkout', md5: payload },
        { relpath: 'ok.txt', md5: ok },
        { relpath: 'sub/b.txt', md5: sub },
        { relpath: 'zz/../../../x', md5: payload },
      ]),
    );
  }, 120_000);
  afterAll(async () => {
    for (const d of outs) removeDir(d);
    await w?.cleanup();
  });

  it('a clean file is written, alone, with its bytes; no hostile entry is written anywhere', async () => {
    const dir = outDir();
    const out = join(dir, 'ok.txt');
    const r = await runGuarded(w, ['get', 'raw_datasets/mixed/ok.txt', '--rev', 'HEAD', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(OK);
    expect(filesUnder(dir)).toEqual(['ok.txt']);
    expect(existsSync('/tmp/reg-hostile-owned')).toBe(false);
    expect(existsSync('/tmp/reg-hostile-abs.sh')).toBe(false);
  });

  it('a clean sub-directory is written with exactly its files', async () => {
    const dir = outDir();
    const out = join(dir, 'sub');
    const r = await runGuarded(w, ['get', 'raw_datasets/mixed/sub', '--rev', 'HEAD', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(filesUnder(dir)).toEqual(['sub/b.txt']);
    expect(readFileSync(join(out, 'b.txt'), 'utf8')).toBe(SUB);
  });

  it('the manifest, now in the cache, is not trusted by later commands: ls and a get of the whole entry refuse it (exit 3)', async () => {
    const oid = /md5: (\S+)/.exec(readFileSync(join(w.repo, 'raw_datasets/mixed.dvc'), 'utf8'))![1]!;
    expect(existsSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2)))).toBe(true);
    const ls = await runGuarded(w, ['ls', 'raw_datasets/mixed', '--rev', 'HEAD']);
    expect(ls.code, ls.stdout + ls.stderr).toBe(3);
    expect(ls.errorCode).toBe('manifest.unsafe-path');
    await refused('raw_datasets/mixed', 'manifest.unsafe-path');
  });

  it('a target whose own entries are hostile is refused: "..", ".git" and an empty segment below it (exit 3)', async () => {
    await entryWith(
      'below',
      manifestBytes([
        { relpath: 'a/../../../escape.sh', md5: payload },
        { relpath: 'b/.git/config', md5: payload },
        { relpath: 'c//x', md5: payload },
        { relpath: 'ok.txt', md5: ok },
      ]),
    );
    await refused('raw_datasets/below/a', 'manifest.unsafe-path');
    await refused('raw_datasets/below/b', 'manifest.unsafe-path');
    await refused('raw_datasets/below/c', 'manifest.unsafe-path');
    // Its clean neighbour is still fine.
    const out = join(outDir(), 'ok.txt');
    const r = await runGuarded(w, ['get', 'raw_datasets/below/ok.txt', '--rev', 'HEAD', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(OK);
  });

  it('a bad md5 for the wanted file (a path, upper case, a .dir oid) is refused (exit 3)', async () => {
    await entryWith(
      'badmd5',
      manifestBytes([
        { relpath: 'dotdot.txt', md5: '../../../../etc/passwd' },
        { relpath: 'upper.txt', md5: ok.toUpperCase() },
        { relpath: 'dir.txt', md5: `${ok}.dir` },
        { relpath: 'ok.txt', md5: ok },
      ]),
    );
    for (const f of ['dotdot.txt', 'upper.txt', 'dir.txt']) await refused(`raw_datasets/badmd5/${f}`, 'manifest.bad-md5');
  });

  it('the wanted path listed twice, or as a file and a directory, is refused as the full reader would (exit 3)', async () => {
    await entryWith(
      'twice',
      manifestBytes([
        { relpath: 'dup.txt', md5: ok },
        { relpath: 'dup.txt', md5: payload },
        { relpath: 'fd', md5: payload },
        { relpath: 'fd/inner.txt', md5: ok },
        { relpath: 'top', md5: payload },
        { relpath: 'top/mid/leaf.txt', md5: ok },
      ]),
    );
    await refused('raw_datasets/twice/dup.txt', 'manifest.duplicate');
    await refused('raw_datasets/twice/fd', 'manifest.file-and-dir');
    await refused('raw_datasets/twice/top/mid', 'manifest.file-and-dir');
    await refused('raw_datasets/twice/top/mid/leaf.txt', 'manifest.file-and-dir');
  });

  it('a manifest that is not JSON, not a list, or has an entry that is not an object is refused whatever the target (exit 3)', async () => {
    const good = `{"md5": "${ok}", "relpath": "ok.txt"}`;
    await entryWith('notjson', `[${good}, {"md5": "${ok}", "relpath": "z`);
    await entryWith('notlist', `{"ok.txt": "${ok}"}`);
    await entryWith('notobject', `[${good}, 42]`);
    await entryWith('nostring', `[${good}, {"md5": "${ok}", "relpath": 7}]`);
    await refused('raw_datasets/notjson/ok.txt', 'manifest.invalid-json');
    await refused('raw_datasets/notlist/ok.txt', 'manifest.not-a-list');
    await refused('raw_datasets/notobject/ok.txt', 'manifest.bad-entry');
    await refused('raw_datasets/nostring/ok.txt', 'manifest.bad-entry');
  });

  it('manifest bytes that do not hash to the pointer’s oid are refused (exit 6) and kept out of the cache', async () => {
    const real = manifestBytes([{ relpath: 'ok.txt', md5: ok }]);
    const forged = manifestBytes([{ relpath: 'ok.txt', md5: payload }]);
    const oid = md5(real);
    await w.putRemote(`files/md5/${oid.slice(0, 2)}/${oid.slice(2)}.dir`, forged);
    commit(w, { 'raw_datasets/forged.dvc': pointerText([{ md5: `${oid}.dir`, size: 100, path: 'forged' }]) }, 'forged');
    const out = join(outDir(), 'got');
    const r = await runGuarded(w, ['get', 'raw_datasets/forged/ok.txt', '--rev', 'HEAD', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), `${oid.slice(2)}.dir`))).toBe(false);
  });
});

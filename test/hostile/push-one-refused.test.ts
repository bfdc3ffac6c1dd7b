import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, regOk, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { rot } from './tree.js';
import { makeWorld, md5, runGuarded, type RemoteKind, type World } from './world.js';

/**
 * The one-dependency push: a directory's `.dir` manifest is a transfer task that requires its
 * files, so one file push refuses keeps only its own directory's manifest off the remote. The
 * real CLI, spawned, against a directory remote and s3rver: one file of a two-directory dataset
 * rotted in the cache (its verify stamp put back, so only the upload's hash sees it), so push
 * refuses it with exit 6 and quarantines it; the other directory's files and manifest reach the
 * remote, the broken directory's manifest does not (nor the rotten bytes); the sentinel tree and
 * `.git` stay byte-identical; after `reg add` stores the good bytes again, a later push completes.
 */
const DIRS = { data: ['f1.txt', 'f2.txt', 'sub/f3.txt'], more: ['g1.txt', 'g2.txt'] } as const;
const text = (dir: string, name: string) => `${dir}/${name} bytes\n`.repeat(3);
const ROTTEN = { dir: 'data', name: 'f2.txt' };
const keyOf = (oid: string) => `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;

let s3rver: S3Server;
beforeAll(async () => {
  s3rver = await startS3Server('push-refused');
}, 60_000);
afterAll(async () => {
  await s3rver?.stop();
});

const manifestKey = (w: World, dir: string) => keyOf(/md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(w.repo, `${dir}.dvc`), 'utf8'))![1]!);

describe('push with one file refused (real CLI)', () => {
  for (const kind of ['dir', 's3rver'] as RemoteKind[]) {
    it(`[${kind}] exit 6; the other directory complete on the remote, the broken one without its manifest; a push after add repairs it`, async () => {
      const w = await makeWorld(kind, s3rver);
      try {
        writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
        writeTree(w.repo, Object.fromEntries(Object.entries(DIRS).flatMap(([dir, names]) => names.map((n) => [`${dir}/${n}`, text(dir, n)]))));
        await regOk(w.repo, ['add', ...Object.keys(DIRS)], { env: w.env });
        git(w.repo, 'add', '-A');
        git(w.repo, 'commit', '-qm', 'two directories');
        const rottenKey = keyOf(md5(text(ROTTEN.dir, ROTTEN.name)));
        rot(join(w.repo, '.reg/cache', rottenKey));

        const r = await runGuarded(w, ['push']);
        expect(r.code, r.stderr).toBe(6);
        expect(r.stderr).not.toMatch(/internal error/i);
        expect(r.stderr).toContain(`${rottenKey}: corrupt in the local cache`);
        expect(r.stderr).toContain(`used by ${ROTTEN.dir}/${ROTTEN.name} (${ROTTEN.dir}.dvc)`);
        expect(r.stderr).toContain(`${manifestKey(w, 'data')}: not uploaded because 1 of its files failed`);
        const keys = await w.remoteKeys();
        const fileKeys = (dir: keyof typeof DIRS) => DIRS[dir].map((n) => keyOf(md5(text(dir, n))));
        // Every file of `more` and its manifest; every good file of `data`, not the rotten one, not data's manifest.
        expect(keys).toEqual([...fileKeys('more'), manifestKey(w, 'more'), ...fileKeys('data').filter((k) => k !== rottenKey)].sort());
        // The rotten object is out of the cache (quarantined), so nothing can hand out its bytes.
        expect(existsSync(join(w.repo, '.reg/cache', rottenKey))).toBe(false);

        // The work tree still has good bytes: add stores them again, and the next push sends the file, then the manifest.
        const add = await runGuarded(w, ['add', ROTTEN.dir]);
        expect(add.code, add.stderr).toBe(0);
        const again = await runGuarded(w, ['push']);
        expect(again.code, again.stderr).toBe(0);
        expect(await w.remoteKeys()).toEqual([...fileKeys('more'), manifestKey(w, 'more'), ...fileKeys('data'), manifestKey(w, 'data')].sort());
        if (w.remoteDir) expect(readFileSync(join(w.remoteDir, rottenKey), 'utf8')).toBe(text(ROTTEN.dir, ROTTEN.name));
      } finally {
        await w.cleanup();
      }
    }, 120_000);
  }
});

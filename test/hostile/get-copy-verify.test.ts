import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { makeSentinel, rot, snapshotTree } from './tree.js';

/**
 * `reg get` copies on the main thread (Cache.materialize -> copyVerified, the copy-mode workers'
 * runRestoreTask run in-thread): every byte is hashed in the copy's read pass, so an object whose
 * bytes rotted under a kept verify stamp (a restored mtime) is refused with exit 6, nothing is
 * published at the output path, no temp file is left, and `.git` and a sentinel tree outside the
 * repository stay byte-identical. The real CLI, spawned. Where the temp directory clones files
 * (reflink), `get` clones instead of copying and trusts the stamp, as every link type does: the
 * rotten-object cases are skipped there, with the reason.
 */
const DIR = 'raw_datasets/d';
const ONE = 'raw_datasets/model.bin';
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');
const contents = new Map<string, string>();
for (let i = 0; i < 90; i++) contents.set(`s${i % 3}/f${String(i).padStart(3, '0')}.txt`, `line ${i}\n`.repeat(1 + (i % 5)));
const single = 'model bytes\n'.repeat(50);
const rotten = 's1/f040.txt';

let repo: string;
let out: string;
let sentinel: string;
let gitBefore: Record<string, string>;
let clones = false;

const objectOf = (bytes: string) => {
  const oid = md5(bytes);
  return join(repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2));
};

beforeAll(async () => {
  repo = makeGitRepo();
  out = tempDir('reg-get-copy-out-');
  sentinel = makeSentinel();
  await regOk(repo, ['init']);
  writeTree(repo, { ...Object.fromEntries([...contents].map(([rel, c]) => [`${DIR}/${rel}`, c])), [ONE]: single });
  await regOk(repo, ['add', DIR, ONE]);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'data');
  rot(objectOf(contents.get(rotten)!));
  rot(objectOf(single));
  gitBefore = snapshotTree(join(repo, '.git'));
  try {
    copyFileSync(objectOf(contents.get('s0/f000.txt')!), join(out, 'probe'), constants.COPYFILE_FICLONE_FORCE);
    clones = true;
  } catch {
    // no clones here: get copies
  } finally {
    rmSync(join(out, 'probe'), { force: true });
  }
}, 120_000);

afterAll(() => {
  for (const d of [repo, out, sentinel]) if (d) removeDir(d);
});

describe('reg get copies verify every byte (main-thread copy)', () => {
  // it.for, not it.each: it.each passes no test context (ctx would be undefined where it skips).
  it.for([
    ['a directory with one rotten object', DIR, 'd'],
    ['a single file whose object rotted', ONE, 'model.bin'],
  ] as const)('%s: exit 6, nothing at the output path, no temp file, sentinel and .git unchanged', { timeout: 120_000 }, async ([, path, name], ctx) => {
    if (clones) ctx.skip('the temp directory clones files (reflink): get clones and trusts the stamp there, nothing is copied');
    const sentinelBefore = snapshotTree(sentinel);
    const r = await reg(repo, ['--json', 'get', path, '-o', join(out, name)]);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stdout + r.stderr).toMatch(/corrupt/);
    expect(existsSync(join(out, name))).toBe(false);
    expect(tempFilesUnder(out)).toEqual([]);
    expect(filesUnder(out)).toEqual([]);
    expect(tempFilesUnder(dirname(objectOf(single)))).toEqual([]);
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
  });

  it('a good directory is written byte for byte, writable, with no temp file', async () => {
    const r = await regOk(repo, ['get', `${DIR}/s0`, '-o', join(out, 's0')]);
    expect(r.code).toBe(0);
    const want = [...contents.keys()].filter((k) => k.startsWith('s0/')).map((k) => k.slice(3)).sort();
    expect(filesUnder(join(out, 's0'))).toEqual(want);
    for (const f of want) expect(readFileSync(join(out, 's0', f), 'utf8')).toBe(contents.get(`s0/${f}`));
    expect(statSync(join(out, 's0', want[0]!)).mode & 0o200).toBe(0o200);
    expect(tempFilesUnder(out)).toEqual([]);
  }, 120_000);
});

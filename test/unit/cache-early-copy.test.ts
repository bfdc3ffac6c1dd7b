import { appendFileSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../dist/store/cache.js';
import { md5Hex } from '../../dist/data/manifest.js';

/**
 * Early copies (Cache.wantEarlyCopies): a pull's big download also writes the work-tree copy,
 * which checkout renames into place. Only a copy adopted for an object this process verified is
 * used, once, and only while nothing has touched it; anything else falls back to the hashing copy.
 */
let root: string;
let work: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'reg-early-copy-'));
  work = join(root, 'work');
  mkdirSync(work);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const BYTES = Buffer.from('the object bytes\n'.repeat(1000));
const OID = md5Hex(BYTES);

/** A cache holding BYTES (as a verified download leaves it) and an adopted early copy with `copyBytes`. */
function cacheWithEarlyCopy(copyBytes: Buffer): { cache: Cache; copy: string } {
  const cache = new Cache(join(root, 'cache'));
  cache.insertBytes(OID, BYTES);
  cache.wantEarlyCopies();
  const objectPath = cache.objectPath(OID);
  const target = cache.earlyCopyTarget(objectPath)!;
  expect(dirname(target.path)).toBe(dirname(objectPath));
  writeFileSync(target.path, copyBytes, { mode: target.mode, flag: 'wx' });
  cache.adoptEarlyCopy(objectPath, target.path);
  return { cache, copy: target.path };
}

const tempsBeside = (cache: Cache) => readdirSync(dirname(cache.objectPath(OID))).filter((n) => n.startsWith('.'));

describe('Cache early copies', () => {
  it('are only offered once a pull asks for them', () => {
    const cache = new Cache(join(root, 'cache'));
    expect(cache.earlyCopyTarget(cache.objectPath(OID))).toBeUndefined();
    cache.wantEarlyCopies();
    expect(cache.earlyCopyTarget(cache.objectPath(OID))).toBeDefined();
  });

  it('the adopted copy is renamed into place (copy mode), writable, once; the next checkout copies the object', async () => {
    const { cache, copy } = cacheWithEarlyCopy(BYTES);
    const ino = statSync(copy).ino;
    const dest = join(work, 'a.bin');
    expect(await cache.materialize(OID, false, dest, ['copy'])).toBe('copy');
    expect(statSync(dest).ino).toBe(ino);
    expect(readFileSync(dest).equals(BYTES)).toBe(true);
    expect(statSync(dest).mode & 0o200).toBe(0o200);
    expect(existsSync(copy)).toBe(false);
    const again = join(work, 'b.bin');
    await cache.materialize(OID, false, again, ['copy']);
    expect(statSync(again).ino).not.toBe(ino);
    expect(readFileSync(again).equals(BYTES)).toBe(true);
    expect(tempsBeside(cache)).toEqual([]);
  });

  it('a copy changed after it was adopted is not used: removed, and the object is copied (and hashed) instead', async () => {
    const { cache, copy } = cacheWithEarlyCopy(BYTES);
    appendFileSync(copy, 'tampered');
    const dest = join(work, 'a.bin');
    await cache.materialize(OID, false, dest, ['copy']);
    expect(readFileSync(dest).equals(BYTES)).toBe(true);
    expect(existsSync(copy)).toBe(false);
    expect(tempsBeside(cache)).toEqual([]);
  });

  it('a copy for an object this process did not verify is never adopted', () => {
    const cache = new Cache(join(root, 'cache'));
    const objectPath = cache.objectPath(OID);
    mkdirSync(dirname(objectPath), { recursive: true });
    writeFileSync(objectPath, BYTES);
    cache.wantEarlyCopies();
    const target = cache.earlyCopyTarget(objectPath)!;
    writeFileSync(target.path, BYTES);
    cache.adoptEarlyCopy(objectPath, target.path);
    expect(existsSync(target.path)).toBe(false);
  });

  it('links do not use it, and discardEarlyCopies removes what no checkout used', async () => {
    const { cache, copy } = cacheWithEarlyCopy(BYTES);
    const dest = join(work, 'a.bin');
    expect(await cache.materialize(OID, false, dest, ['hardlink'])).toBe('hardlink');
    expect(statSync(dest).ino).toBe(statSync(cache.objectPath(OID)).ino);
    expect(existsSync(copy)).toBe(true);
    cache.discardEarlyCopies();
    expect(existsSync(copy)).toBe(false);
    expect(tempsBeside(cache)).toEqual([]);
  });

  it('copiesInto: copy first, or a reflink the filesystem refuses, means the checkout copies; links do not', () => {
    const cache = new Cache(join(root, 'cache'));
    expect(cache.copiesInto(work, ['copy'])).toBe(true);
    expect(cache.copiesInto(work, ['hardlink', 'copy'])).toBe(false);
    expect(cache.copiesInto(work, ['symlink'])).toBe(false);
    let reflinks = true;
    try {
      writeFileSync(join(root, 'probe-src'), 'x');
      // a filesystem that clones (btrfs, xfs) makes the checkout a reflink, not a copy
      copyFileSync(join(root, 'probe-src'), join(work, 'probe-dst'), constants.COPYFILE_FICLONE_FORCE);
    } catch {
      reflinks = false;
    }
    rmSync(join(work, 'probe-dst'), { force: true });
    expect(cache.copiesInto(work, ['reflink', 'copy'])).toBe(!reflinks);
    // the probe leaves nothing behind
    expect(readdirSync(work)).toEqual([]);
    expect(readdirSync(join(root, 'cache')).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../dist/store/cache.js';
import { hashFile } from '../../dist/data/hash.js';
import { md5Hex } from '../../dist/data/manifest.js';
import { hasVerifiedMtime } from '../../dist/workspace/hash-task.js';
import { RegError } from '../../dist/errors.js';

// The main thread's copy (single files, legacy outputs, the reflink fallback) runs the copy-mode
// workers' code (runRestoreTask): these pin what it must keep doing.
let root: string;
let work: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'reg-cache-copy-'));
  work = join(root, 'work');
  mkdirSync(work);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const cacheOf = () => new Cache(join(root, 'cache'));

/** Puts `bytes` at the object path of `oid` as they are (no check, no stamp), as bit rot or a foreign tool would. */
function plant(cache: Cache, oid: string, bytes: Buffer, legacy = false): string {
  const path = cache.objectPath(oid, legacy);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes, { mode: 0o444 });
  utimesSync(path, new Date(), new Date(Date.now() - 1234));
  return path;
}

describe('Cache.materializeStat, copy on the main thread', () => {
  it('copies a good object, returns the stat of the file written and leaves no temp file', async () => {
    const cache = cacheOf();
    const bytes = Buffer.from('hello copy\n');
    const oid = md5Hex(bytes);
    cache.insertBytes(oid, bytes);
    const dest = join(work, 'f.txt');
    const { type, stat } = await cache.materializeStat(oid, false, dest, ['copy'], true);
    expect(type).toBe('copy');
    expect(readFileSync(dest)).toEqual(bytes);
    const st = lstatSync(dest);
    expect({ ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, mode: stat.mode }).toEqual({ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode });
    expect(st.mode & 0o200).toBe(0o200);
    expect(st.mode & 0o100).toBe(0o100 & ~process.umask());
    expect(readdirSync(work)).toEqual(['f.txt']);
  });

  it('verifies and stamps an unstamped object while copying it', async () => {
    const cache = cacheOf();
    const bytes = Buffer.from('unstamped but good\n');
    const oid = md5Hex(bytes);
    const object = plant(cache, oid, bytes);
    expect(hasVerifiedMtime(statSync(object).mtimeMs)).toBe(false);
    await cache.materialize(oid, false, join(work, 'g'), ['copy']);
    expect(readFileSync(join(work, 'g'))).toEqual(bytes);
    expect(hasVerifiedMtime(statSync(object).mtimeMs)).toBe(true);
  });

  it('refuses a corrupt object: exit 6 (cache.corrupt-object), nothing at dest, no temp file, an existing file kept', async () => {
    const cache = cacheOf();
    const oid = md5Hex(Buffer.from('the right bytes\n'));
    plant(cache, oid, Buffer.from('rotten bytes!!!\n'));
    const dest = join(work, 'h');
    const err = await cache.materialize(oid, false, dest, ['copy']).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code).toBe('cache.corrupt-object');
    expect((err as RegError).exit).toBe('integrity');
    expect(existsSync(dest)).toBe(false);
    writeFileSync(dest, 'mine\n');
    await expect(cache.materialize(oid, false, dest, ['reflink', 'copy'])).rejects.toThrow(/corrupt/);
    expect(readFileSync(dest, 'utf8')).toBe('mine\n');
    expect(readdirSync(work)).toEqual(['h']);
  });

  it('copies a legacy (md5-dos2unix) object byte for byte', async () => {
    const cache = cacheOf();
    const bytes = Buffer.from('line one\r\nline two\r\n');
    const src = join(root, 'legacy-src');
    writeFileSync(src, bytes);
    const { md5: oid } = await hashFile(src, true);
    expect(oid).toBe(md5Hex(Buffer.from('line one\nline two\n')));
    plant(cache, oid, bytes, true);
    const { stat } = await cache.materializeStat(oid, true, join(work, 'l'), ['copy']);
    expect(readFileSync(join(work, 'l'))).toEqual(bytes);
    expect(stat.size).toBe(bytes.length);
    expect(readdirSync(work)).toEqual(['l']);
  });

  it('names the missing object', async () => {
    const cache = cacheOf();
    await expect(cache.materialize('0'.repeat(32), false, join(work, 'm'), ['copy'])).rejects.toMatchObject({ code: 'cache.missing-object' });
    expect(readdirSync(work)).toEqual([]);
  });
});

import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegError } from '../../dist/errors.js';
import { LocalBackend } from '../../dist/store/local.js';
import { removeDir, tempDir } from '../helpers/repo.js';

/**
 * A directory remote follows symbolic links only while they stay inside its directory: a root that
 * is itself a link and links between its own directories work as before; a link leading out of it
 * is refused (remote.link-outside) for reads, listings, writes and deletes, before anything is
 * created there; a link at a key that leads out is no object (head: absent). (The hostile CLI cases are in test/hostile/sync-directory-remote.test.ts.)
 */
let base: string;
beforeEach(() => {
  base = tempDir('reg-local-links-');
});
afterEach(() => removeDir(base));

const keysOf = async (b: LocalBackend, prefix = '') => {
  const keys: string[] = [];
  for await (const page of b.list(prefix)) keys.push(...page.map((o) => o.key));
  return keys.sort();
};

describe('LocalBackend and symbolic links', () => {
  it('a root that is a link, and links that stay inside the remote, work for put, get, head, list and delete', async () => {
    mkdirSync(join(base, 'real', 'volume2'), { recursive: true });
    symlinkSync(join(base, 'real'), join(base, 'root'));
    // The admin moved files/ to another directory of the same remote.
    symlinkSync(join(base, 'real', 'volume2'), join(base, 'real', 'files'));
    const b = new LocalBackend(join(base, 'root'));
    await b.putBytes('files/md5/ab/cdef', Buffer.from('bytes'));
    writeFileSync(join(base, 'real', 'volume2', 'target.txt'), 'linked');
    symlinkSync(join(base, 'real', 'volume2', 'target.txt'), join(base, 'real', 'alias.txt'));
    expect(readFileSync(join(base, 'real', 'volume2', 'md5', 'ab', 'cdef'), 'utf8')).toBe('bytes');
    expect(await b.head('files/md5/ab/cdef')).toMatchObject({ size: 5 });
    expect(await b.readSmall('alias.txt', 100)).toEqual(Buffer.from('linked'));
    expect(await keysOf(b, 'files/')).toEqual(['files/md5/ab/cdef', 'files/target.txt']);
    await b.delete('files/md5/ab/cdef');
    expect(await b.head('files/md5/ab/cdef')).toBeUndefined();
  });

  it('a link leading out of the remote is refused by every operation, and nothing is created or removed through it', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep.txt'), 'keep');
    mkdirSync(join(base, 'remote'));
    symlinkSync(outside, join(base, 'remote', 'area'));
    symlinkSync(join(outside, 'keep.txt'), join(base, 'remote', 'file.txt'));
    const b = new LocalBackend(join(base, 'remote'));
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RegError);
      expect((err as RegError).code).toBe('remote.link-outside');
      expect((err as RegError).exitCode).toBe(3);
    };
    await refused(b.putBytes('area/new/x.txt', Buffer.from('x')));
    await refused(b.delete('area/keep.txt'));
    await refused(b.get('area/keep.txt'));
    // A link at a key is no object of this remote (listings skip it): head says absent, reads refuse it.
    expect(await b.head('file.txt')).toBeUndefined();
    await refused(b.head('area/keep.txt'));
    await refused(b.readSmall('file.txt', 100));
    await refused(keysOf(b, 'area/'));
    expect(await keysOf(b)).toEqual([]);
    expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('keep');
    expect(() => readFileSync(join(outside, 'new', 'x.txt'))).toThrow();
  });
});

import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StatCache } from '../../src/workspace/stat-cache.js';
import { walkTree, type DirListings, type DirStats } from '../../src/workspace/walk.js';
import { removeDir, tempDir } from '../helpers/repo.js';

/**
 * Directory listings remembered in the stat cache (git's untracked cache): trusted only for a
 * directory whose inode, mtime and ctime are unchanged and outside the racy window of the scan
 * that listed it; damaged rows are dropped; changes go to the append log.
 */
let dir: string;
beforeEach(() => {
  dir = tempDir('reg-statdirs-');
});
afterEach(() => removeDir(dir));

const OLD = 1_700_000_000_000;
const st = (over: Partial<DirStats> = {}): DirStats => ({ ino: 77, mtimeMs: OLD, ctimeMs: OLD, ...over });
const statFile = () => join(dir, readdirSync(dir).find((n) => n.endsWith('.json'))!);

/** A saved cache whose walk listed '' (root) and 'sub/' at `checkedAt`. */
function seed(checkedAt: number, rootStats = st(), subStats = st({ ino: 78 })): void {
  const c = StatCache.load(dir, 'data', false);
  const l = c.dirListings(checkedAt);
  expect(l.known('', rootStats)).toBeUndefined();
  l.listed('', rootStats, ['a', 'sub', 'b'], undefined);
  l.listed('sub/', subStats, [], undefined);
  c.retainOnly([]);
  c.save();
}

describe('stat cache directory listings', () => {
  it('gives back a listing while the directory is unchanged and was listed outside the racy window', () => {
    seed(OLD + 1000);
    const l = StatCache.load(dir, 'data', false).dirListings(OLD + 5000);
    expect(l.known('', st())).toBe('a\nsub\nb');
    expect(l.known('sub/', st({ ino: 78 }))).toBe('');
    expect(l.known('other/', st())).toBeUndefined();
  });

  it('does not trust a directory whose inode, mtime or ctime changed (a ctime moved by touch -r shows too)', () => {
    seed(OLD + 1000);
    const l = StatCache.load(dir, 'data', false).dirListings(OLD + 5000);
    expect(l.known('', st({ ino: 76 }))).toBeUndefined();
    expect(l.known('', st({ mtimeMs: OLD + 1 }))).toBeUndefined();
    expect(l.known('', st({ ctimeMs: OLD + 0.5 }))).toBeUndefined();
  });

  it('does not trust a listing taken within the racy window of the directory changing (mtime or ctime)', () => {
    seed(OLD + 30, st(), st({ ino: 78, ctimeMs: OLD + 980 }));
    const l = StatCache.load(dir, 'data', false).dirListings(OLD + 5000);
    expect(l.known('', st())).toBeUndefined();
    removeDir(dir);
    mkdirSync(dir);
    seed(OLD + 1000, st(), st({ ino: 78, ctimeMs: OLD + 980 }));
    const again = StatCache.load(dir, 'data', false).dirListings(OLD + 5000);
    expect(again.known('', st())).toBe('a\nsub\nb');
    expect(again.known('sub/', st({ ino: 78, ctimeMs: OLD + 980 }))).toBeUndefined();
  });

  it('a racy listing is remembered anew by the next scan, and then trusted', () => {
    seed(OLD + 30);
    const c = StatCache.load(dir, 'data', false);
    const l = c.dirListings(OLD + 5000);
    expect(l.known('', st())).toBeUndefined();
    l.listed('', st(), ['a', 'sub', 'b'], undefined);
    l.listed('sub/', st({ ino: 78 }), [], undefined);
    c.retainOnly([]);
    c.save();
    expect(StatCache.load(dir, 'data', false).dirListings(OLD + 9000).known('', st())).toBe('a\nsub\nb');
  });

  it('an unchanged scan writes nothing; a changed directory is appended to the log and replayed', () => {
    seed(OLD + 1000);
    // A stored generation is needed for the log: one file row makes the save a rewrite with one.
    const c0 = StatCache.load(dir, 'data', false);
    c0.dirListings(OLD + 1000).listed('', st(), ['a', 'sub', 'b'], undefined);
    c0.record({ relpath: 'a', ino: 1, size: 1, mtimeMs: OLD, ctimeMs: OLD, mode: 0o100644 }, 'a'.repeat(32));
    c0.retainOnly(['a']);
    c0.save();
    const base = readFileSync(statFile());

    const same = StatCache.load(dir, 'data', false);
    const l1 = same.dirListings(OLD + 5000);
    l1.listed('', st(), ['a', 'sub', 'b'], l1.known('', st()));
    same.save();
    expect(readFileSync(statFile())).toEqual(base);
    expect(existsSync(statFile() + '.log')).toBe(false);

    const changed = StatCache.load(dir, 'data', false);
    const l2 = changed.dirListings(OLD + 6000);
    expect(l2.known('', st({ mtimeMs: OLD + 2000, ctimeMs: OLD + 2000 }))).toBeUndefined();
    l2.listed('', st({ mtimeMs: OLD + 2000, ctimeMs: OLD + 2000 }), ['a', 'sub', 'b', 'c'], undefined);
    changed.save();
    expect(readFileSync(statFile())).toEqual(base);
    expect(existsSync(statFile() + '.log')).toBe(true);
    const replayed = StatCache.load(dir, 'data', false).dirListings(OLD + 9000);
    expect(replayed.known('', st({ mtimeMs: OLD + 2000, ctimeMs: OLD + 2000 }))).toBe('a\nsub\nb\nc');
    expect(replayed.known('', st())).toBeUndefined();
  });

  it('drops damaged rows and rows whose names would lead the walk out of the directory', () => {
    seed(OLD + 1000);
    const stored = JSON.parse(readFileSync(statFile(), 'utf8'));
    const good = stored.dirs[0];
    stored.dirs = [
      ['', good[1], good[2], good[3], good[4], 'a\n..\nb'],
      ['x/', good[1], good[2], good[3], good[4], '../../etc'],
      ['y/', good[1], good[2], good[3], good[4], 'a\n\nb'],
      ['z/', good[1], good[2], good[3], good[4], '.'],
      ['w/', good[1], 'not a number', good[3], good[4], 'a'],
      ['v/', good[1], good[2], good[3], good[4], 'fine\nnames'],
      'not a row',
    ];
    writeFileSync(statFile(), JSON.stringify(stored));
    const l = StatCache.load(dir, 'data', false).dirListings(OLD + 5000);
    for (const p of ['', 'x/', 'y/', 'z/', 'w/']) expect(l.known(p, st())).toBeUndefined();
    expect(l.known('v/', st())).toBe('fine\nnames');
  });
});

describe('walkTree with remembered listings', () => {
  it('lstats the remembered names of an unchanged directory instead of reading it, and reports every listing', () => {
    mkdirSync(join(dir, 'sub'));
    for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, n), n);
    writeFileSync(join(dir, 'sub', 'x'), 'x');
    const listed: Array<[string, string[], string | undefined]> = [];
    const listings: DirListings = {
      // The remembered root listing leaves out 'c': the walk trusts it, so 'c' is not found.
      known: (prefix) => (prefix === '' ? 'a\nb\nsub' : undefined),
      listed: (prefix, _st, names, joined) => void listed.push([prefix, [...names], joined]),
    };
    const files = walkTree(dir, { listings, rootStats: lstatSync(dir) });
    expect(files.map((f) => f.relpath).sort()).toEqual(['a', 'b', 'sub/x']);
    expect(listed).toEqual([
      ['', ['a', 'b', 'sub'], 'a\nb\nsub'],
      ['sub/', ['x'], undefined],
    ]);
    // Without the root's stats, the root is read and not remembered.
    listed.length = 0;
    expect(walkTree(dir, { listings }).length).toBe(4);
    expect(listed.map((l) => l[0])).toEqual(['sub/']);
  });
});

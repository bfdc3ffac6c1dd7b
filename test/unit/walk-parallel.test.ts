import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirLister, FIELDS, type DirListing } from '../../src/workspace/dir-lister.js';
import { walkTree, type DirListings, type WalkOptions } from '../../src/workspace/walk.js';
import { removeDir, tempDir } from '../helpers/repo.js';

/**
 * The walk with a second thread listing directories ahead (used from 50k files) finds exactly
 * what the walk alone finds, in the same order, with the same stat fields and callbacks.
 */
let dir: string;
beforeEach(() => {
  dir = tempDir('reg-walk-');
});
afterEach(() => removeDir(dir));

/** ~200 directories over three levels, with every kind of entry the walk sorts out. */
function buildTree(root: string): void {
  for (let a = 0; a < 8; a++) {
    for (let b = 0; b < 25; b++) {
      const d = join(root, `a${a}`, `b${String(b).padStart(2, '0')}`);
      mkdirSync(d, { recursive: true });
      for (let f = 0; f < 6; f++) writeFileSync(join(d, `f${f}.bin`), `${a}/${b}/${f}`.repeat(f + 1));
    }
    writeFileSync(join(root, `a${a}`, 'top.txt'), String(a));
  }
  mkdirSync(join(root, 'a0', '.git'));
  writeFileSync(join(root, 'a0', '.git', 'HEAD'), 'not data');
  writeFileSync(join(root, 'a1', '.regtmp-abc123'), 'half-written');
  symlinkSync('../a2/top.txt', join(root, 'a1', 'link-to-file'));
  symlinkSync('../a3', join(root, 'a1', 'link-to-dir'));
  mkdirSync(join(root, 'a4', 'skip-me'));
  writeFileSync(join(root, 'a4', 'skip-me', 'x'), 'ignored');
  writeFileSync(join(root, 'a5', 'ignored.log'), 'ignored');
  execFileSync('mkfifo', [join(root, 'a6', 'fifo')]);
}

/** A DirLister whose thread is up and answering (it has listed `probe`, a directory). */
async function startedLister(probe: string): Promise<DirLister> {
  const lister = new DirLister();
  await listedOnThread(lister, probe);
  return lister;
}

/** Posts `d` until the thread answers it (not answered in time, take() claims it for the caller and the next attempt posts it again). */
async function listedOnThread(lister: DirLister, d: string): Promise<DirListing> {
  for (let attempt = 0; attempt < 120; attempt++) {
    lister.post([d]);
    await sleep(250);
    const listing = lister.take(d);
    if (listing !== undefined) return listing;
  }
  lister.close();
  throw new Error(`the DirLister thread never listed ${d}`);
}

function walk(lister?: DirLister, extra: WalkOptions = {}) {
  const temps: string[] = [];
  const linkedDirs: string[] = [];
  const files = walkTree(dir, {
    ignored: (rel) => rel === 'a4/skip-me/' || rel.endsWith('.log'),
    onTemp: (rel) => temps.push(rel),
    onSymlinkedDir: (rel) => linkedDirs.push(rel),
    ...(lister ? { lister } : {}),
    ...extra,
  });
  return { files, temps, linkedDirs };
}

describe('walkTree with a directory-listing thread', () => {
  it('finds the same files, in the same order, with the same stats and callbacks', async () => {
    buildTree(dir);
    const alone = walk();
    expect(alone.files.length).toBe(8 * 25 * 6 + 8 + 1);
    // Every round must equal the walk alone; at least one must have had the thread list part of
    // the tree (on a loaded machine the thread may be descheduled through a whole short walk).
    let helped = 0;
    for (let round = 0; round < 10 && helped === 0; round++) {
      const lister = await startedLister(dir);
      try {
        const before = lister.helped;
        expect(walk(lister)).toEqual(alone);
        helped = lister.helped - before;
      } finally {
        lister.close();
      }
    }
    expect(helped).toBeGreaterThan(0);
  });

  it('finds the same with remembered listings handed to the thread', async () => {
    buildTree(dir);
    const alone = walk();
    // Remembered listings for every directory (as the stat cache gives them): the thread lstats those names.
    const remembered = new Map<string, string>();
    const listings: DirListings = {
      known: (prefix) => remembered.get(prefix),
      listed: (prefix, _st, names) => void remembered.set(prefix, names.join('\n')),
    };
    expect(walk(undefined, { listings, rootStats: lstatSync(dir) })).toEqual(alone);
    expect(remembered.size).toBeGreaterThan(200);
    let helped = 0;
    for (let round = 0; round < 10 && helped === 0; round++) {
      const lister = await startedLister(join(dir, 'a0'));
      try {
        const before = lister.helped;
        expect(walk(lister, { listings, rootStats: lstatSync(dir) })).toEqual(alone);
        helped = lister.helped - before;
      } finally {
        lister.close();
      }
    }
    expect(helped).toBeGreaterThan(0);
  });

  it('throws the same error for a .dvcignore inside the tree and for a dangling symlink', () => {
    buildTree(dir);
    const lister = new DirLister();
    try {
      writeFileSync(join(dir, 'a7', 'b20', '.dvcignore'), '*.bin\n');
      expect(() => walk(lister)).toThrow(expect.objectContaining({ code: 'add.dvcignore-inside' }));
      rmSync(join(dir, 'a7', 'b20', '.dvcignore'));
      symlinkSync('nowhere', join(dir, 'a7', 'b21', 'dangling'));
      expect(() => walk(lister)).toThrow(expect.objectContaining({ code: 'add.dangling-symlink' }));
      expect(() => walk()).toThrow(expect.objectContaining({ code: 'add.dangling-symlink' }));
    } finally {
      lister.close();
    }
  });
});

describe('DirLister', () => {
  it("lists posted directories on its thread: names, modes and stat fields as lstat gives them", async () => {
    buildTree(dir);
    const dirs = ['a0', 'a1', 'a6/b03'].map((d) => join(dir, d));
    const lister = new DirLister();
    try {
      for (const d of dirs) {
        const listing = await listedOnThread(lister, d);
        expect(listing!.names).toEqual(readdirSync(d));
        listing!.names.forEach((name, i) => {
          const st = lstatSync(join(d, name));
          const row = [...listing!.stats.subarray(i * FIELDS, i * FIELDS + FIELDS)];
          expect(row, name).toEqual([st.mode, st.ino, st.size, st.mtimeMs, st.ctimeMs]);
        });
      }
      // Not posted: the walk lists it itself.
      expect(lister.take(join(dir, 'a2'))).toBeUndefined();
    } finally {
      lister.close();
    }
  });
});

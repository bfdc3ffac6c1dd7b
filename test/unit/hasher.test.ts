import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// The workers load dist/workspace/hash-worker.js, so the built module is tested (npm test builds first).
import { hashEach, hashEachOf, hashMany } from '../../dist/workspace/hasher.js';
import { removeDir, tempDir, tempFilesUnder } from '../helpers/repo.js';

/**
 * hashEach hands results over as batches complete instead of holding them all; a failure in the
 * consumer stops new batches, lets the ones in flight finish (no temp file left in the cache) and
 * is rethrown.
 */
let dir: string;
beforeEach(() => {
  dir = tempDir('reg-hasher-');
});
afterEach(() => removeDir(dir));

const N = 600;
function makeFiles(): Array<{ abs: string; size: number; md5: string }> {
  mkdirSync(join(dir, 'src'));
  return Array.from({ length: N }, (_, i) => {
    const abs = join(dir, 'src', `f${i}`);
    const body = `file ${i}\n`.repeat(1 + (i % 7));
    writeFileSync(abs, body);
    return { abs, size: body.length, md5: createHash('md5').update(body).digest('hex') };
  });
}

describe('hashEach / hashMany', () => {
  it('hashMany returns every result in task order, storing into the shared cache root', async () => {
    const files = makeFiles();
    const cacheRoot = join(dir, 'cache');
    mkdirSync(cacheRoot);
    const results = await hashMany(files, { jobs: 2, shared: { legacy: false, cacheRoot } });
    expect(results.map((r) => ('md5' in r ? r.md5 : r.error))).toEqual(files.map((f) => f.md5));
    const f = files[17]!;
    expect(readFileSync(join(cacheRoot, 'files', 'md5', f.md5.slice(0, 2), f.md5.slice(2)))).toEqual(readFileSync(f.abs));
  });

  it('hashEach reports each index once', async () => {
    const files = makeFiles();
    const seen = new Map<number, string>();
    await hashEach(files, (r, i) => {
      expect(seen.has(i)).toBe(false);
      seen.set(i, 'md5' in r ? r.md5 : r.error);
    }, { jobs: 2 });
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(files.map((_, i) => i));
    expect(files.every((f, i) => seen.get(i) === f.md5)).toBe(true);
  });

  it('a throwing consumer stops the run: the error is rethrown, no temp file is left, later batches never start', async () => {
    const files = makeFiles();
    const cacheRoot = join(dir, 'cache');
    mkdirSync(cacheRoot);
    let calls = 0;
    const boom = new Error('consumer failed');
    await expect(
      hashEach(files, () => {
        if (++calls === 3) throw boom;
      }, { jobs: 2, shared: { legacy: false, cacheRoot } }),
    ).rejects.toBe(boom);
    expect(tempFilesUnder(cacheRoot)).toEqual([]);
    // Batches are 256 files: at most the two in flight when the error came were hashed.
    expect(calls).toBeLessThan(N);
  });

  it('hashEachOf makes each task once, in order, only as batches are cut: a source of restores is not read ahead of the workers', async () => {
    const files = makeFiles();
    mkdirSync(join(dir, 'out'));
    const asked: number[] = [];
    let askedAtFirstResult: number | undefined;
    const seen = new Set<number>();
    await hashEachOf(
      {
        count: N,
        totalBytes: 0,
        at: (i) => {
          asked.push(i);
          return { abs: files[i]!.abs, size: 0, restore: { dest: join(dir, 'out', `r${i}`), expect: files[i]!.md5, mode: 0o644, kernelCopy: false } };
        },
      },
      (r, i) => {
        askedAtFirstResult ??= asked.length;
        expect('written' in r && r.written !== undefined).toBe(true);
        seen.add(i);
      },
      { jobs: 2 },
    );
    expect(asked).toEqual(files.map((_, i) => i));
    expect(seen.size).toBe(N);
    // Two workers, one batch of at most 256 files each in flight: the rest was not made yet.
    expect(askedAtFirstResult).toBeLessThanOrEqual(2 * 256);
    expect(readFileSync(join(dir, 'out', 'r599'))).toEqual(readFileSync(files[599]!.abs));
  });

  it('hashEachOf: a source that throws stops the run (the batches in flight finish, no temp file left) and the error is rethrown', async () => {
    const files = makeFiles();
    mkdirSync(join(dir, 'out'));
    const boom = new Error('no destination for this one');
    let results = 0;
    await expect(
      hashEachOf(
        {
          count: N,
          totalBytes: 0,
          at: (i) => {
            if (i === 300) throw boom;
            return { abs: files[i]!.abs, size: 0, restore: { dest: join(dir, 'out', `r${i}`), expect: files[i]!.md5, mode: 0o644, kernelCopy: false } };
          },
        },
        () => void results++,
        { jobs: 2 },
      ),
    ).rejects.toBe(boom);
    // The first worker's batch (files 0-255) was in flight and finished, unreported as after any
    // failure; the second worker's (256-299, cut short by the throw) never started.
    expect(results).toBe(0);
    expect(existsSync(join(dir, 'out', 'r255'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'r256'))).toBe(false);
    expect(tempFilesUnder(dir)).toEqual([]);
  });

  it('restore tasks on two workers (packed batches): each file written with its stat returned, a mismatch and a missing object reported by index with nothing written, no temp file', async () => {
    const files = makeFiles();
    mkdirSync(join(dir, 'out'));
    const bad = 123;
    const missing = 456;
    writeFileSync(files[bad]!.abs, 'not the bytes this md5 names\n');
    const tasks = files.map((f, i) => ({
      abs: i === missing ? join(dir, 'src', 'gone') : f.abs,
      size: 0,
      restore: { dest: join(dir, 'out', `r${i}`), expect: f.md5, mode: 0o640, kernelCopy: false },
    }));
    const results = await hashMany(tasks, { jobs: 2 });
    results.forEach((r, i) => {
      const dest = tasks[i]!.restore.dest;
      if (i === bad) {
        expect(r).toEqual({ md5: createHash('md5').update('not the bytes this md5 names\n').digest('hex'), size: 29, stored: false });
        expect(existsSync(dest)).toBe(false);
      } else if (i === missing) {
        expect('error' in r && r.code).toBe('ENOENT');
        expect(existsSync(dest)).toBe(false);
      } else {
        const st = lstatSync(dest);
        expect(r).toEqual({ md5: files[i]!.md5, size: st.size, stored: false, written: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode } });
        expect(st.mode & 0o777).toBe(0o640 & ~process.umask());
        expect(readFileSync(dest)).toEqual(readFileSync(files[i]!.abs));
      }
    });
    expect(tempFilesUnder(dir)).toEqual([]);
  });
});

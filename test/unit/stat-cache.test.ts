import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_MAX_ROWS, StatCache } from '../../src/workspace/stat-cache.js';
import { MIRROR_MIN_ENTRIES } from '../../src/workspace/mirror-index.js';
import type { WalkedFile } from '../../src/workspace/walk.js';
import { removeDir, tempDir } from '../helpers/repo.js';

/**
 * The stat cache's append log: touched/modified files are appended as patches instead of
 * rewriting every row, a crash mid-append loses at most the torn line, and the tree memo never
 * outlives a row whose md5 changed.
 */
let dir: string;
beforeEach(() => {
  dir = tempDir('reg-statcache-');
});
afterEach(() => removeDir(dir));

const OLD = 1_700_000_000_000;
const file = (i: number, over: Partial<WalkedFile> = {}): WalkedFile => ({ relpath: `f${i}`, ino: 1000 + i, size: 10 + i, mtimeMs: OLD + i, ctimeMs: OLD + i, mode: 0o100644, ...over });
const md5 = (c: string) => c.repeat(32).slice(0, 32);
const N = 5;
const files = () => Array.from({ length: N }, (_, i) => file(i));
const statFile = () => join(dir, readdirSync(dir).find((n) => n.endsWith('.json'))!);

/**
 * The saved number columns: in `<file>.bin`, after a 16-byte header naming the JSON's generation, one
 * column after another, then the md5s (16 bytes each; the JSON has none).
 */
function storedNumbers(): Record<'ino' | 'size' | 'mtime' | 'ctime' | 'checked', number[]> {
  const { rows, gen, md5 } = JSON.parse(readFileSync(statFile(), 'utf8')) as { rows: number; gen: string; md5?: unknown };
  expect(md5).toBeUndefined();
  const bin = readFileSync(`${statFile()}.bin`);
  expect(bin.toString('latin1', 0, gen.length)).toBe(gen);
  expect(bin.length).toBe(16 + 5 * rows * 8 + 16 * rows);
  const all = [...new Float64Array(bin.buffer.slice(bin.byteOffset + 16, bin.byteOffset + 16 + 5 * rows * 8))];
  const col = (c: number) => all.slice(c * rows, (c + 1) * rows);
  return { ino: col(0), size: col(1), mtime: col(2), ctime: col(3), checked: col(4) };
}

/** The saved md5s, as hex: in `<file>.bin` after the number columns. */
function storedMd5s(): string[] {
  const { rows } = JSON.parse(readFileSync(statFile(), 'utf8')) as { rows: number };
  const bin = readFileSync(`${statFile()}.bin`);
  return Array.from({ length: rows }, (_, i) => bin.toString('hex', 16 + 5 * rows * 8 + 16 * i, 16 + 5 * rows * 8 + 16 * (i + 1)));
}

/**
 * Records one more file (md5 'c…') beside `current` (whose md5s read back as `md5s`) and saves: a
 * rewrite in the current format (6), whose rows read back the same, the new one included.
 */
function expectRewrittenWithOneMore(current: WalkedFile[], md5s: string[]): void {
  const grown = [...current, file(N)];
  const c = StatCache.load(dir, 'data', false);
  for (const f of grown) if (c.lookup(f) === undefined) c.record(f, md5('c'), OLD + 100_000);
  c.retainOnly(grown.map((f) => f.relpath));
  c.save();
  expect(JSON.parse(readFileSync(statFile(), 'utf8')).v).toBe(6);
  expect(storedNumbers().ino).toEqual(grown.map((f) => f.ino));
  const back = StatCache.load(dir, 'data', false);
  expect(grown.map((f) => back.lookup(f))).toEqual([...md5s, md5('c')]);
}

/** A saved cache of N rows, every md5 'a…', with tree memo T1. */
function seed(): void {
  const c = StatCache.load(dir, 'data', false);
  for (const f of files()) c.record(f, md5('a'));
  c.retainOnly(files().map((f) => f.relpath));
  c.rememberTree('t1.dir', N);
  c.save();
}

/** What a status does: look every file up in walk order, re-record the ones that missed. */
function scan(current: WalkedFile[], hashes: Record<string, string>): StatCache {
  const c = StatCache.load(dir, 'data', false);
  for (const f of current) if (c.lookup(f) === undefined) c.record(f, hashes[f.relpath] ?? md5('a'), OLD + 10_000);
  c.retainOnly(current.map((f) => f.relpath));
  return c;
}

describe('stat cache append log', () => {
  it('a touched file with the same md5 keeps the tree memo and is appended, not rewritten', () => {
    seed();
    const before = readFileSync(statFile());
    const touched = files().map((f, i) => (i === 2 ? { ...f, mtimeMs: OLD + 500, ctimeMs: OLD + 500 } : f));
    const c = scan(touched, {});
    expect(c.treeOid(N)).toBe('t1.dir');
    c.save();
    expect(readFileSync(statFile())).toEqual(before);
    expect(existsSync(statFile() + '.log')).toBe(true);
    const again = StatCache.load(dir, 'data', false);
    for (const f of touched) expect(again.lookup(f)).toBe(md5('a'));
    expect(again.treeOid(N)).toBe('t1.dir');
  });

  it('a modified file drops the tree memo until a new one is saved after it', () => {
    seed();
    const modified = files().map((f, i) => (i === 1 ? { ...f, size: 99, mtimeMs: OLD + 600, ctimeMs: OLD + 600 } : f));
    const c = scan(modified, { f1: md5('b') });
    expect(c.treeOid(N)).toBeUndefined();
    c.rememberTree('t2.dir', N);
    c.save();
    const again = StatCache.load(dir, 'data', false);
    expect(again.lookup(modified[1]!)).toBe(md5('b'));
    expect(again.treeOid(N)).toBe('t2.dir');
  });

  it('survives a crash mid-append: the torn line is ignored, the memo is not trusted past a changed row, the next save rewrites', () => {
    seed();
    const modified = files().map((f, i) => (i === 3 ? { ...f, size: 77, mtimeMs: OLD + 700, ctimeMs: OLD + 700 } : f));
    const c = scan(modified, { f3: md5('c') });
    c.rememberTree('t3.dir', N);
    c.save();
    const log = statFile() + '.log';
    const text = readFileSync(log, 'utf8');
    // Cut inside the last line (the tree memo): the row changing f3's md5 survives, its memo does not.
    truncateSync(log, text.length - 10);
    const after = StatCache.load(dir, 'data', false);
    expect(after.lookup(modified[3]!)).toBe(md5('c'));
    expect(after.treeOid(N)).toBeUndefined();
    // Cut inside the row itself: f3 is simply unknown again (hashed next time), the old memo stays with the old rows.
    truncateSync(log, text.indexOf('\n') + 20);
    const cut = StatCache.load(dir, 'data', false);
    expect(cut.lookup(modified[3]!)).toBeUndefined();
    expect(cut.lookup(files()[0]!)).toBe(md5('a'));
    expect(cut.treeOid(N)).toBe('t1.dir');
    // The next change rewrites the whole file rather than appending after the torn line.
    const next = scan(modified, { f3: md5('c') });
    next.save();
    expect(existsSync(log)).toBe(false);
    expect(StatCache.load(dir, 'data', false).lookup(modified[3]!)).toBe(md5('c'));
  });

  it('a log written for an older generation of the file is never applied', () => {
    seed();
    const modified = files().map((f, i) => (i === 0 ? { ...f, size: 55, mtimeMs: OLD + 800, ctimeMs: OLD + 800 } : f));
    const c = scan(modified, { f0: md5('d') });
    c.save();
    const log = statFile() + '.log';
    const stale = readFileSync(log);
    // A rewrite (here: a file added) gives the file a new generation; put the old log back.
    const grown = [...files(), file(9)];
    const r = scan(grown, {});
    r.save();
    expect(existsSync(log)).toBe(false);
    writeFileSync(log, stale);
    const after = StatCache.load(dir, 'data', false);
    expect(after.lookup(modified[0]!)).toBeUndefined();
    expect(after.lookup(files()[0]!)).toBe(md5('a'));
  });

  it('a log holding only a base or tree line is appended to, not replaced, by the next patch', () => {
    seed();
    const c = scan(files(), {});
    c.setBase('t1.dir');
    c.save();
    const touched = files().map((f, i) => (i === 2 ? { ...f, mtimeMs: OLD + 500, ctimeMs: OLD + 500 } : f));
    scan(touched, {}).save();
    const after = StatCache.load(dir, 'data', false);
    expect(after.baseOid()).toBe('t1.dir');
    expect(after.treeOid(N)).toBe('t1.dir');
  });

  it(`rewrites the file once the log would pass ${LOG_MAX_ROWS} rows`, () => {
    seed();
    const stamp = () => statSync(statFile()).mtimeMs;
    const first = stamp();
    let cur = files();
    for (let k = 0; k * N <= LOG_MAX_ROWS; k++) {
      cur = cur.map((f) => ({ ...f, mtimeMs: f.mtimeMs + 1, ctimeMs: f.ctimeMs + 1 }));
      scan(cur, {}).save();
    }
    expect(existsSync(statFile() + '.log') ? readFileSync(statFile() + '.log', 'utf8').split('\n').length : 0).toBeLessThanOrEqual(LOG_MAX_ROWS + 4);
    expect(stamp()).not.toBe(first);
    const last = StatCache.load(dir, 'data', false);
    for (const f of cur) expect(last.lookup(f)).toBe(md5('a'));
  });
});

/**
 * `since`: from the scan that found the pointer's tree, which files changed and their md5 at
 * that tree, so a status after an edit lists them without reading the manifest.
 */
describe('stat cache: changes since the pointer tree', () => {
  /** seed(), then anchored at t1 (what a status that found the pointer's version does). */
  function anchored(): void {
    seed();
    const c = scan(files(), {});
    c.anchorChangesAt('t1.dir', N);
    c.save();
  }
  const edit = (i: number, at: number, size = 50 + at) => (f: WalkedFile, k: number) => (k === i ? { ...f, size, mtimeMs: OLD + at, ctimeMs: OLD + at } : f);

  it('follows edits across runs, and an edit reverted to the tree\'s bytes leaves the list', () => {
    anchored();
    let cur = files().map(edit(1, 600));
    let c = scan(cur, { f1: md5('b') });
    expect(c.contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: ['f1'] });
    c.save();
    cur = cur.map(edit(3, 700));
    c = scan(cur, { f3: md5('c') });
    expect(c.contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: ['f1', 'f3'] });
    c.save();
    // f1 edited again: still one entry, its md5 at t1 kept.
    cur = cur.map(edit(1, 800));
    c = scan(cur, { f1: md5('d') });
    expect(c.contentChangesSinceTree(N)?.modified.sort()).toEqual(['f1', 'f3']);
    c.save();
    // Both back to t1's bytes ('a'): nothing differs from t1 any more.
    cur = cur.map(edit(1, 900)).map(edit(3, 950));
    c = scan(cur, { f1: md5('a'), f3: md5('a') });
    expect(c.contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: [] });
    c.save();
    expect(StatCache.load(dir, 'data', false).contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: [] });
  });

  it('a touch with the same bytes is no change', () => {
    anchored();
    const c = scan(files().map(edit(2, 600, 12)), {});
    expect(c.contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: [] });
  });

  it('an added or removed file drops it (the manifest is needed again), until the next anchor', () => {
    anchored();
    const grown = scan([...files(), file(9)], {});
    expect(grown.contentChangesSinceTree(N + 1)).toBeUndefined();
    grown.save();
    expect(StatCache.load(dir, 'data', false).contentChangesSinceTree(N + 1)).toBeUndefined();
    const shrunk = scan(files().slice(1), {});
    expect(shrunk.contentChangesSinceTree(N - 1)).toBeUndefined();
  });

  it('a row recorded without a stored one (checkout writing a file) drops it', () => {
    anchored();
    const c = StatCache.load(dir, 'data', false);
    c.record(files()[2]!, md5('e'));
    c.save();
    expect(StatCache.load(dir, 'data', false).contentChangesSinceTree(N)).toBeUndefined();
  });

  it('a crash that tears the log line saving it: the replayed rows rebuild it', () => {
    anchored();
    const cur = files().map(edit(4, 600));
    const c = scan(cur, { f4: md5('f') });
    c.save();
    const log = statFile() + '.log';
    const text = readFileSync(log, 'utf8');
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^\{"since":/);
    truncateSync(log, text.length - 5);
    const after = StatCache.load(dir, 'data', false);
    expect(after.contentChangesSinceTree(N)).toEqual({ oid: 't1.dir', modified: ['f4'] });
  });

  it('a single-file output (its one relpath is "") is found again after save and load', () => {
    const single = file(0, { relpath: '' });
    const c = StatCache.load(dir, 'one-file', false);
    c.record(single, md5('b'));
    c.retainOnly(['']);
    c.save();
    expect(StatCache.load(dir, 'one-file', false).lookup(single)).toBe(md5('b'));
    const empty = StatCache.load(dir, 'no-files', false);
    empty.retainOnly([]);
    empty.save();
    expect(StatCache.load(dir, 'no-files', false).lookup(single)).toBeUndefined();
  });

  it('a file of more rows than one written slice, with quotes, backslashes, non-ASCII and a newline in paths, reads back row for row', () => {
    const odd = ['q"uote', 'back\\slash', 'tab\there', 'ünï/çødé', 'emoji/😀', 'a\u2028b'];
    const many = Array.from({ length: 40_000 }, (_, i) => file(i, { relpath: `${odd[i % odd.length]}/${i}` }));
    const c = StatCache.load(dir, 'big', false);
    for (const [i, f] of many.entries()) c.record(f, (i % 16).toString(16).repeat(32));
    c.retainOnly(many.map((f) => f.relpath));
    c.save();
    const text = readFileSync(statFile(), 'utf8');
    const parsed = JSON.parse(text) as { paths: string };
    expect(parsed.paths.split('\n')).toEqual(many.map((f) => f.relpath));
    // The md5s too, written in slices through one reused buffer.
    expect(storedMd5s()).toEqual(many.map((_, i) => (i % 16).toString(16).repeat(32)));
    // Every number column, written slice by slice through one reused buffer, holds each row's own value.
    const numbers = storedNumbers();
    expect(numbers.ino).toEqual(many.map((f) => f.ino));
    expect(numbers.size).toEqual(many.map((f) => f.size));
    expect(numbers.mtime).toEqual(many.map((f) => f.mtimeMs));
    expect(numbers.ctime).toEqual(many.map((f) => f.ctimeMs));
    const back = StatCache.load(dir, 'big', false);
    for (const [i, f] of many.entries()) expect(back.lookup(f)).toBe((i % 16).toString(16).repeat(32));
    // A path holding a newline cannot be joined: the paths column is an array, written in slices too.
    const withNewline = [...many.slice(0, 20_000), file(99_999, { relpath: 'line\nbreak' })];
    const d = StatCache.load(dir, 'nl', false);
    for (const f of withNewline) d.record(f, md5('c'));
    d.retainOnly(withNewline.map((f) => f.relpath));
    d.save();
    const again = StatCache.load(dir, 'nl', false);
    for (const f of withNewline) expect(again.lookup(f)).toBe(md5('c'));
  });

  it('rows recorded out of walk order (as hashing batches finish) are saved in walk order, each with its own stats; a rewrite keeps stored rows beside re-recorded ones', () => {
    const walked = Array.from({ length: 2 * LOG_MAX_ROWS + 100 }, (_, i) => file(i, { size: 500 + i, mtimeMs: OLD + 7 * i }));
    const md5Of = (i: number) => (i % 16).toString(16).repeat(32);
    const c = StatCache.load(dir, 'order', false);
    for (const i of [...walked.keys()].reverse()) c.record(walked[i]!, md5Of(i));
    c.retainOnly(walked.map((f) => f.relpath));
    c.save();
    const parsed = JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string };
    expect(parsed.paths.split('\n')).toEqual(walked.map((f) => f.relpath));
    expect(storedNumbers().size).toEqual(walked.map((f) => f.size));
    expect(storedNumbers().mtime).toEqual(walked.map((f) => f.mtimeMs));
    expect(storedMd5s()).toEqual(walked.map((_, i) => md5Of(i)));
    // Every other file modified: too many rows for the append log, so the file is rewritten from
    // the stored rows and the re-recorded ones together; then one file added (a rewrite again).
    const modified = (i: number) => i % 2 === 1;
    const steps = [walked.map((f, i) => (modified(i) ? { ...f, mtimeMs: f.mtimeMs + 1 } : f))];
    steps.push([...steps[0]!, file(9_999)]);
    for (const current of steps) {
      const next = StatCache.load(dir, 'order', false);
      for (const [i, f] of current.entries()) if (next.lookup(f) === undefined) next.record(f, modified(i) ? md5('e') : md5Of(i), OLD + 100_000);
      next.retainOnly(current.map((f) => f.relpath));
      next.save();
      expect(existsSync(`${statFile()}.log`)).toBe(false);
      const back = StatCache.load(dir, 'order', false);
      for (const [i, f] of current.entries()) expect(back.lookup(f)).toBe(modified(i) ? md5('e') : md5Of(i));
      expect((JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string }).paths.split('\n')).toEqual(current.map((f) => f.relpath));
    }
  });

  it('the same rows walked in another order (as after a checkout, which records them in the manifest order) are saved in walk order, keeping the tree memo; with a patch among them too', () => {
    seed();
    const reversed = files().reverse();
    const c = scan(reversed, {});
    expect(c.treeOid(N)).toBe('t1.dir'); // the same rows: the memo holds
    c.save();
    expect(existsSync(`${statFile()}.log`)).toBe(false); // rewritten in the new order, not patched by position
    expect((JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string }).paths.split('\n')).toEqual(reversed.map((f) => f.relpath));
    expect(storedNumbers().ino).toEqual(reversed.map((f) => f.ino));
    expect(storedMd5s()).toEqual(reversed.map(() => md5('a')));
    expect(StatCache.load(dir, 'data', false).treeOid(N)).toBe('t1.dir');
    // Another order, and f1 modified meanwhile: its new row goes to its new place; the memo is dropped.
    const shuffled = [2, 0, 4, 1, 3].map((i) => (i === 1 ? file(1, { mtimeMs: OLD + 900, size: 77 }) : file(i)));
    const d = scan(shuffled, { f1: md5('b') });
    expect(d.treeOid(N)).toBeUndefined();
    d.save();
    expect((JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string }).paths.split('\n')).toEqual(['f2', 'f0', 'f4', 'f1', 'f3']);
    expect(storedNumbers().size).toEqual(shuffled.map((f) => f.size));
    expect(storedNumbers().mtime).toEqual(shuffled.map((f) => f.mtimeMs));
    expect(storedMd5s()).toEqual([md5('a'), md5('a'), md5('a'), md5('b'), md5('a')]);
    const back = StatCache.load(dir, 'data', false);
    expect(shuffled.map((f) => back.lookup(f))).toEqual([md5('a'), md5('a'), md5('a'), md5('b'), md5('a')]);
    // A file added and one removed is no reordering: rewritten the usual way, in walk order.
    const changed = [file(3), file(N + 1), file(0), file(2), file(4)];
    const e = scan(changed, { [`f${N + 1}`]: md5('c') });
    e.save();
    expect((JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string }).paths.split('\n')).toEqual(changed.map((f) => f.relpath));
    const last = StatCache.load(dir, 'data', false);
    expect(changed.map((f) => last.lookup(f))).toEqual([md5('a'), md5('c'), md5('a'), md5('a'), md5('a')]);
  });

  it('finds every stored row when the walk asks out of stored order (the index over the loaded text), non-ASCII relpaths too, and no row for a path it does not hold', () => {
    const many = Array.from({ length: 5000 }, (_, i) => file(i, { relpath: `d${i % 37}/${i % 3 === 0 ? 'é😀-' : ''}f${i}` }));
    const md5Of = (i: number) => (i % 16).toString(16).repeat(32);
    const c = StatCache.load(dir, 'index', false);
    many.forEach((f, i) => c.record(f, md5Of(i)));
    c.retainOnly(many.map((f) => f.relpath));
    c.save();
    // A stride through the rows: almost no lookup finds its row at the cursor.
    const order = Array.from({ length: many.length }, (_, k) => (k * 1237) % many.length);
    const back = StatCache.load(dir, 'index', false);
    for (const i of order) expect(back.lookup(many[i]!)).toBe(md5Of(i));
    expect(back.lookup(file(0, { relpath: 'd0/absent' }))).toBeUndefined();
    expect(back.lookup(file(0, { relpath: 'd0/f0/' }))).toBeUndefined();
    back.retainOnly(order.map((i) => many[i]!.relpath));
    back.save();
    expect((JSON.parse(readFileSync(statFile(), 'utf8')) as { paths: string }).paths.split('\n')).toEqual(order.map((i) => many[i]!.relpath));
    expect(storedMd5s()).toEqual(order.map((i) => md5Of(i)));
  });

  it('a stat file torn by a crash (it is written without fsync) is trusted for nothing: every lookup misses, load does not throw', () => {
    seed();
    const text = readFileSync(statFile(), 'utf8');
    for (const cut of [0, 1, Math.floor(text.length / 3), Math.floor(text.length / 2), text.length - 1]) {
      writeFileSync(statFile(), text.slice(0, cut));
      const torn = StatCache.load(dir, 'data', false);
      for (const f of files()) expect(torn.lookup(f)).toBeUndefined();
      expect(torn.treeOid(N)).toBeUndefined();
    }
    // Zeros where the data never reached the disk.
    writeFileSync(statFile(), Buffer.alloc(text.length));
    const zeroed = StatCache.load(dir, 'data', false);
    for (const f of files()) expect(zeroed.lookup(f)).toBeUndefined();
  });

  it('number columns torn, missing, or of another generation (a crash between the two writes) are trusted for nothing', () => {
    seed();
    const json = readFileSync(statFile(), 'utf8');
    const bin = readFileSync(`${statFile()}.bin`);
    const trusted = () => files().filter((f) => StatCache.load(dir, 'data', false).lookup(f) !== undefined).length;
    expect(trusted()).toBe(N);
    for (const cut of [0, 10, 16, bin.length - 8, bin.length - 1]) {
      writeFileSync(`${statFile()}.bin`, bin.subarray(0, cut));
      expect(trusted()).toBe(0);
    }
    const otherGen = Buffer.from(bin);
    otherGen.write('000000000000', 0, 'latin1');
    writeFileSync(`${statFile()}.bin`, otherGen);
    expect(trusted()).toBe(0);
    rmSync(`${statFile()}.bin`);
    expect(trusted()).toBe(0);
    expect(StatCache.load(dir, 'data', false).treeOid(N)).toBeUndefined();
    writeFileSync(`${statFile()}.bin`, bin);
    writeFileSync(statFile(), json);
    expect(trusted()).toBe(N);
  });

  it('paths that are not as many as the rows (a damaged file) are trusted for nothing; as many, each row is found by its own path', () => {
    seed();
    const json = readFileSync(statFile(), 'utf8');
    const parsed = JSON.parse(json) as { paths: string };
    const trusted = () => files().filter((f) => StatCache.load(dir, 'data', false).lookup(f) !== undefined).length;
    const withPaths = (paths: string) => writeFileSync(statFile(), JSON.stringify({ ...JSON.parse(json), paths }));
    for (const paths of [parsed.paths.split('\n').slice(1).join('\n'), `${parsed.paths}\nf${N}`, '']) {
      withPaths(paths);
      expect(trusted()).toBe(0);
      expect(StatCache.load(dir, 'data', false).rows()).toBe(0);
    }
    withPaths(parsed.paths);
    const back = StatCache.load(dir, 'data', false);
    expect(back.rows()).toBe(N);
    expect(Array.from({ length: N }, (_, i) => back.pathAt(i))).toEqual(files().map((f) => f.relpath));
    // Out of order (the index), then in order again (the cursor): each path finds its own row only.
    expect([...files()].reverse().map((f) => back.lookup(f))).toEqual(files().map(() => md5('a')));
    expect(back.lookup(file(0, { relpath: 'f0x' }))).toBeUndefined();
    expect(back.lookup(file(1, { relpath: 'f' }))).toBeUndefined();
  });

  it('reads the earlier format (numbers in the JSON, v4) and its log, and rewrites it in the new one', () => {
    const v4 = {
      v: 4,
      gen: 'abcdefabcdef',
      tree: { oid: 't1.dir', count: N },
      paths: files().map((f) => f.relpath).join('\n'),
      ino: files().map((f) => f.ino),
      size: files().map((f) => f.size),
      mtime: files().map((f) => f.mtimeMs),
      ctime: files().map((f) => f.ctimeMs),
      md5: files().map(() => md5('a')).join(''),
      checked: files().map((f) => f.mtimeMs + 1000),
    };
    StatCache.load(dir, 'data', false).save(); // names the file
    const c0 = StatCache.load(dir, 'data', false);
    c0.rememberTree('x', 0);
    c0.save();
    writeFileSync(statFile(), JSON.stringify(v4));
    rmSync(`${statFile()}.bin`, { force: true });
    const patched = { ...file(2), mtimeMs: OLD + 500, ctimeMs: OLD + 500 };
    writeFileSync(`${statFile()}.log`, `${JSON.stringify({ v: 4, gen: v4.gen })}\n${JSON.stringify({ i: 2, p: 'f2', ino: patched.ino, size: patched.size, mtime: patched.mtimeMs, ctime: patched.ctimeMs, md5: md5('b'), checked: OLD + 9000 })}\n`);
    const old = StatCache.load(dir, 'data', false);
    const current = files().map((f, i) => (i === 2 ? patched : f));
    expect(current.map((f) => old.lookup(f))).toEqual([md5('a'), md5('a'), md5('b'), md5('a'), md5('a')]);
    // One added file: a rewrite, in the new format.
    expectRewrittenWithOneMore(current, [md5('a'), md5('a'), md5('b'), md5('a'), md5('a')]);
  });

  it('reads the format before (md5s as hex in the JSON, numbers in the .bin, v5) and its log, trusts its mirror rows, and rewrites it with the md5s in the .bin', () => {
    seed();
    const v6 = JSON.parse(readFileSync(statFile(), 'utf8')) as Record<string, unknown> & { rows: number };
    const bin = readFileSync(`${statFile()}.bin`);
    const numbersEnd = 16 + 5 * v6.rows * 8;
    // The same rows as v5: the md5s back into the JSON as hex, the .bin without them.
    writeFileSync(statFile(), JSON.stringify({ ...v6, v: 5, md5: bin.toString('hex', numbersEnd) }));
    writeFileSync(`${statFile()}.bin`, bin.subarray(0, numbersEnd));
    const patched = { ...file(3), mtimeMs: OLD + 700, ctimeMs: OLD + 700 };
    writeFileSync(`${statFile()}.log`, `${JSON.stringify({ v: 5, gen: v6.gen })}\n${JSON.stringify({ i: 3, p: 'f3', ino: patched.ino, size: patched.size, mtime: patched.mtimeMs, ctime: patched.ctimeMs, md5: md5('b'), checked: OLD + 9000 })}\n`);
    const current = files().map((f, i) => (i === 3 ? patched : f));
    const old = StatCache.load(dir, 'data', false);
    expect(current.map((f) => old.lookup(f))).toEqual([md5('a'), md5('a'), md5('a'), md5('b'), md5('a')]);
    expect(StatCache.load(dir, 'data', false).trustedStats(v6.gen as string, new Set())).toBeDefined();
    // md5s that are not hex (a damaged file) make the cache empty rather than a wrong md5.
    writeFileSync(statFile(), JSON.stringify({ ...v6, v: 5, md5: 'z'.repeat(32 * v6.rows) }));
    expect(files().map((f) => StatCache.load(dir, 'data', false).lookup(f))).toEqual(files().map(() => undefined));
    writeFileSync(statFile(), JSON.stringify({ ...v6, v: 5, md5: bin.toString('hex', numbersEnd) }));
    // One added file: a rewrite, in the new format, the log's patch kept.
    expectRewrittenWithOneMore(current, [md5('a'), md5('a'), md5('a'), md5('b'), md5('a')]);
  });

  it('a log line patching an md5 of the .bin changes that row only, and a line whose md5 is not hex is not applied', () => {
    seed();
    const { gen } = JSON.parse(readFileSync(statFile(), 'utf8')) as { gen: string };
    const moved = (i: number) => ({ ...file(i), mtimeMs: OLD + 800 + i, ctimeMs: OLD + 800 + i });
    const line = (i: number, m: string) => JSON.stringify({ i, p: `f${i}`, ino: moved(i).ino, size: moved(i).size, mtime: moved(i).mtimeMs, ctime: moved(i).ctimeMs, md5: m, checked: OLD + 9000 });
    writeFileSync(`${statFile()}.log`, `${JSON.stringify({ v: 6, gen })}\n${line(1, md5('c'))}\n${line(2, 'Z'.repeat(32))}\n`);
    const c = StatCache.load(dir, 'data', false);
    expect([c.lookup(file(0)), c.lookup(moved(1)), c.lookup(file(2)), c.lookup(moved(2)), c.lookup(file(4))]).toEqual([md5('a'), md5('c'), md5('a'), undefined, md5('a')]);
  });
});

describe('stat cache: a mirror index asked for only when enough rows can go in', () => {
  const CHECKED = OLD + 100_000;
  /** A saved cache of `n` rows, the first `empty` of them empty files (never mirrorable), all checked long after their times. */
  function seedRows(n: number, empty = 0): WalkedFile[] {
    const rows = Array.from({ length: n }, (_, i) => file(i, i < empty ? { size: 0 } : {}));
    const c = StatCache.load(dir, 'data', false);
    for (const f of rows) c.record(f, md5('a'), CHECKED);
    c.retainOnly(rows.map((f) => f.relpath));
    c.save();
    return rows;
  }
  const header = () => JSON.parse(readFileSync(statFile(), 'utf8')) as { gen: string; mirrorable?: number };
  const dropMirrors = () => {
    for (const n of readdirSync(dir)) if (n.endsWith('.index')) rmSync(join(dir, n));
  };
  /** What status does with no mirror to ask git about: rewriteForMirror, then save; true when that rewrote the file. */
  const statusRewrites = (): boolean => {
    const gen = header().gen;
    const c = StatCache.load(dir, 'data', false);
    c.rewriteForMirror();
    c.save();
    return header().gen !== gen;
  };

  it('a rewrite stores how many rows the mirror could hold; enough of them and no mirror: rewritten once, mirror written', () => {
    seedRows(MIRROR_MIN_ENTRIES + 5, 5);
    expect(header().mirrorable).toBe(MIRROR_MIN_ENTRIES);
    expect(StatCache.mirrorIndexOf(dir, 'data', false)).toBeDefined();
    dropMirrors();
    expect(statusRewrites()).toBe(true);
    expect(StatCache.mirrorIndexOf(dir, 'data', false)).toBeDefined();
  });

  it('too few mirrorable rows: no rewrite, status after status', () => {
    seedRows(MIRROR_MIN_ENTRIES + 5, 6);
    expect(header().mirrorable).toBe(MIRROR_MIN_ENTRIES - 1);
    expect(StatCache.mirrorIndexOf(dir, 'data', false)).toBeUndefined();
    expect(statusRewrites()).toBe(false);
    expect(statusRewrites()).toBe(false);
  });

  it('a file without the stored count (an older reg) is counted: enough rows, rewritten', () => {
    seedRows(MIRROR_MIN_ENTRIES + 5, 5);
    dropMirrors();
    const { mirrorable, ...rest } = header();
    expect(mirrorable).toBe(MIRROR_MIN_ENTRIES);
    writeFileSync(statFile(), JSON.stringify(rest));
    expect(statusRewrites()).toBe(true);
    expect(header().mirrorable).toBe(MIRROR_MIN_ENTRIES);
  });

  it('rows the append log patched since the count are counted again: one more mirrorable row makes enough', () => {
    const rows = seedRows(MIRROR_MIN_ENTRIES + 5, 6);
    // Status records the first empty file with bytes now: a patch in the log, not a rewrite.
    const c = StatCache.load(dir, 'data', false);
    const grown = rows.map((f, i) => (i === 0 ? { ...f, size: 7, mtimeMs: OLD + 50, ctimeMs: OLD + 50 } : f));
    for (const f of grown) if (c.lookup(f) === undefined) c.record(f, md5('b'), CHECKED);
    c.retainOnly(grown.map((f) => f.relpath));
    const gen = header().gen;
    c.save();
    expect(header().gen).toBe(gen);
    expect(existsSync(`${statFile()}.log`)).toBe(true);
    expect(statusRewrites()).toBe(true);
    expect(header().mirrorable).toBe(MIRROR_MIN_ENTRIES);
  });
});

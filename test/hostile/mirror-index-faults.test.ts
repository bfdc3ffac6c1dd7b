import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MIRROR_MIN_ENTRIES } from '../../dist/workspace/mirror-index.js';
import { LOG_MAX_ROWS } from '../../dist/workspace/stat-cache.js';
import { interruptWhen } from '../helpers/interrupt.js';
import { git, makeRegistry, reg, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { errorOf, fillTo, isRoot, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { guardSentinelTree, keepingGit } from './tree.js';
import { STALE_TEMP_MS, tempName } from '../../src/fsutil.js';
import { intoNextSecond } from '../helpers/mirror-time.js';

/**
 * Faults of the stat cache's mirror index (`.reg/tmp/stat/<file>.<gen>.index`, which `reg status`
 * hands to `git diff-files`; files git does not report are trusted unchanged and not lstat'ed):
 * a full disk while a rewrite writes the mirror, the `.bin` and the JSON (each window between the
 * three writes reached on a tmpfs mounted on `.reg/tmp/stat`), Ctrl-C and SIGKILL during a status
 * or add that rewrites them, and mirrors a crash or a hand could leave (a newer mirror beside an
 * older cache, an older one beside a newer cache or in its place, one truncated mid-entry, one
 * whose entries carry another file's stats). After each, a file modified the way git's stat check
 * is weakest (same size, mtime put back with `touch -r`: only ctime and the bytes change) is
 * reported modified by `reg status`, `reg checkout` refuses to overwrite it (exit 7), and its bytes
 * are intact. A file edited just before the faulty rewrite (so the new mirror holds its new stats)
 * must stay modified too. ~1,100 files, so the mirror is written and used.
 */
const FILES = MIRROR_MIN_ENTRIES + 100;

// No fault here may reach outside the repository: a sentinel tree is byte-identical after every test.
guardSentinelTree();
const DATA = 'ds';
/** More rows than the append log takes: a status after touching them rewrites the stat cache and its mirror. */
const TOUCHED = LOG_MAX_ROWS + 44;
// Long directory names: the disk-full windows below need the files of a rewrite in this order of
// size, mirror > JSON > .bin (the JSON holds the paths, the .bin 56 bytes a row of numbers and md5s).
const nameOf = (i: number) => `d${i % 11}-${'long-directory-name-'.repeat(3)}/f${String(i).padStart(5, '0')}.txt`;
const contentOf = (i: number) => `file ${String(i).padStart(5, '0')}\n`;
/** Edited before the faulty rewrite (the rewrite records its new stats and md5). */
const X = 1;
/** Edited after the fault. */
const Y = 2;
/** More files of X's size, each edited by one case only (so in the mirror until then: a file written drops out of the next one). */
const A = 500;
const B = 511;
const C = 600;
const EDITED = [X, Y, A, B, C];
const PAGE = 4096;
/** What reg may keep in the stat directory: the JSON, its `.bin`, its append log and mirror indexes. */
const STAT_FILE = /^[0-9a-f]{32}\.json(?:\.bin|\.log|\.[0-9a-f]{12}\.index)?$/;

let scratch: string;


/** A committed registry with `ds` added (every file mirrored); `onStatDir` runs on the empty `.reg/tmp/stat` first. */
async function makeWorld(onStatDir?: (statDir: string) => void): Promise<string> {
  return makeRegistry(async (repo) => {
    const statDir = join(repo, '.reg', 'tmp', 'stat');
    mkdirSync(statDir, { recursive: true });
    onStatDir?.(statDir);
    const files: Record<string, string> = {};
    for (let i = 0; i < FILES; i++) files[`${DATA}/${nameOf(i)}`] = contentOf(i);
    writeTree(repo, files);
    await intoNextSecond();
    const r = await reg(repo, ['add', DATA]);
    if (r.code !== 0) throw new Error(r.stderr);
  }, 'ds');
}

/** Runs reg in `repo`; its .git is byte-identical afterwards (no fault here makes reg write Git's own files). */
const regKeepingGit = (repo: string, args: string[]) => keepingGit(repo, () => reg(repo, args));

const statDirOf = (repo: string) => join(repo, '.reg', 'tmp', 'stat');
const abs = (repo: string, i: number) => join(repo, DATA, nameOf(i));

interface Gens {
  json: string;
  bin: string;
  mirrors: string[];
}

/** The generations the stat directory holds: the JSON's, the `.bin`'s and the mirrors'. */
function gens(repo: string): Gens {
  const dir = statDirOf(repo);
  const names = readdirSync(dir);
  const json = names.find((n) => /^[0-9a-f]{32}\.json$/.test(n))!;
  return {
    json: (JSON.parse(readFileSync(join(dir, json), 'utf8')) as { gen: string }).gen,
    bin: readFileSync(join(dir, `${json}.bin`)).toString('latin1', 0, 12),
    mirrors: names.flatMap((n) => /\.json\.([0-9a-f]{12})\.index$/.exec(n)?.[1] ?? []).sort(),
  };
}

/** Files in the stat directory reg would not have left there (temp files above all). */
function strays(repo: string): string[] {
  return readdirSync(statDirOf(repo)).filter((n) => n !== 'filler' && !STAT_FILE.test(n));
}

function statFile(repo: string, suffix: '' | '.bin'): string {
  const dir = statDirOf(repo);
  return join(dir, readdirSync(dir).find((n) => /^[0-9a-f]{32}\.json$/.test(n))! + suffix);
}

function mirrorFile(repo: string): string {
  const dir = statDirOf(repo);
  const g = gens(repo).bin;
  return join(dir, readdirSync(dir).find((n) => n.endsWith(`.${g}.index`))!);
}

/** Rewrites file `i` with other bytes of the same size ('File' for 'file') and puts its mtime back with `touch -r`; returns the new bytes. */
function editKeepingMtime(repo: string, i: number): Buffer {
  const file = abs(repo, i);
  const ref = join(scratch, 'ref');
  execFileSync('cp', ['-p', file, ref]);
  const bytes = readFileSync(file);
  expect(bytes.toString('latin1', 0, 4)).toBe('file');
  bytes[0] = 0x46;
  writeFileSync(file, bytes);
  execFileSync('touch', ['-r', ref, file]);
  return bytes;
}

/** New mtimes (bytes unchanged) for TOUCHED files other than X and Y: the next status re-hashes them and rewrites the cache. */
function touchMany(repo: string): void {
  const now = new Date();
  for (let i = 100; i < 100 + TOUCHED; i++) utimesSync(abs(repo, i), now, now);
}

/** `reg -v status ds --json`: exit code, the output's state and modified files, how many files git vouched for. */
async function statusOf(repo: string) {
  const r = await regKeepingGit(repo, ['-v', 'status', DATA, '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).not.toMatch(/internal error/i);
  const out = JSON.parse(r.stdout).outputs[0];
  const checked = /git found (\d+) of \d+ files unchanged/.exec(r.stderr);
  return { stderr: r.stderr, state: out.state as string, modified: [...((out.changes?.modified ?? []) as string[])].sort(), checkedByGit: checked ? Number(checked[1]) : 0 };
}

/**
 * Status reports exactly `edited` modified, checkout refuses with exit 7 naming them, and their
 * bytes are the edited ones. Returns the status (for checkedByGit).
 */
async function expectModifiedAndKept(repo: string, edited: Map<number, Buffer>) {
  const s = await statusOf(repo);
  const names = [...edited.keys()].map(nameOf).sort();
  expect(s.state).toBe('modified');
  expect(s.modified).toEqual(names);
  const c = await regKeepingGit(repo, ['--json', 'checkout', DATA]);
  expect(c.code, c.stderr).toBe(7);
  const e = errorOf(c.stdout) as { code: string; details?: { files: Array<{ path: string; reason: string }> } };
  expect(e.code).toBe('checkout.would-lose-data');
  expect(e.details!.files.map((f) => f.path).sort()).toEqual(names.map((n) => `${DATA}/${n}`));
  for (const [i, bytes] of edited) expect(readFileSync(abs(repo, i)).equals(bytes), nameOf(i)).toBe(true);
  return s;
}

/** After a fault: status names file `i` modified, checkout refuses (exit 7, naming it), its bytes are intact. Other files may or may not be listed. */
async function expectKeptAmongModified(repo: string, i: number, bytes: Buffer) {
  const s = await statusOf(repo);
  expect(s.modified).toContain(nameOf(i));
  const c = await regKeepingGit(repo, ['--json', 'checkout', DATA]);
  expect(c.code, c.stderr).toBe(7);
  const e = errorOf(c.stdout) as { code: string; details?: { files: Array<{ path: string }> } };
  expect(e.code).toBe('checkout.would-lose-data');
  expect(e.details?.files.map((f) => f.path)).toContain(`${DATA}/${nameOf(i)}`);
  expect(readFileSync(abs(repo, i)).equals(bytes)).toBe(true);
  return s;
}

/** The committed bytes in the files the tests edit, and the committed pointer (also after a failed test, so the next starts clean). */
function putBack(repo: string): void {
  // Only files that differ: a file written now drops out of the next mirror (checked in its ctime's second).
  for (const i of EDITED) if (readFileSync(abs(repo, i), 'latin1') !== contentOf(i)) writeFileSync(abs(repo, i), contentOf(i));
  git(repo, 'checkout', '-q', '--', `${DATA}.dvc`);
}

/**
 * After each case, also a failed one: putBack, and when the stat directory is not one whole
 * generation with its mirror (a case stopped half-way), it is emptied and a status writes one.
 */
async function cleanUp(repo: string): Promise<void> {
  putBack(repo);
  const g = gens(repo);
  if (g.json === g.bin && g.mirrors.length === 1 && g.mirrors[0] === g.bin) return;
  for (const n of readdirSync(statDirOf(repo))) rmSync(join(statDirOf(repo), n), { force: true });
  await statusOf(repo);
}


/**
 * Every mirror index in the stat directory is whole: its SHA-1 trailer matches (a torn file renamed
 * into place would be presented as complete).
 */
function expectWholeMirrors(repo: string): void {
  const dir = statDirOf(repo);
  for (const n of readdirSync(dir).filter((f) => f.endsWith('.index'))) {
    const buf = readFileSync(join(dir, n));
    const sum = createHash('sha1').update(buf.subarray(0, Math.max(0, buf.length - 20))).digest();
    expect(buf.length > 32 && sum.equals(buf.subarray(buf.length - 20)), `${n} (${buf.length} bytes) is not a whole index`).toBe(true);
  }
}

beforeAll(() => {
  scratch = tempDir('reg-mirror-scratch-');
});
afterAll(() => removeDir(scratch));

describe.skipIf(!isRoot)('a full disk while the stat cache and its mirror are rewritten (a tmpfs on .reg/tmp/stat)', () => {
  let repo: string;
  let tmpfs: Tmpfs | undefined;

  beforeAll(async () => {
    repo = await makeWorld((statDir) => {
      tmpfs = mountTmpfs('2m', statDir);
    });
  }, 60_000);
  afterAll(() => {
    tmpfs?.unmount();
    if (repo) removeDir(repo);
  });
  afterEach(() => cleanUp(repo));

  /** Pages each file of the current generation takes (a new one is as large: same rows). Call after freshGeneration(). */
  function pages() {
    const size = (f: string) => Math.ceil(readFileSync(f).length / PAGE);
    return { mirror: size(mirrorFile(repo)), bin: size(statFile(repo, '.bin')), json: size(statFile(repo, '')) };
  }

  /**
   * A status that rewrites the stat cache and its mirror, so every row (X's too) is in the stored
   * columns and none in an append log: a log line for X would otherwise mask a `.bin` read with
   * the wrong JSON.
   */
  async function freshGeneration(): Promise<void> {
    touchMany(repo);
    await intoNextSecond();
    expect((await statusOf(repo)).state).toBe('up-to-date');
    const g = gens(repo);
    expect(g.mirrors).toEqual([g.bin]);
    expect(g.json).toBe(g.bin);
    expect(readdirSync(statDirOf(repo)).filter((n) => n.endsWith('.log'))).toEqual([]);
  }

  // Free pages for each window: the mirror is written first (a failure there is only a slower
  // status), then the `.bin`, then the JSON; each replaces its old file only once whole.
  const windows: Array<{ name: string; free: (p: ReturnType<typeof pages>) => number; written: string }> = [
    { name: 'no room for any file', free: () => 0, written: '' },
    { name: 'room for the .bin only', free: (p) => p.bin, written: 'bin' },
    { name: 'room for the .bin and the JSON but not the mirror', free: (p) => p.json + 1, written: 'bin+json' },
    { name: 'room for the mirror only', free: (p) => p.mirror + 1, written: 'mirror' },
    { name: 'room for the mirror and the .bin, not the JSON', free: (p) => p.mirror + p.bin + 1, written: 'mirror+bin' },
    { name: 'room for everything', free: (p) => p.mirror + p.json + 8, written: 'mirror+bin+json' },
  ];

  for (const w of windows) {
    it(`status, ${w.name}: exit 0 (a warning naming ENOSPC when not saved), no temp file, no torn mirror; edits before and after stay modified, checkout refuses`, async () => {
      await freshGeneration();
      const p = pages();
      expect(p.json).toBeGreaterThan(p.bin);
      expect(p.mirror).toBeGreaterThan(p.json);
      const before = gens(repo);
      const edited = new Map([[X, editKeepingMtime(repo, X)]]);
      touchMany(repo);
      await intoNextSecond();
      const unfill = fillTo(statDirOf(repo), w.free(p) * PAGE);
      let s;
      try {
        s = await statusOf(repo);
      } finally {
        unfill();
      }
      expect(s.modified).toEqual([nameOf(X)]);
      // The mirror is not part of the save: without it, the .bin and the JSON are a saved cache (the next status writes a mirror).
      if (w.written.endsWith('bin+json')) expect(s.stderr).not.toMatch(/not saved/);
      else {
        expect(s.stderr).toMatch(/the stat cache was not saved \(ENOSPC/);
        expect(s.stderr).toMatch(/free some space/);
      }
      expect(strays(repo)).toEqual([]);
      expectWholeMirrors(repo);
      const after = gens(repo);
      const written = [after.mirrors.some((g) => !before.mirrors.includes(g)) && 'mirror', after.bin !== before.bin && 'bin', after.json !== before.json && 'json'].filter(Boolean).join('+');
      expect(written, JSON.stringify({ p, before, after })).toBe(w.written);
      // Space is back: a file modified now, the way git's stat check is weakest.
      edited.set(Y, editKeepingMtime(repo, Y));
      const found = await expectModifiedAndKept(repo, edited);
      // With everything written, that status took nearly every file from git: the mirror is in use.
      if (w.written === 'mirror+bin+json') expect(found.checkedByGit).toBeGreaterThanOrEqual(FILES - 10);
      expect(strays(repo)).toEqual([]);
    }, 30_000);
  }

  it('add with no room for the stat cache: exit 1 disk.no-space naming ENOSPC and the stat file, pointer unchanged, no temp file; a later edit is still found', async () => {
    await freshGeneration();
    const pointer = readFileSync(join(repo, `${DATA}.dvc`));
    editKeepingMtime(repo, X);
    touchMany(repo);
    await intoNextSecond();
    const p = pages();
    // The mirror and the .bin fit, the JSON does not: the most that can be written without the save completing.
    const unfill = fillTo(statDirOf(repo), (p.mirror + p.bin + 1) * PAGE);
    let r;
    try {
      r = await regKeepingGit(repo, ['--json', 'add', DATA]);
    } finally {
      unfill();
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/i);
    const e = errorOf(r.stdout);
    expect(e.code).toBe('disk.no-space');
    expect(e.message).toContain('ENOSPC');
    expect(e.message).toContain(statDirOf(repo));
    expect(e.hint).toMatch(/free some space/);
    expect(readFileSync(join(repo, `${DATA}.dvc`)).equals(pointer)).toBe(true);
    expect(strays(repo)).toEqual([]);
    expectWholeMirrors(repo);
    // X's new bytes went into the cache before the save failed: checkout may restore over them. Y's exist nowhere else.
    const yBytes = editKeepingMtime(repo, Y);
    const s = await expectKeptAmongModified(repo, Y, yBytes);
    expect(s.modified).toEqual([nameOf(X), nameOf(Y)].sort());
  }, 30_000);
});

describe('Ctrl-C and SIGKILL during a status or add that rewrites the stat cache and its mirror', () => {
  let repo: string;
  beforeAll(async () => {
    repo = await makeWorld();
  }, 60_000);
  afterAll(() => {
    if (repo) removeDir(repo);
  });
  afterEach(() => cleanUp(repo));

  // The signal lands `delayMs` after the scan's debug line "git found N of M files unchanged"
  // (the walk done, the TOUCHED files about to be hashed, then the save), or for `startup`
  // that long after the spawn (before reg has loaded the stat cache: SIGKILL only, as a Ctrl-C
  // then may meet Node's default handler rather than reg's).
  const cases: Array<{ command: 'status' | 'add'; signal: NodeJS.Signals; delayMs: number; startup?: boolean }> = [
    { command: 'status', signal: 'SIGKILL', delayMs: 60, startup: true },
    ...[0, 40].map((delayMs) => ({ command: 'status' as const, signal: 'SIGKILL' as const, delayMs })),
    { command: 'status', signal: 'SIGINT', delayMs: 0 },
    { command: 'add', signal: 'SIGKILL', delayMs: 20 },
    { command: 'add', signal: 'SIGINT', delayMs: 20 },
  ];
  for (const { command, signal, delayMs, startup } of cases) {
    it(`${command}, ${signal} ${delayMs} ms after ${startup ? 'the spawn' : 'the walk'}: an edit before and one after are found, checkout refuses, bytes intact`, async () => {
      const xBytes = editKeepingMtime(repo, X);
      touchMany(repo);
      await intoNextSecond();
      const walked = (stderr: string) => startup === true || /git found \d+ of \d+ files unchanged/.test(stderr);
      const r = await keepingGit(repo, () => interruptWhen(repo, ['-v', command, DATA], walked, {}, { signal, delayMs }));
      if (signal === 'SIGKILL') expect(r.signal).toBe('SIGKILL');
      else {
        expect(r.code, r.stderr).toBe(130);
        expect(r.stderr).toContain('interrupted');
        // Ctrl-C lets reg clean up: no temp file. (SIGKILL cannot; what it leaves is never read.)
        expect(strays(repo)).toEqual([]);
      }
      expect(r.stderr).not.toMatch(/internal error/i);
      const yBytes = editKeepingMtime(repo, Y);
      if (command === 'status') await expectModifiedAndKept(repo, new Map([[X, xBytes], [Y, yBytes]]));
      else {
        // add may have recorded X (the pointer then names its bytes, which are in the cache): Y is modified either way.
        await expectKeptAmongModified(repo, Y, yBytes);
        expect(readFileSync(abs(repo, X)).equals(xBytes)).toBe(true);
      }
    }, 30_000);
  }

  it('a temp file a SIGKILL left in the stat directory over an hour ago is removed by the next rewrite (never read, it would stay forever); a recent one is kept (another save may be writing it)', async () => {
    const old = join(statDirOf(repo), tempName());
    const recent = join(statDirOf(repo), tempName());
    writeFileSync(old, 'half a mirror');
    writeFileSync(recent, 'half a mirror');
    const hoursAgo = new Date(Date.now() - STALE_TEMP_MS - 60_000);
    utimesSync(old, hoursAgo, hoursAgo);
    try {
      const before = gens(repo);
      touchMany(repo);
      expect((await statusOf(repo)).state).toBe('up-to-date');
      expect(gens(repo).json).not.toBe(before.json);
      expect(strays(repo)).toEqual([basename(recent)]);
    } finally {
      rmSync(old, { force: true });
      rmSync(recent, { force: true });
    }
  }, 30_000);
});

describe('mirror indexes a crash or a hand could leave are never trusted', () => {
  let repo: string;
  beforeAll(async () => {
    repo = await makeWorld();
  }, 60_000);
  afterAll(() => {
    if (repo) removeDir(repo);
  });
  afterEach(() => cleanUp(repo));

  /** X edited, TOUCHED files touched, then a status that rewrites: the new generation holds X's new stats and md5. Returns X's bytes and the old files' copies. */
  async function rewriteAfterEditingX(): Promise<{ xBytes: Buffer; old: { json: Buffer; bin: Buffer; mirror: Buffer; mirrorName: string }; before: Gens }> {
    const before = gens(repo);
    const old = { json: readFileSync(statFile(repo, '')), bin: readFileSync(statFile(repo, '.bin')), mirror: readFileSync(mirrorFile(repo)), mirrorName: mirrorFile(repo) };
    const xBytes = editKeepingMtime(repo, X);
    touchMany(repo);
    await intoNextSecond();
    expect((await statusOf(repo)).modified).toEqual([nameOf(X)]);
    const after = gens(repo);
    expect(after.json).not.toBe(before.json);
    expect(after.mirrors).toEqual([after.json]);
    return { xBytes, old, before };
  }

  it('a newer mirror beside the older stat cache (as a kill between writing the mirror and the .bin leaves): not used, X still modified', async () => {
    const { xBytes, old } = await rewriteAfterEditingX();
    // The new mirror vouches for X's new stats; the old rows hold X's old md5.
    writeFileSync(statFile(repo, '.bin'), old.bin);
    writeFileSync(statFile(repo, ''), old.json);
    rmSync(statFile(repo, '') + '.log', { force: true });
    const s = await expectModifiedAndKept(repo, new Map([[X, xBytes]]));
    expect(s.checkedByGit).toBe(0);
  }, 30_000);

  it('an older mirror beside the newer stat cache, under its own name and in the newer one\'s place: a later edit is found', async () => {
    const { xBytes, old } = await rewriteAfterEditingX();
    const current = mirrorFile(repo);
    rmSync(current);
    writeFileSync(old.mirrorName, old.mirror);
    const yBytes = editKeepingMtime(repo, Y);
    const own = await expectModifiedAndKept(repo, new Map([[X, xBytes], [Y, yBytes]]));
    expect(own.checkedByGit).toBe(0);
    // That status found no mirror of its generation and wrote one (removing the older): the older
    // bytes now take the name of the current generation's mirror. Git is asked and must report X and Y.
    expect(gens(repo).mirrors).toEqual([gens(repo).bin]);
    writeFileSync(mirrorFile(repo), old.mirror);
    const placed = await expectModifiedAndKept(repo, new Map([[X, xBytes], [Y, yBytes]]));
    expect(placed.checkedByGit).toBeGreaterThan(0);
  }, 30_000);

  it('a mirror truncated mid-entry: git refuses it, every file is lstat\'ed, the edit is found', async () => {
    const file = mirrorFile(repo);
    // The header, ten entries and part of the eleventh.
    truncateSync(file, 12 + 80 * 10 + 37);
    const cBytes = editKeepingMtime(repo, C);
    const s = await expectModifiedAndKept(repo, new Map([[C, cBytes]]));
    expect(s.checkedByGit).toBe(0);
    expect(s.stderr).toMatch(/git could not check the mirror index/);
  }, 30_000);

  it("a mirror whose entries carry another file's stats (checksum made valid): git reads it and still reports the edited file", async () => {
    // Status rewrites a stat cache with no mirror: a fresh one.
    rmSync(mirrorFile(repo));
    await statusOf(repo);
    const file = mirrorFile(repo);
    const buf = readFileSync(file);
    const at = new Map<string, number>();
    for (let k = 0, off = 12; k < buf.readUInt32BE(8); k++) {
      const len = buf.readUInt16BE(off + 60) & 0xfff;
      at.set(buf.toString('utf8', off + 62, off + 62 + len), off);
      off += (62 + len + 8) & ~7;
    }
    const [a, b] = [at.get(`${DATA}/${nameOf(A)}`)!, at.get(`${DATA}/${nameOf(B)}`)!];
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    // ctime, mtime, dev, ino, mode, uid, gid, size: A's entry takes the stats of B (same size, same directory), and B's A's.
    const statsA = Buffer.from(buf.subarray(a, a + 40));
    buf.copy(buf, a, b, b + 40);
    statsA.copy(buf, b);
    createHash('sha1').update(buf.subarray(0, buf.length - 20)).digest().copy(buf, buf.length - 20);
    writeFileSync(file, buf);
    const aBytes = editKeepingMtime(repo, A);
    const s = await expectModifiedAndKept(repo, new Map([[A, aBytes]]));
    // git read the doctored mirror (it vouched for the other files): the edit was found through it.
    expect(s.checkedByGit).toBeGreaterThanOrEqual(FILES - 10);
  }, 30_000);
});

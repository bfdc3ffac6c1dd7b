import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filesUnder, git, reg, writeTree } from '../helpers/repo.js';
import { makeWorld, md5, runGuarded, type Outcome, type World } from './world.js';

/**
 * The stat cache remembers each walked directory's listing (format 5, `dirs` rows, see
 * src/workspace/stat-cache.ts), so a later walk lstats an unchanged directory's entries without
 * reading it. The real CLI, spawned, after a `reg add` and `reg status` that remembered every
 * listing: a directory swapped for a symlink to a directory outside the repository, a file swapped
 * for a symlink to a file outside, a stat cache edited so a remembered listing names `..`, a path
 * outside or a name with `/`, and a `.bin` truncated or of another generation. status, status
 * --json, checkout and add give the right answer with their documented exit code (never "internal
 * error"); the swapped paths are reported and never walked into or written through, forged rows
 * are ignored, and the sentinel tree outside and `.git` stay byte-identical.
 */
const DS = 'ds';
const FILES = { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n', 'sub/c.txt': 'charlie\n', 'sub/deep/d.txt': 'delta\n' };
/** Longer than the stat cache's racy window (50 ms): listings taken before it are trusted. */
const leaveRacyWindow = () => sleep(150);

let w: World;
const ds = (rel = '') => join(w.repo, DS, rel);
const statDir = () => join(w.repo, '.reg', 'tmp', 'stat');
const statFile = () => join(statDir(), readdirSync(statDir()).find((n) => n.endsWith('.json'))!);

/** Runs the CLI (no --json unless asked) with the sentinel and .git guarded, and no internal error. */
async function run(args: string[]): Promise<Outcome> {
  const r = await runGuarded(w, args, [], { json: false });
  expect(r.stderr, args.join(' ')).not.toMatch(/internal error/i);
  return r;
}

async function changes(): Promise<{ code: number; state: string; added: string[]; modified: string[]; deleted: string[]; hashedFiles: number }> {
  const r = await run(['status', '--json', DS]);
  const o = JSON.parse(r.stdout).outputs[0];
  const c = o.changes ?? { added: [], modified: [], deleted: [] };
  return { code: r.code, state: o.state, added: [...c.added].sort(), modified: [...c.modified].sort(), deleted: [...c.deleted].sort(), hashedFiles: o.hashedFiles };
}

/** No object in the cache holds the bytes of a file of the sentinel tree. */
function expectNoSentinelBytesCached(): void {
  for (const f of filesUnder(w.outside)) {
    const oid = md5(readFileSync(join(w.outside, f)));
    expect(existsSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2))), `${f} of the sentinel was cached`).toBe(false);
  }
}

/** The `.dir` manifest the pointer names, as relpaths. */
function manifestPaths(): string[] {
  const oid = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(w.repo, `${DS}.dvc`), 'utf8'))![1]!;
  const entries = JSON.parse(readFileSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2)), 'utf8')) as Array<{ relpath: string }>;
  return entries.map((e) => e.relpath).sort();
}

beforeEach(async () => {
  w = await makeWorld('none');
  writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
  writeTree(w.repo, Object.fromEntries(Object.entries(FILES).map(([rel, text]) => [`${DS}/${rel}`, text])));
  // Something beside the output that a listing naming `..` would find.
  writeFileSync(join(w.repo, 'secret.txt'), 'beside the output\n');
  await leaveRacyWindow();
  const add = await reg(w.repo, ['add', DS]);
  expect(add.code, add.stderr).toBe(0);
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'ds');
  await leaveRacyWindow();
  expect(await changes()).toMatchObject({ state: 'up-to-date', added: [], modified: [], deleted: [] });
  // Every directory's listing is remembered (and trusted from now on).
  const stored = JSON.parse(readFileSync(statFile(), 'utf8'));
  expect(stored.v).toBe(6);
  expect((stored.dirs as Array<[string]>).map((d) => d[0]).sort()).toEqual(['', 'sub/', 'sub/deep/']);
  await leaveRacyWindow();
}, 60_000);
afterEach(async () => {
  await w.cleanup();
});

describe('remembered directory listings against swapped paths (real CLI)', () => {
  it('a directory swapped for a symlink to a directory outside: reported deleted, never walked, never written through', async () => {
    rmSync(ds('sub/deep'), { recursive: true });
    symlinkSync(join(w.outside, 'docs'), ds('sub/deep'));
    const want = { code: 0, state: 'modified', added: [], modified: [], deleted: ['sub/deep/d.txt'] };
    expect(await changes()).toMatchObject(want);
    // Once more after the racy window: now the listing of sub/ (holding the link's name) is remembered.
    await leaveRacyWindow();
    expect(await changes()).toMatchObject(want);
    const plain = await run(['status', DS]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`${DS}: modified — 1 deleted`);
    // checkout will not write through the link, nor drop it silently: exit 7 naming it.
    const refused = await run(['checkout', DS]);
    expect(refused.code, refused.stderr).toBe(7);
    expect(refused.stderr).toContain(`${DS}/sub/deep (a symlink to ${join(w.outside, 'docs')}: reg never writes through it)`);
    expectNoSentinelBytesCached();
    // Forced, the link is replaced by a real directory (the sentinel is untouched: run() checks).
    const forced = await run(['checkout', '--force', DS]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(lstatSync(ds('sub/deep')).isDirectory()).toBe(true);
    expect(readFileSync(ds('sub/deep/d.txt'), 'utf8')).toBe(FILES['sub/deep/d.txt']);
    expect(await changes()).toMatchObject({ state: 'up-to-date', deleted: [] });
    // add skips a symlinked directory (as DVC does): the new version leaves it out, nothing outside is read.
    await leaveRacyWindow();
    rmSync(ds('sub/deep'), { recursive: true });
    symlinkSync(join(w.outside, 'docs'), ds('sub/deep'));
    const add = await run(['add', DS]);
    expect(add.code, add.stderr).toBe(0);
    expect(manifestPaths()).toEqual(['a.txt', 'b.txt', 'sub/c.txt']);
    expectNoSentinelBytesCached();
    expect(await changes()).toMatchObject({ state: 'up-to-date', added: [], deleted: [] });
  });

  it('a file swapped for a symlink to a file outside: reported modified by status, refused by checkout, replaced (not written through) when forced', async () => {
    unlinkSync(ds('a.txt'));
    symlinkSync(join(w.outside, 'docs', 'notes.txt'), ds('a.txt'));
    const want = { code: 0, state: 'modified', added: [], modified: ['a.txt'], deleted: [] };
    expect(await changes()).toMatchObject(want);
    await leaveRacyWindow();
    expect(await changes()).toMatchObject(want);
    const plain = await run(['status', DS]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`${DS}: modified — 1 modified`);
    const refused = await run(['checkout', DS]);
    expect(refused.code, refused.stderr).toBe(7);
    expect(refused.stderr).toContain(`${DS}/a.txt (modified)`);
    // status and a refused checkout read nothing of the sentinel into the cache.
    expectNoSentinelBytesCached();
    // Forced, the link is removed and a.txt written in its place; the stash keeps what the link
    // showed (the target's bytes: what --force promises to save), the target itself is untouched.
    const forced = await run(['checkout', '--force', DS]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(lstatSync(ds('a.txt')).isFile()).toBe(true);
    expect(readFileSync(ds('a.txt'), 'utf8')).toBe(FILES['a.txt']);
    expect(await changes()).toMatchObject({ state: 'up-to-date', modified: [] });
  });

  it('a file swapped for a symlink to a file outside, then added: add follows a link to a file (DVC\'s rule), the target is only read', async () => {
    unlinkSync(ds('a.txt'));
    symlinkSync(join(w.outside, 'docs', 'notes.txt'), ds('a.txt'));
    // walk.ts: "symlinks to files are followed": the new version records the target's bytes.
    const add = await run(['add', DS]);
    expect(add.code, add.stderr).toBe(0);
    expect(manifestPaths()).toEqual(['a.txt', 'b.txt', 'sub/c.txt', 'sub/deep/d.txt']);
    expect(lstatSync(ds('a.txt')).isSymbolicLink()).toBe(true);
    expect(await changes()).toMatchObject({ state: 'up-to-date', modified: [] });
  });
});

describe('a hostile or damaged stat cache file (real CLI)', () => {
  /** Names a forged root listing adds: if trusted, each would lead the walk out of the output. */
  const forged: Array<[string, () => string]> = [
    ['..', () => '..'],
    ['../secret.txt', () => '../secret.txt'],
    ['a relative path into the sentinel', () => relative(ds(), join(w.outside, 'docs'))],
    ['a name with a slash (sub/deep)', () => 'sub/deep'],
  ];

  const expectUpToDateEverywhere = async () => {
    expect(await changes()).toMatchObject({ code: 0, state: 'up-to-date', added: [], modified: [], deleted: [] });
    const plain = await run(['status', DS]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`${DS}: up to date`);
    const checkout = await run(['checkout', DS]);
    expect(checkout.code, checkout.stderr).toBe(0);
    const pointer = readFileSync(join(w.repo, `${DS}.dvc`), 'utf8');
    const add = await run(['add', DS]);
    expect(add.code, add.stderr).toBe(0);
    expect(readFileSync(join(w.repo, `${DS}.dvc`), 'utf8')).toBe(pointer);
    expect(manifestPaths()).toEqual(Object.keys(FILES).sort());
    expectNoSentinelBytesCached();
  };

  for (const where of ['the JSON file', 'the append log'] as const) {
    for (const [what, name] of forged) {
      it(`a remembered listing in ${where} naming ${what}: the forged row is ignored`, async () => {
        const file = statFile();
        const stored = JSON.parse(readFileSync(file, 'utf8'));
        const root = (stored.dirs as Array<[string, ...unknown[]]>).find((d) => d[0] === '')!;
        // The directory's own ino and times: only the names are forged, so the row would be trusted.
        const row = [...root.slice(0, 5), `a.txt\nb.txt\nsub\n${name()}`];
        if (where === 'the JSON file') {
          stored.dirs = stored.dirs.map((d: [string]) => (d[0] === '' ? row : d));
          writeFileSync(file, JSON.stringify(stored));
          rmSync(`${file}.log`, { force: true });
        } else {
          // A log for this generation, as save() appends it: on replay the forged row replaces the stored one.
          writeFileSync(`${file}.log`, `${JSON.stringify({ v: stored.v, gen: stored.gen })}\n${JSON.stringify({ dir: row })}\n`);
        }
        await expectUpToDateEverywhere();
      });
    }
  }

  it('a .bin truncated, or of another generation: the cache is taken as empty, every file hashed again, the answers unchanged', async () => {
    const bin = `${statFile()}.bin`;
    truncateSync(bin, 40);
    expect(await changes()).toMatchObject({ state: 'up-to-date', hashedFiles: Object.keys(FILES).length });
    await leaveRacyWindow();
    await expectUpToDateEverywhere();
    await leaveRacyWindow();
    // A .bin whose header names another generation (a crash between the JSON's write and its own).
    const bytes = readFileSync(bin);
    bytes.write('0123456789ab', 0, 'latin1');
    writeFileSync(bin, bytes);
    expect(await changes()).toMatchObject({ state: 'up-to-date', hashedFiles: Object.keys(FILES).length });
    await leaveRacyWindow();
    // And one of the right generation but cut short of the rows the JSON names.
    const file = statFile();
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    truncateSync(`${file}.bin`, 16 + 8 * 5 * (stored.rows - 1));
    expect(await changes()).toMatchObject({ state: 'up-to-date', hashedFiles: Object.keys(FILES).length });
    await expectUpToDateEverywhere();
  });
});

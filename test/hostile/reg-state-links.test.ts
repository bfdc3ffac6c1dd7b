import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, regOk } from '../helpers/repo.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * reg's own state below `.reg/` (the stat cache and other caches in tmp/, sync state, stash
 * records) is written on ordinary commands. A symlink committed there (`git add -f`, since
 * .reg/.gitignore ignores those paths) must not send a write outside the repository: the command
 * refuses with exit 3 naming the link, and the sentinel tree and .git/ stay byte-identical.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Replaces `.reg/<rel>` by a committed symlink to the sentinel's docs/ directory. */
function plantLink(w: World, rel: string): void {
  const abs = join(w.repo, '.reg', rel);
  rmSync(abs, { recursive: true, force: true });
  mkdirSync(join(abs, '..'), { recursive: true });
  symlinkSync(join(w.outside, 'docs'), abs);
  git(w.repo, 'add', '-f', `.reg/${rel}`);
  git(w.repo, 'commit', '-qm', `plant .reg/${rel}`);
}

/** A versioned entry raw_datasets/d with one file, added and committed. */
async function versionedEntry(w: World): Promise<void> {
  mkdirSync(join(w.repo, 'raw_datasets/d'), { recursive: true });
  writeFileSync(join(w.repo, 'raw_datasets/d/a.txt'), 'alpha\n');
  await regOk(w.repo, ['add', 'raw_datasets/d'], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'd');
}

function expectRefused(r: { code: number; stderr: string; errorCode?: string }, link: string): void {
  expect(r.code, r.stderr).toBe(3);
  expect(r.errorCode, r.stderr).toBe('repo.reg-entry-not-a-directory');
  expect(r.stderr).toContain(`.reg/${link} is a symbolic link`);
  expect(r.stderr).not.toMatch(/internal error/);
}

describe('a symlink committed below .reg/ never redirects reg’s own writes', () => {
  it('.reg/tmp -> outside: status (which writes the stat cache) refuses', async () => {
    const w = (world = await makeWorld('none'));
    await versionedEntry(w);
    plantLink(w, 'tmp');
    writeFileSync(join(w.repo, 'raw_datasets/d/b.txt'), 'beta\n');
    const r = await runGuarded(w, ['status']);
    expectRefused(r, 'tmp');
    expect(lstatSync(join(w.repo, '.reg/tmp')).isSymbolicLink()).toBe(true);
  }, 60_000);

  it('.reg/stash -> outside: a forced checkout (which stashes modified bytes) refuses', async () => {
    const w = (world = await makeWorld('none'));
    await versionedEntry(w);
    plantLink(w, 'stash');
    writeFileSync(join(w.repo, 'raw_datasets/d/a.txt'), 'changed, exists nowhere else\n');
    const r = await runGuarded(w, ['checkout', '--force', 'raw_datasets/d']);
    expectRefused(r, 'stash');
  }, 60_000);

  it('.reg/tmp/sync -> outside: sync push (which records what it synced) refuses', async () => {
    const w = (world = await makeWorld('dir'));
    mkdirSync(join(w.repo, 'processed_datasets/p'), { recursive: true });
    writeFileSync(join(w.repo, 'processed_datasets/p/x.csv'), 'a,b\n1,2\n');
    mkdirSync(join(w.repo, '.reg/tmp'), { recursive: true });
    plantLink(w, 'tmp/sync');
    const r = await runGuarded(w, ['sync', 'push', 'processed_datasets/p']);
    expectRefused(r, 'tmp/sync');
  }, 60_000);

  it('.reg/tmp/sizes -> outside: ls (which remembers manifest sizes) lists and writes nothing there', async () => {
    const w = (world = await makeWorld('none'));
    await versionedEntry(w);
    mkdirSync(join(w.repo, '.reg/tmp'), { recursive: true });
    plantLink(w, 'tmp/sizes');
    const r = await runGuarded(w, ['ls', 'raw_datasets/d']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.stringify(r.json)).toContain('a.txt');
    expect(existsSync(join(w.outside, 'docs', 'sizes'))).toBe(false);
  }, 60_000);

  it('a stat-cache append log that is a link to a file outside (with a valid header): status appends nothing through it', async () => {
    const w = (world = await makeWorld('none'));
    await versionedEntry(w);
    writeFileSync(join(w.repo, 'raw_datasets/d/a.txt'), 'changed once\n');
    await regOk(w.repo, ['status'], { env: w.env });
    const statDir = join(w.repo, '.reg/tmp/stat');
    const log = readdirSync(statDir).find((n) => n.endsWith('.log'));
    expect(log, 'a touched file is recorded in the append log').toBeDefined();
    // The log moved outside (so its header matches this stat cache) and a link left in its place.
    const outsideLog = join(w.outside, 'docs', 'stat.log');
    renameSync(join(statDir, log!), outsideLog);
    symlinkSync(outsideLog, join(statDir, log!));
    const before = readFileSync(outsideLog, 'utf8');
    writeFileSync(join(w.repo, 'raw_datasets/d/a.txt'), 'changed twice\n');
    const r = await runGuarded(w, ['status'], [join(w.outside, 'docs')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.stringify(r.json)).toContain('modified');
    expect(readFileSync(outsideLog, 'utf8')).toBe(before);
  }, 60_000);
});

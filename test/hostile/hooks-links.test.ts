import { chmodSync, lstatSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from '../helpers/repo.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * Teams often commit their hooks (`.githooks/`) and point core.hooksPath at them. `reg hooks install`
 * then writes its shims there and chains the hooks it finds. A committed symlink must not turn that
 * into a write (or a chmod) outside the repository.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

async function withHooksPath(): Promise<World> {
  const w = (world = await makeWorld('none'));
  git(w.repo, 'config', 'core.hooksPath', '.githooks');
  return w;
}

describe('reg hooks install with a committed hooks directory', () => {
  it('a committed .githooks/pre-push -> outside file is chained without changing the file it points to', async () => {
    const w = await withHooksPath();
    chmodSync(join(w.outside, 'docs/notes.txt'), 0o644);
    mkdirSync(join(w.repo, '.githooks'));
    symlinkSync(join(w.outside, 'docs/notes.txt'), join(w.repo, '.githooks/pre-push'));
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'team hooks');
    const r = await runGuarded(w, ['hooks', 'install']);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(w.repo, '.githooks/pre-push.local')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(w.repo, '.githooks/pre-push')).isFile()).toBe(true);
  }, 60_000);

  it('a committed .githooks -> outside directory: install refuses (exit 7, path.symlink), nothing written there', async () => {
    const w = await withHooksPath();
    symlinkSync(join(w.outside, 'docs'), join(w.repo, '.githooks'));
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'team hooks');
    const r = await runGuarded(w, ['hooks', 'install']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.errorCode, r.stderr).toBe('path.symlink');
    expect(r.stderr).toContain('.githooks is a symbolic link');
    expect(r.stderr).not.toMatch(/internal error/);
  }, 60_000);

  it('a committed .githooks -> outside directory holding reg shims: uninstall refuses, nothing removed there', async () => {
    const w = await withHooksPath();
    // The shims as an earlier install put them in a real .githooks/, which a later commit moved out and linked.
    const r0 = await runGuarded(w, ['hooks', 'install']);
    expect(r0.code, r0.stderr).toBe(0);
    renameSync(join(w.repo, '.githooks'), join(w.outside, 'hooks'));
    symlinkSync(join(w.outside, 'hooks'), join(w.repo, '.githooks'));
    writeFileSync(join(w.outside, 'hooks/keep'), 'x');
    const r = await runGuarded(w, ['hooks', 'uninstall']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.errorCode, r.stderr).toBe('path.symlink');
    expect(r.stderr).not.toMatch(/internal error/);
  }, 60_000);
});

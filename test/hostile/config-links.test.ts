import { lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from '../helpers/repo.js';
import { makeWorld, runGuarded, type Outcome, type World } from './world.js';

/**
 * `.reg/config.yaml` is tracked. Committed as a symlink to a file outside the repository, it was
 * parsed through the link, and `reg remote add` / `reg config` wrote the target's content back as
 * a regular config.yaml (with the new key), for the victim to commit. reg now refuses a config file
 * that is a symlink (exit 3), like git refuses a symlinked .gitignore.
 */

const SECRET = 'aws_secret_access_key: wJalrXUtnFEMI-sentinel-secret\n';

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Replaces `.reg/<name>` by a committed symlink to a YAML file holding a secret, in the sentinel tree. */
function plantConfigLink(w: World, name: string): void {
  writeFileSync(join(w.outside, 'credentials.yaml'), SECRET);
  const abs = join(w.repo, '.reg', name);
  rmSync(abs, { force: true });
  symlinkSync(join(w.outside, 'credentials.yaml'), abs);
  git(w.repo, 'add', '-f', `.reg/${name}`);
  git(w.repo, 'commit', '-qm', `plant .reg/${name}`);
}

function expectRefused(r: Outcome, name: string): void {
  expect(r.code, r.stderr).toBe(3);
  expect(r.errorCode, r.stderr).toBe('config.not-a-file');
  expect(r.stderr).toContain(`.reg/${name} is a symbolic link`);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stderr + r.stdout).not.toContain('sentinel-secret');
}

describe('a config file committed as a symlink is never read or rewritten through it', () => {
  it('.reg/config.yaml -> outside: remote add refuses and the secret never lands in the tracked file', async () => {
    const w = (world = await makeWorld('none'));
    plantConfigLink(w, 'config.yaml');
    const r = await runGuarded(w, ['remote', 'add', 'extra', join(w.outside, 'docs')]);
    expectRefused(r, 'config.yaml');
    expect(lstatSync(join(w.repo, '.reg/config.yaml')).isSymbolicLink()).toBe(true);
    expect(git(w.repo, 'status', '--porcelain')).toBe('');
  }, 60_000);

  it('.reg/config.yaml -> outside: remote default refuses', async () => {
    const w = (world = await makeWorld('none'));
    plantConfigLink(w, 'config.yaml');
    const r = await runGuarded(w, ['remote', 'default', 'extra']);
    expectRefused(r, 'config.yaml');
    expect(lstatSync(join(w.repo, '.reg/config.yaml')).isSymbolicLink()).toBe(true);
  }, 60_000);

  it('.reg/config.local.yaml -> outside: every command refuses (status)', async () => {
    const w = (world = await makeWorld('none'));
    plantConfigLink(w, 'config.local.yaml');
    const r = await runGuarded(w, ['status']);
    expectRefused(r, 'config.local.yaml');
    expect(readFileSync(join(w.outside, 'credentials.yaml'), 'utf8')).toBe(SECRET);
  }, 60_000);

  it('.dvc/config -> outside: init --from-dvc refuses to import it into the tracked config', async () => {
    const w = (world = await makeWorld('none'));
    writeFileSync(join(w.outside, 'dvc-config'), "[core]\n    remote = store\n['remote \"store\"']\n    url = s3://internal-bucket/sentinel-secret\n");
    mkdirSync(join(w.repo, '.dvc'));
    symlinkSync(join(w.outside, 'dvc-config'), join(w.repo, '.dvc/config'));
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'plant .dvc/config');
    const r = await runGuarded(w, ['init', '--from-dvc']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.errorCode, r.stderr).toBe('init.dvc-config-not-a-file');
    expect(r.stderr).toContain('.dvc/config is a symbolic link');
    expect(r.stderr).not.toMatch(/internal error/);
    expect(readFileSync(join(w.repo, '.reg/config.yaml'), 'utf8')).not.toContain('sentinel-secret');
  }, 60_000);
});

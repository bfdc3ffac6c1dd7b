import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, removeDir, tempDir } from '../helpers/repo.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * What a card says is published: rendered into the catalog, copied into new cards (the area's
 * template), printed by check. A card or template committed as a symlink to a file outside the
 * repository was read through the link, so its target's bytes ended up in the site or in a new,
 * tracked card. reg now refuses it (exit 3 `card.symlink`), naming the file and the fix.
 */

const SECRET = '-----BEGIN OPENSSH PRIVATE KEY----- sentinel-secret\n';

let world: World | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
  for (const d of dirs.splice(0)) removeDir(d);
});

/** Commits `rel` as a symlink to a secret file in the sentinel tree. */
function plantCardLink(w: World, rel: string): void {
  writeFileSync(join(w.outside, 'id_rsa'), SECRET);
  rmSync(join(w.repo, rel), { force: true });
  symlinkSync(join(w.outside, 'id_rsa'), join(w.repo, rel));
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', `plant ${rel}`);
}

function expectRefused(r: { code: number; stderr: string; stdout: string; errorCode?: string }, rel: string): void {
  expect(r.code, r.stderr).toBe(3);
  expect(r.errorCode, r.stderr).toBe('card.symlink');
  expect(r.stderr).toContain(`${rel} is a symbolic link`);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stderr + r.stdout).not.toContain('sentinel-secret');
}

/** Every file's text below `dir`, concatenated. */
function allText(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => readFileSync(join(d.parentPath, d.name), 'utf8'))
    .join('\n');
}

describe('a card or template committed as a symlink is never read through it', () => {
  it('<entry>.card.md -> outside: catalog build --worktree refuses and the site holds no secret', async () => {
    const w = (world = await makeWorld('none'));
    mkdirSync(join(w.repo, 'raw_datasets/x'), { recursive: true });
    plantCardLink(w, 'raw_datasets/x.card.md');
    const site = tempDir('reg-card-site-');
    dirs.push(site);
    const r = await runGuarded(w, ['catalog', 'build', '--worktree', '-o', site]);
    expectRefused(r, 'raw_datasets/x.card.md');
    expect(allText(site)).not.toContain('sentinel-secret');
  }, 60_000);

  it('<entry>.card.md -> outside: check refuses', async () => {
    const w = (world = await makeWorld('none'));
    mkdirSync(join(w.repo, 'raw_datasets/x'), { recursive: true });
    plantCardLink(w, 'raw_datasets/x.card.md');
    const r = await runGuarded(w, ['check']);
    expectRefused(r, 'raw_datasets/x.card.md');
  }, 60_000);

  it('area template.card.md -> outside: new refuses before creating anything', async () => {
    const w = (world = await makeWorld('none'));
    plantCardLink(w, 'raw_datasets/template.card.md');
    const r = await runGuarded(w, ['new', 'raw_datasets/y']);
    expectRefused(r, 'raw_datasets/template.card.md');
    expect(existsSync(join(w.repo, 'raw_datasets/y.card.md'))).toBe(false);
    expect(existsSync(join(w.repo, 'raw_datasets/y'))).toBe(false);
    expect(git(w.repo, 'status', '--porcelain')).toBe('');
  }, 60_000);
});

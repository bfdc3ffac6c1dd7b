import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, writeTree } from '../helpers/repo.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * A hostile commit puts a symlink where reg keeps or appends to one of its small files: `.reg`
 * itself, `.reg/.gitignore`, an area's `.gitignore`, or the `.gitignore` beside an entry. Before
 * the fix `reg init` (the newcomer's step in a clone) wrote its config and appended lines through
 * such links, outside the repository, and `reg add` copied the bytes behind a `.gitignore` link
 * (here a secret outside) into a regular, tracked `.gitignore`. Now each is refused with exit 3
 * naming the file and the fix; nothing is read through the link, the sentinel tree outside and
 * `.git` are byte-identical, and the fix named in the message works.
 */
let repo: string;
let sentinel: string;
const SECRET = 'TOKEN=do-not-leak\n';

beforeEach(() => {
  repo = makeGitRepo();
  sentinel = makeSentinel();
  writeFileSync(join(sentinel, 'secret.env'), SECRET);
});
afterEach(() => {
  removeDir(repo);
  removeDir(sentinel);
});

/** Runs the real CLI and asserts the sentinel and `.git` are untouched and the refusal is named. */
async function refused(args: string[], code: string, file: string): Promise<void> {
  const outside = snapshotTree(sentinel);
  const dotGit = snapshotTree(join(repo, '.git'));
  const r = await reg(repo, ['--json', ...args]);
  expect(r.stderr).not.toContain('internal error');
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
  const error = JSON.parse(r.stdout).error as { code: string; message: string; hint: string };
  expect(error.code).toBe(code);
  expect(error.message).toContain(file);
  expect(error.hint).toMatch(/git rm/);
  expect(r.stdout + r.stderr).not.toContain('do-not-leak');
  expect(snapshotTree(sentinel)).toEqual(outside);
  expect(snapshotTree(join(repo, '.git'))).toEqual(dotGit);
}

async function initRegistry(): Promise<void> {
  await regOk(repo, ['init']);
  writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
}

describe('reg init in a clone whose commit planted links', () => {
  it('.reg is a symlink to a directory outside: refused before anything is written there', async () => {
    symlinkSync(join(sentinel, 'docs'), join(repo, '.reg'));
    await refused(['init'], 'repo.reg-symlink', '.reg');
    rmSync(join(repo, '.reg'));
    await regOk(repo, ['init']);
    expect(lstatSync(join(repo, '.reg')).isDirectory()).toBe(true);
  });

  it('.reg is a regular file: refused by name, not an internal error', async () => {
    writeFileSync(join(repo, '.reg'), 'not a directory\n');
    await refused(['init'], 'repo.reg-not-a-directory', '.reg');
  });

  it('.reg/.gitignore is a symlink to a file outside: nothing appended to it, nothing read from it', async () => {
    mkdirSync(join(repo, '.reg'));
    symlinkSync(join(sentinel, 'secret.env'), join(repo, '.reg/.gitignore'));
    await refused(['init'], 'gitignore.not-a-file', '.reg/.gitignore');
    expect(readFileSync(join(sentinel, 'secret.env'), 'utf8')).toBe(SECRET);
    rmSync(join(repo, '.reg/.gitignore'));
    await regOk(repo, ['init']);
    expect(readFileSync(join(repo, '.reg/.gitignore'), 'utf8')).toContain('/cache');
  });

  it("an area's .gitignore is a symlink to a file outside: refused, its bytes not copied into the area", async () => {
    mkdirSync(join(repo, 'raw_datasets'));
    symlinkSync(join(sentinel, 'secret.env'), join(repo, 'raw_datasets/.gitignore'));
    await refused(['init'], 'gitignore.not-a-file', 'raw_datasets/.gitignore');
    expect(lstatSync(join(repo, 'raw_datasets/.gitignore')).isSymbolicLink()).toBe(true);
  });
});

describe("reg add beside a committed .gitignore link", () => {
  beforeEach(async () => {
    await initRegistry();
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'registry');
    writeTree(repo, { 'raw_datasets/x/a.txt': 'a\n' });
  });

  it('to a secret outside: refused before anything is written; the secret never reaches a tracked file', async () => {
    rmSync(join(repo, 'raw_datasets/.gitignore'));
    symlinkSync(join(sentinel, 'secret.env'), join(repo, 'raw_datasets/.gitignore'));
    git(repo, 'add', 'raw_datasets/.gitignore');
    git(repo, 'commit', '-qm', 'teammate: a link');
    await refused(['add', 'raw_datasets/x'], 'gitignore.not-a-file', 'raw_datasets/.gitignore');
    expect(lstatSync(join(repo, 'raw_datasets/.gitignore')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(repo, 'raw_datasets/x.dvc'))).toBe(false);
    // The fix the message names.
    git(repo, 'rm', '-q', 'raw_datasets/.gitignore');
    await regOk(repo, ['add', 'raw_datasets/x']);
    const gi = readFileSync(join(repo, 'raw_datasets/.gitignore'), 'utf8');
    expect(gi).toContain('/x');
    expect(gi).not.toContain('do-not-leak');
  });

  it('a directory where the .gitignore goes: refused by name', async () => {
    rmSync(join(repo, 'raw_datasets/.gitignore'));
    mkdirSync(join(repo, 'raw_datasets/.gitignore'));
    await refused(['add', 'raw_datasets/x'], 'gitignore.not-a-file', 'raw_datasets/.gitignore');
  });
});

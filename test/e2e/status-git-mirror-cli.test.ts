import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { editKeepingMtime as editFileKeepingMtime, intoNextSecond } from '../helpers/mirror-time.js';
import { git, makeGitRepo, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * `reg status` asks git (diff-files over the stat cache's mirror index) which files changed. The
 * repository's own git configuration and the user's GIT_* variables must not change git's answer:
 * settings that would make it skip a comparison or run a hook are pinned, and the repository is
 * found from the work tree alone. Each test edits a file at the same size with its mtime put back
 * (only ctime and the bytes change), which only a full stat comparison sees.
 */
const FILES = 1100;
let repo: string;
let elsewhere: string;
const nameOf = (i: number) => `d${i % 11}/f${String(i).padStart(5, '0')}.txt`;
const ds = (rel: string) => join(repo, 'ds', rel);
const marker = () => join(elsewhere, 'fsmonitor-ran');

const editKeepingMtime = (rel: string) => editFileKeepingMtime(ds(rel));

/** `reg -v status ds --json`: the modified files, and how many files git vouched for (from the debug log). */
async function statusOf(env: Record<string, string> = {}) {
  const r = await regOk(repo, ['-v', 'status', 'ds', '--json'], { env });
  const out = JSON.parse(r.stdout).outputs[0];
  const checked = /git found (\d+) of \d+ files unchanged/.exec(r.stderr);
  return { state: out.state as string, modified: (out.changes?.modified ?? []) as string[], checkedByGit: checked ? Number(checked[1]) : 0 };
}

beforeEach(async () => {
  repo = makeGitRepo();
  elsewhere = tempDir('reg-elsewhere-');
  await regOk(repo, ['init']);
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[`ds/${nameOf(i)}`] = `file ${String(i).padStart(5, '0')}\n`;
  writeTree(repo, files);
  await intoNextSecond();
  await regOk(repo, ['add', 'ds']);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'ds');
  expect(await statusOf()).toEqual({ state: 'up-to-date', modified: [], checkedByGit: FILES });
}, 120_000);
afterEach(() => {
  removeDir(repo);
  removeDir(elsewhere);
});

describe('reg status with git checking the mirror index', () => {
  it('sees a same-size edit with the mtime put back', async () => {
    editKeepingMtime(nameOf(1));
    const s = await statusOf();
    expect(s).toMatchObject({ state: 'modified', modified: [nameOf(1)] });
    expect(s.checkedByGit).toBeGreaterThanOrEqual(FILES - 1);
  });

  for (const [key, value] of [
    ['core.trustctime', 'false'],
    ['core.checkStat', 'minimal'],
    // (core.ignoreStat is pinned too, but it acts only on entries marked assume-unchanged, which the
    // mirror never has: a test of it could not fail.)
  ] as const) {
    it(`is not fooled by ${key}=${value} in the repository's config`, async () => {
      git(repo, 'config', key, value);
      editKeepingMtime(nameOf(2));
      const s = await statusOf();
      expect(s).toMatchObject({ state: 'modified', modified: [nameOf(2)] });
      expect(s.checkedByGit).toBeGreaterThanOrEqual(FILES - 1);
    });
  }

  it('never runs a core.fsmonitor hook set in the repository', async () => {
    // A hook that would claim nothing changed, and leaves a marker if it ever runs.
    const hook = join(elsewhere, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\ntouch '${marker()}'\nprintf '\\0'\n`, { mode: 0o755 });
    git(repo, 'config', 'core.fsmonitor', hook);
    editKeepingMtime(nameOf(3));
    const s = await statusOf();
    expect(s).toMatchObject({ state: 'modified', modified: [nameOf(3)] });
    expect(s.checkedByGit).toBeGreaterThanOrEqual(FILES - 1);
    expect(existsSync(marker())).toBe(false);
  });

  it("is not confused by the user's GIT_DIR, GIT_WORK_TREE and GIT_INDEX_FILE", async () => {
    // Another repository whose index says nothing changed about files of the same names.
    const other = makeGitRepo();
    try {
      editKeepingMtime(nameOf(4));
      const env = { GIT_INDEX_FILE: join(other, '.git', 'index'), GIT_WORK_TREE: other, GIT_DIR: join(other, '.git') };
      const r = await regOk(repo, ['-v', 'status', 'ds', '--json'], { env: { GIT_INDEX_FILE: env.GIT_INDEX_FILE } });
      expect(JSON.parse(r.stdout).outputs[0]).toMatchObject({ state: 'modified', changes: { modified: [nameOf(4)] } });
      expect(r.stderr).toMatch(/git found \d{4} of \d+ files unchanged/);
      const s = await statusOf(env);
      expect(s).toMatchObject({ state: 'modified', modified: [nameOf(4)] });
      expect(s.checkedByGit).toBeGreaterThanOrEqual(FILES - 1);
    } finally {
      removeDir(other);
    }
  });
});

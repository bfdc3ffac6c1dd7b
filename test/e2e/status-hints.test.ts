import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * Issue 8, item 1: after `git pull` brings a teammate's newer pointer, `reg status` must never
 * suggest `reg add` (which would silently put the old bytes back under the pointer). Every state
 * is built for real (two clones of one origin, a directory remote), asserted through the CLI, and
 * its hint is followed to show it leads where it says.
 */

let author: string;
let origin: string;
let store: string;
let v1Commit: string;
const scratch: string[] = [];

const V1 = 'first version of the labels\n';
const V2 = 'second version of the labels, by a teammate\n';
const card = '---\nlicense: MIT\nsource: https://example.org\nowner: ana\n---\n# Card: labels\n';

beforeAll(async () => {
  author = makeGitRepo();
  origin = tempDir('reg-origin-');
  store = tempDir('reg-store-');
  git(origin, 'init', '-q', '--bare', '-b', 'main');
  await regOk(author, ['init']);
  await regOk(author, ['remote', 'add', 'store', store, '--default']);
  writeTree(author, { 'raw_datasets/labels/a.txt': V1, 'raw_datasets/labels/b.txt': 'unchanged\n', 'raw_datasets/labels.card.md': card });
  await regOk(author, ['add', 'raw_datasets/labels']);
  await regOk(author, ['push']);
  git(author, 'add', '-A');
  git(author, 'commit', '-qm', 'labels v1');
  v1Commit = git(author, 'rev-parse', 'HEAD').trim();
  writeTree(author, { 'raw_datasets/labels/a.txt': V2 });
  await regOk(author, ['add', 'raw_datasets/labels']);
  await regOk(author, ['push']);
  git(author, 'commit', '-qam', 'labels v2');
  git(author, 'remote', 'add', 'origin', origin);
  git(author, 'push', '-q', 'origin', 'main');
}, 120_000);
afterAll(() => [author, origin, store, ...scratch].forEach(removeDir));

/** A teammate's clone whose workspace holds v1 (pulled with reg), before `git pull` brings v2. */
async function teammateAtV1(): Promise<string> {
  const parent = tempDir('reg-mate-');
  scratch.push(parent);
  git(parent, 'clone', '-q', origin, 'clone');
  const clone = join(parent, 'clone');
  git(clone, 'reset', '-q', '--hard', v1Commit);
  await regOk(clone, ['pull', 'raw_datasets/labels']);
  expect(readFileSync(join(clone, 'raw_datasets/labels/a.txt'), 'utf8')).toBe(V1);
  return clone;
}

const gitPull = (clone: string) => git(clone, 'merge', '-q', '--ff-only', 'origin/main');
const edit = (clone: string) => writeFileSync(join(clone, 'raw_datasets/labels/a.txt'), 'my local edit\n');

interface Row {
  state: string;
  hint?: string;
  workspace: string;
}

async function statusOf(clone: string): Promise<Row & { text: string }> {
  const json = await regOk(clone, ['status', 'raw_datasets/labels', '--json']);
  const row = JSON.parse(json.stdout).outputs[0] as Row;
  const text = (await regOk(clone, ['status', 'raw_datasets/labels'])).stdout;
  return { ...row, text };
}

const cases: Array<{
  name: string;
  arrange: (clone: string) => Promise<void>;
  state: string;
  workspace: string;
  hint: RegExp;
  text: RegExp;
  /** Follows the hint; with `settles`, status is up to date afterwards. */
  follow?: (clone: string) => Promise<void>;
  settles?: boolean;
}> = [
  {
    name: 'pointer ahead of the workspace, data not cached (git pull of a teammate version)',
    arrange: async (c) => void gitPull(c),
    state: 'not-in-cache',
    workspace: 'differs',
    hint: /^reg pull raw_datasets\/labels$/,
    text: /^raw_datasets\/labels: not in cache \(1 object of the pointer's version missing locally\) — run reg pull raw_datasets\/labels$/m,
    follow: async (c) => {
      await regOk(c, ['pull', 'raw_datasets/labels']);
      expect(readFileSync(join(c, 'raw_datasets/labels/a.txt'), 'utf8')).toBe(V2);
    },
    settles: true,
  },
  {
    name: 'workspace modified, pointer unchanged',
    arrange: async (c) => edit(c),
    state: 'modified',
    workspace: 'differs',
    hint: /^reg add raw_datasets\/labels to record the changes, or reg checkout --force raw_datasets\/labels to discard them/,
    text: /^raw_datasets\/labels: modified — 1 modified; reg add raw_datasets\/labels to record/m,
  },
  {
    name: 'both: workspace modified and pointer ahead, data not cached',
    arrange: async (c) => {
      edit(c);
      gitPull(c);
    },
    state: 'not-in-cache',
    workspace: 'differs',
    hint: /^reg pull raw_datasets\/labels$/,
    text: /not in cache .* — run reg pull raw_datasets\/labels$/m,
    follow: async (c) => {
      // pull fetches, then refuses to overwrite the unsaved edit (exit 7): nothing is lost
      const r = await reg(c, ['pull', 'raw_datasets/labels']);
      expect(r.code).toBe(7);
      expect(readFileSync(join(c, 'raw_datasets/labels/a.txt'), 'utf8')).toBe('my local edit\n');
    },
  },
  {
    name: 'pointer ahead, data already cached (git pull + reg fetch)',
    arrange: async (c) => {
      gitPull(c);
      await regOk(c, ['fetch', 'raw_datasets/labels']);
    },
    state: 'outdated',
    workspace: 'differs',
    hint: /^reg checkout raw_datasets\/labels to get the pointer's version$/,
    text: /^raw_datasets\/labels: outdated: the pointer is newer than the workspace data; reg checkout raw_datasets\/labels/m,
    follow: async (c) => {
      await regOk(c, ['checkout', 'raw_datasets/labels']);
      expect(readFileSync(join(c, 'raw_datasets/labels/a.txt'), 'utf8')).toBe(V2);
    },
    settles: true,
  },
  {
    name: 'pointer ahead, data cached, no remembered base (the workspace holds a committed version)',
    arrange: async (c) => {
      gitPull(c);
      await regOk(c, ['fetch', 'raw_datasets/labels']);
      rmSync(join(c, '.reg/tmp/stat'), { recursive: true, force: true });
    },
    state: 'outdated',
    workspace: 'differs',
    hint: /^reg checkout raw_datasets\/labels/,
    text: /outdated/,
  },
  {
    name: 'both, data cached: the pointer moved on and the data was edited here',
    arrange: async (c) => {
      edit(c);
      gitPull(c);
      await regOk(c, ['fetch', 'raw_datasets/labels']);
    },
    state: 'diverged',
    workspace: 'differs',
    hint: /^reg checkout --force raw_datasets\/labels to take the committed version \(your edits are stashed/,
    text: /^raw_datasets\/labels: diverged: the pointer changed and the data was edited here — 1 modified; reg checkout --force/m,
    follow: async (c) => {
      const r = await regOk(c, ['checkout', '--force', 'raw_datasets/labels']);
      expect(r.stdout + r.stderr).toContain('stash');
      expect(readFileSync(join(c, 'raw_datasets/labels/a.txt'), 'utf8')).toBe(V2);
    },
    settles: true,
  },
  {
    name: 'workspace matches the pointer but the cache lost the objects',
    arrange: async (c) => void rmSync(join(c, '.reg/cache'), { recursive: true, force: true }),
    state: 'not-in-cache',
    workspace: 'matches',
    hint: /^reg pull raw_datasets\/labels \(the workspace copy matches the pointer, so reg add raw_datasets\/labels also re-caches it/,
    text: /not in cache/,
  },
  {
    name: 'workspace deleted, data cached',
    arrange: async (c) => void rmSync(join(c, 'raw_datasets/labels'), { recursive: true, force: true }),
    state: 'missing',
    workspace: 'absent',
    hint: /^reg checkout raw_datasets\/labels to restore it$/,
    text: /data missing from workspace; reg checkout/,
  },
  {
    name: 'workspace deleted and pointer ahead, data not cached',
    arrange: async (c) => {
      rmSync(join(c, 'raw_datasets/labels'), { recursive: true, force: true });
      gitPull(c);
    },
    state: 'not-in-cache',
    workspace: 'absent',
    hint: /^reg pull raw_datasets\/labels$/,
    text: /not in cache/,
  },
];

describe('reg status: state and hint per situation (never reg add when the pointer is newer)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const clone = await teammateAtV1();
      await c.arrange(clone);
      const s = await statusOf(clone);
      expect({ state: s.state, workspace: s.workspace }).toEqual({ state: c.state, workspace: c.workspace });
      expect(s.hint).toMatch(c.hint);
      expect(s.text).toMatch(c.text);
      if (s.state !== 'modified') expect(s.hint?.startsWith('reg add')).toBe(false);
      await c.follow?.(clone);
      if (c.settles) expect((await statusOf(clone)).state).toBe('up-to-date');
    }, 120_000);
  }
});

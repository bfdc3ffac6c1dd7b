import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from '../helpers/repo.js';
import { commit, makeWorld, pointerText, putCacheObject, runGuarded, type World } from './world.js';

/**
 * The post-checkout and post-merge hooks answer from the entry's fast path when the commits change
 * no pointer (src/cli/fast-path.ts). Hostile pointers, links and arguments around them: every run
 * exits with a code that is not an internal error, writes nothing outside its place, and leaves
 * the sentinel tree outside the repository and `.git` byte-identical (runGuarded). Plain argv, not
 * --json: that is what git runs, and what the fast path answers.
 */
const PAYLOAD = '#!/bin/sh\necho owned > /tmp/reg-hostile-owned\n';

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** A world whose HEAD~1 brought a pointer into .git/hooks and whose HEAD changes a plain file only; ORIG_HEAD is HEAD~1. */
async function hostilePointerThenPlainCommit(): Promise<{ w: World; prev: string; next: string }> {
  const w = (world = await makeWorld('none'));
  const oid = putCacheObject(w, PAYLOAD);
  commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, size: PAYLOAD.length, path: '../.git/hooks/post-checkout', isexec: true }]) }, 'evil pointer');
  commit(w, { 'notes.txt': 'plain\n' }, 'plain');
  const [prev, next] = ['HEAD~1', 'HEAD'].map((rev) => git(w.repo, 'rev-parse', rev).trim()) as [string, string];
  git(w.repo, 'update-ref', 'ORIG_HEAD', prev);
  return { w, prev, next };
}

const plain = { json: false };

describe('the hooks\' fast path with hostile input', () => {
  it('a pointer into .git/hooks that the checkout or merge does not change: nothing read, nothing written, exit 0', async () => {
    const { w, prev, next } = await hostilePointerThenPlainCommit();
    for (const args of [['hook', 'post-checkout', prev, next, '1'], ['hook', 'post-checkout', next, prev, '0'], ['hook', 'post-merge', '0']]) {
      const r = await runGuarded(w, args, [], plain);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 0, stdout: '', stderr: '' });
    }
    expect(existsSync(join(w.repo, '.git/hooks/post-checkout'))).toBe(false);
    expect(existsSync('/tmp/reg-hostile-owned')).toBe(false);
  });

  it('the same pointer brought by the checkout goes to the full hook, which skips it with a warning (exit 0)', async () => {
    const { w, prev } = await hostilePointerThenPlainCommit();
    const before = git(w.repo, 'rev-parse', 'HEAD~2').trim();
    const r = await runGuarded(w, ['hook', 'post-checkout', before, prev, '1'], [], plain);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reg: warning: left raw_datasets\/evil\.dvc as it is: .*\.\.\/\.git\/hooks\/post-checkout/);
    expect(existsSync(join(w.repo, '.git/hooks/post-checkout'))).toBe(false);
  });

  it('revision arguments that look like options (`--output=FILE`) never reach git as options: no file written, no internal error', async () => {
    const { w, next } = await hostilePointerThenPlainCommit();
    const target = join(w.outside, 'docs', 'written-by-git-diff');
    // On the command line commander refuses the unknown option (the fast path hands it to git
    // after --end-of-options first, where it is a bad revision): a usage error.
    for (const json of [false, true]) {
      const r = await runGuarded(w, ['hook', 'post-checkout', `--output=${target}`, next, '1'], [], { json });
      expect({ json, code: r.code }).toEqual({ json, code: 2 });
      expect(existsSync(target)).toBe(false);
    }
    // The pre-commit framework passes the revisions in the environment: the full hook's git diff
    // (and ls-tree) take them after --end-of-options, so git refuses them instead of writing FILE.
    for (const env of [{ PRE_COMMIT_FROM_REF: `--output=${target}`, PRE_COMMIT_TO_REF: next }, { PRE_COMMIT_FROM_REF: next, PRE_COMMIT_TO_REF: `--output=${target}` }]) {
      const r = await runGuarded(w, ['hook', 'post-checkout'], [], { json: false, env: { ...env, PRE_COMMIT_CHECKOUT_TYPE: '1' } });
      expect({ env, code: r.code, internal: /internal error/.test(r.stderr) }).toEqual({ env, code: 0, internal: false });
      expect(existsSync(target)).toBe(false);
    }
  });

  it('.git/ORIG_HEAD as a symlink to a file outside: post-merge reads it as git does and writes nothing', async () => {
    const { w, prev } = await hostilePointerThenPlainCommit();
    const outsideRef = join(w.outside, 'docs', `orig-head-${basename(w.repo)}`);
    // The sentinel gets the ref file before the snapshot, so the guarded comparison covers it.
    writeFileSync(outsideRef, `${prev}\n`);
    git(w.repo, 'update-ref', '-d', 'ORIG_HEAD');
    symlinkSync(outsideRef, join(w.repo, '.git', 'ORIG_HEAD'));
    const r = await runGuarded(w, ['hook', 'post-merge', '0'], [], plain);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(outsideRef, 'utf8')).toBe(`${prev}\n`);
  });
});

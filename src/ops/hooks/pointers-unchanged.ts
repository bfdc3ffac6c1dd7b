import type { Context } from '../../context.js';
import { ZERO_OID, gitRun } from '../../git/read.js';

/**
 * True when going from commit `prev` to `next` adds, modifies or renames no `.dvc` file anywhere
 * (the pathspec `*.dvc` matches at any depth): the post-checkout hook then has no data to update.
 * One `git diff --quiet` of the two trees, which reads no file of the work tree. False when git
 * cannot tell (a zero or unknown `prev`, as after a clone; not a repository): the full hook then
 * runs and decides. `prev` and `next` may be refs (ORIG_HEAD and HEAD for post-merge): without an
 * ORIG_HEAD git fails, and the full hook looks at every pointer.
 */
export async function pointersUnchanged(ctx: Pick<Context, 'cwd'>, prev: string, next: string): Promise<boolean> {
  if (prev === '' || ZERO_OID.test(prev)) return false;
  // --end-of-options: an argument like `--output=FILE` is a (bad) revision, never an option that writes.
  const r = await gitRun(ctx.cwd, ['diff', '--quiet', '--no-ext-diff', '--no-renames', '--diff-filter=AMR', '--end-of-options', prev, next, '--', '*.dvc'], undefined, { allowFail: true });
  return r.code === 0;
}

import type { Context } from '../../context.js';
import { gitRun } from '../../git/read.js';

/**
 * True when the next commit would record exactly HEAD's tree (nothing staged: `git commit
 * --allow-empty`, an amend of the message only). One `git diff --cached --quiet`, which compares
 * the index with HEAD (with the whole index on an unborn branch) and reads no file of the work
 * tree. False when git cannot tell (not a repository, a broken index): the full check then runs
 * and reports the problem.
 */
export async function nothingStaged(ctx: Pick<Context, 'cwd'>): Promise<boolean> {
  const r = await gitRun(ctx.cwd, ['diff', '--cached', '--quiet', '--no-ext-diff'], undefined, { allowFail: true });
  return r.code === 0;
}

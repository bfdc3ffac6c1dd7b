import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { isRegError } from '../../errors.js';
import { openRepo, type Repo } from '../../repo.js';
import { checkout } from '../data/checkout.js';
import { gitRun, gitText, ZERO_OID } from '../../git/read.js';
import { POINTER_SUFFIX } from '../data/outputs.js';

export interface PostUpdateResult {
  hook: 'post-checkout' | 'post-merge';
  /** Pointers that changed between the two commits and exist in the workspace. */
  pointers: string[];
  updated: string[];
  unchanged: string[];
  /** Pointers left alone, with why (local changes, data not in the cache...). Never fatal. */
  skipped: Array<{ pointer: string; reason: string; hint?: string }>;
}

function isPointerPath(p: string): boolean {
  return p.endsWith(POINTER_SUFFIX) && !p.startsWith('.dvc/') && !p.startsWith('.reg/');
}

async function changedPointers(root: string, from: string | undefined, to: string): Promise<string[]> {
  let paths: string[];
  if (from === undefined || ZERO_OID.test(from)) {
    paths = (await gitText(root, ['ls-tree', '-r', '-z', '--name-only', '--end-of-options', to])).split('\0');
  } else {
    // --end-of-options: a revision argument like `--output=FILE` is a (bad) revision, never an option that writes.
    const r = await gitRun(root, ['diff', '--name-only', '-z', '--no-renames', '--diff-filter=AMR', '--end-of-options', from, to], undefined, { allowFail: true });
    if (r.code !== 0) return [];
    paths = r.stdout.toString('utf8').split('\0');
  }
  return paths.filter((p) => p && isPointerPath(p));
}

/**
 * Brings workspace data in line with pointers git just changed, one output at a time, never
 * forcing: an output with unsaved changes (or whose data is not in the cache) is skipped with a
 * note, so git is never blocked and no bytes are lost.
 */
async function update(repo: Repo, ctx: Context, hook: PostUpdateResult['hook'], pointers: string[]): Promise<PostUpdateResult> {
  const result: PostUpdateResult = { hook, pointers: [], updated: [], unchanged: [], skipped: [] };
  result.pointers = pointers.filter((p) => existsSync(join(repo.root, p)));
  for (const p of result.pointers) {
    try {
      const r = await checkout(ctx, { targets: [join(repo.root, p)], force: false });
      // A pointer file may hold several outputs (DVC 3): it is updated when any of them was.
      const skipped = r.outputs.find((o) => o.action === 'skipped');
      if (r.outputs.some((o) => o.action === 'restored')) result.updated.push(p);
      else if (skipped) result.skipped.push({ pointer: p, reason: skipped.reason ?? 'skipped' });
      else result.unchanged.push(p);
    } catch (err) {
      if (!isRegError(err)) {
        result.skipped.push({ pointer: p, reason: (err as Error)?.message ?? String(err) });
        continue;
      }
      result.skipped.push({ pointer: p, reason: err.message, ...(err.hint ? { hint: err.hint } : {}) });
    }
  }
  return result;
}

/** `reg hook post-checkout <prev> <new> <branch-flag>`: only branch checkouts (flag 1) update data. */
export async function postCheckoutHook(ctx: Context, options: { prev: string; next: string; branchCheckout: boolean }): Promise<PostUpdateResult> {
  // Before opening the repository: a file checkout touches no data, so it has nothing to warn about either.
  if (!options.branchCheckout) return { hook: 'post-checkout', pointers: [], updated: [], unchanged: [], skipped: [] };
  const repo = openRepo(ctx);
  return update(repo, ctx, 'post-checkout', await changedPointers(repo.root, options.prev, options.next));
}

/** `reg hook post-merge <squash>`: pointers changed between ORIG_HEAD and HEAD. */
export async function postMergeHook(ctx: Context): Promise<PostUpdateResult> {
  const repo = openRepo(ctx);
  const orig = (await gitRun(repo.root, ['rev-parse', '-q', '--verify', 'ORIG_HEAD'], undefined, { allowFail: true })).stdout.toString('utf8').trim();
  const head = (await gitText(repo.root, ['rev-parse', 'HEAD'])).trim();
  return update(repo, ctx, 'post-merge', await changedPointers(repo.root, orig || undefined, head));
}

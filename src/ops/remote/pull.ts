import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import type { Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import type { RetryPolicy } from '../../store/transfer.js';
import { checkoutOutputs, type CheckoutResult } from '../data/checkout.js';
import { fetchError, fetchObjects, type FetchResult } from './fetch.js';

export interface PullOptions {
  targets: string[];
  remote?: string;
  jobs?: number;
  /** Passed to checkout: overwrite local changes (they are stashed first). */
  force?: boolean;
  retry?: RetryPolicy;
  wrapBackend?: (backend: Backend) => Backend;
}

export interface PullResult extends FetchResult {
  checkout: CheckoutResult;
}

/**
 * fetch + checkout. Outputs whose objects all arrived (verified) are checked out; if anything
 * failed, the others are left untouched in the workspace and the fetch error is thrown after.
 */
export async function pull(ctx: Context, options: PullOptions): Promise<PullResult> {
  let opened: Repo | undefined;
  try {
    const { result, secrets, repo, outputs } = await fetchObjects(ctx, options, (repo) => {
      opened = repo;
      // A checkout that will copy the bytes: big objects get their work-tree copy written while
      // they download, and the checkout renames it into place (Cache.wantEarlyCopies).
      if (repo.cache.copiesInto(join(repo.regDir, 'tmp'), repo.linkTypes) && sameDevice(repo.cache.root, repo.root)) repo.cache.wantEarlyCopies();
    });
    const failedPaths = new Set(result.outputs.filter((o) => o.state === 'failed').map((o) => o.pointer));
    const complete = outputs.filter((o) => o.out.md5 !== undefined && !failedPaths.has(o.pointerRel));
    let checkoutResult: CheckoutResult = { outputs: [] };
    if (complete.length > 0) {
      // The fetch's repo, so its cache: objects the fetch has just verified are copied by the kernel
      // instead of being hashed a second time (Cache.noteVerified).
      checkoutResult = await checkoutOutputs(repo, ctx, failedPaths.size === 0 ? outputs : complete, { force: options.force, stashReason: 'checkout --force' });
    }
    if (result.failures.length > 0) {
      throw fetchError('pull', result, secrets, { ...result, checkout: checkoutResult });
    }
    return { ...result, checkout: checkoutResult };
  } finally {
    opened?.cache.discardEarlyCopies();
  }
}

/** Both paths on one filesystem (a rename between them works); `a` is created if missing. */
function sameDevice(a: string, b: string): boolean {
  try {
    mkdirSync(a, { recursive: true });
    return statSync(a).dev === statSync(b).dev;
  } catch {
    return false;
  }
}

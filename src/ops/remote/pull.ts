import { statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { writeFileAtomicSync } from '../../fsutil.js';
import type { Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import type { RetryPolicy } from '../../store/transfer.js';
import { checkoutOutputs, type CheckoutResult } from '../data/checkout.js';
import { fetchError, fetchObjects, type FetchResult } from './fetch.js';
import { makeDirsSync } from '../../make-dirs.js';
import { readRegMemoJson } from '../../workspace/reg-memo.js';

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
      if (earlyCopiesPay(repo)) repo.cache.wantEarlyCopies();
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

/** The reflink probe's answer for a cache and work tree (LINK_PROBE_FILE in .reg/tmp), valid while `key` matches. */
interface LinkProbe {
  key: string;
  /** A reflink from the cache into .reg/tmp works; absent until a cache.type led with reflink. */
  reflinks?: boolean;
}

const LINK_PROBE_FILE = 'link-probe.json';

/**
 * Whether early copies pay: the checkout will copy bytes (copy is the first cache.type that
 * works) and the cache is on the work tree's filesystem, so a copy written beside a downloading
 * object can be renamed into the work tree. The reflink probe (a scratch file) and the device
 * comparison run once per cache and work tree, not on every pull: the probe's answer is kept in
 * .reg/tmp under the device and inode of the cache dir, the work tree and .reg/tmp, and found
 * again only while all three match (a cache dir moved to another filesystem is probed anew);
 * the devices are compared from the same stats.
 * A wrong answer costs only speed: a refused reflink falls back in materialize, a refused
 * rename of an early copy to an ordinary copy.
 */
function earlyCopiesPay(repo: Repo): boolean {
  const tmp = join(repo.regDir, 'tmp');
  const memoPath = join(tmp, LINK_PROBE_FILE);
  let cacheDir: Stats, workTree: Stats, tmpDir: Stats;
  try {
    cacheDir = existingDir(repo.cache.root);
    tmpDir = existingDir(tmp);
    workTree = statSync(repo.root);
  } catch {
    return false;
  }
  const key = [cacheDir, workTree, tmpDir].map((st) => `${st.dev}:${st.ino}`).join(' ');
  const known = readLinkProbe(repo, key);
  const probe: LinkProbe = { key, ...(known?.reflinks !== undefined ? { reflinks: known.reflinks } : {}) };
  const copies = repo.cache.copiesInto(tmp, repo.linkTypes, (dir) => (probe.reflinks ??= repo.cache.reflinksInto(dir)));
  if (known === undefined || known.reflinks !== probe.reflinks) {
    try {
      writeFileAtomicSync(memoPath, `${JSON.stringify(probe)}\n`, 0o666, false);
    } catch {
      // Only a cache of an answer: the next pull probes again.
    }
  }
  return copies && cacheDir.dev === workTree.dev;
}

/** The directory's stat, created first if missing. */
function existingDir(dir: string): Stats {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st !== undefined) return st;
  makeDirsSync(dir);
  return statSync(dir);
}

/** The remembered probe for `key`, or undefined (none, another key, or not ours to trust: unreadable, malformed, or not a regular file). */
function readLinkProbe(repo: Repo, key: string): LinkProbe | undefined {
  // A link (to /dev/zero, outside) or a FIFO planted there is neither followed nor opened for reading.
  const data = readRegMemoJson(repo, LINK_PROBE_FILE, 4096) as Partial<LinkProbe> | null | undefined;
  if (data?.key !== key || (data.reflinks !== undefined && typeof data.reflinks !== 'boolean')) return undefined;
  return { key, ...(data.reflinks !== undefined ? { reflinks: data.reflinks } : {}) };
}

import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { changedInIndexFile, workTreeListing, type WorkTreeListing } from '../../git/read.js';
import { findGitRoot } from '../../git/root.js';
import { currentMirrorIndexes } from '../../workspace/mirror-files.js';

/**
 * The git runs a status of every output needs, started before it reads its pointers, even before
 * the program is loaded: `git diff-files` on every stored mirror index (stat-cache.ts; at 20k-100k
 * files git's answer was what a no-change status waited for last), and one `git ls-files` of the
 * index and the untracked files (the pointers and the registry overview's index). Kept in a module
 * of its own, small, for the command-line entry (src/cli/entry.ts).
 */
export interface EarlyGitChecks {
  /** The work tree they run in. */
  root: string;
  /** When they started: a scan using one takes this as its check time (git vouched for files as they were then). */
  startedAt: number;
  /** By mirror index file (its name holds the generation); a scan takes its own out. Empty when git is not worth asking. */
  byMirror: Map<string, Promise<string[] | undefined>>;
  /** The index and the untracked files (workTreeListing); undefined inside if git failed, and the reader asks again. */
  listing: Promise<WorkTreeListing | undefined>;
}

/**
 * Marks the repository's git as one that compares nanoseconds (built with USE_NSEC): it reports
 * every entry of a mirror index, so asking it only costs a process (scan.ts, noteNsecGit). Beside
 * the stat cache, so `rm -r .reg/tmp` (or deleting the file) makes reg try again.
 */
export const NSEC_GIT_MARKER = 'git-compares-nsec';

/** Mirror index files beyond which nothing starts early (so many git runs at once would compete for the cores, some perhaps for outputs gone). */
const MAX_EARLY_GIT_CHECKS = 4;

/** Where the entry leaves the runs it started: the program is another bundle, which a module variable of this one would not reach. */
const STARTED_BEFORE_LOAD = Symbol.for('reg.git-checks-started-before-load');
type Started = { [STARTED_BEFORE_LOAD]?: EarlyGitChecks };

/**
 * The git runs of the work tree at `root`: those the entry started before the program loaded, else
 * started now. No mirror index is checked early when there are more than MAX_EARLY_GIT_CHECKS or
 * git is not worth asking.
 */
export function startGitChecks(root: string, statDir: string): EarlyGitChecks {
  const started = (globalThis as Started)[STARTED_BEFORE_LOAD];
  if (started !== undefined) {
    delete (globalThis as Started)[STARTED_BEFORE_LOAD];
    if (started.root === root) return started;
  }
  const startedAt = Date.now();
  const mirrors = existsSync(join(statDir, NSEC_GIT_MARKER)) ? undefined : currentMirrorIndexes(statDir, MAX_EARLY_GIT_CHECKS);
  // diff-files first: it takes longest.
  const byMirror = new Map((mirrors ?? []).map((m) => [m, changedInIndexFile(root, m)]));
  return { root, startedAt, byMirror, listing: workTreeListing(root) };
}

/**
 * For `reg status` of every output, run by the entry before it loads the program (~0.1 s): starts
 * the git runs for startGitChecks to hand over. Only where `.reg`, `.reg/tmp` and `.reg/tmp/stat`
 * are real directories (the program refuses a link there before it reads anything: nothing is read
 * through one meanwhile either). Never throws: anything amiss is left to the program to report.
 */
export function startGitChecksBeforeLoad(cwd: string): void {
  try {
    const root = findGitRoot(cwd);
    if (root === undefined) return;
    let statDir = root;
    for (const part of ['.reg', 'tmp', 'stat']) {
      statDir = join(statDir, part);
      if (lstatSync(statDir, { throwIfNoEntry: false })?.isDirectory() !== true) return;
    }
    (globalThis as Started)[STARTED_BEFORE_LOAD] = startGitChecks(root, statDir);
  } catch {
    // the program finds out and says what is wrong
  }
}

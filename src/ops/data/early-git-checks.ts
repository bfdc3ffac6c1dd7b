import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { changedInIndexFile } from '../../git/read.js';
import { findGitRoot } from '../../git/root.js';
import { currentMirrorIndexes } from '../../workspace/mirror-files.js';

/**
 * `git diff-files` runs on every stored mirror index (stat-cache.ts), started before a status of
 * every output reads its pointers, even before the program is loaded: at 20k-100k files git's
 * answer was what a no-change status waited for last. Kept in a module of its own, small, for the
 * command-line entry (src/cli/entry.ts).
 */
export interface EarlyGitChecks {
  /** The work tree they run in. */
  root: string;
  /** When they started: a scan using one takes this as its check time (git vouched for files as they were then). */
  startedAt: number;
  /** By mirror index file (its name holds the generation); a scan takes its own out. */
  byMirror: Map<string, Promise<string[] | undefined>>;
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
 * The git runs on the stored mirror indexes of the work tree at `root`: those the entry started
 * before the program loaded, else started now; undefined when there are more than
 * MAX_EARLY_GIT_CHECKS or git is not worth asking.
 */
export function startGitChecks(root: string, statDir: string): EarlyGitChecks | undefined {
  const started = (globalThis as Started)[STARTED_BEFORE_LOAD];
  if (started !== undefined) {
    delete (globalThis as Started)[STARTED_BEFORE_LOAD];
    if (started.root === root) return started;
  }
  if (existsSync(join(statDir, NSEC_GIT_MARKER))) return undefined;
  const startedAt = Date.now();
  const mirrors = currentMirrorIndexes(statDir, MAX_EARLY_GIT_CHECKS);
  if (mirrors === undefined || mirrors.length === 0) return undefined;
  return { root, startedAt, byMirror: new Map(mirrors.map((m) => [m, changedInIndexFile(root, m)])) };
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
    const checks = startGitChecks(root, statDir);
    if (checks !== undefined) (globalThis as Started)[STARTED_BEFORE_LOAD] = checks;
  } catch {
    // the program finds out and says what is wrong
  }
}

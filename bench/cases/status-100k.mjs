// The large tree (100k files): cold add against git add, then status, and the peak-RSS targets.
import { join } from 'node:path';
import { freshGitDir, freshRegRepo, gitEnv } from '../lib/repos.mjs';
import { statusRounds } from './status.mjs';

export const name = 'status-100k';
export const description = 'cold `reg add` of the large tree (100k files) vs `git add`, then `reg status` as in `status`; peak RSS of both';
export const needs = [];

/** Issue 12: no-change status of the 100k-file tree under half a second. */
const STATUS_BUDGET_SECONDS = 0.5;
const RSS_BUDGET_MB = 300;

export async function run(h) {
  const { cfg } = h;
  const { repo, tree } = h.datasets.status();
  freshRegRepo(h, repo, ['data']);
  const gd = join(h.gitDirs, 'status-git');
  freshGitDir(h, gd, tree);
  h.syncDisk();
  h.sample('add-status', `reg add ${cfg.statusFiles} files (cold cache)`, h.reg(repo, ['-q', 'add', 'data']));
  h.syncDisk();
  h.sample('git-add-status', 'git add (same tree, fresh repo)', h.git(tree, ['add', '-A', '.'], { env: gitEnv(gd, tree) }));
  h.compare('add-status', 'git-add-status');
  h.git(tree, ['commit', '-q', '-m', 'status tree'], { env: gitEnv(gd, tree) });
  h.syncDisk();
  statusRounds(h, { repo, tree, gd, key: 'status', n: cfg.statusFiles, noChangeBudgetSeconds: STATUS_BUDGET_SECONDS });

  const m = h.results.measurements;
  for (const id of ['add-status', 'status-nochange', 'status-modified']) {
    const x = m[id];
    if (!x) continue;
    if (x.peakRssMB === undefined) {
      h.target(`peak RSS < ${RSS_BUDGET_MB} MB: ${x.label}`, false, 'no RSS figure could be taken');
      continue;
    }
    h.target(`peak RSS < ${RSS_BUDGET_MB} MB: ${x.label}`, x.peakRssMB < RSS_BUDGET_MB, `${x.peakRssMB.toFixed(0)} MB`);
  }
}

// `reg status` of the small-file tree against `git status`: no change, and one file modified.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGitAdded, ensureRegAdded, expectUpToDate, gitEnv, regStatusJson } from '../lib/repos.mjs';

export const name = 'status';
export const description = '`reg status` of the small-file tree (20k files), no change and one file modified, vs `git status`';
export const needs = [];

export async function run(h) {
  const small = h.datasets.small();
  ensureRegAdded(h, small);
  const gd = join(h.gitDirs, 'small-git');
  ensureGitAdded(h, gd, small.tree);
  h.git(small.tree, ['commit', '-q', '-m', 'small tree'], { env: gitEnv(gd, small.tree) });
  statusRounds(h, { repo: small.repo, tree: small.tree, gd, key: 'small', n: h.cfg.smallFiles });
}

/** Issue 12: no-change status at most this many times `git status` of the same tree (median of the per-round ratios). */
const GIT_RATIO_TARGET = 3;
/** Issue 12: status after modifying one file at most this many times the no-change status. */
const MODIFIED_RATIO_TARGET = 1.1;

/** No-change status and status after modifying one file, each against git status, alternating in every round. */
export function statusRounds(h, { repo, tree, gd, key, n, noChangeBudgetSeconds }) {
  const genv = gitEnv(gd, tree);
  const sfx = key === 'small' ? '-small' : '';
  // Warm-up: the first status after add/commit may refresh stat caches and the Git index.
  expectUpToDate(regStatusJson(h, repo), 'reg status after add');
  h.git(tree, ['status', '--porcelain'], { env: genv });
  expectUpToDate(regStatusJson(h, repo), 'reg status after add');
  // Each round: no-change status and git status, then one file modified and both again, then the
  // file put back (and seen by an untimed status). The modified/no-change ratio comes from the same
  // rounds, so drift in the machine's speed between two blocks of rounds cannot make it.
  const relpath = readdirSync(join(tree, 'd000')).sort()[0];
  const victim = join(tree, 'd000', relpath);
  const original = readFileSync(victim);
  const mode = statSync(victim).mode;
  try {
    for (let r = 0; r < h.cfg.statusRounds; r++) {
      const a = h.sample(`status-nochange${sfx}`, `reg status, no change (${n} files)`, regStatusJson(h, repo));
      expectUpToDate(a, 'reg status');
      h.sample(`git-status${sfx}`, `git status (${n} files committed)`, h.git(tree, ['status'], { env: genv }));
      // One modified file: reg should re-hash that file only, so it should cost about a no-change status.
      writeFileSync(victim, Buffer.concat([Buffer.from(`modified ${r}\n`), randomBytes(4096)]));
      const m = h.sample(`status-modified${sfx}`, `reg status, 1 file modified (${n} files)`, regStatusJson(h, repo));
      const o = m.json.outputs?.[0];
      const changed = o?.changes?.modified ?? [];
      if (o?.state !== 'modified' || changed.length !== 1 || (o.changes.added?.length ?? 0) + (o.changes.deleted?.length ?? 0) !== 0) {
        throw new Error(`reg status after modifying ${victim}: expected 1 modified file, got ${JSON.stringify(o).slice(0, 500)}`);
      }
      h.sample(`git-status-modified${sfx}`, `git status, 1 file modified (${n} files)`, h.git(tree, ['status'], { env: genv }));
      writeFileSync(victim, original, { mode });
      expectUpToDate(regStatusJson(h, repo), 'reg status after putting the file back');
    }
  } finally {
    writeFileSync(victim, original, { mode });
  }
  const vsGit = h.compare(`status-nochange${sfx}`, `git-status${sfx}`);
  h.compare(`status-nochange${sfx}`, 'reg-version');
  if (vsGit) {
    const r = vsGit.roundRatioMedian ?? vsGit.ratio;
    const range = vsGit.roundRatioMin !== undefined ? ` (per round ${vsGit.roundRatioMin}-${vsGit.roundRatioMax})` : '';
    h.target(`reg status, no change, ${n} files <= ${GIT_RATIO_TARGET}x git status`, r <= GIT_RATIO_TARGET, `${r.toFixed(2)}x${range}: ${vsGit.median.toFixed(3)} s vs ${vsGit.refMedian.toFixed(3)} s`);
  }
  if (noChangeBudgetSeconds !== undefined) {
    const m = h.results.measurements[`status-nochange${sfx}`];
    h.target(`reg status, no change, ${n} files < ${noChangeBudgetSeconds} s`, m.median < noChangeBudgetSeconds, `median ${m.median.toFixed(3)} s`);
  }

  h.compare(`status-modified${sfx}`, `git-status-modified${sfx}`);
  const vsSelf = h.compare(`status-modified${sfx}`, `status-nochange${sfx}`);
  const mod = h.results.measurements[`status-modified${sfx}`].median;
  const base = h.results.measurements[`status-nochange${sfx}`].median;
  const ratio = vsSelf?.roundRatioMedian ?? mod / base;
  const range = vsSelf?.roundRatioMin !== undefined ? ` (per round ${vsSelf.roundRatioMin}-${vsSelf.roundRatioMax})` : '';
  h.target(`reg status with 1 modified file (${n} files) <= ${MODIFIED_RATIO_TARGET}x the no-change status (exactly 1 file reported modified)`, ratio <= MODIFIED_RATIO_TARGET,
    `${ratio.toFixed(2)}x${range}: ${mod.toFixed(3)} s vs no-change ${base.toFixed(3)} s`);
}

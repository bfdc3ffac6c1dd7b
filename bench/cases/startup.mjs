// Start-up: what every command and every Git hook pays before doing any work.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const name = 'startup';
export const description = '`reg --version` and `reg hook pre-commit` (hooks installed, nothing staged) against `node -e 0`';
export const needs = [];

/** Absolute start-up budget from issue 12, on the reference machine where `node -e 0` takes ~0.058 s. */
const BUDGET_SECONDS = 0.15;

export async function run(h) {
  // A reg repository with the hooks installed and nothing staged: what `git commit` runs the hook in.
  const repo = join(h.tmp, 'startup-repo');
  mkdirSync(repo, { recursive: true });
  h.git(repo, ['init', '-q', '-b', 'main']);
  h.reg(repo, ['-q', 'init']);
  h.reg(repo, ['-q', 'hooks', 'install']);
  h.git(repo, ['add', '-A']);
  // --no-verify: the installed hook calls `reg` from PATH, which need not be this build.
  h.git(repo, ['commit', '-q', '--no-verify', '-m', 'registry']);
  if (h.git(repo, ['diff', '--cached', '--name-only']).stdout.trim() !== '') throw new Error('the start-up repo has staged changes');
  h.regPlain(repo, ['hook', 'pre-commit']); // warm-up (and a check that the hook passes)

  // Every step is a bare process start (no /usr/bin/time around it), so the three are comparable.
  h.alternate(h.cfg.startupRounds, [
    { id: 'node-startup', label: 'node -e 0', run: () => h.run(process.execPath, ['-e', '0'], { cwd: repo }) },
    { id: 'reg-version', label: 'reg --version (start-up)', run: () => h.regPlain(repo, ['--version']) },
    { id: 'reg-hook-pre-commit', label: 'reg hook pre-commit, nothing staged', run: () => h.regPlain(repo, ['hook', 'pre-commit']) },
  ]);
  h.compare('reg-version', 'node-startup');
  h.compare('reg-hook-pre-commit', 'node-startup');
  const m = h.results.measurements;
  for (const id of ['reg-version', 'reg-hook-pre-commit']) {
    h.target(`${m[id].label} <= ${BUDGET_SECONDS} s (on the reference machine node -e 0 takes ~0.058 s)`, m[id].median <= BUDGET_SECONDS,
      `median ${m[id].median.toFixed(3)} s, ${(m[id].median / m['node-startup'].median).toFixed(2)}x node -e 0 (${m['node-startup'].median.toFixed(3)} s) in the same rounds`);
  }
}

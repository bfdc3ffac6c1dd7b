// Start-up: what every command and every Git hook pays before doing any work.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const name = 'startup';
export const description = '`reg --version`, `reg hook pre-commit` (hooks installed, nothing staged), and `reg hook post-checkout` / `post-merge` between commits that change no pointer, against `node -e 0`';
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
  // A second commit that changes no pointer: what most checkouts, switches and pulls bring.
  writeFileSync(join(repo, 'notes.txt'), 'a plain file\n');
  h.git(repo, ['add', 'notes.txt']);
  h.git(repo, ['commit', '-q', '--no-verify', '-m', 'notes']);
  const [prev, next] = ['HEAD~1', 'HEAD'].map((rev) => h.git(repo, ['rev-parse', rev]).stdout.trim());
  h.git(repo, ['update-ref', 'ORIG_HEAD', prev]);
  if (h.git(repo, ['diff', '--cached', '--name-only']).stdout.trim() !== '') throw new Error('the start-up repo has staged changes');
  h.regPlain(repo, ['hook', 'pre-commit']); // warm-up (and a check that the hook passes)
  for (const hook of [['post-checkout', prev, next, '1'], ['post-merge', '0']]) {
    const r = h.regPlain(repo, ['hook', ...hook]);
    if (r.stdout !== '' || r.stderr !== '') throw new Error(`reg hook ${hook[0]} with no pointer changed printed ${JSON.stringify(r.stdout + r.stderr)}`);
  }

  // Every step is a bare process start (no /usr/bin/time around it), so the three are comparable.
  h.alternate(h.cfg.startupRounds, [
    { id: 'node-startup', label: 'node -e 0', run: () => h.run(process.execPath, ['-e', '0'], { cwd: repo }) },
    { id: 'reg-version', label: 'reg --version (start-up)', run: () => h.regPlain(repo, ['--version']) },
    { id: 'reg-hook-pre-commit', label: 'reg hook pre-commit, nothing staged', run: () => h.regPlain(repo, ['hook', 'pre-commit']) },
    { id: 'reg-hook-post-checkout', label: 'reg hook post-checkout, no pointer changed', run: () => h.regPlain(repo, ['hook', 'post-checkout', prev, next, '1']) },
    { id: 'reg-hook-post-merge', label: 'reg hook post-merge, no pointer changed', run: () => h.regPlain(repo, ['hook', 'post-merge', '0']) },
  ]);
  h.compare('reg-version', 'node-startup');
  h.compare('reg-hook-pre-commit', 'node-startup');
  h.compare('reg-hook-post-checkout', 'node-startup');
  h.compare('reg-hook-post-merge', 'node-startup');
  const m = h.results.measurements;
  for (const id of ['reg-version', 'reg-hook-pre-commit']) {
    h.target(`${m[id].label} <= ${BUDGET_SECONDS} s (on the reference machine node -e 0 takes ~0.058 s)`, m[id].median <= BUDGET_SECONDS,
      `median ${m[id].median.toFixed(3)} s, ${(m[id].median / m['node-startup'].median).toFixed(2)}x node -e 0 (${m['node-startup'].median.toFixed(3)} s) in the same rounds`);
  }
}

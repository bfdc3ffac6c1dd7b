import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, PROJECT_ROOT, reg, regOk, removeDir, tempDir } from '../helpers/repo.js';

/**
 * Issue 8, item 10: the README tour must commit what makes a clone a registry. The tour's own
 * `git add` line is run in a real repository, and a teammate's clone must then work with reg.
 */
const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const tour = /## A tour\n+```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

describe('README tour', () => {
  it("commits .reg/config.yaml, .reg/.gitignore and the areas right after reg init, so a teammate's clone is a registry", async () => {
    const lines = tour.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim());
    const initAt = lines.findIndex((l) => /\breg init\b/.test(l));
    const addLine = lines.find((l, i) => i > initAt && l.startsWith('git add ') && l.includes('.reg/config.yaml'));
    expect(addLine, 'the tour has a git add of .reg/config.yaml after reg init').toBeDefined();
    expect(addLine).toContain('.reg/.gitignore');
    const repo = makeGitRepo();
    const origin = tempDir('reg-origin-');
    const parent = tempDir('reg-clone-');
    dirs.push(repo, origin, parent);
    await regOk(repo, ['init']);
    git(repo, ...addLine!.split(/\s+/).slice(1));
    git(repo, 'commit', '-qm', 'reg registry');
    git(origin, 'init', '-q', '--bare', '-b', 'main');
    git(repo, 'push', '-q', origin, 'main');
    git(parent, 'clone', '-q', origin, 'clone');
    const clone = join(parent, 'clone');
    const st = await reg(clone, ['status']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain('raw_datasets/ (versioned');
    expect(git(clone, 'status', '--porcelain')).toBe('');
    const init = await regOk(clone, ['init']);
    expect(init.stdout).toContain('reg already initialized');
    expect(init.stdout).toContain('pre-commit installed');
    expect(git(clone, 'status', '--porcelain')).toBe('');
  }, 120_000);
});

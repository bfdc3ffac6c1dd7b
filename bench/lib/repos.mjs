// Repositories for the measurements: reg repos around a dataset, and Git dirs kept outside the tree.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Makes `root` a brand-new Git + reg repository (empty cache, no stat cache), keeping data files. */
export function freshRegRepo(h, root, dataNames) {
  for (const name of readdirSync(root)) {
    if (dataNames.includes(name)) continue;
    rmSync(join(root, name), { recursive: true, force: true });
  }
  h.git(root, ['init', '-q', '-b', 'main']);
  h.reg(root, ['-q', 'init']);
}

/** `reg add` of a dataset (untimed) unless an earlier case left its pointer behind. */
export function ensureRegAdded(h, { repo, data }) {
  if (existsSync(join(repo, `${data}.dvc`))) return;
  freshRegRepo(h, repo, [data]);
  h.reg(repo, ['-q', 'add', data]);
}

/** A Git repository whose .git lives at `gitDir` and whose work tree is `tree` (nothing written into the tree). */
export function gitEnv(gitDir, tree) {
  return { GIT_DIR: gitDir, GIT_WORK_TREE: tree };
}

export function freshGitDir(h, gitDir, tree) {
  rmSync(gitDir, { recursive: true, force: true });
  mkdirSync(dirname(gitDir), { recursive: true });
  h.git(tree, ['init', '-q', '-b', 'main'], { env: gitEnv(gitDir, tree) });
}

/** The tree added to a Git dir outside it (untimed) unless an earlier case left one behind. */
export function ensureGitAdded(h, gitDir, tree) {
  if (existsSync(join(gitDir, 'index'))) return;
  freshGitDir(h, gitDir, tree);
  h.git(tree, ['add', '-A', '.'], { env: gitEnv(gitDir, tree) });
}

export function regStatusJson(h, root) {
  const r = h.reg(root, ['-q', '--json', 'status']);
  try {
    r.json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`reg status --json printed no JSON: ${r.stdout.slice(0, 300)}`);
  }
  return r;
}

export function expectUpToDate(r, what) {
  const outs = r.json.outputs ?? [];
  if (outs.length === 0 || outs.some((o) => o.state !== 'up-to-date')) {
    throw new Error(`${what}: expected every output up to date, got ${JSON.stringify(outs.map((o) => [o.path, o.state]))}`);
  }
}

/** Checks that a pointer records the number of files of the tree it was added from. */
export function expectPointerFiles(pointerFile, nfiles) {
  const ptr = readFileSync(pointerFile, 'utf8');
  if (!new RegExp(`nfiles: ${nfiles}\\b`).test(ptr)) throw new Error(`${pointerFile} does not say nfiles: ${nfiles}:\n${ptr}`);
}

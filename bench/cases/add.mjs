// Cold add of the small-file tree against git add, git-lfs and md5sum.
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { expectPointerFiles, freshGitDir, freshRegRepo, gitEnv } from '../lib/repos.mjs';

export const name = 'add';
export const description = 'cold `reg add` of the small-file tree (20k files) vs `git add`, `git lfs` + `git add`, `find | xargs md5sum`';
export const needs = ['git-lfs (optional)'];

export async function run(h) {
  const { cfg } = h;
  const { repo: smallRepo, tree: smallTree } = h.datasets.small();
  if (!h.have.lfs) h.note('git lfs is not installed: the git-lfs reference is skipped');
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    freshRegRepo(h, smallRepo, ['small']);
    h.syncDisk();
    h.sample('add-small', `reg add ${cfg.smallFiles} files (cold cache)`, h.reg(smallRepo, ['-q', 'add', 'small']));
    h.syncDisk();

    const gd = join(h.gitDirs, 'small-git');
    freshGitDir(h, gd, smallTree);
    h.syncDisk();
    h.sample('git-add-small', 'git add (same tree, fresh repo)', h.git(smallTree, ['add', '-A', '.'], { env: gitEnv(gd, smallTree) }));
    h.syncDisk();

    if (h.have.lfs) {
      const ld = join(h.gitDirs, 'small-lfs');
      freshGitDir(h, ld, smallTree);
      h.git(smallTree, ['lfs', 'install', '--local'], { env: gitEnv(ld, smallTree) });
      // what `git lfs track '*'` writes, kept out of the tree so that reg does not see it
      mkdirSync(join(ld, 'info'), { recursive: true });
      writeFileSync(join(ld, 'info', 'attributes'), '* filter=lfs diff=lfs merge=lfs -text\n');
      h.syncDisk();
      h.sample('lfs-add-small', "git lfs track '*' + git add", h.git(smallTree, ['add', '-A', '.'], { env: gitEnv(ld, smallTree) }));
      h.syncDisk();
    }

    h.sample('md5-small', 'md5sum all files (find | xargs md5sum)', h.sh('find . -type f -print0 | xargs -0 md5sum > /dev/null', { cwd: smallTree }));
  }
  expectPointerFiles(join(smallRepo, 'small.dvc'), cfg.smallFiles);
  h.compare('add-small', 'git-add-small');
  h.compare('add-small', 'lfs-add-small');
  h.compare('add-small', 'md5-small');
  const lfsObjects = h.have.lfs ? Number(h.sh(`find lfs/objects -type f | wc -l`, { cwd: join(h.gitDirs, 'small-lfs') }).stdout.trim()) : undefined;
  if (h.have.lfs && lfsObjects !== cfg.smallFiles) h.note(`git lfs stored ${lfsObjects} objects for ${cfg.smallFiles} files`);
}

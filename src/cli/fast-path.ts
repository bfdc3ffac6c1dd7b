import { PACKAGE_NAME, VERSION } from '../package-info.js';

/**
 * The invocations that run most often and need no command-line parser: `reg --version`; the
 * pre-commit hook when nothing is staged (git runs it on every commit); the post-checkout hook of a
 * file checkout, or of a branch checkout that changes no pointer (every checkout and switch); the
 * post-merge hook of a merge that changes no pointer (every `git pull`). They answer before
 * commander or any command module is loaded. Anything else, including these with other arguments,
 * returns undefined and goes through the full program (which gives the same answers).
 */
export async function fastPath(argv: readonly string[], cwd: string): Promise<number | undefined> {
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  if (argv.length === 2 && argv[0] === 'hook' && argv[1] === 'pre-commit') {
    const { nothingStaged } = await import('../ops/hooks/nothing-staged.js');
    if (await nothingStaged({ cwd })) return 0;
  }
  // git's arguments: the previous HEAD, the new HEAD, and 1 for a branch checkout (0: files).
  if (argv.length === 5 && argv[0] === 'hook' && argv[1] === 'post-checkout') {
    const [prev, next, branchCheckout] = argv.slice(2) as [string, string, string];
    if (branchCheckout === '0') return 0;
    if (branchCheckout === '1') {
      const { pointersUnchanged } = await import('../ops/hooks/pointers-unchanged.js');
      if (await pointersUnchanged({ cwd }, prev, next)) return 0;
    }
  }
  // git's argument: 1 for a squash merge. The op compares ORIG_HEAD with HEAD, as this does.
  if (argv.length === 3 && argv[0] === 'hook' && argv[1] === 'post-merge') {
    const { pointersUnchanged } = await import('../ops/hooks/pointers-unchanged.js');
    if (await pointersUnchanged({ cwd }, 'ORIG_HEAD', 'HEAD')) return 0;
  }
  return undefined;
}

export function versionLine(): string {
  return `${VERSION} (${PACKAGE_NAME})`;
}

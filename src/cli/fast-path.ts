import { PACKAGE_NAME, VERSION } from '../package-info.js';

/**
 * The two invocations that run most often and need no command-line parser: `reg --version`, and
 * the pre-commit hook when nothing is staged (git runs it on every commit). They answer before
 * commander or any command module is loaded. Anything else, including these with more
 * arguments, returns undefined and goes through the full program (which gives the same answers).
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
  return undefined;
}

export function versionLine(): string {
  return `${VERSION} (${PACKAGE_NAME})`;
}

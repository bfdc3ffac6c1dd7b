import { pathToFileURL } from 'node:url';
import { packagePath } from '../package-info.js';
import { PROGRAM_OPTION_SHAPES, commandNameIn } from './command-name.js';
import { fastPath } from './fast-path.js';
import { endQuietlyOnClosedPipe } from './output.js';

interface Program {
  main(argv: string[]): Promise<number>;
  isCommandName(name: string): boolean;
}

/**
 * What `bin/reg.cjs` runs, bundled with the few modules it needs into `dist/reg-entry.cjs`
 * (scripts/build-cli.mjs). The fast paths (`--version`, the pre-commit hook with nothing staged)
 * answer from those; everything else runs the bundled program (`dist/reg-cli.cjs`) through a V8
 * code cache, or tsc's `dist/cli/main.js` when no bundle was built.
 */
export async function runCli(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  const quick = await fastPath(argv, process.cwd());
  if (quick !== undefined) return quick;
  // Git checks the data while the program loads (the status takes its answer). Imported here only:
  // every other command would load child_process and the git module for nothing.
  if (isStatusOfEverything(argv)) (await import('../ops/data/early-git-checks.js')).startGitChecksBeforeLoad(process.cwd());
  // Each command runs through a code cache of its own (see loadCodeCached).
  const command = commandNameIn(argv, PROGRAM_OPTION_SHAPES);
  // Imported here, after the fast paths: it loads crypto, vm and module (~4-6 ms), which they never need.
  const { loadCodeCached } = await import('./code-cache.js');
  let bundle: ReturnType<typeof loadCodeCached> | undefined;
  try {
    bundle = loadCodeCached(packagePath('dist/reg-cli.cjs'), process.env, command);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // A computed name, so the entry's bundle does not take the whole program in with it.
  if (!bundle) return ((await import(pathToFileURL(packagePath('dist/cli/main.js')).href)) as Program).main(argv);
  const program = bundle.exports as Program;
  const code = await program.main(argv);
  // No cache for a misspelt command, help or a bare `reg`: no file per typo.
  if (command !== undefined && program.isCommandName(command)) bundle.saveCache();
  return code;
}

/** Options that leave `reg status` a status of every output, in this directory. */
const STATUS_FLAGS = new Set(['--json', '-q', '--quiet', '-v', '--verbose', '--exit-code']);

/** `reg status` with no targets (and no option that names a directory or a remote): it scans every output. */
function isStatusOfEverything(argv: readonly string[]): boolean {
  return argv.filter((a) => a === 'status').length === 1 && argv.every((a) => a === 'status' || STATUS_FLAGS.has(a));
}

import { packagePath } from '../package-info.js';
import { loadCodeCached } from './code-cache.js';
import { fastPath } from './fast-path.js';
import { endQuietlyOnClosedPipe } from './output.js';

type Main = (argv: string[]) => Promise<number>;

/**
 * What `bin/reg.js` runs. The fast paths (`--version`, the pre-commit hook with nothing staged)
 * answer from a handful of small modules; everything else runs the bundled program
 * (`dist/reg-cli.cjs`, built by scripts/build-cli.mjs) through a V8 code cache, or tsc's
 * `dist/cli/main.js` when no bundle was built.
 */
export async function runCli(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  const quick = await fastPath(argv, process.cwd());
  if (quick !== undefined) return quick;
  let bundle: ReturnType<typeof loadCodeCached> | undefined;
  try {
    bundle = loadCodeCached(packagePath('dist/reg-cli.cjs'), process.env);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!bundle) return (await import('./main.js')).main(argv);
  const code = await (bundle.exports as { main: Main }).main(argv);
  bundle.saveCache();
  return code;
}

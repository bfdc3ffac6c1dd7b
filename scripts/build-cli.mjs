// Bundles the command-line program into one CommonJS file, dist/reg-cli.cjs (run by `npm run build`
// after tsc). A command then reads one file instead of ~120 (reg's ~40 modules, yaml's 72, commander's
// 8), and bin/reg.js can compile that file with a V8 code cache (src/cli/code-cache.ts), which Node 20
// offers for scripts but not for ES modules. The library API (dist/index.js and its types), the hash
// worker, the catalog's browser assets and the fast paths stay tsc's one-file-per-module output.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

// Bundled: what almost every command loads (the config, pointers and cards are YAML; commander
// parses every command line; ignore reads .gitignore files during the walk). Every other dependency
// (the AWS SDK, Markdown, HTML sanitising, archives, torrents, CSV, licences) stays in node_modules
// and is loaded by the commands that use it, as before.
const BUNDLED_PACKAGES = new Set(['yaml', 'commander', 'ignore']);
const external = Object.keys(pkg.dependencies)
  .filter((name) => !BUNDLED_PACKAGES.has(name))
  .flatMap((name) => [name, `${name}/*`]);

await build({
  absWorkingDir: new URL('.', root).pathname,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/reg-cli.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  // Error names, class names and stack traces stay those of the source.
  keepNames: true,
  // In a CommonJS file import.meta is empty: modules that locate package files (package-info.ts)
  // get the bundle's own URL instead. The bundle sits one level below the package root, as
  // dist/package-info.js does.
  define: { 'import.meta.url': '__regBundleUrl' },
  banner: { js: "'use strict';\nconst __regBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

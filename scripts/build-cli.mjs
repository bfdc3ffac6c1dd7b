// Bundles the command-line program into one CommonJS file, dist/reg-cli.cjs (run by `npm run build`
// after tsc). A command then reads one file instead of ~120 (reg's ~40 modules, yaml's 72, commander's
// 8), and the entry can compile that file with a V8 code cache (src/cli/code-cache.ts), which Node 20
// offers for scripts but not for ES modules. The entry itself (src/cli/entry.ts: the fast paths and
// the code-cache loader) becomes a second, small CommonJS file, dist/reg-entry.cjs, which
// bin/reg.cjs requires: no command starts Node's ES module loader unless it imports an ES module.
// The library API (dist/index.js and its types), the hash worker and the catalog's browser assets
// stay tsc's one-file-per-module output.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

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

const isExternal = (specifier) => external.some((e) => (e.endsWith('/*') ? specifier.startsWith(e.slice(0, -1)) : specifier === e));

// `import('<external package>')` becomes `__regImport('<external package>')`, a function the loader
// (src/cli/code-cache.ts) passes in, so the bundle itself holds no import(): on Node 20 a function
// restored from a V8 code cache has lost vm's dynamic-import callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING),
// and that callback is experimental (it prints a warning). Imports of bundled modules become
// require()s inside the bundle anyway.
const externalDynamicImports = {
  name: 'external-dynamic-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      // (`typeof import('...')` is a type, erased by esbuild: left alone.)
      const contents = text.replace(/(?<!\btypeof\s+)\bimport\((['"])([^'"]+)\1\)/g, (call, quote, specifier) => (isExternal(specifier) ? `__regImport(${quote}${specifier}${quote})` : call));
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * One CommonJS bundle of `entry`, written to `outfile`; its text. `minify`: comments and indentation
 * out, for the program: a ~30% smaller file that every command reads, decodes and hashes (~13 ms
 * less per command here), with a source map beside it that an internal error's report reads
 * (src/cli/source-stack.ts). Names stay either way.
 */
async function bundle(entry, outfile, plugins, { minify = false } = {}) {
  const result = await build({
    absWorkingDir: new URL('.', root).pathname,
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external,
    // Error names, class names and stack traces stay those of the source.
    keepNames: true,
    ...(minify ? { minifyWhitespace: true, sourcemap: 'external' } : {}),
    // In a CommonJS file import.meta is empty: modules that locate package files (package-info.ts)
    // get the bundle's own URL instead. Both bundles sit one level below the package root, as
    // dist/package-info.js does.
    define: { 'import.meta.url': '__regBundleUrl' },
    banner: { js: "'use strict';\nconst __regBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins,
    write: false,
    logLevel: 'warning',
  });
  const output = result.outputFiles.find((f) => !f.path.endsWith('.map'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'));
  // ASCII only: the entry then reads the bundle as a one-byte (latin1) string, ~25 ms per command
  // less than decoding UTF-8 into a two-byte one (src/cli/code-cache.ts). esbuild's default
  // `charset: 'ascii'` escapes them in code, and minifying drops the comments. One left in a
  // comment esbuild kept stops the build: escaping it here would shift the source map's columns.
  const stray = /[^\x00-\x7f]/.exec(output.text);
  if (stray) throw new Error(`${outfile}: non-ASCII character ${JSON.stringify(stray[0])} at offset ${stray.index} of the bundle (not escaped by esbuild)`);
  await writeFile(output.path, output.text);
  if (map) await writeFile(map.path, map.contents);
  return output.text;
}

const program = await bundle('src/cli/main.ts', 'dist/reg-cli.cjs', [externalDynamicImports], { minify: true });
if (/\bimport\(/.test(program)) throw new Error(`dist/reg-cli.cjs: an import() is left in the bundle (only import('<external package>') with a literal name is rewritten to __regImport)`);
// The entry's only import()s are computed names (the code cache's __regImport, tsc's main.js when
// there is no bundle); a literal one would have pulled a module, or the whole program, into it.
const entry = await bundle('src/cli/entry.ts', 'dist/reg-entry.cjs', []);
if (/require\("\.\/main\.js"\)|\bcommander\b/.test(entry)) throw new Error('dist/reg-entry.cjs: the program was bundled into the entry');

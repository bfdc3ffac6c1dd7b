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

/** One CommonJS bundle of `entry`, written to `outfile`; its text. */
async function bundle(entry, outfile, plugins) {
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
    // In a CommonJS file import.meta is empty: modules that locate package files (package-info.ts)
    // get the bundle's own URL instead. Both bundles sit one level below the package root, as
    // dist/package-info.js does.
    define: { 'import.meta.url': '__regBundleUrl' },
    banner: { js: "'use strict';\nconst __regBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins,
    write: false,
    logLevel: 'warning',
  });
  const [output] = result.outputFiles;
  const text = asciiOnly(output.text);
  await writeFile(output.path, text);
  return text;
}

/**
 * The bundle with every non-ASCII character written as a \u escape (esbuild's default `charset:
 * 'ascii'` leaves them in comments): the entry then reads it as a one-byte (latin1) string, which
 * costs a command ~25 ms less than decoding UTF-8 into a two-byte one (src/cli/code-cache.ts). The
 * escape means the same character in strings, template literals, regular expressions and
 * identifiers, and is plain text in comments; `String.raw` would see it, so the build refuses one
 * with such a character rather than change its value.
 */
function asciiOnly(text) {
  const escaped = text.replace(/[^\x00-\x7f]/gu, (c) => {
    const units = c.length === 1 ? [c] : [c[0], c[1]];
    return units.map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  });
  if (escaped !== text && /String\.raw`[^`]*[^\x00-\x7f]/.test(text)) throw new Error('a String.raw template holds a non-ASCII character: escaping it would change its value');
  return escaped;
}

const program = await bundle('src/cli/main.ts', 'dist/reg-cli.cjs', [externalDynamicImports]);
if (/\bimport\(/.test(program)) throw new Error(`dist/reg-cli.cjs: an import() is left in the bundle (only import('<external package>') with a literal name is rewritten to __regImport)`);
// The entry's only import()s are computed names (the code cache's __regImport, tsc's main.js when
// there is no bundle); a literal one would have pulled a module, or the whole program, into it.
const entry = await bundle('src/cli/entry.ts', 'dist/reg-entry.cjs', []);
if (/require\("\.\/main\.js"\)|\bcommander\b/.test(entry)) throw new Error('dist/reg-entry.cjs: the program was bundled into the entry');

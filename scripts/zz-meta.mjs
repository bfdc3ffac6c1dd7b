import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const BUNDLED = new Set(['yaml', 'commander', 'ignore']);
const external = Object.keys(pkg.dependencies).filter((n) => !BUNDLED.has(n)).flatMap((n) => [n, `${n}/*`]);
const onlyStatus = { name: 'o', setup(b) { b.onLoad({ filter: /[\\/]src[\\/]cli[\\/]commands[\\/]index\.ts$/ }, async (args) => ({ contents: (await readFile(args.path, 'utf8')).replace(/\(await import\('\.\/([a-z-]+)\.js'\)\)\.(\w+)/g, (c, n) => (n === 'status' ? c : `(await Promise.reject(new Error('x')))`)), loader: 'ts' })); } };
const r = await build({ entryPoints: ['src/cli/main.ts'], bundle: true, format: 'cjs', platform: 'node', target: 'node20', external, keepNames: true, minifyWhitespace: true, write: false, metafile: true, logLevel: 'error', outfile: '/tmp/x.cjs', plugins: [onlyStatus] });
const out = Object.values(r.metafile.outputs)[0];
console.log('total', out.bytes);
const rows = Object.entries(out.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
for (const [f, v] of rows.slice(0, +process.argv[2] || 45)) console.log(String(v.bytesInOutput).padStart(8), f);
// who imports a file
const who = process.argv[3];
if (who) for (const [f, v] of Object.entries(r.metafile.inputs)) if (v.imports.some((i) => i.path.includes(who))) console.log('imported by', f, v.imports.filter((i) => i.path.includes(who)).map((i) => i.kind).join(','));

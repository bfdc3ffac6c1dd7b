import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeCacheDir } from '../../src/cli/code-cache.js';
import { sourceStack } from '../../src/cli/source-stack.js';
import { PROJECT_ROOT, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

// The CLI bundle runs through a V8 code cache kept in the user's cache directory
// (src/cli/code-cache.ts). A cache that is corrupt, stale, planted or unreadable must change
// nothing but the time taken. Each load runs in a fresh node process, as the CLI does (within one
// process V8 would reuse its own compilation and never read the file).

const LOADER = join(PROJECT_ROOT, 'dist', 'cli', 'code-cache.js');

let work: string;
let cacheHome: string;
let script: string;

/** Loads `file` through the code cache in a new process: the cache status and what the script computed. */
function load(file: string, env: Record<string, string> = {}, variant?: string): { status: string; value: unknown } {
  const program = `const { loadCodeCached } = await import(${JSON.stringify(LOADER)});
const m = loadCodeCached(${JSON.stringify(file)}, process.env${variant === undefined ? '' : `, ${JSON.stringify(variant)}`});
// A lazily compiled function that imports: it must work when restored from the cache too.
const value = m.exports.compute(20) + (await m.exports.separator()).length;
m.saveCache();
process.stdout.write(JSON.stringify({ status: m.cacheStatus, value }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', program], { env: { ...process.env, XDG_CACHE_HOME: cacheHome, ...env }, encoding: 'utf8' });
  return JSON.parse(out);
}

function cacheFiles(): string[] {
  const dir = codeCacheDir({ XDG_CACHE_HOME: cacheHome })!;
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

/** A script whose answer depends on code that only runs lazily (so its bytecode is in the cache). */
function writeScript(path: string, factor: number): void {
  writeFileSync(path, `'use strict';\nfunction fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nexports.compute = (n) => fib(n) * ${factor};\nexports.separator = async () => (await __regImport('node:path')).sep;\n`);
}

beforeAll(() => {
  work = tempDir('reg-code-cache-');
  cacheHome = join(work, 'xdg-cache');
  script = join(work, 'bundle.cjs');
  writeScript(script, 2);
});
afterAll(() => removeDir(work));

describe('V8 code cache of the CLI bundle', () => {
  it('is written under $XDG_CACHE_HOME/reg/code-cache (0700 directory, 0600 file) after the first run and used by the next', () => {
    expect(load(script)).toEqual({ status: 'absent', value: 13531 });
    const files = cacheFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/bundle\.cjs-[0-9a-f]{8}-nodev[\d.]+-\w+-\d+\.\d+\.\d+-[0-9a-f]{32}\.v8cache$/);
    expect(statSync(files[0]!).mode & 0o777).toBe(0o600);
    expect(statSync(join(cacheHome, 'reg', 'code-cache')).mode & 0o777).toBe(0o700);
    expect(load(script)).toEqual({ status: 'used', value: 13531 });
    // Nothing next to the script: the cache never lives beside the code (the work tree, dist/).
    expect(readdirSync(work).sort()).toEqual(['bundle.cjs', 'xdg-cache']);
  });

  it('a changed source of the same length gets its own cache file; the other source\'s cache, planted under its name, is refused', () => {
    const other = join(work, 'other', 'bundle.cjs');
    execFileSync('mkdir', ['-p', join(work, 'other')]);
    writeScript(other, 3); // same length as `script`, different code
    expect(readFileSync(other).length).toBe(readFileSync(script).length);
    expect(load(other)).toEqual({ status: 'absent', value: 20296 });
    expect(cacheFiles()).toHaveLength(2);
    // Copy the first script's cache over the second's: V8 alone would accept it (it checks only the
    // source's length) and run the first script's code; the digest bound to the source refuses it.
    const [forScript, forOther] = [plainCacheOf(script), plainCacheOf(other)];
    writeFileSync(forOther, readFileSync(forScript));
    expect(load(other)).toEqual({ status: 'rejected', value: 20296 });
    expect(load(other)).toEqual({ status: 'used', value: 20296 }); // rewritten by the run that refused it
  });

  it('the same source at another place gets its own cache, so its stack traces name its own file (V8 keeps the name a cache was made from)', () => {
    const where = (file: string) => {
      const program = `const { loadCodeCached } = await import(${JSON.stringify(LOADER)});
const m = loadCodeCached(${JSON.stringify(file)}, process.env);
const stack = m.exports.trace();
m.saveCache();
process.stdout.write(JSON.stringify({ status: m.cacheStatus, frame: stack.split('\\n')[1] }));`;
      return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', program], { env: { ...process.env, XDG_CACHE_HOME: cacheHome }, encoding: 'utf8' }));
    };
    const text = `'use strict';\nexports.trace = function trace() { return new Error('where').stack; };\n`;
    const [first, second] = [join(work, 'place-a', 'tracer.cjs'), join(work, 'place-b', 'tracer.cjs')];
    for (const f of [first, second]) {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text);
    }
    expect(where(first)).toMatchObject({ status: 'absent' });
    expect(where(first)).toEqual({ status: 'used', frame: `    at Object.trace (${first}:2:43)` });
    expect(where(second)).toEqual({ status: 'absent', frame: `    at Object.trace (${second}:2:43)` });
    expect(where(second)).toEqual({ status: 'used', frame: `    at Object.trace (${second}:2:43)` });
  });

  it('each command has a cache of its own, holding what that command ran; a name that cannot be a command gets the plain one', () => {
    const own = join(work, 'variants', 'bundle.cjs');
    mkdirSync(dirname(own), { recursive: true });
    writeScript(own, 2);
    expect(load(own, {}, 'status')).toEqual({ status: 'absent', value: 13531 });
    expect(load(own, {}, 'add')).toEqual({ status: 'absent', value: 13531 });
    expect(load(own, {}, 'status')).toEqual({ status: 'used', value: 13531 });
    expect(load(own, {}, 'add')).toEqual({ status: 'used', value: 13531 });
    const hash = keySuffix(own).slice(1, 33);
    // What follows the source hash in each of this file's cache names.
    const names = () => cacheNamesOf(own).map((n) => n.slice(n.indexOf(hash) + hash.length)).sort();
    expect(names()).toEqual(['-add.v8cache', '-status.v8cache']);
    // Not a command's name, nor one that fits in a file name: the plain cache.
    expect(['../../escape', 'Status', '', 'a'.repeat(40)].map((odd) => load(own, {}, odd).status)).toEqual(['absent', 'used', 'used', 'used']);
    expect(names()).toEqual(['-add.v8cache', '-status.v8cache', '.v8cache']);
    expect(readdirSync(dirname(own))).toEqual(['bundle.cjs']);
  });

  it('writing a cache removes the caches of earlier builds at the same place, and nothing else', () => {
    const bundle = join(work, 'upgrade', 'bundle.cjs');
    mkdirSync(dirname(bundle), { recursive: true });
    writeScript(bundle, 2);
    load(bundle, {}, 'status');
    load(bundle, {}, 'add');
    const dir = codeCacheDir({ XDG_CACHE_HOME: cacheHome })!;
    const before = new Set(readdirSync(dir));
    const firstBuild = cacheNamesOf(bundle);
    expect(firstBuild).toHaveLength(2);
    const status = firstBuild.find((n) => n.endsWith('-status.v8cache'));
    const place = placeOf(bundle);
    const planted = {
      // this place, this Node: an older layout, a killed run's temp file of the build to come (hour-old) and a fresh one
      legacy: `bundle.cjs-0.0.9-node${process.version}-${process.arch}-${place}-${'a'.repeat(32)}.v8cache`,
      legacyTemp: `bundle.cjs-0.0.9-node${process.version}-${process.arch}-${place}-${'a'.repeat(32)}.v8cache.123-abcd.tmp`,
      // kept: another Node version, another place, another file's name, not a cache at all
      otherNode: status!.replace(`node${process.version}`, 'nodev1.2.3'),
      otherPlace: status!.replace(`-${place}-`, '-00000000-'),
      otherFile: status!.replace('bundle.cjs', 'other.cjs'),
      notes: 'notes.txt',
    };
    for (const name of Object.values(planted)) writeFileSync(join(dir, name), 'planted\n');
    // An earlier build's name as a symlink to a file outside: the link goes, never what it names.
    const outsideFile = join(work, 'outside-sentinel.txt');
    writeFileSync(outsideFile, 'sentinel\n');
    const linkName = `bundle.cjs-0.0.8-node${process.version}-${process.arch}-${place}-${'b'.repeat(32)}.v8cache`;
    symlinkSync(outsideFile, join(dir, linkName));
    writeScript(bundle, 5); // the next build at the same place
    const nextStem = keySuffix(bundle).slice(0, -'.v8cache'.length);
    const nextStatus = status!.replace(/-[0-9a-f]{32}-status\.v8cache$/, `${nextStem}-status.v8cache`);
    const staleTemp = `${nextStatus}.999-dead.tmp`;
    const freshTemp = `${nextStatus}.998-live.tmp`;
    writeFileSync(join(dir, staleTemp), 'killed\n');
    utimesSync(join(dir, staleTemp), new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    writeFileSync(join(dir, freshTemp), 'in progress\n');
    expect(load(bundle, {}, 'status')).toEqual({ status: 'absent', value: 33826 });
    const after = new Set(readdirSync(dir));
    for (const gone of [...firstBuild, planted.legacy, planted.legacyTemp, staleTemp, linkName]) expect(after.has(gone), gone).toBe(false);
    expect(readFileSync(outsideFile, 'utf8')).toBe('sentinel\n');
    for (const kept of [planted.otherNode, planted.otherPlace, planted.otherFile, planted.notes, freshTemp, nextStatus]) expect(after.has(kept), kept).toBe(true);
    // Caches of other bundles written by the earlier tests are untouched.
    for (const name of before) if (!name.includes(`-${place}-`)) expect(after.has(name), name).toBe(true);
    expect(load(bundle, {}, 'status')).toEqual({ status: 'used', value: 33826 });
  });

  it('garbage, a truncated file, a flipped bit and an empty file are refused, the result is unchanged, and the cache is rewritten', () => {
    load(script);
    const file = plainCacheOf(script);
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 100]! ^= 0x10;
    for (const bad of [Buffer.from('not a code cache at all\n'), good.subarray(0, good.length >> 1), flipped, Buffer.alloc(0), Buffer.alloc(good.length, 0xff)]) {
      writeFileSync(file, bad);
      expect(load(script)).toEqual({ status: 'rejected', value: 13531 });
      expect(load(script)).toEqual({ status: 'used', value: 13531 });
    }
  });

  it('a cache file that others may write, or a symlink in its place, is never read', () => {
    load(script);
    const file = plainCacheOf(script);
    chmodSync(file, 0o666);
    expect(load(script)).toEqual({ status: 'untrusted', value: 13531 });
    expect(statSync(file).mode & 0o777).toBe(0o600); // replaced by a private one
    const decoy = join(work, 'decoy');
    writeFileSync(decoy, readFileSync(file));
    execFileSync('rm', [file]);
    symlinkSync(decoy, file);
    expect(load(script)).toEqual({ status: 'untrusted', value: 13531 });
    expect(readFileSync(decoy).length).toBeGreaterThan(0); // the symlink's target is not written through
  });

  it('an unwritable cache directory only means no cache', () => {
    const blocked = join(work, 'blocked');
    writeFileSync(blocked, 'a file where the cache directory would go\n');
    expect(load(script, { XDG_CACHE_HOME: join(blocked, 'sub') })).toEqual({ status: 'absent', value: 13531 });
    expect(readFileSync(blocked, 'utf8')).toBe('a file where the cache directory would go\n');
  });

  it('a source with non-ASCII text runs the same, its cache written and used; the built bundles are ASCII, read as one-byte strings', () => {
    const unicode = join(work, 'unicode.cjs');
    writeFileSync(unicode, `'use strict';\n// café, §5.3, …\nexports.compute = (n) => 'é…𝄞'.length * n;\nexports.separator = async () => '§';\n`);
    expect(load(unicode)).toEqual({ status: 'absent', value: 81 });
    expect(load(unicode)).toEqual({ status: 'used', value: 81 });
    for (const bundle of ['reg-cli.cjs', 'reg-entry.cjs']) {
      const bytes = readFileSync(join(PROJECT_ROOT, 'dist', bundle));
      expect(bytes.findIndex((b) => b > 0x7f), bundle).toBe(-1);
    }
  });

  it('follows the XDG rules for where the cache lives', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/reg/code-cache');
    expect(codeCacheDir({ XDG_CACHE_HOME: 'relative/cache', HOME: '/home/u' })).toBe('/home/u/.cache/reg/code-cache');
    expect(codeCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/reg/code-cache');
  });
});

describe('the CLI through its code cache', () => {
  let repo: string;
  beforeAll(async () => {
    repo = makeGitRepo();
    await regOk(repo, ['init']);
    writeTree(repo, { 'raw_datasets/pages/p1.txt': 'page\n' });
    await regOk(repo, ['add', 'raw_datasets/pages']);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '--no-verify', '-m', 'entry');
  });
  afterAll(() => removeDir(repo));

  it('reg status prints the same with no cache, a fresh cache, and a corrupt cache', async () => {
    const home = join(work, 'cli-cache');
    const env = { XDG_CACHE_HOME: home };
    const first = await reg(repo, ['--json', 'status'], { env });
    expect(first.code).toBe(0);
    const dir = codeCacheDir(env)!;
    const [file] = readdirSync(dir);
    expect(file).toMatch(/^reg-cli\.cjs-/);
    const second = await reg(repo, ['--json', 'status'], { env });
    writeFileSync(join(dir, file!), Buffer.alloc(statSync(join(dir, file!)).size, 0x5a));
    const corrupt = await reg(repo, ['--json', 'status'], { env });
    for (const r of [second, corrupt]) expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: first.code, stdout: first.stdout, stderr: first.stderr });
    expect(JSON.parse(first.stdout).outputs[0]).toMatchObject({ path: 'raw_datasets/pages', state: 'up-to-date' });
  });

  it('each command that ran has its own cache file; a misspelt command, help and a bare reg write none', async () => {
    const env = { XDG_CACHE_HOME: join(work, 'cli-variants') };
    const dir = codeCacheDir(env)!;
    const names = () => (existsSync(dir) ? readdirSync(dir).map((n) => /-([a-z-]+)\.v8cache$/.exec(n)?.[1] ?? n).sort() : []);
    for (const argv of [['stauts'], ['--help'], [], ['-C', repo, '--bogus']]) await reg(repo, argv, { env });
    expect(names()).toEqual([]);
    expect((await reg(repo, ['-q', '--json', 'status'], { env })).code).toBe(0);
    expect((await reg(repo, ['-C', repo, 'ls', 'raw_datasets/pages'], { env })).code).toBe(0);
    expect((await reg(repo, ['status'], { env })).code).toBe(0);
    expect(names()).toEqual(['ls', 'status']);
  });

  it('an internal error names the source file and line of each frame in the minified bundle (its source map), not bundle columns', async () => {
    // A planted bug: process.cwd() throws when the program (the bundle) calls it.
    const plant = join(work, 'plant-bug.cjs');
    writeFileSync(plant, `const cwd = process.cwd;\nprocess.cwd = function () { if (/reg-cli\\.cjs/.test(new Error().stack)) throw new Error('planted'); return cwd.call(process); };\n`);
    const r = await reg(repo, ['status', 'raw_datasets/pages'], { env: { NODE_OPTIONS: `--require ${plant}` } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('reg: internal error: Error: planted');
    expect(r.stderr).not.toMatch(/reg-cli\.cjs:\d+:\d+/);
    const frame = /at run \((src\/cli\/main\.ts):(\d+):(\d+)\)/.exec(r.stderr);
    expect(frame, r.stderr).not.toBeNull();
    expect(readFileSync(join(PROJECT_ROOT, frame![1]!), 'utf8').split('\n')[Number(frame![2]) - 1]).toContain('process.cwd()');
  });
});

describe('sourceStack', () => {
  it('leaves a frame it cannot map as it was (no map beside the file, the first line)', () => {
    const stack = 'Error: x\n    at f (/nowhere/dist/reg-cli.cjs:5:10)\n    at g (' + join(PROJECT_ROOT, 'dist', 'reg-cli.cjs') + ':1:3)';
    expect(sourceStack(stack)).toBe(stack);
  });

  it('maps frames of a bundle whose path holds a space, after a function name and bare', () => {
    const dir = join(work, 'with space', 'dist');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(PROJECT_ROOT, 'dist', 'reg-cli.cjs.map'), join(dir, 'reg-cli.cjs.map'));
    const lines = readFileSync(join(PROJECT_ROOT, 'dist', 'reg-cli.cjs'), 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('g.cwd??process.cwd()'));
    expect(line).toBeGreaterThan(0);
    const at = `${join(dir, 'reg-cli.cjs')}:${line + 1}:${lines[line]!.indexOf('g.cwd??process.cwd()') + 'g.cwd??'.length + 1}`;
    const mapped = sourceStack(`Error: x\n    at run (${at})\n    at ${at}`).split('\n');
    const frame = /^ {4}at run \((src\/cli\/main\.ts):(\d+):\d+\)$/.exec(mapped[1]!);
    expect(frame, mapped[1]).not.toBeNull();
    expect(readFileSync(join(PROJECT_ROOT, frame![1]!), 'utf8').split('\n')[Number(frame![2]) - 1]).toContain('process.cwd()');
    expect(mapped[2]).toBe(`    at ${frame![1]}:${frame![2]}:${/:(\d+)\)$/.exec(mapped[1]!)![1]}`);
  });
});

/** The part of a cache name that stands for the file's place (V8 keeps the script's name). */
function placeOf(file: string): string {
  return createHash('sha256').update(file).digest('hex').slice(0, 8);
}

/** The names of the cache files of `file` at its place, for this Node. */
function cacheNamesOf(file: string): string[] {
  return cacheFiles()
    .map((f) => basename(f))
    .filter((n) => n.startsWith(`${basename(file)}-${placeOf(file)}-node${process.version}-`));
}

/** The path of `file`'s cache without a command. */
function plainCacheOf(file: string): string {
  const name = cacheNamesOf(file).find((n) => n.endsWith(keySuffix(file)));
  expect(name, `a cache of ${file}`).toBeDefined();
  return join(codeCacheDir({ XDG_CACHE_HOME: cacheHome })!, name!);
}

function keySuffix(file: string): string {
  return `-${createHash('sha256').update(readFileSync(file, 'utf8')).digest('hex').slice(0, 32)}.v8cache`;
}

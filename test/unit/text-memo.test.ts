import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPlainObject, parseConfigFile } from '../../src/config.js';
import { TEXT_MEMO_DIR, rememberedForText, userCacheDir } from '../../src/user-cache.js';
import { removeDir, tempDir } from '../helpers/repo.js';

// A pure function of a text (a config's parse, its secret scan) remembered in the user's cache
// (src/user-cache.ts): read back only as what was computed for exactly that text, never trusted
// from a file reg did not write, and never kept when JSON would change the answer.

let work: string;
let env: NodeJS.ProcessEnv;
let memoDir: string;

beforeEach(() => {
  work = tempDir('reg-text-memo-');
  env = { XDG_CACHE_HOME: join(work, 'xdg') };
  memoDir = userCacheDir(env, TEXT_MEMO_DIR)!;
});
afterEach(() => removeDir(work));

const isNumberList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

function memoFiles(): string[] {
  return existsSync(memoDir) ? readdirSync(memoDir) : [];
}

describe('rememberedForText', () => {
  it('computes once per text, then reads the answer back (0600 file in a 0700 directory)', () => {
    let calls = 0;
    const compute = () => (calls++, [1, 2, 3]);
    expect(rememberedForText(env, 'test', 'a text', compute, isNumberList)).toEqual([1, 2, 3]);
    expect(rememberedForText(env, 'test', 'a text', compute, isNumberList)).toEqual([1, 2, 3]);
    expect(calls).toBe(1);
    const [name] = memoFiles();
    expect(name).toMatch(/^test-[0-9a-f]{64}\.json$/);
    expect(statSync(join(memoDir, name!)).mode & 0o777).toBe(0o600);
    expect(statSync(memoDir).mode & 0o777).toBe(0o700);
    // Another text (one character changed) or another kind is computed, never served the first answer.
    expect(rememberedForText(env, 'test', 'a texT', () => [9], isNumberList)).toEqual([9]);
    expect(rememberedForText(env, 'other', 'a text', () => [8], isNumberList)).toEqual([8]);
    expect(memoFiles()).toHaveLength(3);
  });

  it('reads what is in its own file: the answer comes from the memo, not from compute', () => {
    rememberedForText(env, 'test', 't', () => [1], isNumberList);
    const file = join(memoDir, memoFiles()[0]!);
    writeFileSync(file, '[42]', { mode: 0o600 });
    expect(rememberedForText(env, 'test', 't', () => [1], isNumberList)).toEqual([42]);
  });

  it('computes again, and replaces the file, when it is not JSON or has the wrong shape', () => {
    rememberedForText(env, 'test', 't', () => [1], isNumberList);
    const file = join(memoDir, memoFiles()[0]!);
    for (const planted of ['[1, 2', '{"a": 1}', '["x"]', '']) {
      writeFileSync(file, planted, { mode: 0o600 });
      expect(rememberedForText(env, 'test', 't', () => [7], isNumberList)).toEqual([7]);
      expect(readFileSync(file, 'utf8')).toBe('[7]');
    }
  });

  it('never reads a file writable by others or a link, and replaces it with its own', () => {
    rememberedForText(env, 'test', 't', () => [1], isNumberList);
    const file = join(memoDir, memoFiles()[0]!);
    writeFileSync(file, '[666]');
    chmodSync(file, 0o666);
    expect(rememberedForText(env, 'test', 't', () => [2], isNumberList)).toEqual([2]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('[2]');

    const elsewhere = join(work, 'elsewhere.json');
    writeFileSync(elsewhere, '[666]', { mode: 0o600 });
    rmSync(file);
    symlinkSync(elsewhere, file);
    expect(rememberedForText(env, 'test', 't', () => [3], isNumberList)).toEqual([3]);
    // The link was replaced by a file of reg's; what it pointed to is unchanged.
    expect(statSync(file).isFile() && !readdirSync(memoDir).some((n) => n.endsWith('.tmp'))).toBe(true);
    expect(readFileSync(elsewhere, 'utf8')).toBe('[666]');
  });

  it('does not block on a FIFO in its place', () => {
    rememberedForText(env, 'test', 't', () => [1], isNumberList);
    const file = join(memoDir, memoFiles()[0]!);
    rmSync(file);
    execFileSync('mkfifo', [file]);
    expect(rememberedForText(env, 'test', 't', () => [5], isNumberList)).toEqual([5]);
    expect(statSync(file).isFile()).toBe(true);
  });

  it('does not remember an answer JSON would change, nor one whose computation threw', () => {
    expect(rememberedForText(env, 'test', 't', () => [Infinity], isNumberList)).toEqual([Infinity]);
    expect(memoFiles()).toEqual([]);
    expect(() => rememberedForText(env, 'test', 'u', () => { throw new Error('bad input'); }, isNumberList)).toThrow('bad input');
    expect(memoFiles()).toEqual([]);
  });

  it('keeps the newest 256 answers and removes temp files an hour old', () => {
    mkdirSync(memoDir, { recursive: true, mode: 0o700 });
    const old = new Date(Date.now() - 3 * 60 * 60 * 1000);
    for (let i = 0; i < 256; i++) {
      const f = join(memoDir, `test-old${i}.json`);
      writeFileSync(f, '[0]', { mode: 0o600 });
      utimesSync(f, old, new Date(old.getTime() + i * 1000));
    }
    const staleTemp = join(memoDir, 'test-x.json.1-abcd.tmp');
    writeFileSync(staleTemp, '');
    utimesSync(staleTemp, old, old);
    const freshTemp = join(memoDir, 'test-y.json.2-abcd.tmp');
    writeFileSync(freshTemp, '');
    rememberedForText(env, 'test', 'new', () => [1], isNumberList);
    const names = memoFiles();
    expect(names.filter((n) => n.endsWith('.json'))).toHaveLength(256);
    expect(names).not.toContain('test-old0.json');
    expect(names).toContain('test-old1.json');
    expect(names).not.toContain('test-x.json.1-abcd.tmp');
    expect(names).toContain('test-y.json.2-abcd.tmp');
  });

  it('computes without remembering when there is no cache directory', () => {
    let calls = 0;
    const none = { HOME: 'relative/home', XDG_CACHE_HOME: '' };
    rememberedForText(none, 'test', 't', () => (calls++, [1]), isNumberList);
    rememberedForText(none, 'test', 't', () => (calls++, [1]), isNumberList);
    expect(calls).toBe(2);
  });
});

describe("the shared config's parse", () => {
  it('is remembered by its text, and an edit (even of the same size) is parsed anew', () => {
    const path = join(work, 'config.yaml');
    writeFileSync(path, 'cache:\n  type: copy\n');
    expect(parseConfigFile(path, env)).toEqual({ cache: { type: 'copy' } });
    expect(memoFiles()).toHaveLength(1);
    writeFileSync(path, 'cache:\n  type: link\n');
    expect(parseConfigFile(path, env)).toEqual({ cache: { type: 'link' } });
    expect(memoFiles()).toHaveLength(2);
  });

  it('reports a broken config every time (a failure is never remembered)', () => {
    const path = join(work, 'config.yaml');
    writeFileSync(path, 'cache: [\n');
    for (let i = 0; i < 2; i++) expect(() => parseConfigFile(path, env)).toThrow(/invalid YAML/);
    writeFileSync(path, '- a list\n');
    for (let i = 0; i < 2; i++) expect(() => parseConfigFile(path, env)).toThrow(/must be a YAML mapping/);
    expect(memoFiles()).toEqual([]);
  });

  it('keeps a YAML value JSON cannot hold by parsing every time', () => {
    const path = join(work, 'config.yaml');
    writeFileSync(path, 'limits:\n  max: .inf\n');
    expect(parseConfigFile(path, env)).toEqual({ limits: { max: Infinity } });
    expect(memoFiles()).toEqual([]);
    expect(isPlainObject(parseConfigFile(path, env))).toBe(true);
  });
});

import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { displayPath, escapeTerminal } from '../../src/cli/output.js';
import { RegError } from '../../src/errors.js';
import { isTempName, removeStaleTemps, tempName, tempPathFor } from '../../src/fsutil.js';
import { outputTree, SafeFs } from '../../src/workspace/safe-fs.js';
import { removeDir, tempDir } from '../helpers/repo.js';

let root: string;
let outside: string;
beforeEach(() => {
  root = tempDir('reg-safefs-');
  outside = tempDir('reg-safefs-outside-');
});
afterEach(() => {
  removeDir(root);
  removeDir(outside);
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    return `${(err as RegError).exitCode} ${(err as RegError).code}`;
  }
  return 'ok';
}

describe('SafeFs', () => {
  it('creates directories one at a time and writes atomically', () => {
    const fs = new SafeFs(root, ['.reg']);
    fs.writeFile('a/b/c.txt', 'hello');
    expect(readFileSync(join(root, 'a/b/c.txt'), 'utf8')).toBe('hello');
    expect(lstatSync(join(root, 'a/b')).isDirectory()).toBe(true);
    fs.writeFile('a/b/c.txt', 'again');
    expect(readFileSync(join(root, 'a/b/c.txt'), 'utf8')).toBe('again');
  });

  it('refuses unsafe and forbidden paths (exit 3)', () => {
    const fs = new SafeFs(root, ['.reg', '.dvc', 'my/cache']);
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a/.', 'a\0b']) expect(codeOf(() => fs.prepareWrite(bad)), bad).toBe('3 path.unsafe');
    for (const bad of ['.git/config', 'x/.git/hooks/pre-commit', 'x/.Git', '.reg/config.yaml', '.REG/x', '.dvc', 'my/cache/files/md5/aa/bb']) {
      expect(codeOf(() => fs.prepareWrite(bad)), bad).toBe('3 path.forbidden');
    }
    expect(codeOf(() => fs.prepareWrite('my/cachet/x'))).toBe('ok');
    expect(codeOf(() => fs.prepareWrite('x/.github/workflows/ci.yml'))).toBe('ok');
  });

  it('never goes through a symlink, even one swapped in after a first check (exit 7)', () => {
    const fs = new SafeFs(root);
    symlinkSync(outside, join(root, 'lnk'));
    expect(codeOf(() => fs.writeFile('lnk/x', 'x'))).toBe('7 path.symlink');
    expect(codeOf(() => fs.remove('lnk/x'))).toBe('7 path.symlink');
    expect(fs.obstacleAbove('lnk/deeper/x')).toEqual({ path: 'lnk', symlink: true });
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'file'), 'f');
    expect(codeOf(() => fs.writeFile('file/x', 'x'))).toBe('7 path.not-a-directory');
    expect(existsSync(join(outside, 'x'))).toBe(false);
  });

  it('replaces a symlink at the final component instead of writing through it', () => {
    const fs = new SafeFs(root);
    writeFileSync(join(outside, 'target'), 'outside');
    symlinkSync(join(outside, 'target'), join(root, 'f'));
    fs.writeFile('f', 'inside');
    expect(lstatSync(join(root, 'f')).isFile()).toBe(true);
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('outside');
  });

  it('removeTree removes a symlink, not what it points to', () => {
    const fs = new SafeFs(root);
    writeFileSync(join(outside, 'keep'), 'k');
    symlinkSync(outside, join(root, 'lnk'));
    fs.removeTree('lnk');
    expect(existsSync(join(root, 'lnk'))).toBe(false);
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('k');
  });

  it('outputTree: a directory outside the repo is its own root; inside, .git stays refused', () => {
    const repo = { root, cache: { root: join(root, '.reg/cache') } };
    const inside = outputTree(repo, join(root, 'exports'));
    expect(inside.prefix).toBe('exports/');
    inside.fs.writeFile(inside.prefix + 'x', 'x');
    expect(readFileSync(join(root, 'exports/x'), 'utf8')).toBe('x');
    expect(codeOf(() => outputTree(repo, join(root, '.git/hooks')))).toBe('3 path.forbidden');
    const out = outputTree(repo, join(outside, 'new/dir'));
    out.fs.writeFile('y', 'y');
    expect(readFileSync(join(outside, 'new/dir/y'), 'utf8')).toBe('y');
  });
});

describe('temp files', () => {
  it('one recognisable name, unique per call, next to the target', () => {
    const a = tempName();
    const b = tempName();
    expect(a).not.toBe(b);
    expect(isTempName(a)).toBe(true);
    expect(tempPathFor('/x/y/z.bin').startsWith('/x/y/.regtmp-')).toBe(true);
    expect(isTempName('.data.0123456789ab.tmp')).toBe(true); // written by earlier versions
    expect(isTempName('.0123456789abcdef.tmp')).toBe(true);
    for (const name of ['data.tmp', '.hidden', 'regtmp-x', '.tmp', 'a.regtmp-']) expect(isTempName(name), name).toBe(false);
  });

  it('removeStaleTemps removes only temp files older than an hour', () => {
    for (const n of ['.regtmp-old', '.regtmp-new', 'data', '.x.0123456789ab.tmp']) writeFileSync(join(root, n), n);
    const old = Date.now() / 1000 - 7200;
    utimesSync(join(root, '.regtmp-old'), old, old);
    utimesSync(join(root, '.x.0123456789ab.tmp'), old, old);
    utimesSync(join(root, 'data'), old, old);
    expect(removeStaleTemps(root)).toBe(2);
    expect(existsSync(join(root, '.regtmp-new'))).toBe(true);
    expect(existsSync(join(root, 'data'))).toBe(true);
  });

  it('removeStaleTemps removes a temp folder (an import cut off) only when nothing in it is newer than an hour', () => {
    const old = Date.now() / 1000 - 7200;
    for (const name of ['.regtmp-done', '.regtmp-busy']) {
      mkdirSync(join(root, name, 'sub'), { recursive: true });
      writeFileSync(join(root, name, 'sub', 'f.bin'), 'x');
      writeFileSync(join(root, name, 'g.bin'), 'y');
      for (const p of ['sub/f.bin', 'g.bin', 'sub', '']) utimesSync(join(root, name, p), old, old);
    }
    // A copy still writing, deep in the tree.
    utimesSync(join(root, '.regtmp-busy', 'sub', 'f.bin'), new Date(), new Date());
    mkdirSync(join(root, 'plain'));
    utimesSync(join(root, 'plain'), old, old);
    expect(removeStaleTemps(root)).toBe(1);
    expect(existsSync(join(root, '.regtmp-done'))).toBe(false);
    expect(existsSync(join(root, '.regtmp-busy', 'sub', 'f.bin'))).toBe(true);
    expect(existsSync(join(root, 'plain'))).toBe(true);
  });
});

describe('printing file names', () => {
  it('escapes control characters and terminal sequences', () => {
    expect(displayPath('a\nb\tc\u001b[31md\u009be\u007f\u2028\u202e')).toBe('a\\nb\\tc\\e[31md\\x9be\\x7f\\u2028\\u202e');
    expect(displayPath('plain/name é')).toBe('plain/name é');
    // reg's own line breaks survive, everything else is made visible
    expect(escapeTerminal('x: 1\n  y\tz \u001b]0;title\u0007')).toBe('x: 1\n  y\tz \\e]0;title\\x07');
  });
});

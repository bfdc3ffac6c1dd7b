import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirs, makeDirsSync } from '../../dist/make-dirs.js';
import { PROJECT_ROOT, removeDir, tempDir } from '../helpers/repo.js';

const MODULE = join(PROJECT_ROOT, 'dist', 'make-dirs.js');

// Node 20's mkdir { recursive: true } spins forever when mkdir of a child of an existing
// directory fails with ENOENT, as under /proc. reg makes every directory through makeDirs.
let dir: string;
beforeEach(() => {
  dir = tempDir('reg-make-dirs-');
});
afterEach(() => removeDir(dir));

const variants: Array<[string, (path: string, mode?: number) => Promise<void>]> = [
  ['makeDirsSync', async (path, mode) => makeDirsSync(path, mode)],
  ['makeDirs', makeDirs],
];

describe.each(variants)('%s', (_name, make) => {
  it('makes every missing directory with the mode given, and is fine with one that exists', async () => {
    await make(join(dir, 'a/b/c'), 0o700);
    for (const p of ['a', 'a/b', 'a/b/c']) expect(statSync(join(dir, p)).mode & 0o777).toBe(0o700);
    await make(join(dir, 'a/b/c'));
    await make(join(dir, 'a'));
    mkdirSync(join(dir, 'x'));
    await make(join(dir, 'x/y'));
    expect(statSync(join(dir, 'x/y')).isDirectory()).toBe(true);
  });

  it('a file in the way: EEXIST or ENOTDIR, nothing made', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    await expect(make(join(dir, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(make(join(dir, 'file/sub/deeper'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('under /proc, where mkdir answers ENOENT below an existing directory: throws ENOENT (Node’s recursive mkdir never returns)', () => {
    expect(existsSync('/proc/self')).toBe(true);
    // In a child process: a loop that never returns would block this one for good.
    const program = `import(${JSON.stringify(MODULE)}).then(async (m) => {
      try { await m[${JSON.stringify(_name)}]('/proc/reg-no-such-dir/a/b'); console.log('made'); } catch (e) { console.log(e.code); }
    })`;
    const r = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal, 'the child was killed: it never returned').toBeNull();
    expect(r.stdout.trim()).toBe('ENOENT');
  });
});

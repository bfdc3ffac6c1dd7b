import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { md5 } from './world.js';

/**
 * Restoring bytes: checkout never writes bytes that do not match their hash (verify-on-restore),
 * corrupt objects are quarantined so a pull can replace them, hardlink mode leaves no temp links,
 * and temp files of killed runs are recognised, never recorded, and cleaned after an hour.
 */
let repo: string;
let remote: string;

beforeEach(async () => {
  repo = makeGitRepo();
  remote = tempDir('reg-restore-remote-');
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', remote, '--default']);
});
afterEach(() => {
  removeDir(repo);
  removeDir(remote);
});

const objectPath = (content: string | Buffer) => join(repo, '.reg/cache/files/md5', md5(content).slice(0, 2), md5(content).slice(2));

function corrupt(path: string, bytes: string): void {
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
}

async function addAndPush(files: Record<string, string>, target: string): Promise<void> {
  writeTree(repo, files);
  await regOk(repo, ['add', target]);
  await regOk(repo, ['push', target]);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'data');
}

describe.each(['copy', 'hardlink', 'symlink', 'reflink,copy'])('verify on restore (cache.type %s)', (type) => {
  it('a corrupt cache object is refused (exit 6), quarantined, reported by status, and replaced by pull', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], type);
    await addAndPush({ 'raw_datasets/d/a.txt': 'alpha', 'raw_datasets/d/b.txt': 'bravo' }, 'raw_datasets/d');
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    corrupt(objectPath('alpha'), 'evil!');

    const r = await reg(repo, ['--json', 'checkout', 'raw_datasets/d']);
    expect(r.code, r.stderr).toBe(6);
    expect(JSON.parse(r.stdout).error.code).toBe('checkout.corrupt-object');
    expect(r.stderr).toContain(md5('alpha'));
    expect(r.stderr).toContain('raw_datasets/d/a.txt');
    expect(r.stderr).toContain('reg pull raw_datasets/d');
    // The good file was restored, the corrupt one not written at all.
    expect(readFileSync(join(repo, 'raw_datasets/d/b.txt'), 'utf8')).toBe('bravo');
    expect(existsSync(join(repo, 'raw_datasets/d/a.txt'))).toBe(false);
    expect(existsSync(objectPath('alpha'))).toBe(false);
    // Kept (never deleted) under quarantine/, in the object layout, with a time stamp.
    const quarantined = filesUnder(join(repo, '.reg/cache/quarantine'));
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]!.startsWith(`files/md5/${md5('alpha').slice(0, 2)}/${md5('alpha').slice(2)}.`)).toBe(true);

    expect((await regOk(repo, ['status', 'raw_datasets/d'])).stdout).not.toContain('up to date');
    const st = JSON.parse((await regOk(repo, ['--json', 'status', 'raw_datasets/d'])).stdout).outputs[0];
    expect(st).toMatchObject({ inCache: false, missingObjects: 1 });
    expect(st.state).not.toBe('up-to-date');

    await regOk(repo, ['pull', 'raw_datasets/d']);
    expect(readFileSync(join(repo, 'raw_datasets/d/a.txt'), 'utf8')).toBe('alpha');
    expect((await regOk(repo, ['status', 'raw_datasets/d'])).stdout).toBe('raw_datasets/d: up to date\n');
  });
});

describe('verify on restore', () => {
  it('an object rewritten in place keeping its size is caught in link modes (its stamp is gone)', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    await addAndPush({ 'raw_datasets/f.bin': 'original' }, 'raw_datasets/f.bin');
    rmSync(join(repo, 'raw_datasets/f.bin'));
    const obj = objectPath('original');
    const before = statSync(obj);
    expect(before.mtimeMs % 1_024_000).toBe(0); // the verified stamp set when the object was stored
    corrupt(obj, 'ORIGINAL');
    const r = await reg(repo, ['--json', 'checkout']);
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([6, 'checkout.corrupt-object']);
    expect(existsSync(join(repo, 'raw_datasets/f.bin'))).toBe(false);
  });

  it('a single-file pull from a remote whose object is fine restores after quarantine', async () => {
    await addAndPush({ 'raw_datasets/one.txt': 'one' }, 'raw_datasets/one.txt');
    rmSync(join(repo, 'raw_datasets/one.txt'));
    corrupt(objectPath('one'), 'two');
    expect((await reg(repo, ['checkout'])).code).toBe(6);
    await regOk(repo, ['pull']);
    expect(readFileSync(join(repo, 'raw_datasets/one.txt'), 'utf8')).toBe('one');
  });

  it('a corrupt .dir object is refused (exit 6) and quarantined before anything is written', async () => {
    await addAndPush({ 'raw_datasets/d/a.txt': 'alpha' }, 'raw_datasets/d');
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    const pointer = readFileSync(join(repo, 'raw_datasets/d.dvc'), 'utf8');
    const oid = /md5: ([0-9a-f]{32})\.dir/.exec(pointer)![1]!;
    const manifest = join(repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2) + '.dir');
    corrupt(manifest, '[]');
    const r = await reg(repo, ['--json', 'checkout']);
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([6, 'cache.corrupt-manifest']);
    expect(existsSync(join(repo, 'raw_datasets/d'))).toBe(false);
    expect(existsSync(manifest)).toBe(false);
    await regOk(repo, ['pull']);
    expect(readFileSync(join(repo, 'raw_datasets/d/a.txt'), 'utf8')).toBe('alpha');
  });
});

describe('the cheap paths keep the checks', () => {
  /** 2 MiB of bytes that differ per seed: above the size from which objects this process hashed are copied by the kernel. */
  const big = (seed: number) => {
    const b = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
    return b;
  };

  it('copy mode: a stamped big object is copied whole with a writable (and executable) mode, no temp left; status trusts it', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'copy');
    const bytes = big(1);
    writeTree(repo, { 'raw_datasets/model.bin': bytes });
    chmodSync(join(repo, 'raw_datasets/model.bin'), 0o755);
    await regOk(repo, ['add', 'raw_datasets/model.bin']);
    expect(readFileSync(join(repo, 'raw_datasets/model.bin.dvc'), 'utf8')).toContain('isexec: true');
    rmSync(join(repo, 'raw_datasets/model.bin'));
    rmSync(join(repo, '.reg/tmp'), { recursive: true, force: true });
    expect(statSync(objectPath(bytes)).mtimeMs % 1_024_000).toBe(0);
    await regOk(repo, ['checkout']);
    const file = join(repo, 'raw_datasets/model.bin');
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(statSync(file).ino).not.toBe(statSync(objectPath(bytes)).ino);
    expect(statSync(file).mode & 0o700).toBe(0o700);
    expect(statSync(objectPath(bytes)).mode & 0o222).toBe(0); // the object stays read-only
    expect(tempFilesUnder(repo)).toEqual([]);
    const st = JSON.parse((await regOk(repo, ['--json', 'status'])).stdout).outputs[0];
    expect([st.state, st.hashedFiles]).toEqual(['up-to-date', 0]);
  });

  it('copy mode: a big object rewritten in place (its stamp gone) is hashed, refused (exit 6) and never written', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'copy');
    const bytes = big(2);
    writeTree(repo, { 'raw_datasets/d/model.bin': bytes, 'raw_datasets/d/small.txt': 'small' });
    await regOk(repo, ['add', 'raw_datasets/d']);
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    const evil = Buffer.from(bytes);
    evil.writeUInt8(evil.readUInt8(12345) ^ 0xff, 12345);
    chmodSync(objectPath(bytes), 0o644);
    writeFileSync(objectPath(bytes), evil); // same size, one byte flipped
    chmodSync(objectPath(bytes), 0o444);
    const r = await reg(repo, ['--json', 'checkout']);
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([6, 'checkout.corrupt-object']);
    expect(existsSync(join(repo, 'raw_datasets/d/model.bin'))).toBe(false);
    expect(readFileSync(join(repo, 'raw_datasets/d/small.txt'), 'utf8')).toBe('small');
    expect(tempFilesUnder(repo)).toEqual([]);
  });

  it('copy mode: a big object rewritten with its stamp forged back is still hashed in the copy pass, refused (exit 6) and never written', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'copy');
    const bytes = big(3);
    writeTree(repo, { 'raw_datasets/d/model.bin': bytes, 'raw_datasets/d/small.txt': 'small' });
    await regOk(repo, ['add', 'raw_datasets/d']);
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    const obj = objectPath(bytes);
    const stamp = statSync(obj).mtime;
    const evil = Buffer.from(bytes);
    evil.writeUInt8(evil.readUInt8(54321) ^ 0xff, 54321);
    chmodSync(obj, 0o644);
    writeFileSync(obj, evil); // bit rot, or a tool that rewrites and restores the mtime
    chmodSync(obj, 0o444);
    utimesSync(obj, stamp, stamp);
    expect(statSync(obj).mtimeMs % 1_024_000).toBe(0);
    const r = await reg(repo, ['--json', 'checkout']);
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([6, 'checkout.corrupt-object']);
    expect(existsSync(join(repo, 'raw_datasets/d/model.bin'))).toBe(false);
    expect(tempFilesUnder(repo)).toEqual([]);
  });

  it('hardlink mode: a good object whose stamp is gone is verified, stamped again and linked; status trusts it', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    await addAndPush({ 'raw_datasets/d/a.txt': 'alpha', 'raw_datasets/d/b.txt': 'bravo' }, 'raw_datasets/d');
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    rmSync(join(repo, '.reg/tmp'), { recursive: true, force: true });
    const obj = objectPath('alpha');
    utimesSync(obj, new Date(), new Date()); // same bytes, the stamp is gone
    expect(statSync(obj).mtimeMs % 1_024_000).not.toBe(0);
    await regOk(repo, ['checkout']);
    expect(lstatSync(join(repo, 'raw_datasets/d/a.txt')).ino).toBe(lstatSync(obj).ino);
    expect(statSync(obj).mtimeMs % 1_024_000).toBe(0);
    expect(tempFilesUnder(repo)).toEqual([]);
    const st = JSON.parse((await regOk(repo, ['--json', 'status', 'raw_datasets/d'])).stdout).outputs[0];
    expect([st.state, st.hashedFiles]).toEqual(['up-to-date', 0]);
  });
});

describe('hardlink mode', () => {
  it('checkout --relink and --force leave no temp links, and the next add records the same files', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink,copy');
    writeTree(repo, { 'raw_datasets/d/a.txt': 'alpha', 'raw_datasets/d/sub/b.txt': 'bravo', 'raw_datasets/d/c.txt': 'alpha' });
    const first = JSON.parse((await regOk(repo, ['--json', 'add', 'raw_datasets/d'])).stdout).outputs[0];
    expect(lstatSync(join(repo, 'raw_datasets/d/a.txt')).ino).toBe(lstatSync(objectPath('alpha')).ino);
    const files = ['a.txt', 'c.txt', 'sub/b.txt'];
    await regOk(repo, ['checkout', '--relink']);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(files);
    const again = JSON.parse((await regOk(repo, ['--json', 'add', 'raw_datasets/d'])).stdout).outputs[0];
    expect(again).toMatchObject({ oid: first.oid, nfiles: 3, changed: false });
    await regOk(repo, ['checkout', '--force', '--relink', 'raw_datasets/d']);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(files);
    writeFileSync(join(repo, 'raw_datasets/d/extra.txt'), 'extra');
    await regOk(repo, ['checkout', '--force']);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(files);
    expect(lstatSync(join(repo, 'raw_datasets/d/c.txt')).ino).toBe(lstatSync(objectPath('alpha')).ino);
  });
});

describe('hardlink checkout into an empty workspace', () => {
  it('links every file straight at its path (no temp links), leaves a file in the way to --force, and status trusts what it wrote', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    await addAndPush({ 'raw_datasets/d/a.txt': 'alpha', 'raw_datasets/d/sub/b.txt': 'bravo', 'raw_datasets/d/c.txt': 'alpha' }, 'raw_datasets/d');
    rmSync(join(repo, 'raw_datasets/d'), { recursive: true });
    rmSync(join(repo, '.reg/tmp'), { recursive: true, force: true });
    await regOk(repo, ['checkout']);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(['a.txt', 'c.txt', 'sub/b.txt']);
    expect(tempFilesUnder(repo)).toEqual([]);
    for (const [f, c] of [['a.txt', 'alpha'], ['c.txt', 'alpha'], ['sub/b.txt', 'bravo']] as const) {
      expect(lstatSync(join(repo, 'raw_datasets/d', f)).ino).toBe(lstatSync(objectPath(c)).ino);
    }
    const st = JSON.parse((await regOk(repo, ['--json', 'status', 'raw_datasets/d'])).stdout).outputs[0];
    expect([st.state, st.hashedFiles]).toEqual(['up-to-date', 0]);
    // A file where a link must go (not the object's inode) is replaced by temp + rename, only with --force.
    rmSync(join(repo, 'raw_datasets/d/c.txt'));
    writeFileSync(join(repo, 'raw_datasets/d/c.txt'), 'local edit');
    const refused = await reg(repo, ['--json', 'checkout']);
    expect([refused.code, JSON.parse(refused.stdout).error.code]).toEqual([7, 'checkout.would-lose-data']);
    expect(readFileSync(join(repo, 'raw_datasets/d/c.txt'), 'utf8')).toBe('local edit');
    await regOk(repo, ['checkout', '--force']);
    expect(lstatSync(join(repo, 'raw_datasets/d/c.txt')).ino).toBe(lstatSync(objectPath('alpha')).ino);
    expect(tempFilesUnder(repo)).toEqual([]);
  });
});

describe('temp files', () => {
  const HOUR = 3600;
  const age = (path: string, seconds: number) => {
    const t = Date.now() / 1000 - seconds;
    utimesSync(path, t, t);
  };

  it('are never recorded by add, and stale ones (over an hour) are removed from outputs, the cache and directory remotes', async () => {
    writeTree(repo, { 'raw_datasets/d/a.txt': 'alpha', 'raw_datasets/d/.regtmp-old-1': 'killed run', 'raw_datasets/d/sub/.regtmp-new-1': 'running', 'raw_datasets/d/.a.txt.0123456789ab.tmp': 'old style' });
    age(join(repo, 'raw_datasets/d/.regtmp-old-1'), 2 * HOUR);
    age(join(repo, 'raw_datasets/d/.a.txt.0123456789ab.tmp'), 2 * HOUR);
    mkdirSync(join(repo, '.reg/cache'), { recursive: true });
    writeFileSync(join(repo, '.reg/cache/.regtmp-old-cache'), 'partial object');
    age(join(repo, '.reg/cache/.regtmp-old-cache'), 2 * HOUR);
    const added = JSON.parse((await regOk(repo, ['--json', 'add', 'raw_datasets/d'])).stdout).outputs[0];
    expect(added.nfiles).toBe(1);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(['a.txt', 'sub/.regtmp-new-1']);
    expect(existsSync(join(repo, '.reg/cache/.regtmp-old-cache'))).toBe(false);

    // The fresh one is left to its run; an hour later checkout removes it too.
    age(join(repo, 'raw_datasets/d/sub/.regtmp-new-1'), 2 * HOUR);
    await regOk(repo, ['checkout', 'raw_datasets/d']);
    expect(filesUnder(join(repo, 'raw_datasets/d'))).toEqual(['a.txt']);

    // Directory remote: a stale temp in an object directory goes with the next push there.
    const dir = join(remote, 'files/md5', md5('alpha').slice(0, 2));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.regtmp-old-remote'), 'half an upload');
    age(join(dir, '.regtmp-old-remote'), 2 * HOUR);
    await regOk(repo, ['push', 'raw_datasets/d']);
    expect(readdirSync(dir)).toEqual([md5('alpha').slice(2)]);
  });
});

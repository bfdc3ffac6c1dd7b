import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, REG_BIN, writeTree } from '../helpers/repo.js';

let repo: string;

beforeEach(async () => {
  repo = makeGitRepo();
  await regOk(repo, ['init']);
});
afterEach(() => removeDir(repo));

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), rel + e.name + '/');
      else out[rel + e.name] = md5(readFileSync(join(d, e.name)));
    }
  };
  walk(dir, '');
  return out;
}

describe('reg CLI, one machine', () => {
  it('add -> commit -> delete data -> checkout restores byte-identical data', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) files[`raw_datasets/mnist/${i % 3 ? 'train' : 'test'}/${String(i).padStart(4, '0')}.png`] = Buffer.from(`image ${i} `.repeat(i + 1));
    writeTree(repo, files);
    const before = snapshot(join(repo, 'raw_datasets/mnist'));
    const added = await regOk(repo, ['add', 'raw_datasets/mnist']);
    expect(added.stdout).toMatch(/^added raw_datasets\/mnist \(40 files, .*\) -> raw_datasets\/mnist\.dvc$/m);
    expect(added.stderr).toContain('git add raw_datasets/mnist.dvc raw_datasets/.gitignore');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'mnist v1');
    expect(git(repo, 'status', '--porcelain')).toBe('');
    // the data itself is ignored by Git: only the pointer and the .gitignore line were committed
    expect(git(repo, 'ls-files', 'raw_datasets/mnist')).toBe('');
    const overview = (await regOk(repo, ['status'])).stdout;
    expect(overview.startsWith('raw_datasets/mnist: up to date\n\n')).toBe(true);
    // with no targets, the registry overview follows: areas, entries, card state
    expect(overview).toMatch(/^raw_datasets\/ \(versioned, 1 entry\)\n  mnist +no card +up to date$/m);
    expect((await regOk(repo, ['status', 'raw_datasets/mnist'])).stdout).toBe('raw_datasets/mnist: up to date\n');
    rmSync(join(repo, 'raw_datasets/mnist'), { recursive: true });
    const st = await regOk(repo, ['status']);
    expect(st.stdout).toContain('data missing from workspace');
    const co = await regOk(repo, ['checkout', 'raw_datasets/mnist.dvc']);
    expect(co.stdout).toContain('restored (40 files written');
    expect(snapshot(join(repo, 'raw_datasets/mnist'))).toEqual(before);
  });

  it('status lists changes with -v and --json; checkout without --force keeps modified bytes (exit 7)', async () => {
    writeTree(repo, { 'raw_datasets/mnist/train/0001.png': 'a', 'raw_datasets/mnist/test/0002.png': 'b' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    writeFileSync(join(repo, 'raw_datasets/mnist/train/0001.png'), 'a-changed');
    rmSync(join(repo, 'raw_datasets/mnist/test/0002.png'));
    const plain = await regOk(repo, ['status', 'raw_datasets/mnist']);
    expect(plain.stdout).toBe('raw_datasets/mnist: modified — 1 modified, 1 deleted; reg add raw_datasets/mnist to record the changes, or reg checkout --force raw_datasets/mnist to discard them (they are stashed)\n');
    const verbose = await regOk(repo, ['status', '-v']);
    expect(verbose.stdout).toContain('    M train/0001.png\n    D test/0002.png\n');
    const json = await regOk(repo, ['status', '--json']);
    const doc = JSON.parse(json.stdout);
    expect(doc.outputs[0].changes).toEqual({ added: [], modified: ['train/0001.png'], deleted: ['test/0002.png'] });
    expect(json.stderr).toBe('');

    const refused = await reg(repo, ['checkout', 'raw_datasets/mnist']);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain('raw_datasets/mnist/train/0001.png (modified)');
    expect(refused.stderr).toContain('--force');
    expect(readFileSync(join(repo, 'raw_datasets/mnist/train/0001.png'), 'utf8')).toBe('a-changed');

    const forced = await regOk(repo, ['checkout', '--force', 'raw_datasets/mnist']);
    expect(readFileSync(join(repo, 'raw_datasets/mnist/train/0001.png'), 'utf8')).toBe('a');
    const m = /get them back with: reg stash apply (\S+)/.exec(forced.stderr);
    expect(m).not.toBeNull();
    await regOk(repo, ['stash', 'apply', m![1]!, '--to', 'recovered']);
    expect(readFileSync(join(repo, 'recovered/raw_datasets/mnist/train/0001.png'), 'utf8')).toBe('a-changed');
  });

  it('re-adding a changed directory rewrites the pointer with a new .dir oid', async () => {
    writeTree(repo, { 'ds/a': '1', 'ds/b': '2' });
    await regOk(repo, ['add', 'ds']);
    const v1 = readFileSync(join(repo, 'ds.dvc'), 'utf8');
    writeTree(repo, { 'ds/c': '3' });
    const r = await regOk(repo, ['--json', 'add', 'ds']);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs[0].changed).toBe(true);
    const v2 = readFileSync(join(repo, 'ds.dvc'), 'utf8');
    expect(v2).not.toBe(v1);
    expect(v2).toContain(`md5: ${doc.outputs[0].oid}`);
    expect(v2).toContain('nfiles: 3');
  });

  it('a malformed pointer gives file:line and exit code 3; --json prints one error document', async () => {
    writeFileSync(join(repo, 'bad.dvc'), 'outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n  path: bad\n  size: [1,\n');
    const r = await reg(repo, ['status', 'bad.dvc']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/reg: error: bad\.dvc:\d+:\d+: invalid YAML/);
    const j = await reg(repo, ['--json', 'status', 'bad.dvc']);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout).error.code).toBe('pointer.yaml');
  });

  it('bad usage exits 2 with a message naming the problem', async () => {
    const r = await reg(repo, ['add']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'paths'");
    const u = await reg(repo, ['status', '--bogus']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown option '--bogus'");
    const n = await reg(repo, ['status', 'not-there']);
    expect(n.code).toBe(2);
    expect(n.stderr).toContain('not-there is not tracked by reg');
  });

  it('outside a reg repository every command says how to fix it', async () => {
    rmSync(join(repo, '.reg'), { recursive: true });
    const r = await reg(repo, ['status']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('run `reg init`');
  });

  it('an interrupted add leaves no partial object and no half-written pointer', async () => {
    // A big file so the kill lands mid-copy; objects are published by rename only when complete.
    const big = join(repo, 'data/big.bin');
    writeTree(repo, { 'data/small.txt': 'small' });
    const fd = openSync(big, 'w');
    const chunk = Buffer.alloc(8 << 20);
    for (let i = 0; i < 48; i++) {
      chunk.writeUInt32LE(i, 0);
      writeSync(fd, chunk);
    }
    closeSync(fd);
    const child = spawn(process.execPath, [REG_BIN, 'add', 'data'], { cwd: repo, stdio: 'ignore' });
    const closed = new Promise((r) => child.once('close', r));
    const cacheRoot = join(repo, '.reg/cache');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const tmpSeen = existsSync(cacheRoot) && readdirSync(cacheRoot).some((n) => n.startsWith('.regtmp-'));
        if (tmpSeen || child.exitCode !== null) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 2);
    });
    await closed;
    expect(existsSync(join(repo, 'data.dvc'))).toBe(false);
    // Every published object matches its name.
    const objects = join(cacheRoot, 'files/md5');
    if (existsSync(objects)) {
      for (const p of readdirSync(objects)) {
        for (const n of readdirSync(join(objects, p))) {
          const bytes = readFileSync(join(objects, p, n));
          expect(md5(bytes)).toBe((p + n).replace(/\.dir$/, ''));
        }
      }
    }
    // A re-run completes normally and status is clean.
    await regOk(repo, ['add', 'data']);
    expect((await regOk(repo, ['status', 'data'])).stdout).toBe('data: up to date\n');
    expect(statSync(join(repo, 'data.dvc')).size).toBeGreaterThan(0);
  });

  it('--json prints exactly one document and nothing else on stdout; no progress off a TTY', async () => {
    writeTree(repo, Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`many/f${i}`, `x${i}`])));
    const r = await regOk(repo, ['--json', 'add', 'many']);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs[0]).toMatchObject({ path: 'many', nfiles: 300 });
    expect(r.stderr).toBe('');
    const s = await regOk(repo, ['status']);
    expect(s.stderr).toBe('');
  });

  it('--help lists the commands and exits 0', async () => {
    const r = await regOk(repo, ['--help']);
    for (const c of ['init', 'add', 'status', 'checkout']) expect(r.stdout).toContain(c);
  });
});

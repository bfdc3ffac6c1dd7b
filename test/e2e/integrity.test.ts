import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { md5OfBuffer } from '../../dist/data/hash.js';
import { push } from '../../dist/ops/remote/push.js';
import { verify } from '../../dist/ops/remote/verify.js';
import { makeContext } from '../../dist/context.js';
import { RegError } from '../../dist/errors.js';
import { S3Backend } from '../../dist/store/s3.js';
import { configureRemote } from '../helpers/remote-config.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/**
 * Corruption end to end through the CLI: push never uploads bytes that do not match their
 * name, and `reg verify` finds and repairs corrupt or missing objects in the cache, the
 * workspace and on remotes (a directory remote and s3rver).
 */
// Each case spawns the CLI a dozen times: generous, on a loaded 2-core machine (hang guard only).
vi.setConfig({ testTimeout: 300_000 });

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const keyOf = (oid: string, legacy = false) => `${legacy ? '' : 'files/md5/'}${oid.slice(0, 2)}/${oid.slice(2)}`;

let s3: S3Server;
const cleanup: string[] = [];
beforeAll(async () => {
  s3 = await startS3Server('integrity');
});
afterAll(async () => {
  await s3?.stop();
});
afterEach(() => {
  for (const d of cleanup.splice(0)) removeDir(d);
});

/** A kind of remote, and direct access to what it stores (no reg code involved). */
interface RemoteKind {
  /** Adds it to the repo as `name` (default remote with `isDefault`), as `reg remote add` and `reg remote modify` write it. */
  add(repo: string, name: string, isDefault?: boolean): Promise<void>;
  /** Object keys as stored, read from the storage directory itself. */
  keys(): string[];
  /** Replaces the stored bytes of a key (a server that stored the wrong bytes / bit rot). */
  corrupt(key: string, bytes: Buffer): void;
  remove(key: string): void;
  env: Record<string, string>;
}

function directoryRemote(): RemoteKind {
  const root = tempDir('reg-integrity-remote-');
  cleanup.push(root);
  return {
    env: {},
    async add(repo, name, isDefault) {
      await configureRemote(repo, name, root, {}, { isDefault });
    },
    keys: () => filesUnder(root),
    corrupt(key, bytes) {
      chmodSync(join(root, key), 0o644);
      writeFileSync(join(root, key), bytes);
    },
    remove: (key) => rmSync(join(root, key)),
  };
}

const S3_OBJECT = '._S3rver_object';

function s3Remote(): RemoteKind {
  const prefix = `p${randomBytes(4).toString('hex')}`;
  const dir = () => join(s3.directory, s3.bucket, prefix);
  return {
    get env() {
      return s3.env;
    },
    async add(repo, name, isDefault) {
      await configureRemote(repo, name, `s3://${s3.bucket}/${prefix}`, { 'endpoint-url': s3.endpoint, 'path-style': 'true' }, { isDefault });
    },
    keys: () =>
      filesUnder(dir())
        .filter((f) => f.endsWith(S3_OBJECT))
        .map((f) => f.slice(0, -S3_OBJECT.length)),
    corrupt(key, bytes) {
      // Rewrite s3rver's stored file and drop its md5 sidecar: the ETag then is the md5 of the
      // stored bytes, as for an object that was uploaded corrupt.
      writeFileSync(join(dir(), key + S3_OBJECT), bytes);
      rmSync(join(dir(), key + S3_OBJECT + '.md5'), { force: true });
    },
    remove(key) {
      for (const suffix of [S3_OBJECT, `${S3_OBJECT}.md5`, '._S3rver_metadata.json']) rmSync(join(dir(), key + suffix), { force: true });
    },
  };
}

const KINDS: Array<[string, () => RemoteKind]> = [
  ['directory remote', directoryRemote],
  ['s3rver', s3Remote],
];

interface Fixture {
  repo: string;
  /** oid of each data file by name. */
  oid: Record<string, string>;
  dirOid: string;
}

/** A repo with `data/` (small files and one streamed-size file) tracked and committed. */
async function makeRepo(env: Record<string, string>): Promise<Fixture> {
  const repo = makeGitRepo();
  cleanup.push(repo);
  await regOk(repo, ['init'], { env });
  const files: Record<string, Buffer> = { 'big.bin': randomBytes((2 << 20) + 5) };
  for (let i = 1; i <= 6; i++) files[`f${i}.txt`] = Buffer.from(`file number ${i}\n`);
  writeTree(repo, Object.fromEntries(Object.entries(files).map(([k, v]) => [`data/${k}`, v])));
  await regOk(repo, ['add', 'data'], { env });
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'data');
  const pointer = readFileSync(join(repo, 'data.dvc'), 'utf8');
  return { repo, oid: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, md5(v)])), dirOid: /md5: ([0-9a-f]{32}\.dir)/.exec(pointer)![1]! };
}

/** An initialised repo with `remote` as its default remote `origin`. */
async function emptyRepo(remote: RemoteKind): Promise<string> {
  const repo = makeGitRepo();
  cleanup.push(repo);
  await regOk(repo, ['init'], { env: remote.env });
  await remote.add(repo, 'origin', true);
  return repo;
}

function cachePath(repo: string, oid: string, legacy = false): string {
  return legacy ? join(repo, '.reg/cache', oid.slice(0, 2), oid.slice(2)) : join(repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2));
}

function corruptCache(repo: string, oid: string, bytes?: Buffer): void {
  const p = cachePath(repo, oid);
  const good = readFileSync(p);
  chmodSync(p, 0o644);
  const bad = bytes ?? Buffer.from(good);
  if (bytes === undefined) bad[bad.length >> 1]! ^= 0x5a; // same size, one byte flipped
  writeFileSync(p, bad);
}

function quarantined(repo: string): string[] {
  return filesUnder(join(repo, '.reg/cache/quarantine'));
}

async function clone(from: string, env: Record<string, string>): Promise<string> {
  const dir = tempDir('reg-integrity-clone-');
  cleanup.push(dir);
  git(dir, 'clone', '-q', from, '.');
  await regOk(dir, ['pull', 'data'], { env });
  return dir;
}

describe.each(KINDS)('push refuses corrupt cache objects: %s', (_label, makeKind) => {
  it('exits 6 naming the object and pointer, uploads nothing corrupt (nor the manifest), quarantines; fetch restores', async () => {
    const good = directoryRemote();
    const second = makeKind();
    const env = second.env;
    const { repo, oid, dirOid } = await makeRepo(env);
    await good.add(repo, 'good', true);
    await second.add(repo, 'second');
    await regOk(repo, ['push', 'data'], { env });

    corruptCache(repo, oid['f2.txt']!, Buffer.from('rotten\n'));
    corruptCache(repo, oid['big.bin']!); // streamed single PUT on S3
    const r = await reg(repo, ['push', '-r', 'second', 'data', '--json'], { env });
    expect(r.code, r.stderr).toBe(6);
    const error = JSON.parse(r.stdout).error;
    expect(error.code).toBe('push.corrupt-cache-object');
    for (const name of ['f2.txt', 'big.bin']) {
      expect(r.stderr).toContain(keyOf(oid[name]!));
      expect(r.stderr).toContain(`data/${name} (data.dvc)`);
    }
    expect(error.hint).toContain('reg verify --repair');
    expect(error.hint).toContain('reg add data');

    // Nothing corrupt and no manifest on the remote; every other object went.
    const stored = second.keys();
    expect(stored).not.toContain(keyOf(oid['f2.txt']!));
    expect(stored).not.toContain(keyOf(oid['big.bin']!));
    expect(stored.some((k) => k.endsWith('.dir'))).toBe(false);
    for (const name of ['f1.txt', 'f3.txt', 'f4.txt', 'f5.txt', 'f6.txt']) expect(stored).toContain(keyOf(oid[name]!));

    // Both corrupt objects were moved aside, not deleted.
    const q = quarantined(repo);
    expect(q.some((f) => f.startsWith(keyOf(oid['f2.txt']!) + '.'))).toBe(true);
    expect(q.some((f) => f.startsWith(keyOf(oid['big.bin']!) + '.'))).toBe(true);
    expect(existsSync(cachePath(repo, oid['f2.txt']!))).toBe(false);

    // A re-fetch from the good remote restores the objects; the push then completes.
    await regOk(repo, ['fetch', '-r', 'good', 'data'], { env });
    expect(md5(readFileSync(cachePath(repo, oid['f2.txt']!)))).toBe(oid['f2.txt']);
    expect(md5(readFileSync(cachePath(repo, oid['big.bin']!)))).toBe(oid['big.bin']);
    await regOk(repo, ['push', '-r', 'second', 'data'], { env });
    expect(second.keys()).toContain(keyOf(dirOid));
    expect(second.keys()).toContain(keyOf(oid['big.bin']!));
  });

  it('legacy (DVC 2) CRLF text objects push without a false alarm and verify clean', async () => {
    const remote = makeKind();
    const env = remote.env;
    const repo = await emptyRepo(remote);
    let big = '';
    for (let i = 0; big.length < (2 << 20) + 100; i++) big += `row ${i},value ${i * 3}\r\n`;
    const legacy: Array<[string, Buffer]> = [
      ['small.csv', Buffer.from('a,b\r\n1,2\r\n')],
      ['big.csv', Buffer.from(big)],
    ];
    for (const [name, bytes] of legacy) {
      const oid = md5OfBuffer(bytes, true);
      expect(oid).not.toBe(md5(bytes));
      mkdirSync(join(cachePath(repo, oid, true), '..'), { recursive: true });
      writeFileSync(cachePath(repo, oid, true), bytes, { mode: 0o444 });
      writeFileSync(join(repo, name), bytes);
      writeFileSync(join(repo, `${name}.dvc`), `outs:\n- md5: ${oid}\n  size: ${bytes.length}\n  path: ${name}\n`);
    }
    const r = await reg(repo, ['push', 'small.csv', 'big.csv'], { env });
    expect(r.code, r.stderr).toBe(0);
    for (const [, bytes] of legacy) expect(remote.keys()).toContain(keyOf(md5OfBuffer(bytes, true), true));
    const v = await reg(repo, ['verify', '--remote', '--workspace', '--json'], { env });
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: 0, checked: { cache: 2, workspace: 2, remote: 2 } });
  });
});

describe.each(KINDS)('reg verify: %s', (_label, makeKind) => {
  it('reports a corrupt cache object, a changed workspace file, a corrupt and a missing remote object (exit 6, JSON report)', async () => {
    const remote = makeKind();
    const env = remote.env;
    const { repo, oid, dirOid } = await makeRepo(env);
    await remote.add(repo, 'origin', true);
    await regOk(repo, ['push', 'data'], { env });
    expect((await reg(repo, ['verify', '--remote', '--workspace'], { env })).code).toBe(0);

    corruptCache(repo, oid['f2.txt']!);
    writeFileSync(join(repo, 'data/f1.txt'), 'edited by hand\n');
    remote.corrupt(keyOf(oid['f3.txt']!), Buffer.from('bit rot\n'));
    remote.remove(keyOf(oid['f4.txt']!));

    const r = await reg(repo, ['verify', '--remote', '--workspace', '--json'], { env });
    expect(r.code, r.stderr).toBe(6);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: false, problems: 4, corrupt: 3, missing: 1, remotes: ['origin'] });
    const out = report.outputs[0];
    expect(out).toMatchObject({ path: 'data', pointer: 'data.dvc', oid: dirOid, state: 'damaged', objects: 8, cache: { checked: 8, notCached: 0 }, workspace: { checked: 7, absent: 0 } });
    expect(out.remote).toMatchObject({ name: 'origin', missing: 1 });
    const problems = out.problems.map((x: Record<string, unknown>) => ({ where: x.where, problem: x.problem, key: x.key, relpaths: x.relpaths }));
    expect(problems).toEqual(
      expect.arrayContaining([
        { where: 'cache', problem: 'corrupt', key: keyOf(oid['f2.txt']!), relpaths: ['f2.txt'] },
        { where: 'workspace', problem: 'corrupt', key: keyOf(oid['f1.txt']!), relpaths: ['f1.txt'] },
        { where: 'remote', problem: 'corrupt', key: keyOf(oid['f3.txt']!), relpaths: ['f3.txt'] },
        { where: 'remote', problem: 'missing', key: keyOf(oid['f4.txt']!), relpaths: ['f4.txt'] },
      ]),
    );
    expect(problems).toHaveLength(4);
    // Plain verify is read-only: nothing was moved or changed.
    expect(quarantined(repo)).toEqual([]);

    // Text report: by output and file, with the fixes.
    const text = await reg(repo, ['verify', '--remote', '--workspace'], { env });
    expect(text.code).toBe(6);
    expect(text.stdout).toContain(`cache: corrupt ${keyOf(oid['f2.txt']!)} (data/f2.txt)`);
    expect(text.stdout).toContain(`remote origin: missing ${keyOf(oid['f4.txt']!)} (data/f4.txt)`);
    expect(text.stdout).toContain('reg verify --remote --repair');
  });

  it('--repair fixes the remote from a clone whose cache is good and the cache from the remote; then verify --remote exits 0', async () => {
    const remote = makeKind();
    const env = remote.env;
    const { repo: a, oid } = await makeRepo(env);
    await remote.add(a, 'origin', true);
    git(a, 'add', '-A');
    git(a, 'commit', '-qm', 'remote');
    await regOk(a, ['push', 'data'], { env });
    const b = await clone(a, env);

    // The remote copy of f3 rots, f4 disappears; A's own cache copy of f3 is corrupt too.
    remote.corrupt(keyOf(oid['f3.txt']!), Buffer.from('bit rot\n'));
    remote.remove(keyOf(oid['f4.txt']!));
    corruptCache(a, oid['f3.txt']!);

    // A cannot repair f3 anywhere (no good copy), but re-uploads the missing f4.
    const inA = await reg(a, ['verify', '--remote', '--repair', '--json'], { env });
    expect(inA.code, inA.stdout).toBe(6);
    const reportA = JSON.parse(inA.stdout);
    const byKey = (where: string, key: string) => reportA.outputs[0].problems.find((x: { where: string; key: string }) => x.where === where && x.key === key);
    expect(byKey('remote', keyOf(oid['f4.txt']!))).toMatchObject({ problem: 'missing', repaired: true });
    expect(byKey('remote', keyOf(oid['f3.txt']!))).toMatchObject({ problem: 'corrupt', repaired: false });
    expect(byKey('cache', keyOf(oid['f3.txt']!))).toMatchObject({ problem: 'corrupt', repaired: false });
    expect(byKey('cache', keyOf(oid['f3.txt']!)).repair).toMatch(/corrupt/);
    expect(remote.keys()).toContain(keyOf(oid['f4.txt']!));
    // The corrupt cache copy went to the quarantine (kept), and nothing corrupt came back.
    expect(quarantined(a).some((f) => f.startsWith(keyOf(oid['f3.txt']!) + '.'))).toBe(true);
    expect(existsSync(cachePath(a, oid['f3.txt']!))).toBe(false);
    const fetchHint = await reg(a, ['fetch', 'data'], { env });
    expect(fetchHint.code).toBe(6);
    expect(fetchHint.stderr).toContain('reg verify --remote origin --repair');

    // B has good bytes: it repairs the remote.
    const inB = await reg(b, ['verify', '--remote', 'origin', '--repair'], { env });
    expect(inB.code, inB.stdout).toBe(0);
    expect(inB.stdout).toContain('re-uploaded from the local cache');

    // Now A repairs its cache from the remote (the quarantined object is fetched again).
    const again = await reg(a, ['verify', '--repair'], { env });
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('re-fetched from origin');
    expect(md5(readFileSync(cachePath(a, oid['f3.txt']!)))).toBe(oid['f3.txt']);

    for (const dir of [a, b]) {
      const final = await reg(dir, ['verify', '--remote', '--workspace'], { env });
      expect(final.code, final.stdout).toBe(0);
    }
  });

  it('objects missing from the remote only: exit 4', async () => {
    const remote = makeKind();
    const env = remote.env;
    const { repo, oid } = await makeRepo(env);
    await remote.add(repo, 'origin', true);
    await regOk(repo, ['push', 'data'], { env });
    remote.remove(keyOf(oid['f5.txt']!));
    const r = await reg(repo, ['verify', 'data', '--remote', '--json'], { env });
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, problems: 1, corrupt: 0, missing: 1 });
  });
});

describe('reg verify: command line and hostile input', () => {
  it('--remote followed by a path is refused with a hint (exit 2)', async () => {
    const { repo } = await makeRepo({});
    await directoryRemote().add(repo, 'origin', true);
    const r = await reg(repo, ['verify', '--remote', 'data']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('reg verify data --remote');
  });

  it('a manifest whose md5 fields are not hashes (paths) is refused as malformed (exit 3)', async () => {
    const repo = makeGitRepo();
    cleanup.push(repo);
    await regOk(repo, ['init']);
    const bytes = Buffer.from(JSON.stringify([{ md5: '../../../../../../etc/hostname', relpath: 'x' }]));
    const oid = md5(bytes);
    mkdirSync(join(cachePath(repo, oid), '..'), { recursive: true });
    writeFileSync(cachePath(repo, oid) + '.dir', bytes);
    writeFileSync(join(repo, 'evil.dvc'), `outs:\n- md5: ${oid}.dir\n  size: 1\n  nfiles: 1\n  path: evil\n  hash: md5\n`);
    const r = await reg(repo, ['verify', '--json']);
    expect(r.code, r.stdout).toBe(3);
    expect(JSON.parse(r.stdout).error.code).toMatch(/^manifest\./);
  });
});

describe('S3 multipart uploads (small threshold through S3Options)', () => {
  const smallParts = (prefix: string) => () =>
    new S3Backend(
      { bucket: s3.bucket, prefix, endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8, multipartThreshold: 6 << 20, partSize: 5 << 20 },
      { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    );

  it('a corrupt object above the multipart threshold is refused and never completed; verify checks multipart objects by size', async () => {
    const remote = s3Remote();
    const env = remote.env;
    const repo = await emptyRepo(remote);
    const prefix = /s3:\/\/[^/]+\/(\S+)/.exec(readFileSync(join(repo, '.reg/config.yaml'), 'utf8'))![1]!;
    const bytes = randomBytes((11 << 20) + 3);
    writeTree(repo, { 'model.bin': bytes });
    await regOk(repo, ['add', 'model.bin'], { env });
    const oid = md5(bytes);
    const ctx = makeContext({ cwd: repo, env });
    const wrapBackend = smallParts(prefix);

    corruptCache(repo, oid);
    const err = await push(ctx, { targets: ['model.bin'], wrapBackend }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code).toBe('push.corrupt-cache-object');
    expect((err as RegError).exitCode).toBe(6);
    expect(remote.keys()).toEqual([]);

    // With good bytes it goes up as a multipart object. AWS gives those an ETag that is not an
    // md5 ("<md5 of the part md5s>-<parts>"); s3rver gives the plain md5: make it answer like AWS.
    writeFileSync(cachePath(repo, oid), bytes, { mode: 0o444 });
    await push(ctx, { targets: ['model.bin'], wrapBackend });
    expect(remote.keys()).toEqual([keyOf(oid)]);
    const stored = join(s3.directory, s3.bucket, prefix, keyOf(oid) + S3_OBJECT);
    writeFileSync(stored + '.md5', `${md5('parts')}-3`);
    const ok = await verify(ctx, { targets: [], checkRemote: true, wrapBackend });
    expect(ok.ok).toBe(true);
    expect(ok.outputs[0]!.remote).toMatchObject({ size: 1, md5: 0, content: 0 });

    // A truncated copy (the ETag sidecar kept, so it still looks multipart) is a size mismatch.
    truncateSync(stored, 1000);
    const bad = await verify(ctx, { targets: [], checkRemote: true, wrapBackend });
    expect(bad).toMatchObject({ ok: false, corrupt: 1 });
    expect(bad.outputs[0]!.problems[0]).toMatchObject({ where: 'remote', problem: 'size-mismatch', key: keyOf(oid) });
    const cli = await reg(repo, ['verify', '--remote'], { env });
    expect(cli.code).toBe(6);
  });
});

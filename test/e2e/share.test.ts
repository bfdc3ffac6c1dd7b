import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/**
 * reg share against s3rver: presigned links for every file of a version, downloaded with the real
 * curl and checked against their md5; the generated download.sh run by sh in a temp dir, and
 * failing loudly once an object on the server is corrupted. No secret is ever written.
 */
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const KEY = { id: 'AKIDSHARETEST0001', secret: 'sh4re-secret-never-written/xyz' };

const FILES: Record<string, Buffer> = {
  'readme.txt': Buffer.from('hello\n'),
  'with space/odd name.txt': Buffer.from('spaces are fine\n'),
  'scans/big.bin': randomBytes((2 << 20) + 3),
  'scans/copy.txt': Buffer.from('hello\n'),
};

let s3: S3Server;
let repo: string;
let env: Record<string, string>;

beforeAll(async () => {
  s3 = await startS3Server('share-bucket', { extraKey: KEY });
  env = { ...s3.env, AWS_ACCESS_KEY_ID: KEY.id, AWS_SECRET_ACCESS_KEY: KEY.secret };
  repo = makeGitRepo();
  await regOk(repo, ['init']);
  writeTree(join(repo, 'raw_datasets/pages'), FILES);
  await regOk(repo, ['add', 'raw_datasets/pages']);
  await regOk(repo, ['remote', 'add', 'origin', 's3://share-bucket/team', '--default']);
  await regOk(repo, ['remote', 'modify', 'origin', 'endpoint-url', s3.endpoint]);
  await regOk(repo, ['remote', 'modify', 'origin', 'path-style', 'true']);
  await regOk(repo, ['push', 'raw_datasets/pages'], { env });
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'v2');
  git(repo, 'tag', 'v2');
});

afterAll(async () => {
  await s3?.stop();
  removeDir(repo);
});

function linksOf(dir: string): Array<{ path: string; md5: string; bytes: number; url: string }> {
  const [header, ...rows] = readFileSync(join(dir, 'links.tsv'), 'utf8').trimEnd().split('\n');
  expect(header).toBe('path\tmd5\tbytes\turl');
  return rows.map((r) => {
    const [path, m, bytes, url] = r.split('\t');
    return { path: path!, md5: m!, bytes: Number(bytes), url: url! };
  });
}

describe('reg share', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('reg-share-out-');
    await regOk(repo, ['share', 'raw_datasets/pages', '--rev', 'v2', '--expires', '2h', '-o', dir], { env });
  });
  afterAll(() => removeDir(dir));

  it('writes one presigned link per file; curl downloads each and its md5 matches', () => {
    const links = linksOf(dir);
    expect(links.map((l) => l.path)).toEqual(Object.keys(FILES).sort());
    for (const l of links) {
      expect(l.url).toMatch(new RegExp(`^${s3.endpoint}/share-bucket/team/files/md5/`));
      expect(l.url).toContain('X-Amz-Expires=7200');
      const body = execFileSync('curl', ['--fail', '--silent', '--show-error', l.url], { maxBuffer: 64 << 20 });
      expect(md5(body)).toBe(l.md5);
      expect(body.equals(FILES[l.path]!)).toBe(true);
      expect(l.bytes).toBe(body.length);
    }
  });

  it('a tampered link is refused by the server (the signature covers the key)', () => {
    const l = linksOf(dir)[0]!;
    const other = l.url.replace(/files\/md5\/[0-9a-f]{2}\/[0-9a-f]{30}/, `files/md5/${md5(FILES['scans/big.bin']!).slice(0, 2)}/${md5(FILES['scans/big.bin']!).slice(2)}`);
    expect(spawnSync('curl', ['--fail', '--silent', other]).status).not.toBe(0);
  });

  it('never writes the secret key; download.sh is executable POSIX sh', () => {
    for (const f of ['links.tsv', 'download.sh']) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(KEY.secret);
    expect(statSync(join(dir, 'download.sh')).mode & 0o111).not.toBe(0);
    expect(spawnSync('sh', ['-n', join(dir, 'download.sh')]).status).toBe(0);
  });

  it('download.sh in a temp dir fetches and checks every file; after an object is corrupted on the server it fails loudly', () => {
    const target = tempDir('reg-share-dl-');
    try {
      const ok = spawnSync('sh', [join(dir, 'download.sh'), 'got'], { cwd: target, encoding: 'utf8' });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('downloaded and checked 4 files');
      for (const [rel, bytes] of Object.entries(FILES)) expect(readFileSync(join(target, 'got', rel)).equals(bytes)).toBe(true);

      const big = md5(FILES['scans/big.bin']!);
      const stored = filesUnder(s3.directory).find((f) => f.includes(big.slice(2)) && f.endsWith('._S3rver_object'))!;
      writeFileSync(join(s3.directory, stored), randomBytes(1000));
      const again = tempDir('reg-share-dl2-');
      try {
        const bad = spawnSync('sh', [join(dir, 'download.sh')], { cwd: again, encoding: 'utf8' });
        expect(bad.status).not.toBe(0);
        expect(bad.stderr).toContain('download.sh: error: scans/big.bin is corrupt');
        expect(filesUnder(again).some((f) => f.startsWith('scans/big.bin'))).toBe(false);
      } finally {
        removeDir(again);
      }
    } finally {
      removeDir(target);
    }
  });

  it('refuses an expiry above what SigV4 allows (7 days), with the fix', async () => {
    const r = await reg(repo, ['share', 'raw_datasets/pages', '--expires', '8d', '-o', tempDir('reg-share-x-')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('7 days');
    expect(r.stderr).toContain('--expires 7d');
  });

  it('refuses an existing links.tsv unless --force', async () => {
    const r = await reg(repo, ['share', 'raw_datasets/pages', '-o', dir], { env });
    expect(r.code).toBe(7);
    await regOk(repo, ['share', 'raw_datasets/pages', '-o', dir, '--force'], { env });
  });

  it('refuses a remote that is not S3 with a clear message', async () => {
    const local = tempDir('reg-share-dirremote-');
    try {
      await regOk(repo, ['remote', 'add', 'disk', local]);
      await regOk(repo, ['push', 'raw_datasets/pages', '-r', 'disk']);
      const r = await reg(repo, ['--json', 'share', 'raw_datasets/pages', '-r', 'disk', '-o', tempDir('reg-share-y-')]);
      expect(r.code).toBe(2);
      expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('share.not-s3');
    } finally {
      await regOk(repo, ['remote', 'remove', 'disk']);
      removeDir(local);
    }
  });
});

import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree, filesUnder } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8')) as {
  trees: Record<string, { files: Record<string, { content: string; md5: string }>; manifest: string; dir_md5: string; size: number; nfiles: number; object_keys: string[] }>;
  legacy_md5_dos2unix: Array<{ content?: string; md5: string; md5_dos2unix: string }>;
};

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');


function sampleData(root: string): void {
  const files: Record<string, string | Buffer> = { 'images/readme.md': '# images\n', 'weights.bin': Buffer.alloc((1 << 20) + 333, 0xab) };
  for (let i = 0; i < 30; i++) files[`images/img-${i}.raw`] = Buffer.from(`pixel data ${i}\n`.repeat(i + 1));
  writeTree(root, files);
}

function sameTree(a: string, b: string, paths: string[]): void {
  for (const p of paths) expect(md5(readFileSync(join(b, p))), p).toBe(md5(readFileSync(join(a, p))));
}

async function exchange(env: Record<string, string>, configure: (repo: string) => Promise<void>): Promise<{ a: string; b: string }> {
  const a = makeGitRepo();
  await regOk(a, ['init'], { env });
  sampleData(a);
  await regOk(a, ['add', 'images', 'weights.bin'], { env });
  await configure(a);
  git(a, 'add', '-A');
  git(a, 'commit', '-qm', 'data');
  const dry = await regOk(a, ['push', '--dry-run', '--json'], { env });
  const dryResult = JSON.parse(dry.stdout) as { dryRun: boolean; pushed: number };
  expect(dryResult.dryRun).toBe(true);
  expect(dryResult.pushed).toBeGreaterThan(30);
  const pushed = await regOk(a, ['push'], { env });
  expect(pushed.stdout).toMatch(/pushed \d+ objects/);
  const again = await regOk(a, ['push', '--json'], { env });
  expect(JSON.parse(again.stdout)).toMatchObject({ pushed: 0, failed: 0 });
  const b = tempDir('reg-e2e-clone-');
  git(b, 'clone', '-q', a, '.');
  const pulled = await regOk(b, ['pull'], { env });
  expect(pulled.stdout).toMatch(/fetched \d+ objects/);
  sameTree(a, b, ['weights.bin', ...filesUnder(join(a, 'images')).map((f) => `images/${f}`)]);
  return { a, b };
}

describe('reg push / pull through a directory remote (CLI)', () => {
  it('two clones exchange a dataset; --dry-run sends nothing; relative URL is stored relative to .reg/', async () => {
    const remote = tempDir('reg-e2e-remote-');
    let dryRunChecked = false;
    const { a, b } = await exchange({}, async (repo) => {
      await regOk(repo, ['remote', 'add', 'backup', remote, '--default']);
      const r = await regOk(repo, ['push', '--dry-run']);
      expect(r.stdout).toContain('would push');
      expect(filesUnder(remote)).toEqual([]);
      dryRunChecked = true;
    });
    expect(dryRunChecked).toBe(true);
    expect(filesUnder(remote).every((k) => k.startsWith('files/md5/'))).toBe(true);
    const list = await regOk(a, ['remote', 'list']);
    expect(list.stdout).toContain('backup');
    expect(list.stdout).toContain('(default)');

    // Relative directory remotes are resolved against .reg/, wherever reg runs from.
    mkdirSync(join(b, 'deeper'));
    await regOk(join(b, 'deeper'), ['remote', 'add', 'rel', '../../' + remote.split('/').pop()!]);
    expect(readFileSync(join(b, '.reg', 'config.yaml'), 'utf8')).toMatch(/url: \.\.\/\.\.\/reg-e2e-remote-/);
    const st = await regOk(b, ['fetch', '-r', 'rel', '--json']);
    expect(JSON.parse(st.stdout)).toMatchObject({ fetched: 0, failed: 0 });
    for (const d of [a, b, remote]) removeDir(d);
  });

  it('pulls a remote laid out by DVC (3.x trees and a DVC 2 legacy pointer at XX/REST)', async () => {
    const remote = tempDir('reg-e2e-dvc-remote-');
    const repo = makeGitRepo();
    await regOk(repo, ['init']);
    const put = (key: string, bytes: Buffer | string) => {
      mkdirSync(join(remote, key, '..'), { recursive: true });
      writeFileSync(join(remote, key), bytes);
    };
    const trees = ['tree1', 'tree2', 'tree3'] as const;
    for (const name of trees) {
      const t = vectors.trees[name]!;
      put(`files/md5/${t.dir_md5.slice(0, 2)}/${t.dir_md5.slice(2)}`, t.manifest);
      for (const f of Object.values(t.files)) put(`files/md5/${f.md5.slice(0, 2)}/${f.md5.slice(2)}`, f.content);
      writeFileSync(join(repo, `${name}.dvc`), `outs:\n- md5: ${t.dir_md5}\n  size: ${t.size}\n  nfiles: ${t.nfiles}\n  hash: md5\n  path: ${name}\n`);
    }
    // DVC 2: no `hash:` key; md5 is the dos2unix hash; objects at the remote root (XX/REST).
    const crlf = vectors.legacy_md5_dos2unix[0]!;
    put(`${crlf.md5_dos2unix.slice(0, 2)}/${crlf.md5_dos2unix.slice(2)}`, crlf.content!);
    writeFileSync(join(repo, 'notes.txt.dvc'), `outs:\n- md5: ${crlf.md5_dos2unix}\n  size: ${crlf.content!.length}\n  path: notes.txt\n`);
    const legacyManifest = `[{"md5": "${crlf.md5_dos2unix}", "relpath": "a.txt"}]`;
    const legacyDir = md5(legacyManifest) + '.dir';
    put(`${legacyDir.slice(0, 2)}/${legacyDir.slice(2)}`, legacyManifest);
    writeFileSync(join(repo, 'legacy_dir.dvc'), `outs:\n- md5: ${legacyDir}\n  path: legacy_dir\n`);
    await regOk(repo, ['remote', 'add', 'dvc', remote, '--default']);

    const r = await regOk(repo, ['pull', '--json']);
    const result = JSON.parse(r.stdout) as { failed: number; fetched: number };
    expect(result.failed).toBe(0);
    for (const name of trees) {
      for (const [rel, f] of Object.entries(vectors.trees[name]!.files)) expect(readFileSync(join(repo, name, rel), 'utf8'), `${name}/${rel}`).toBe(f.content);
    }
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe(crlf.content);
    expect(readFileSync(join(repo, 'legacy_dir', 'a.txt'), 'utf8')).toBe(crlf.content);
    // Legacy objects land in the legacy cache layout.
    expect(existsSync(join(repo, '.reg', 'cache', crlf.md5_dos2unix.slice(0, 2), crlf.md5_dos2unix.slice(2)))).toBe(true);

    // Pushing it all to a fresh remote reproduces DVC's layout exactly.
    const fresh = tempDir('reg-e2e-fresh-');
    await regOk(repo, ['remote', 'add', 'fresh', fresh]);
    await regOk(repo, ['push', '-r', 'fresh']);
    expect(filesUnder(fresh)).toEqual(filesUnder(remote));
    for (const k of filesUnder(remote)) expect(readFileSync(join(fresh, k)).equals(readFileSync(join(remote, k))), k).toBe(true);
    for (const d of [repo, remote, fresh]) removeDir(d);
  });

  it('a corrupted object on the remote makes pull exit 6 naming it and leaves the workspace untouched', async () => {
    const remote = tempDir('reg-e2e-corrupt-');
    const a = makeGitRepo();
    await regOk(a, ['init']);
    writeTree(a, { 'ds/x.txt': 'good bytes\n', 'ds/y.txt': 'other\n' });
    await regOk(a, ['add', 'ds']);
    await regOk(a, ['remote', 'add', 'r', remote, '--default']);
    git(a, 'add', '-A');
    git(a, 'commit', '-qm', 'ds');
    await regOk(a, ['push']);
    const key = `files/md5/${md5('good bytes\n').slice(0, 2)}/${md5('good bytes\n').slice(2)}`;
    chmodSync(join(remote, key), 0o644);
    writeFileSync(join(remote, key), 'evil bytes\n');
    const b = tempDir('reg-e2e-corrupt-clone-');
    git(b, 'clone', '-q', a, '.');
    const r = await reg(b, ['pull']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(key);
    expect(existsSync(join(b, 'ds'))).toBe(false);
    expect(filesUnder(join(b, '.reg', 'cache')).some((k) => k.endsWith(md5('good bytes\n').slice(2)) || k.endsWith('.tmp'))).toBe(false);
    const json = await reg(b, ['pull', '--json']);
    expect(json.code).toBe(6);
    expect(JSON.parse(json.stdout).error.code).toBe('pull.integrity');
    for (const d of [a, b, remote]) removeDir(d);
  });

  it('refuses credentials on the tracked config and redacts them in remote list', async () => {
    const repo = makeGitRepo();
    await regOk(repo, ['init']);
    await regOk(repo, ['remote', 'add', 'origin', 's3://team-bucket/registry', '--default']);
    const refused = await reg(repo, ['remote', 'modify', 'origin', 'secret-access-key', 'TopSecret1234']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('--local');
    await regOk(repo, ['remote', 'modify', '--local', 'origin', 'access-key-id', 'AKIAEXAMPLE123']);
    await regOk(repo, ['remote', 'modify', '--local', 'origin', 'secret-access-key', 'TopSecret1234']);
    const list = await regOk(repo, ['remote', 'list', '-v', '--json']);
    expect(list.stdout).not.toContain('TopSecret1234');
    expect(list.stdout).not.toContain('AKIAEXAMPLE123');
    const bad = await reg(repo, ['remote', 'modify', 'origin', 'colour', 'blue']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('valid options: url, endpoint-url');
    removeDir(repo);
  });
});

describe('reg push / pull through S3 (s3rver, CLI)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server('e2e-bucket');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('two clones exchange a dataset through an S3-compatible server', async () => {
    const env = { ...s3.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const { a, b } = await exchange(env, async (repo) => {
      await regOk(repo, ['remote', 'add', 'origin', `s3://${s3.bucket}/team/registry`, '--default'], { env });
      await regOk(repo, ['remote', 'modify', 'origin', 'endpoint-url', s3.endpoint], { env });
      await regOk(repo, ['remote', 'modify', 'origin', 'path-style', 'true'], { env });
    });
    const st = await regOk(b, ['push', '--json'], { env });
    expect(JSON.parse(st.stdout)).toMatchObject({ pushed: 0, failed: 0 });
    for (const d of [a, b]) removeDir(d);
  });
});

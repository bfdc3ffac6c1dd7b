import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, REG_BIN, tempDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/** Issue 8, item 11: reg doctor against a directory remote, s3rver and dead endpoints. */

interface Check {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  summary: string;
  fix?: string;
  details?: Record<string, unknown>;
}

const binDir = tempDir('reg-bin-');
writeFileSync(join(binDir, 'reg'), `#!/bin/sh\nexec "${process.execPath}" "${REG_BIN}" "$@"\n`);
chmodSync(join(binDir, 'reg'), 0o755);
const wrongBin = tempDir('reg-wrong-bin-');
writeFileSync(join(wrongBin, 'reg'), '#!/bin/sh\necho "1.6.15"\n'); // what the unrelated npm package "reg" might print
chmodSync(join(wrongBin, 'reg'), 0o755);
const PATH_WITH_REG = `${binDir}:${process.env.PATH}`;

/** A TCP server that accepts connections and never answers: the remote that would hang a client. */
let blackHole: Server;
let blackHolePort: number;
const sockets = new Set<Socket>();
let s3: S3Server;
beforeAll(async () => {
  blackHole = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()));
  blackHolePort = (blackHole.address() as { port: number }).port;
  s3 = await startS3Server('doctor-bucket');
}, 60_000);
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => blackHole.close(() => r()));
  await s3?.stop();
  [binDir, wrongBin].forEach(removeDir);
});

let repo: string;
let store: string;
beforeEach(async () => {
  repo = makeGitRepo();
  store = tempDir('reg-store-');
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', store, '--default']);
});
afterEach(() => [repo, store].forEach(removeDir));

/** Runs `reg doctor --json` (and, with `withText`, the text rendering too, which must agree on the exit code). */
async function doctor(args: string[] = [], env: Record<string, string> = {}, withText = false): Promise<{ code: number; checks: Record<string, Check>; text: string; ms: number }> {
  const started = Date.now();
  const json = await reg(repo, ['doctor', '--json', ...args], { env: { PATH: PATH_WITH_REG, ...env } });
  const ms = Date.now() - started;
  const parsed = JSON.parse(json.stdout) as { checks: Check[]; ok: boolean };
  let text = '';
  if (withText) {
    const t = await reg(repo, ['doctor', ...args], { env: { PATH: PATH_WITH_REG, ...env } });
    expect(t.code).toBe(json.code);
    text = t.stdout;
  }
  return { code: json.code, checks: Object.fromEntries(parsed.checks.map((c) => [c.id, c])), text, ms };
}

describe('reg doctor', () => {
  it('a healthy registry with a directory remote: every check ok, exit 0; the probe leaves nothing behind', async () => {
    await regOk(repo, ['hooks', 'install']);
    const r = await doctor([], {}, true);
    expect(Object.values(r.checks).filter((c) => c.status !== 'ok')).toEqual([]);
    expect(r.code).toBe(0);
    expect(Object.keys(r.checks)).toEqual(['node', 'git', 'reg-on-path', 'config', 'hooks', 'secrets', 'remote', 'credentials', 'cache']);
    expect(r.checks['reg-on-path']!.summary).toContain('git-data-registry');
    expect(r.checks.remote!.summary).toMatch(/HEAD, put, get and delete of a probe object work/);
    expect(r.checks.credentials!.summary).toBe('none needed (a directory remote)');
    expect(r.checks.cache!.details).toMatchObject({ linkTypes: { copy: true }, used: expect.any(String) });
    expect(r.checks.cache!.summary).toMatch(/ on [^;]+; link types that work into the workspace: .*copy/);
    expect(filesUnder(store)).toEqual([]);
    expect(filesUnder(join(repo, '.reg/tmp')).filter((f) => f.startsWith('doctor-'))).toEqual([]);
    expect(r.text).toMatch(/^ok {4}node: Node\.js /m);
    expect(r.text).toContain('all checks passed');
  }, 240_000);

  it('says what to fix and exits 1: no hooks, reg missing from PATH or the wrong reg, a secret in the tracked config', async () => {
    const noReg = await doctor([], { PATH: '/usr/bin:/bin' }, true);
    expect(noReg.code).toBe(1);
    expect(noReg.checks['reg-on-path']).toMatchObject({ status: 'fail', fix: expect.stringContaining('npm install -g git-data-registry') });
    expect(noReg.checks.hooks).toMatchObject({ status: 'fail', fix: 'reg hooks install' });
    expect(noReg.text).toContain('FAIL  hooks:');
    expect(noReg.text).toContain('      fix: reg hooks install');
    const wrong = await doctor([], { PATH: `${wrongBin}:/usr/bin:/bin` });
    expect(wrong.checks['reg-on-path']!.status).toBe('fail');
    expect(wrong.checks['reg-on-path']!.summary).toContain('the npm package named "reg" is an unrelated tool');
    // hooks disabled on purpose: skipped, not failed
    writeFileSync(join(repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
    expect((await doctor()).checks.hooks!.status).toBe('skip');
    // a secret committed to the tracked config
    const config = join(repo, '.reg/config.yaml');
    writeFileSync(config, readFileSync(config, 'utf8') + '# leaked: AKIAABCDEFGHIJKLMNOP\n' + 'extra:\n  key: AKIAABCDEFGHIJKLMNOP\n');
    git(repo, 'add', '.reg/config.yaml');
    const leaked = await doctor();
    expect(leaked.checks.secrets).toMatchObject({ status: 'fail' });
    expect(leaked.checks.secrets!.summary).toMatch(/\.reg\/config\.yaml:\d+/);
    expect(JSON.stringify(leaked.checks)).not.toContain('AKIAABCDEFGHIJKLMNOP');
    // an invalid config: the config check fails with the file and line; the others still run
    writeFileSync(config, 'areas: [\n');
    const broken = await doctor();
    expect(broken.checks.config).toMatchObject({ status: 'fail' });
    expect(broken.checks.config!.summary).toContain('config.yaml:');
    expect(broken.checks.node!.status).toBe('ok');
  }, 240_000);

  it('an S3 remote (s3rver): the probe works and the credential source is named, never the secret', async () => {
    await regOk(repo, ['remote', 'add', 's3', `s3://${s3.bucket}/doctor`, '--default']);
    await regOk(repo, ['remote', 'modify', 's3', 'endpoint-url', s3.endpoint]);
    await regOk(repo, ['hooks', 'install']);
    const r = await doctor([], s3.env);
    expect(r.checks.remote).toMatchObject({ status: 'ok' });
    expect(r.checks.credentials!.summary).toBe('environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
    expect(r.code).toBe(0);
    // keys in config.local.yaml: named as the source; the values appear nowhere
    await regOk(repo, ['remote', 'modify', '--local', 's3', 'access-key-id', 'S3RVER']);
    await regOk(repo, ['remote', 'modify', '--local', 's3', 'secret-access-key', 'S3RVER']);
    const local = await doctor([], { ...s3.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }, true);
    expect(local.checks.credentials!.summary).toBe('access-key-id / secret-access-key of remote "s3" in .reg/config.local.yaml');
    expect(local.checks.remote!.status).toBe('ok');
    expect(local.text + JSON.stringify(local.checks)).not.toMatch(/S3RVER/);
    // a wrong bucket: the remote check fails with what to check
    await regOk(repo, ['remote', 'modify', 's3', 'url', 's3://no-such-bucket/doctor']);
    const bad = await doctor([], s3.env);
    expect(bad.code).toBe(1);
    expect(bad.checks.remote!.status).toBe('fail');
    expect(bad.checks.remote!.fix).toBeTruthy();
  }, 240_000);

  it('dead endpoints never hang it: a refused port fails fast, a silent server fails at --timeout', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
    await regOk(repo, ['remote', 'add', 'dead', 's3://bucket/x', '--default']);
    // a port nobody listens on (the black hole's, once closed, would be reused; take a fresh one)
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await regOk(repo, ['remote', 'modify', 'dead', 'endpoint-url', `http://127.0.0.1:${closedPort}`]);
    const refused = await doctor(['--timeout', '20'], env);
    expect(refused.code).toBe(1);
    expect(refused.checks.remote!.status).toBe('fail');
    expect(refused.checks.cache!.status).toBe('ok'); // the other checks still ran
    expect(refused.ms).toBeLessThan(30_000);

    await regOk(repo, ['remote', 'modify', 'dead', 'endpoint-url', `http://127.0.0.1:${blackHolePort}`]);
    const silent = await doctor(['--timeout', '3'], env);
    expect(silent.code).toBe(1);
    expect(silent.checks.remote!.summary).toMatch(/HEAD failed: no answer within 3 s/);
    expect(silent.ms).toBeLessThan(30_000);
    // --offline skips the probe
    const offline = await doctor(['--offline'], env);
    expect(offline.checks.remote!.status).toBe('skip');
  }, 240_000);
});

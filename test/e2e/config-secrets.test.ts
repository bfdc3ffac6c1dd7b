import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, makeGitRepo, reg, regOk, removeDir } from '../helpers/repo.js';

/**
 * Credentials never reach the tracked config or the output, `reg check` finds them where people
 * put them anyway, and a hostile config (YAML alias bomb) is a config error, not a crash.
 */
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

interface Finding {
  rule: string;
  file: string;
  line?: number;
  message: string;
}

async function newRegistry(): Promise<string> {
  const repo = makeGitRepo();
  await regOk(repo, ['init']);
  return repo;
}

describe('credentials in URLs', () => {
  it('reg remote add s3://KEY:SECRET@bucket/p stores the URL without them and moves them to the local config', async () => {
    const repo = await newRegistry();
    try {
      const r = await regOk(repo, ['remote', 'add', 'x', `s3://${KEY_ID}:${SECRET}@team-bucket/registry`, '--default']);
      for (const out of [r.stdout, r.stderr]) {
        expect(out).not.toContain(SECRET);
        expect(out).not.toContain(KEY_ID);
      }
      expect(r.stderr).toMatch(/moved to \.reg\/config\.local\.yaml/);
      const tracked = readFileSync(join(repo, '.reg', 'config.yaml'), 'utf8');
      expect(tracked).not.toContain(SECRET);
      expect(tracked).not.toContain(KEY_ID);
      expect(tracked).toContain('url: s3://team-bucket/registry');
      const local = readFileSync(join(repo, '.reg', 'config.local.yaml'), 'utf8');
      expect(local).toContain(`access-key-id: ${KEY_ID}`);
      expect(local).toContain(SECRET);

      const list = await regOk(repo, ['remote', 'list', '-v']);
      expect(list.stdout + list.stderr).not.toContain(SECRET);
      expect(list.stdout).toContain('***');
      const json = await regOk(repo, ['remote', 'list', '--json']);
      expect(json.stdout).not.toContain(SECRET);
      expect(json.stdout).not.toContain(KEY_ID);
      expect((await regOk(repo, ['check', '--json'])).stdout).not.toContain('secret-in-config');
    } finally {
      removeDir(repo);
    }
  });

  it('endpoint-url http://user:pass@host is stored without the credentials and never printed', async () => {
    const repo = await newRegistry();
    try {
      await regOk(repo, ['remote', 'add', 'minio', 's3://datasets/reg']);
      const r = await regOk(repo, ['remote', 'modify', 'minio', 'endpoint-url', `http://minio-user:${SECRET}@127.0.0.1:9000`]);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stdout).toContain('http://127.0.0.1:9000');
      const tracked = readFileSync(join(repo, '.reg', 'config.yaml'), 'utf8');
      expect(tracked).not.toContain(SECRET);
      expect(tracked).not.toContain('minio-user');
      expect(tracked).toContain('endpoint-url: http://127.0.0.1:9000');
      expect(readFileSync(join(repo, '.reg', 'config.local.yaml'), 'utf8')).toContain('access-key-id: minio-user');
      // A URL with only half of the credentials is refused, without echoing them.
      const half = await reg(repo, ['remote', 'add', 'y', `s3://${KEY_ID}@team-bucket/p`]);
      expect(half.code).toBe(2);
      expect(half.stdout + half.stderr).not.toContain(KEY_ID);
    } finally {
      removeDir(repo);
    }
  });

  it('a hand-written tracked config with user:password@ in a URL: reg check flags it (exit 5), remotes refuse it (exit 3), nothing echoes it', async () => {
    const repo = await newRegistry();
    try {
      await regOk(repo, ['remote', 'add', 'origin', 's3://team-bucket/registry', '--default']);
      const config = join(repo, '.reg', 'config.yaml');
      writeFileSync(config, readFileSync(config, 'utf8').replace('url: s3://team-bucket/registry', `url: s3://${KEY_ID}:${SECRET}@team-bucket/registry`));
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'oops');
      const check = await reg(repo, ['check', '--json']);
      expect(check.code).toBe(5);
      const findings = (JSON.parse(check.stdout) as { findings: Finding[] }).findings.filter((f) => f.rule === 'secret-in-config');
      expect(findings.map((f) => f.file)).toEqual(['.reg/config.yaml']);
      expect(findings[0]!.line).toBeGreaterThan(0);
      expect(findings[0]!.message).toMatch(/URL with a user name and password/);
      expect(check.stdout + check.stderr).not.toContain(SECRET);

      writeFileSync(join(repo, 'one.txt'), 'one\n');
      await regOk(repo, ['add', 'one.txt']);
      const push = await reg(repo, ['push', 'one.txt', '--json']);
      expect(push.code).toBe(3);
      expect(JSON.parse(push.stdout).error.code).toBe('config.secret-in-tracked-file');
      expect(push.stdout + push.stderr).not.toContain(SECRET);
      const list = await regOk(repo, ['remote', 'list', '-v']);
      expect(list.stdout + list.stderr).not.toContain(SECRET);
    } finally {
      removeDir(repo);
    }
  });

  it('reg check flags keys in a tracked .dvc/config and a tracked .reg/config.local.yaml', async () => {
    const repo = await newRegistry();
    try {
      mkdirSync(join(repo, '.dvc'), { recursive: true });
      writeFileSync(join(repo, '.dvc', 'config'), `[core]\n    remote = s3\n['remote "s3"']\n    url = s3://bucket/dvc\n    access_key_id = ${KEY_ID}\n    secret_access_key = ${SECRET}\n`);
      writeFileSync(join(repo, '.reg', 'config.local.yaml'), `remotes:\n  origin:\n    secret-access-key: ${SECRET}\n`);
      git(repo, 'add', '.dvc/config');
      git(repo, 'add', '-f', '.reg/config.local.yaml');
      for (const staged of [false, true]) {
        const check = await reg(repo, ['check', '--json', ...(staged ? ['--staged'] : [])]);
        expect(check.code).toBe(5);
        const findings = (JSON.parse(check.stdout) as { findings: Finding[] }).findings.filter((f) => f.rule === 'secret-in-config');
        expect(findings.filter((f) => f.file === '.dvc/config').map((f) => f.line)).toEqual([5, 6]);
        expect(findings.some((f) => f.file === '.reg/config.local.yaml' && /must stay out of the repository/.test(f.message))).toBe(true);
        expect(check.stdout).not.toContain(SECRET);
      }
    } finally {
      removeDir(repo);
    }
  });
});

describe('hostile config', () => {
  it('a YAML alias bomb in .reg/config.yaml is exit 3 naming the file, quickly', async () => {
    const repo = await newRegistry();
    try {
      const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 12; i++) {
        const prev = String.fromCharCode(96 + i);
        const name = String.fromCharCode(97 + i);
        levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
      }
      writeFileSync(join(repo, '.reg', 'config.yaml'), levels.join('\n') + '\n');
      const start = Date.now();
      for (const args of [['status'], ['push'], ['check']]) {
        const r = await reg(repo, [...args, '--json']);
        expect(r.code, `${args[0]}: ${r.stderr}`).toBe(3);
        const e = JSON.parse(r.stdout).error as { code: string; message: string };
        expect(e.code).toBe('config.yaml-aliases');
        expect(e.message).toContain(join('.reg', 'config.yaml'));
        expect(r.stderr).not.toContain('internal error');
      }
      expect(Date.now() - start).toBeLessThan(30_000);
    } finally {
      removeDir(repo);
    }
  });
});

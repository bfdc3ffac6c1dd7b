import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXT_MEMO_DIR, userCacheDir } from '../../src/user-cache.js';
import { git, makeGitRepo, reg, regOk, removeDir, tempDir } from '../helpers/repo.js';

// The real CLI remembers the parse of `.reg/config.yaml` and its secret scan in the user's cache
// (src/user-cache.ts), so a command does not run the YAML parser on a config it has seen. What it
// runs on must always be the config as it is now: an edit is seen at once, whatever its size.

let repo: string;
let cacheHome: string;
let env: Record<string, string>;

function memos(kind: string): string[] {
  const dir = userCacheDir({ XDG_CACHE_HOME: cacheHome }, TEXT_MEMO_DIR)!;
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${kind}-`)) : [];
}

beforeAll(async () => {
  repo = makeGitRepo();
  cacheHome = join(tempDir('reg-config-memo-'), 'xdg');
  env = { XDG_CACHE_HOME: cacheHome };
  await regOk(repo, ['init', '-q'], { env });
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'init');
});
afterAll(() => {
  removeDir(repo);
  removeDir(join(cacheHome, '..'));
});

describe('the config parse remembered by the CLI', () => {
  it('is written by a status and by a check, and nothing of it lands in the work tree', async () => {
    await regOk(repo, ['-q', '--json', 'status'], { env });
    expect(memos('config')).toHaveLength(1);
    expect(memos('secret-scan')).toHaveLength(1);
    await regOk(repo, ['-q', 'check'], { env });
    expect(memos('config')).toHaveLength(1);
    expect(git(repo, 'status', '--porcelain')).toBe('');
  });

  it('sees an edit of the same size at once: the edited config is what the command runs on', async () => {
    const path = join(repo, '.reg', 'config.yaml');
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('  type: reflink,copy\n');
    // Same length, and an invalid link type: the command must refuse it, not use the remembered parse.
    writeFileSync(path, text.replace('  type: reflink,copy\n', '  type: reflink,cppy\n'));
    const r = await reg(repo, ['-q', '--json', 'status'], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cppy');
    writeFileSync(path, text);
    await regOk(repo, ['-q', '--json', 'status'], { env });
  });

  it('finds a secret in an edited config on the next check, and the memo holds no secret value', async () => {
    const path = join(repo, '.reg', 'config.yaml');
    const text = readFileSync(path, 'utf8');
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    writeFileSync(path, `${text}\nextra:\n  secret_access_key: ${secret}\n`);
    const r = await reg(repo, ['-q', '--json', 'check'], { env });
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.stdout).findings.map((f: { rule: string }) => f.rule)).toContain('secret-in-config');
    const dir = userCacheDir({ XDG_CACHE_HOME: cacheHome }, TEXT_MEMO_DIR)!;
    for (const name of memos('secret-scan')) expect(readFileSync(join(dir, name), 'utf8')).not.toContain(secret);
    writeFileSync(path, text);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { git, makeGitRepo, reg, regOk, removeDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { commit, makeWorld, runGuarded, type World } from './world.js';

/**
 * Files a commit or a teammate's config can make huge or endless: git stores 4 GiB of zeros in a
 * few MiB, so a `.dvc` file, card, config or ignore file of any size is one `git pull` away, and a
 * remote option can name `/dev/zero` or a FIFO. reg reads none of them past its limit (pointers,
 * cards and configs 1 MiB, ignore files 100 MiB as in git, stash records 256 MiB, files remote
 * options name 16 MiB): a named error, exit 3, nothing written, the sentinel tree outside and
 * `.git` byte-identical (runGuarded). Without the limits the 1 MiB+ files below parsed (a YAML
 * comment is valid) and a 3 GiB pointer took 40 s and 4 GiB of memory to fail in V8.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Long enough for a loaded machine; a command that reads /dev/zero or blocks on a FIFO never ends. */
const HANG_MS = 20_000;
const MiB = 1024 * 1024;
const DS = 'raw_datasets/d';

/** Valid YAML (a comment) that makes a file `bytes` long. */
const padded = (text: string, bytes: number) => text + '#'.repeat(bytes - text.length - 1) + '\n';

const CARD = '---\nlicense: CC-BY-4.0\nsource: a test\nowner: someone\n---\n# Card: d\n\nA small dataset.\n';

/** A committed entry `raw_datasets/d` with its card; its pointer's text. */
async function addedEntry(w: World): Promise<string> {
  mkdirSync(join(w.repo, DS), { recursive: true });
  writeFileSync(join(w.repo, DS, 'a.txt'), 'alpha\n');
  await regOk(w.repo, ['add', DS], { env: w.env });
  writeFileSync(join(w.repo, `${DS}.card.md`), CARD);
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'd');
  return readFileSync(join(w.repo, `${DS}.dvc`), 'utf8');
}

/** "exit error-code whether stderr names `shown`" of one guarded run. */
async function outcome(w: World, args: string[], shown: string, guarded: string[] = []): Promise<string> {
  const r = await runGuarded(w, args, guarded, { timeoutMs: HANG_MS });
  return `${r.code} ${r.errorCode} ${r.stderr.includes(shown)}`;
}

describe('pointers', () => {
  it('a committed .dvc file over 1 MiB: status, checkout, pull and check refuse it by name (exit 3 pointer.too-large)', async () => {
    const w = (world = await makeWorld('dir'));
    const text = await addedEntry(w);
    commit(w, { [`${DS}.dvc`]: padded(text, MiB + 1) }, 'teammate: a big pointer');
    const seen: Record<string, string> = {};
    for (const args of [['status'], ['checkout', DS], ['pull'], ['check']]) seen[args.join(' ')] = await outcome(w, args, `${DS}.dvc is larger than 1 MiB`, [w.remoteDir!]);
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, '3 pointer.too-large true'])));
    // One byte less is a pointer like any other.
    writeFileSync(join(w.repo, `${DS}.dvc`), padded(text, MiB));
    expect((await runGuarded(w, ['status'])).code).toBe(0);
  }, 120_000);

  it('a sparse 3 GiB .dvc file in the work tree: refused at once, never read', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    truncateSync(join(w.repo, `${DS}.dvc`), 3 * 1024 * MiB);
    expect(await outcome(w, ['status'], `${DS}.dvc is larger than 1 MiB`)).toBe('3 pointer.too-large true');
  }, 60_000);

  it('a staged .dvc file or card over 1 MiB: check --staged (the pre-commit hook) refuses it by name', async () => {
    const w = (world = await makeWorld('none'));
    const text = await addedEntry(w);
    writeFileSync(join(w.repo, `${DS}.dvc`), padded(text, 2 * MiB));
    git(w.repo, 'add', `${DS}.dvc`);
    expect(await outcome(w, ['check', '--staged'], `${DS}.dvc (staged) is larger than 1 MiB`)).toBe('3 pointer.too-large true');
    git(w.repo, 'checkout', 'HEAD', '--', `${DS}.dvc`);
    writeFileSync(join(w.repo, `${DS}.card.md`), padded(CARD, 2 * MiB));
    git(w.repo, 'add', `${DS}.card.md`);
    expect(await outcome(w, ['check', '--staged'], `${DS}.card.md (staged) is larger than 1 MiB`)).toBe('3 card.too-large true');
  }, 60_000);

  it('a pointer over 1 MiB in a commit of the range: check --ci reports it as unreadable, its data unchecked (exit 5)', async () => {
    const w = (world = await makeWorld('dir'));
    const text = await addedEntry(w);
    await regOk(w.repo, ['push'], { env: w.env });
    const first = git(w.repo, 'rev-parse', 'HEAD').trim();
    commit(w, { [`${DS}.dvc`]: padded(text, 2 * MiB) }, 'teammate: a big pointer');
    commit(w, { [`${DS}.dvc`]: text }, 'teammate: fixed');
    const r = await runGuarded(w, ['check', '--ci', '--range', `${first}..HEAD`], [w.remoteDir!], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toContain(`${DS}.dvc is larger than 1 MiB, so it is not a pointer`);
  }, 60_000);
});

describe('cards, configs and ignore files', () => {
  it('a card over 1 MiB in the work tree: check refuses it by name (exit 3 card.too-large)', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    writeFileSync(join(w.repo, `${DS}.card.md`), padded(CARD, MiB + 1));
    expect(await outcome(w, ['check'], `${DS}.card.md is larger than 1 MiB`)).toBe('3 card.too-large true');
    writeFileSync(join(w.repo, `${DS}.card.md`), padded(CARD, MiB));
    expect((await runGuarded(w, ['check'])).code).toBe(0);
  }, 60_000);

  it('.reg/config.yaml over 1 MiB (a teammate commit), or config.local.yaml: refused by name (exit 3 config.too-large)', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    const config = join(w.repo, '.reg/config.yaml');
    const original = readFileSync(config, 'utf8');
    commit(w, { '.reg/config.yaml': padded(original, MiB + 1) }, 'teammate: a big config');
    expect(await outcome(w, ['status'], '.reg/config.yaml is larger than 1 MiB')).toBe('3 config.too-large true');
    commit(w, { '.reg/config.yaml': original }, 'fixed');
    writeFileSync(join(w.repo, '.reg/config.local.yaml'), padded('', MiB + 1));
    expect(await outcome(w, ['status'], 'config.local.yaml is larger than 1 MiB')).toBe('3 config.too-large true');
  }, 60_000);

  it('reg init --from-dvc with a .dvc/config over 1 MiB: refused by name, nothing written', async () => {
    const repo = makeGitRepo();
    try {
      mkdirSync(join(repo, '.dvc'));
      writeFileSync(join(repo, '.dvc/config'), padded("[core]\n    remote = s\n['remote \"s\"']\n    url = /tmp/nowhere\n", MiB + 1));
      const r = await reg(repo, ['--json', 'init', '--from-dvc'], { timeoutMs: HANG_MS });
      expect(r.code, r.stderr).toBe(3);
      expect(JSON.parse(r.stdout).error.code).toBe('config.too-large');
      expect(r.stderr).toContain('.dvc/config is larger than 1 MiB');
      expect(statSync(join(repo, '.reg'), { throwIfNoEntry: false })).toBeUndefined();
    } finally {
      removeDir(repo);
    }
  }, 60_000);

  it('a .dvcignore or .gitignore over 100 MiB (sparse): status and add refuse it by name, the .gitignore unchanged', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    const dvcignore = join(w.repo, 'raw_datasets/.dvcignore');
    writeFileSync(dvcignore, '*.tmp\n');
    truncateSync(dvcignore, 100 * MiB + 1);
    expect(await outcome(w, ['status'], 'raw_datasets/.dvcignore is larger than 100 MiB')).toBe('3 dvcignore.too-large true');
    execFileSync('rm', [dvcignore]);
    const gitignore = join(w.repo, 'raw_datasets/.gitignore');
    truncateSync(gitignore, 100 * MiB + 1);
    mkdirSync(join(w.repo, 'raw_datasets/e'));
    writeFileSync(join(w.repo, 'raw_datasets/e/b.txt'), 'bravo\n');
    expect(await outcome(w, ['add', 'raw_datasets/e'], 'raw_datasets/.gitignore is larger than 100 MiB')).toBe('3 gitignore.too-large true');
    expect(statSync(gitignore).size).toBe(100 * MiB + 1);
    expect(statSync(join(w.repo, 'raw_datasets/e.dvc'), { throwIfNoEntry: false })).toBeUndefined();
  }, 60_000);

  it('a stash record over 256 MiB (sparse): stash list and stash apply refuse it by name (exit 3)', async () => {
    const w = (world = await makeWorld('none'));
    const id = '20260101-000000-abcd';
    const record = join(w.repo, '.reg/stash', `${id}.json`);
    mkdirSync(join(w.repo, '.reg/stash'), { recursive: true });
    writeFileSync(record, '{}');
    truncateSync(record, 256 * MiB + 1);
    const seen: Record<string, string> = {};
    for (const args of [['stash', 'list'], ['stash', 'apply', id]]) seen[args.join(' ')] = await outcome(w, args, `.reg/stash/${id}.json is larger than 256 MiB`);
    expect(seen).toEqual({ 'stash list': '3 stash.bad-record true', [`stash apply ${id}`]: '3 stash.bad-record true' });
  }, 60_000);
});

describe('a cache object a commit planted (git add -f past .reg/.gitignore)', () => {
  it("an entry's manifest in the cache as 3 GiB of zeros (sparse): ls, checkout, push, gc and verify name it (exit 6), none reads it", async () => {
    const w = (world = await makeWorld('dir'));
    const text = await addedEntry(w);
    const oid = /md5: ([0-9a-f]{32}\.dir)/.exec(text)![1]!;
    const object = join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2));
    const good = readFileSync(object);
    const seen: Record<string, string> = {};
    for (const args of [['ls', DS], ['checkout', DS, '--force'], ['push'], ['gc'], ['verify', '--remote', 'team']]) {
      rmSync(object, { force: true });
      writeFileSync(object, '');
      truncateSync(object, 3 * 1024 * MiB);
      const r = await runGuarded(w, args, [w.remoteDir!], { timeoutMs: HANG_MS });
      seen[args[0]!] = `${r.code} ${/internal error/.test(r.stderr)} ${r.stderr.includes(oid.slice(2))}`;
      rmSync(join(w.repo, '.reg/cache/quarantine'), { recursive: true, force: true });
    }
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, '6 false true'])));
    // A good copy again: everything works.
    rmSync(object, { force: true });
    writeFileSync(object, good);
    expect((await runGuarded(w, ['status'])).code).toBe(0);
  }, 120_000);
});

describe('a catalog output directory a commit filled (a built site kept in the repository)', () => {
  it('a 3 GiB page (sparse) the last build listed is replaced unread; a site index over 64 MiB is refused by name (exit 2)', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    await regOk(w.repo, ['catalog', 'build', '-o', 'site']);
    const page = join(w.repo, 'site/index.html');
    const good = readFileSync(page);
    truncateSync(page, 3 * 1024 * MiB);
    const r = await runGuarded(w, ['catalog', 'build', '-o', 'site'], [], { timeoutMs: HANG_MS });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(page).equals(good)).toBe(true);
    truncateSync(join(w.repo, 'site/.reg-catalog.json'), 64 * MiB + 1);
    expect(await outcome(w, ['catalog', 'build', '-o', 'site'], 'site/.reg-catalog.json is larger than 64 MiB')).toBe('2 catalog.output-bad-index true');
    expect(readFileSync(page).equals(good)).toBe(true);
  }, 60_000);
});

describe('files a remote option names (ssl-verify, credential-path, config-path)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server('test-bucket', { extraKey: { id: 'TEAMKEY', secret: 'team-secret' } });
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
  });

  it('/dev/zero, a FIFO, a directory, a missing file or one over 16 MiB: push refuses it by option name (exit 3), never reads it', async () => {
    const w = (world = await makeWorld('s3rver', s3));
    await addedEntry(w);
    const config = join(w.repo, '.reg/config.yaml');
    const fifo = join(w.outside, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(w.outside, 'big.pem');
    writeFileSync(big, '');
    truncateSync(big, 16 * MiB + 1);
    const cases: Array<[string, string, string]> = [
      ['ssl-verify', '/dev/zero', 'is not a regular file'],
      ['ssl-verify', fifo, 'is not a regular file'],
      ['ssl-verify', w.outside, 'is not a regular file'],
      ['ssl-verify', join(w.outside, 'absent.pem'), 'cannot be read (ENOENT)'],
      ['ssl-verify', big, 'is larger than 16 MiB'],
      ['credential-path', '/dev/zero', 'is not a regular file'],
      ['config-path', fifo, 'is not a regular file'],
    ];
    const seen: Record<string, string> = {};
    for (const [key, value, what] of cases) {
      setConfigValue(config, ['remotes', 'team', key], value);
      const r = await runGuarded(w, ['push'], [], { timeoutMs: HANG_MS });
      seen[`${key} ${value}`] = `${r.code} ${r.errorCode} ${r.stderr.includes(`remotes.team.${key}: ${value} ${what}`)}`;
      setConfigValue(config, ['remotes', 'team', key], undefined);
    }
    expect(seen).toEqual(Object.fromEntries(cases.map(([key, value]) => [`${key} ${value}`, '3 remote.bad-file-option true'])));
    expect(await w.remoteKeys()).toEqual([]);
  }, 120_000);

  it('a tracked read-timeout of a month, retry-budget of a year or jobs of a million: refused by option name (exit 3); reg remote modify refuses them too (exit 2)', async () => {
    const w = (world = await makeWorld('s3rver', s3));
    await addedEntry(w);
    const config = join(w.repo, '.reg/config.yaml');
    const cases: Array<[string, number, number]> = [['read-timeout', 30 * 86_400, 3600], ['connect-timeout', 86_400, 600], ['retry-budget', 365 * 86_400, 86_400], ['jobs', 1_000_000, 512]];
    const seen: Record<string, string> = {};
    for (const [key, value, max] of cases) {
      setConfigValue(config, ['remotes', 'team', key], value);
      const r = await runGuarded(w, ['push'], [], { timeoutMs: HANG_MS });
      const modify = await runGuarded(w, ['remote', 'modify', 'team', key, String(value)], [], { timeoutMs: HANG_MS });
      seen[key] = `${r.code} ${r.errorCode} ${r.stderr.includes(`remotes.team.${key} must be an integer from 1 to ${max}`)} ${modify.code}`;
      setConfigValue(config, ['remotes', 'team', key], undefined);
    }
    expect(seen).toEqual(Object.fromEntries(cases.map(([key]) => [key, '3 remote.bad-option true 2'])));
    expect(await w.remoteKeys()).toEqual([]);
  }, 120_000);

  it('regular files work: credential-path signs with the key it holds (a wrong key is refused by the server), a CA bundle is accepted', async () => {
    const w = (world = await makeWorld('s3rver', s3));
    await addedEntry(w);
    const config = join(w.repo, '.reg/config.yaml');
    const credentials = join(w.outside, 'credentials');
    writeFileSync(credentials, '[default]\naws_access_key_id = NOSUCHKEY\naws_secret_access_key = wrong\n');
    setConfigValue(config, ['remotes', 'team', 'credential-path'], credentials);
    // The AWS chain takes keys from the environment before any shared file (as boto does for DVC).
    const noEnvKeys = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '' };
    const refused = await runGuarded(w, ['push'], [], { timeoutMs: 60_000, env: noEnvKeys });
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).not.toContain('internal error');
    expect(await w.remoteKeys()).toEqual([]);
    writeFileSync(credentials, '[default]\naws_access_key_id = TEAMKEY\naws_secret_access_key = team-secret\n');
    // A PEM file (the CA is only used for https; the endpoint is http): read, not refused.
    const ca = join(w.outside, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    setConfigValue(config, ['remotes', 'team', 'ssl-verify'], ca);
    const ok = await runGuarded(w, ['push'], [], { timeoutMs: 60_000, env: noEnvKeys });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await w.remoteKeys()).length).toBeGreaterThan(0);
  }, 120_000);
});

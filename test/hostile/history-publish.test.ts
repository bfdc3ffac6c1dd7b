import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { filesUnder, git, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { snapshotTree } from './tree.js';
import { commit, makeWorld, manifestBytes, md5, pointerText, putCacheObject, putRemoteObject, runGuarded, type World } from './world.js';

/**
 * The attacker's view of the commands that read history and publish: a teammate's commit with a
 * hostile pointer or manifest in an old version, another registry whose tracked config names
 * files and identities on the caller's machine, an HTTP remote that redirects, loops and never
 * ends a body, file names built to break out of download.sh, hostile export manifests and batch
 * rows. Every case runs the real CLI and asserts the exit code, the error code and that a sentinel
 * tree outside the repository and `.git/` are byte-identical (runGuarded). docs/security.md lists
 * each attack with its outcome.
 */

const CARD = '---\nlicense: MIT\nsource: a teammate\nowner: someone\ntitle: evil\n---\n# Card: evil\n';
const PAYLOAD = '#!/bin/sh\necho owned > /tmp/reg-hostile-owned\n';

/** The remote directory of a 'dir' world (its config names it). */
function remoteDirOf(w: World): string {
  const text = readFileSync(join(w.repo, '.reg/config.yaml'), 'utf8');
  return /url: "?([^\s,}"]+)/.exec(text)![1]!;
}

/** Gives the repository a Git remote whose branches it has fetched (remote gc refuses to run without one). */
function withGitRemote(w: World): void {
  const bare = tempDir('reg-hostile-bare-');
  git(bare, 'init', '-q', '--bare');
  git(w.repo, 'remote', 'add', 'origin', bare);
  git(w.repo, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  git(w.repo, 'fetch', '-q', 'origin');
}

/** Adds and pushes a small directory entry through the CLI and commits it; returns its files. */
async function goodEntry(w: World, name = 'good'): Promise<Record<string, string>> {
  const files = { 'a.txt': `a of ${name}\n`, 'sub/b.txt': `b of ${name}\n` };
  writeTree(join(w.repo, 'raw_datasets', name), files);
  await regOk(w.repo, ['add', `raw_datasets/${name}`], { env: w.env });
  await regOk(w.repo, ['push', `raw_datasets/${name}`], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', name);
  return files;
}

describe('history: a hostile pointer in an old commit (log, diff, ls, get, gc)', () => {
  let w: World;
  let evilCommit: string;
  let payloadOid: string;
  beforeAll(async () => {
    w = await makeWorld('dir');
    await goodEntry(w);
    payloadOid = await putRemoteObject(w, PAYLOAD);
    putCacheObject(w, PAYLOAD);
    commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: payloadOid, size: PAYLOAD.length, path: '../.git/hooks/post-checkout', isexec: true }]) }, 'evil');
    evilCommit = git(w.repo, 'rev-parse', 'HEAD').trim();
    git(w.repo, 'rm', '-q', 'raw_datasets/evil.dvc');
    git(w.repo, 'commit', '-qm', 'clean');
    withGitRemote(w);
  }, 120_000);
  afterAll(() => w?.cleanup());

  const shown = () => `raw_datasets/evil.dvc at ${evilCommit.slice(0, 10)}`;

  it('log lists the version as unreadable, naming the commit and the file (exit 0: the other versions are fine)', async () => {
    const r = await runGuarded(w, ['log', 'raw_datasets/evil']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(evilCommit.slice(0, 10));
    expect(r.stdout).toContain('.git/hooks/post-checkout');
  });

  it('diff across it: exit 3, the message names the file, the commit and the line', async () => {
    const r = await runGuarded(w, ['diff', 'HEAD~2', 'HEAD~1']);
    expect(r.code).toBe(3);
    expect(JSON.stringify(r.json)).toContain(shown());
  });

  it('ls --rev of it: exit 3 pointer.path-internal naming the commit', async () => {
    const r = await runGuarded(w, ['ls', 'raw_datasets/evil', '--rev', 'HEAD~1']);
    expect(r.code).toBe(3);
    expect(r.errorCode).toBe('pointer.path-internal');
    expect(r.stderr + r.stdout).toContain(shown());
  });

  it('get --rev of it: exit 3, nothing written at -o or under .git/hooks', async () => {
    const out = join(w.outside, 'docs', 'got');
    const r = await runGuarded(w, ['get', 'raw_datasets/evil', '--rev', 'HEAD~1', '-o', out]);
    expect(r.code).toBe(3);
    expect(r.errorCode).toBe('pointer.path-internal');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(w.repo, '.git/hooks/post-checkout'))).toBe(false);
  });

  it('gc --yes protects the object a hostile pointer names (gc only ever keeps more): only the orphan goes', async () => {
    const cache = join(w.repo, '.reg/cache');
    const orphan = putCacheObject(w, 'orphan in the cache\n');
    const before = snapshotTree(cache);
    const r = await runGuarded(w, ['gc', '--grace', '0', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.deleted).toEqual([`files/md5/${orphan.slice(0, 2)}/${orphan.slice(2)}`]);
    const after = snapshotTree(cache);
    expect(Object.keys(before).filter((k) => !(k in after))).toEqual([`files/md5/${orphan.slice(0, 2)}/${orphan.slice(2)}`]);
    expect(after[`files/md5/${payloadOid.slice(0, 2)}/${payloadOid.slice(2)}`]).toBeDefined();
  });

  it('remote gc --yes: the same on the directory remote, whose listing gc reads', async () => {
    const remote = remoteDirOf(w);
    const orphan = await putRemoteObject(w, 'orphan on the remote\n');
    const old = new Date(Date.now() - 30 * 86400_000);
    const age = (dir: string) => {
      for (const f of filesUnder(dir)) utimesSync(join(dir, f), old, old);
    };
    age(remote);
    git(w.repo, 'fetch', '-q', 'origin');
    const before = snapshotTree(remote);
    const r = await runGuarded(w, ['gc', '-r', '--grace', '1d', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const key = `files/md5/${orphan.slice(0, 2)}/${orphan.slice(2)}`;
    expect(r.json?.deleted, JSON.stringify(r.json)).toEqual([key]);
    const after = snapshotTree(remote);
    expect(Object.keys(before).filter((k) => !(k in after))).toEqual([key]);
    expect(after[`files/md5/${payloadOid.slice(0, 2)}/${payloadOid.slice(2)}`]).toBeDefined();
  });
});

describe('history: a hostile manifest in an old commit', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld('dir');
    await goodEntry(w);
    const member = await putRemoteObject(w, 'member\n');
    // Only on the remote, as a teammate's push would have left it: fetched by get and gc.
    const manifest = manifestBytes([
      { relpath: 'ok.txt', md5: member },
      { relpath: '../../escape.txt', md5: member },
    ]);
    const oid = await putRemoteObject(w, manifest, '.dir');
    commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, size: 14, path: 'evil' }]), 'raw_datasets/evil.card.md': CARD }, 'evil');
    git(w.repo, 'rm', '-q', 'raw_datasets/evil.dvc');
    git(w.repo, 'commit', '-qm', 'clean');
    withGitRemote(w);
  }, 120_000);
  afterAll(() => w?.cleanup());

  it('get --rev: exit 3, nothing written', async () => {
    const out = join(w.outside, 'docs', 'got');
    const r = await runGuarded(w, ['get', 'raw_datasets/evil', '--rev', 'HEAD~1', '-o', out]);
    expect(r.code).toBe(3);
    expect(r.errorCode).toMatch(/^manifest\./);
    expect(existsSync(out)).toBe(false);
  });

  it('export --rev: exit 3, the output directory stays empty', async () => {
    const out = tempDir('reg-hostile-export-');
    try {
      const r = await runGuarded(w, ['export', 'raw_datasets/evil', '--rev', 'HEAD~1', '-o', out], [out]);
      expect(r.code).toBe(3);
      expect(filesUnder(out)).toEqual([]);
    } finally {
      removeDir(out);
    }
  });

  it('gc refuses as a whole (exit 3: it cannot tell what the version keeps) and deletes nothing, locally and on the remote', async () => {
    const cache = join(w.repo, '.reg/cache');
    const remote = remoteDirOf(w);
    const before = [snapshotTree(cache), snapshotTree(remote)];
    git(w.repo, 'fetch', '-q', 'origin');
    for (const args of [['gc', '--grace', '0', '--yes'], ['gc', '-r', '--grace', '1d', '--yes']]) {
      const r = await runGuarded(w, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      expect(r.errorCode).toBe('gc.members-unknown');
    }
    expect([snapshotTree(cache), snapshotTree(remote)]).toEqual(before);
  });
});

describe('export: hostile manifest names', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld('dir');
  }, 60_000);
  afterAll(() => w?.cleanup());

  const cases: Array<{ name: string; entries: Array<{ relpath: string }> }> = [
    { name: '../x', entries: [{ relpath: '../x' }] },
    { name: '.git/config', entries: [{ relpath: '.git/config' }] },
    { name: 'an absolute path', entries: [{ relpath: '/etc/passwd' }] },
    { name: 'a file and a directory of one name (a and a/b)', entries: [{ relpath: 'a' }, { relpath: 'a/b' }] },
  ];
  it('a backslash name (..\\..\\x) in a zip with --keep-names: exit 3 export.zip-unsafe-name (zip tools read it as a path), nothing written', async () => {
    const member = putCacheObject(w, 'member\n');
    const oid = putCacheObject(w, manifestBytes([{ relpath: '..\\..\\x', md5: member }]), '.dir');
    commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, size: 7, path: 'evil' }]), 'raw_datasets/evil.card.md': CARD });
    const out = tempDir('reg-hostile-export-');
    try {
      const zip = await runGuarded(w, ['export', 'raw_datasets/evil', '--rev', 'HEAD', '--keep-names', '--archive', 'zip', '-o', out], [out]);
      expect(zip.code, zip.stderr).toBe(3);
      expect(zip.errorCode).toBe('export.zip-unsafe-name');
      const plain = await runGuarded(w, ['export', 'raw_datasets/evil', '--rev', 'HEAD', '-o', out], [out]);
      expect(plain.code).toBe(5);
      expect(filesUnder(out)).toEqual([]);
    } finally {
      removeDir(out);
    }
  });

  for (const c of cases) {
    it(`${c.name}: exit 3, nothing written`, async () => {
      const member = putCacheObject(w, 'member\n');
      const oid = putCacheObject(w, manifestBytes(c.entries.map((e) => ({ ...e, md5: member }))), '.dir');
      commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, size: 7, path: 'evil' }]), 'raw_datasets/evil.card.md': CARD });
      const out = tempDir('reg-hostile-export-');
      try {
        const r = await runGuarded(w, ['export', 'raw_datasets/evil', '--rev', 'HEAD', '-o', out], [out]);
        expect(r.code, r.stderr).toBe(3);
        expect(r.errorCode).toMatch(/^manifest\./);
        expect(filesUnder(out)).toEqual([]);
      } finally {
        removeDir(out);
      }
    });
  }
});

describe('get --repo: another registry is a stranger', () => {
  let victim: World;
  let stranger: World;
  let files: Record<string, string>;
  beforeAll(async () => {
    victim = await makeWorld('none');
    stranger = await makeWorld('dir');
    files = await goodEntry(stranger);
  }, 120_000);
  afterAll(async () => {
    await victim?.cleanup();
    await stranger?.cleanup();
  });

  /** The stranger commits a change to its tracked remote settings; returns a function undoing it. */
  function strangerRemote(settings: Record<string, unknown>): () => void {
    const config = join(stranger.repo, '.reg/config.yaml');
    const saved = readFileSync(config);
    for (const [k, v] of Object.entries(settings)) setConfigValue(config, ['remotes', 'team', k], v);
    git(stranger.repo, 'commit', '-qam', 'remote settings');
    return () => {
      writeFileSync(config, saved);
      git(stranger.repo, 'commit', '-qam', 'undo');
    };
  }

  it('a plain get works (the baseline the attacks below start from)', async () => {
    const out = join(victim.repo, 'got-a.txt');
    const r = await runGuarded(victim, ['get', '--repo', stranger.repo, 'raw_datasets/good/a.txt', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(files['a.txt']);
  });

  for (const [key, value] of [
    ['credential-path', '/root/.aws/credentials'],
    ['config-path', '/root/.aws/config'],
    ['ssl-verify', '/etc/ssl/private/key.pem'],
  ] as const) {
    it(`${key}: ${value} in its config is refused (exit 3): reg never reads a file on this machine named by a stranger`, async () => {
      const undo = strangerRemote({ [key]: value });
      try {
        const r = await runGuarded(victim, ['get', '--repo', stranger.repo, 'raw_datasets/good/a.txt', '-o', join(victim.repo, 'x')]);
        expect(r.code).toBe(3);
        expect(r.errorCode).toBe('get.foreign-file-option');
        expect(r.stderr + r.stdout).toContain(key);
        expect(existsSync(join(victim.repo, 'x'))).toBe(false);
      } finally {
        undo();
      }
    });
  }

  /** Forgets what earlier cases fetched, so the next get must read the stranger's remote. */
  const forget = () => {
    removeDir(join(victim.repo, '.reg/cache'));
    removeDir(join(victim.repo, 'x'));
  };

  it('a directory remote pointing at the caller’s sentinel tree is only read for object keys: the object is missing, exit 4, nothing written or changed', async () => {
    const undo = strangerRemote({ url: victim.outside });
    forget();
    try {
      const out = join(victim.repo, 'x');
      const r = await runGuarded(victim, ['get', '--repo', stranger.repo, 'raw_datasets/good/a.txt', '-o', out]);
      expect(r.code).toBe(4);
      expect(existsSync(out)).toBe(false);
    } finally {
      undo();
    }
  });

  it('a directory remote pointing at the caller’s own registry (.reg/, with config.local.yaml) reads nothing but object keys', async () => {
    writeFileSync(join(victim.repo, '.reg/config.local.yaml'), 'remotes:\n  team:\n    secret-access-key: victim-secret-0123456789\n');
    const undo = strangerRemote({ url: join(victim.repo, '.reg') });
    forget();
    try {
      const out = join(victim.repo, 'x');
      const r = await runGuarded(victim, ['get', '--repo', stranger.repo, 'raw_datasets/good/a.txt', '-o', out]);
      expect(r.code).toBe(4);
      expect(r.stdout + r.stderr).not.toContain('victim-secret');
      expect(existsSync(out)).toBe(false);
    } finally {
      undo();
      removeDir(join(victim.repo, '.reg/config.local.yaml'));
    }
  });

  it('a pointer naming a file outside its own repository (path: ../../x) is refused (exit 3)', async () => {
    const oid = await putRemoteObject(stranger, PAYLOAD);
    commit(stranger, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, size: PAYLOAD.length, path: `../../${victim.outside}/run.sh` }]) });
    try {
      const r = await runGuarded(victim, ['get', '--repo', stranger.repo, 'raw_datasets/evil']);
      expect(r.code).toBe(3);
      expect(r.errorCode).toMatch(/^pointer\.path-/);
    } finally {
      git(stranger.repo, 'rm', '-q', 'raw_datasets/evil.dvc');
      git(stranger.repo, 'commit', '-qm', 'clean');
    }
  });

  it('a path with .. on the command line is refused (exit 2)', async () => {
    const r = await runGuarded(victim, ['get', '--repo', stranger.repo, '../../etc/passwd']);
    expect(r.code).toBe(2);
    expect(r.errorCode).toBe('get.bad-path');
  });
});

describe('get --repo with an S3 remote: the stranger cannot choose which of the caller’s identities signs', () => {
  let s3: S3Server;
  let victim: World;
  let stranger: World;
  beforeAll(async () => {
    s3 = await startS3Server('hostile-profile');
    victim = await makeWorld('none');
    stranger = await makeWorld('s3rver', s3);
    await goodEntry(stranger);
  }, 120_000);
  afterAll(async () => {
    await victim?.cleanup();
    await stranger?.cleanup();
    await s3?.stop();
  });

  it('profile in its tracked config is ignored: the caller’s environment credentials sign, never the named profile', async () => {
    const aws = join(victim.outside, '.aws');
    mkdirSync(aws);
    writeFileSync(join(aws, 'credentials'), '[victims-prod]\naws_access_key_id = AKIAVICTIMPROD000001\naws_secret_access_key = victim-prod-secret\n');
    setConfigValue(join(stranger.repo, '.reg/config.yaml'), ['remotes', 'team', 'profile'], 'victims-prod');
    git(stranger.repo, 'commit', '-qam', 'profile');
    const out = join(victim.repo, 'a.txt');
    const env = { ...stranger.env, AWS_SHARED_CREDENTIALS_FILE: join(aws, 'credentials'), AWS_CONFIG_FILE: join(aws, 'config') };
    const r = await runGuarded({ ...victim, env }, ['get', '--repo', stranger.repo, 'raw_datasets/good/a.txt', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('a of good\n');
    expect(r.stdout + r.stderr).not.toContain('victims-prod');
  });
});

describe('HTTP(S) remote controlled by an attacker', () => {
  const SMALL = 'small object\n';
  const oid = md5(SMALL);
  const key = `/files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;
  let w: World;
  let mode = 'ok';
  let other: TestHttpServer;
  let evil: TestHttpServer;
  let endlessBytes = 0;
  beforeAll(async () => {
    other = await startHttpServer((req, res) => {
      if (req.url === key) res.writeHead(200, { 'content-length': String(SMALL.length) }).end(SMALL);
      else res.writeHead(404).end();
    });
    evil = await startHttpServer((req, res) => {
      if (req.url !== key) return void res.writeHead(404).end();
      if (mode === 'ok') return void res.writeHead(200, { 'content-length': String(SMALL.length) }).end(SMALL);
      if (mode === 'other-host') return void res.writeHead(302, { location: `${other.url}${key}` }).end();
      if (mode === 'file') return void res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      if (mode === 'loop') return void res.writeHead(302, { location: key }).end();
      if (mode === 'short-length') return void res.writeHead(200, { 'content-length': '5' }).end(SMALL.slice(0, 5));
      if (mode === 'endless') {
        // Chunked, no Content-Length, never ends: the download must stop at the size the pointer records.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) endlessBytes += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => undefined);
        pump();
      }
    });
    w = await makeWorld('none');
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['remotes', 'web'], { url: evil.url, 'retry-budget': 5, 'read-timeout': 5, 'connect-timeout': 2 });
    setConfigValue(join(w.repo, '.reg/config.yaml'), ['core', 'remote'], 'web');
    commit(w, { 'raw_datasets/small.dvc': pointerText([{ md5: oid, size: SMALL.length, path: 'small' }]) });
    withGitRemote(w);
  }, 60_000);
  afterAll(async () => {
    await w?.cleanup();
    await evil?.close();
    await other?.close();
  });

  const getSmall = async (out: string) => runGuarded(w, ['get', 'raw_datasets/small', '--rev', 'HEAD', '-o', out], [join(w.repo, '.reg/cache')].filter(() => false));

  it('a redirect to another host is followed (no credentials travel; the bytes are verified)', async () => {
    mode = 'other-host';
    const out = join(w.repo, 'redirected.txt');
    const r = await getSmall(out);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(SMALL);
    removeDir(join(w.repo, '.reg/cache/files'));
  });

  it('a redirect to file:///etc/passwd is refused: exit 4, nothing written', async () => {
    mode = 'file';
    const out = join(w.repo, 'file.txt');
    const r = await getSmall(out);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toContain('file:');
    expect(existsSync(out)).toBe(false);
  });

  it('a redirect loop ends after 5 redirects: exit 4 within the retry budget, nothing written', async () => {
    mode = 'loop';
    const out = join(w.repo, 'loop.txt');
    const started = Date.now();
    const r = await getSmall(out);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toContain('redirects');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(out)).toBe(false);
  });

  it('a Content-Length that lies short: exit 6, nothing enters the cache', async () => {
    mode = 'short-length';
    const out = join(w.repo, 'short.txt');
    const r = await getSmall(out);
    expect(r.code).toBe(6);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2)))).toBe(false);
  });

  it('an endless body for a small object is stopped at the size its pointer records: exit 6, no temp file, nothing cached', async () => {
    mode = 'endless';
    endlessBytes = 0;
    const out = join(w.repo, 'endless.txt');
    const started = Date.now();
    const r = await getSmall(out);
    expect(r.code).toBe(6);
    expect(r.errorCode).toBe('get.integrity');
    expect(r.stdout + r.stderr).toContain('remote.oversized-object');
    expect(Date.now() - started).toBeLessThan(30_000);
    // The server may have pushed a few socket buffers ahead; far less than what an unbounded read takes.
    expect(endlessBytes).toBeLessThan(64 << 20);
    expect(existsSync(out)).toBe(false);
    expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
    expect(existsSync(join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2)))).toBe(false);
  });

  it('pull of the same object: stopped at the recorded size too (exit 6), nothing in the work tree or the cache', async () => {
    mode = 'endless';
    const started = Date.now();
    const r = await runGuarded(w, ['pull', 'raw_datasets/small']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout + r.stderr).toContain('remote.oversized-object');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(join(w.repo, 'raw_datasets/small'))).toBe(false);
    expect(tempFilesUnder(join(w.repo, '.reg/cache'))).toEqual([]);
  });

  it('a remote that cannot list: remote gc is refused (exit 3) and the remote is never written', async () => {
    mode = 'ok';
    git(w.repo, 'fetch', '-q', 'origin');
    const r = await runGuarded(w, ['gc', '-r', '--grace', '1d', '--yes']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.errorCode).toBe('remote.list-unsupported');
  });

  it('push to it is refused as read-only (exit 3)', async () => {
    mode = 'ok';
    writeTree(join(w.repo, 'raw_datasets/new'), { 'x.txt': 'x\n' });
    await regOk(w.repo, ['add', 'raw_datasets/new']);
    const r = await runGuarded(w, ['push', 'raw_datasets/new']);
    expect(r.code).toBe(3);
    expect(r.errorCode).toBe('remote.read-only');
  });
});

describe('share: download.sh with file names built to inject shell commands', () => {
  let s3: S3Server;
  let w: World;
  const NAMES = ['a$(touch PWNED-1).txt', 'b`touch PWNED-2`.txt', `c'q"d.txt`, '-rf', 'e;touch PWNED-3;.txt', 'f|touch PWNED-4', '$HOME', 'g\\n.txt', 'sub dir/h & touch PWNED-5.txt'];
  beforeAll(async () => {
    s3 = await startS3Server('hostile-share');
    w = await makeWorld('s3rver', s3);
    writeTree(join(w.repo, 'raw_datasets/pages'), Object.fromEntries(NAMES.map((n, i) => [n, `file ${i}\n`])));
    writeTree(w.repo, { 'raw_datasets/pages.card.md': '---\nlicense: MIT\nsource: s\nowner: o\ntitle: "$(touch PWNED-6) `touch PWNED-7` \'q\' \\"d\\""\n---\n# Card: pages\n' });
    await regOk(w.repo, ['add', 'raw_datasets/pages'], { env: w.env });
    await regOk(w.repo, ['push', 'raw_datasets/pages'], { env: w.env });
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'pages');
  }, 120_000);
  afterAll(async () => {
    await w?.cleanup();
    await s3?.stop();
  });

  it('the script runs with sh, downloads every file under its name, and no injected command runs', async () => {
    const out = tempDir('reg-hostile-share-');
    const work = tempDir('reg-hostile-share-run-');
    try {
      const r = await runGuarded(w, ['share', 'raw_datasets/pages', '--rev', 'HEAD', '--expires', '1h', '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      const run = spawnSync('sh', [join(out, 'download.sh'), 'dest'], { cwd: work, encoding: 'utf8', env: { PATH: process.env.PATH!, HOME: work } });
      expect(run.status, run.stderr).toBe(0);
      for (const [i, n] of NAMES.entries()) expect(readFileSync(join(work, 'dest', n), 'utf8')).toBe(`file ${i}\n`);
      const everything = [...filesUnder(work), ...filesUnder(out), ...filesUnder(w.repo)];
      expect(everything.filter((f) => f.includes('PWNED') && !f.startsWith('dest/') && !f.startsWith('raw_datasets/pages/'))).toEqual([]);
      expect(existsSync('/tmp/PWNED-1') || existsSync(join(work, 'PWNED-1'))).toBe(false);
    } finally {
      removeDir(out);
      removeDir(work);
    }
  });

  it('a name with a line break (a hostile manifest) is refused before anything is written (exit 3)', async () => {
    const member = await putRemoteObject(w, 'x\n');
    const oid = await putRemoteObject(w, manifestBytes([{ relpath: 'evil\nrm -rf ~\n.txt', md5: member }]), '.dir');
    commit(w, { 'raw_datasets/nl.dvc': pointerText([{ md5: oid, size: 2, path: 'nl' }]), 'raw_datasets/nl.card.md': CARD });
    const out = tempDir('reg-hostile-share-');
    try {
      const r = await runGuarded(w, ['share', 'raw_datasets/nl', '--rev', 'HEAD', '-o', out], [out]);
      expect(r.code).toBe(3);
      expect(readdirSync(out)).toEqual([]);
    } finally {
      removeDir(out);
    }
  });
});

describe('batch: hostile rows', () => {
  let w: World;
  let outside: string;
  beforeAll(async () => {
    w = await makeWorld('dir');
    outside = tempDir('reg-hostile-batch-src-');
    writeTree(join(outside, 'src'), { 'a.txt': 'a\n' });
    await goodEntry(w);
  }, 120_000);
  afterAll(async () => {
    await w?.cleanup();
    removeDir(outside);
  });

  const rows: Array<{ name: string; row: (w: World) => string; column: string }> = [
    { name: 'source inside .git', row: (w) => `add,raw_datasets/x,,${join(w.repo, '.git')},copy,,,`, column: 'source' },
    { name: 'source inside .reg (the cache)', row: (w) => `add,raw_datasets/x,,${join(w.repo, '.reg/cache')},move,,,`, column: 'source' },
    { name: 'entry climbing out with ..', row: () => `add,raw_datasets/../../x,,${join(outside, 'src')},copy,,,`, column: 'entry' },
    { name: 'entry inside .git', row: () => `add,.git/hooks,,${join(outside, 'src')},copy,,,`, column: 'entry' },
    { name: 'entry that is an absolute path', row: (w) => `add,${join(w.outside, 'docs')},,${join(outside, 'src')},copy,,,`, column: 'entry' },
  ];
  for (const c of rows) {
    it(`${c.name}: the whole CSV is refused (exit 2) before anything runs`, async () => {
      const file = join(w.repo, 'jobs.csv');
      writeFileSync(file, `action,entry,area,source,import,remote,force,output\n${c.row(w)}\n`);
      const src = snapshotTree(outside);
      const r = await runGuarded(w, ['batch', file], [join(w.repo, '.reg')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout + r.stderr).toContain(c.column);
      expect(snapshotTree(outside)).toEqual(src);
      expect(existsSync(join(w.repo, 'jobs.results.csv'))).toBe(false);
    });
  }

  it('an export row whose output is a directory outside: only a new <name>-<version>/ is created there, nothing existing changes', async () => {
    const file = join(w.repo, 'jobs.csv');
    writeTree(w.repo, { 'raw_datasets/good.card.md': '---\nlicense: MIT\nsource: s\nowner: o\n---\n# Card: good\n' });
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'card');
    const target = join(w.outside, 'docs');
    writeFileSync(file, `action,entry,area,source,import,remote,force,output\nexport,raw_datasets/good,,,,,,${target}\n`);
    const before = snapshotTree(target);
    const r = await regOk(w.repo, ['batch', file], { env: w.env });
    expect(r.code).toBe(0);
    const after = snapshotTree(target);
    for (const [k, v] of Object.entries(before)) if (k !== '') expect(after[k], k).toBe(v);
    const added = Object.keys(after).filter((k) => !(k in before));
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((k) => /^good-[^/]+(\/|$)/.test(k))).toBe(true);
  });

  it('results CSV: an entry cell a spreadsheet would run as a formula (an area named by a teammate’s config) gets a leading quote, and --continue reads it back', async () => {
    const config = join(w.repo, '.reg/config.yaml');
    setConfigValue(config, ['areas', '=cmd|calc!A0'], { mode: 'versioned', card: 'optional' });
    mkdirSync(join(w.repo, '=cmd|calc!A0'));
    writeFileSync(join(w.repo, '=cmd|calc!A0', '.keep'), '');
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'a teammate adds an area');
    const file = join(w.repo, 'jobs2.csv');
    writeFileSync(file, `action,entry,area,source,import,remote,force\nadd,=cmd|calc!A0/formula,,${join(outside, 'src')},copy,,\n`);
    await regOk(w.repo, ['batch', file], { env: w.env });
    const resultsFile = join(w.repo, 'jobs2.results.csv');
    const cells = readFileSync(resultsFile, 'utf8').split(/[,\n]/);
    expect(cells).toContain(`'=cmd|calc!A0/formula`);
    for (const cell of cells) expect(cell).not.toMatch(/^"?[=+\-@]/);
    const again = await regOk(w.repo, ['batch', file, '--continue', '--json'], { env: w.env });
    expect(JSON.stringify(JSON.parse(again.stdout))).toContain('=cmd|calc!A0/formula');
    expect(readFileSync(resultsFile, 'utf8').split(/[,\n]/)).toContain(`'=cmd|calc!A0/formula`);
  });
});

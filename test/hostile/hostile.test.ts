import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { git, regOk, tempDir, tempFilesUnder, removeDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { commit, makeWorld, manifestBytes, md5, pointerText, putCacheObject, putRemoteObject, runGuarded, type Outcome, type RemoteKind, type World } from './world.js';

/**
 * The hostile-input suite: crafted pointers, manifests, symlink layouts and remote listings, each
 * run through the real CLI in a fresh registry. Every case asserts the exit code, the error code
 * of the --json document, and that a sentinel tree outside the repository and the repository's
 * .git/ are byte-identical afterwards (runGuarded). Remote cases run against a directory remote
 * and s3rver, and keys s3rver would normalise (`..`) against a fake S3 endpoint.
 */

interface HostileCase {
  name: string;
  /** Remote kinds to run against (one test each); default: no remote. */
  remotes?: RemoteKind[];
  setup(w: World): Promise<void> | void;
  args: string[] | ((w: World) => string[]);
  exit: number;
  code?: string;
  /** More directories that must stay byte-identical (e.g. the cache). */
  guarded?: (w: World) => string[];
  check?(w: World, r: Outcome): void | Promise<void>;
}

const PAYLOAD = '#!/bin/sh\necho owned > /tmp/reg-hostile-owned\n';
const REMOTES: RemoteKind[] = ['dir', 's3rver'];

/** A relative path from `raw_datasets/` in the repo to the sentinel (both live in the temp dir). */
const toOutside = (w: World, rest: string) => `../../${basename(w.outside)}/${rest}`;

/** A committed pointer `raw_datasets/evil.dvc` whose object is in the cache (checkout) or only on the remote (pull). */
function evilPointer(path: (w: World) => string, opts: { pointer?: string; isexec?: boolean; extra?: (w: World) => void } = {}) {
  return async (w: World) => {
    opts.extra?.(w);
    const oid = w.kind === 'none' ? putCacheObject(w, PAYLOAD) : await putRemoteObject(w, PAYLOAD);
    commit(w, { [opts.pointer ?? 'raw_datasets/evil.dvc']: pointerText([{ md5: oid, size: PAYLOAD.length, path: path(w), isexec: opts.isexec }]) });
  };
}

const pointerAttacks: Array<{ name: string; path: (w: World) => string; code: string; pointer?: string; isexec?: boolean; extra?: (w: World) => void; guardCache?: boolean }> = [
  { name: 'path into .git/hooks (an executable post-checkout hook)', path: () => '../.git/hooks/post-checkout', isexec: true, code: 'pointer.path-internal' },
  { name: 'path ".." (the repository root: checkout --force would empty the work tree)', path: () => '..', code: 'pointer.path-unsafe' },
  { name: 'path "." (the directory holding the pointer itself)', path: () => '.', code: 'pointer.path-unsafe' },
  { name: 'absolute path', path: (w) => join(w.outside, '.ssh/authorized_keys'), code: 'pointer.path-unsafe' },
  { name: 'relative path leaving the repository', path: (w) => toOutside(w, '.ssh/authorized_keys'), code: 'pointer.path-unsafe' },
  { name: '".." in the middle leaving the repository', path: (w) => `a/b/../../${toOutside(w, 'run.sh')}`, code: 'pointer.path-unsafe' },
  { name: 'pointer in a subdirectory climbing out', pointer: 'raw_datasets/sub/deeper/evil.dvc', path: (w) => `../../${toOutside(w, 'docs/notes.txt')}`, code: 'pointer.path-unsafe' },
  { name: 'path into .reg/cache (overwrites a cache object)', path: () => `../.reg/cache/files/md5/${md5(PAYLOAD).slice(0, 2)}/${md5(PAYLOAD).slice(2)}`, code: 'pointer.path-internal', guardCache: true },
  { name: 'path into .reg/config.yaml', path: () => '../.reg/config.yaml', code: 'pointer.path-internal' },
  { name: 'path into .dvc/', path: () => '../.dvc/config', code: 'pointer.path-internal' },
  { name: 'path into a nested .git', path: () => 'vendored/.git/config', code: 'pointer.path-internal' },
  { name: 'path into a nested .GIT (case-insensitive filesystems)', path: () => 'vendored/.GIT/hooks/pre-commit', code: 'pointer.path-internal' },
  { name: 'path naming another pointer file', path: () => 'good.dvc', code: 'pointer.path-unsafe' },
  { name: 'path with a NUL byte', path: () => 'a\u0000b', code: 'pointer.path-unsafe' },
  { name: 'Windows drive path', path: () => 'C:\\Users\\x', code: 'pointer.path-unsafe' },
  {
    name: 'path through a committed symlink to a directory outside',
    path: () => 'lnk/authorized_keys',
    code: 'pointer.path-symlink',
    extra: (w) => symlinkSync(join(w.outside, '.ssh'), join(w.repo, 'raw_datasets/lnk')),
  },
  {
    name: 'path through a symlinked parent two levels up',
    path: () => 'area/sub/x',
    code: 'pointer.path-symlink',
    extra: (w) => {
      mkdirSync(join(w.repo, 'raw_datasets/area'), { recursive: true });
      symlinkSync(join(w.outside, 'docs'), join(w.repo, 'raw_datasets/area/sub'));
    },
  },
];

/** A directory output `raw_datasets/d` whose `.dir` object (in the cache, or only on the remote) says `entries`. */
function evilManifest(entries: (w: World) => Array<{ relpath: string; md5: string }>) {
  return async (w: World) => {
    const member = w.kind === 'none' ? putCacheObject(w, PAYLOAD) : await putRemoteObject(w, PAYLOAD);
    const bytes = manifestBytes(entries(w).map((e) => ({ ...e, md5: e.md5 === 'PAYLOAD' ? member : e.md5 })));
    const oid = w.kind === 'none' ? putCacheObject(w, bytes, '.dir') : await putRemoteObject(w, bytes, '.dir');
    commit(w, { 'raw_datasets/d.dvc': pointerText([{ md5: oid, path: 'd' }]) });
  };
}

const manifestAttacks: Array<{ name: string; entries: (w: World) => Array<{ relpath: string; md5: string }>; code: string }> = [
  { name: 'member md5 that is a relative path', entries: (w) => [{ relpath: 'f', md5: toOutside(w, 'run.sh') }], code: 'manifest.bad-md5' },
  { name: 'member md5 "../../x" (fetch would create directories outside the cache)', entries: () => [{ relpath: 'f', md5: '../../x' }], code: 'manifest.bad-md5' },
  { name: 'member md5 of the wrong length', entries: () => [{ relpath: 'f', md5: 'abc' }], code: 'manifest.bad-md5' },
  { name: 'relpath leaving the directory', entries: (w) => [{ relpath: `../${toOutside(w, '.ssh/authorized_keys')}`, md5: 'PAYLOAD' }], code: 'manifest.unsafe-path' },
  { name: 'absolute relpath', entries: (w) => [{ relpath: join(w.outside, 'run.sh'), md5: 'PAYLOAD' }], code: 'manifest.unsafe-path' },
  { name: 'relpath into a nested .git', entries: () => [{ relpath: 'sub/.git/hooks/post-checkout', md5: 'PAYLOAD' }], code: 'manifest.unsafe-path' },
  { name: 'relpath with ".." in the middle', entries: () => [{ relpath: 'a/../b', md5: 'PAYLOAD' }], code: 'manifest.unsafe-path' },
  { name: 'duplicate relpaths', entries: () => [{ relpath: 'a', md5: 'PAYLOAD' }, { relpath: 'a', md5: 'PAYLOAD' }], code: 'manifest.duplicate' },
  { name: '"a" and "a/b" (a file and a directory)', entries: () => [{ relpath: 'a', md5: 'PAYLOAD' }, { relpath: 'a/b', md5: 'PAYLOAD' }], code: 'manifest.file-and-dir' },
];

/** A legitimate directory output `raw_datasets/d` (sub/f, g), added, committed, and pushed when there is a remote. */
async function trackedDir(w: World): Promise<void> {
  mkdirSync(join(w.repo, 'raw_datasets/d/sub'), { recursive: true });
  writeFileSync(join(w.repo, 'raw_datasets/d/sub/f'), 'f content');
  writeFileSync(join(w.repo, 'raw_datasets/d/g'), 'g content');
  await regOk(w.repo, ['add', 'raw_datasets/d'], { env: w.env });
  if (w.kind !== 'none') await regOk(w.repo, ['push', 'raw_datasets/d'], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'd');
}

/** trackedDir, then `rel` (inside it, or the output itself) replaced by a symlink to a directory outside. */
function swapInSymlink(rel: string, opts: { dropCache?: boolean } = {}) {
  return async (w: World) => {
    await trackedDir(w);
    if (opts.dropCache) rmSync(join(w.repo, '.reg/cache'), { recursive: true });
    rmSync(join(w.repo, rel), { recursive: true });
    symlinkSync(join(w.outside, 'docs'), join(w.repo, rel));
  };
}

/** A sync manifest for an entry (relpath -> content). */
function syncManifest(entry: string, files: Record<string, string>): string {
  return JSON.stringify({ format: 'reg-sync/1', entry, files: Object.fromEntries(Object.entries(files).map(([rp, c]) => [rp, { md5: md5(c), size: c.length }])) });
}

/**
 * A synced entry `processed_datasets/e` on the remote: its files and (unless `manifest: false`) its
 * sync manifest; `localLink` (relative to the area) is made a symlink to a directory outside.
 */
function remoteEntry(files: Record<string, string>, opts: { manifest?: boolean; localLink?: string } = {}) {
  return async (w: World) => {
    if (opts.manifest !== false) await w.putRemote('processed_datasets/e/.reg-sync.json', syncManifest('processed_datasets/e', files));
    for (const [rp, content] of Object.entries(files)) await w.putRemote(`processed_datasets/e/${rp}`, content);
    if (opts.localLink !== undefined) {
      const link = join(w.repo, 'processed_datasets', opts.localLink);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(w.outside, '.ssh'), link);
    }
  };
}

const FSMONITOR = '[core]\n\tfsmonitor = "touch /tmp/reg-hostile-owned; false"\n';

const cases: HostileCase[] = [
  // Pointers: validated when loaded, by every command that reads them.
  ...pointerAttacks.flatMap((a): HostileCase[] => {
    const base = { setup: evilPointer(a.path, a), exit: 3, code: a.code, guarded: a.guardCache ? (w: World) => [join(w.repo, '.reg/cache')] : undefined };
    return [
      { ...base, name: `pointer ${a.name}: checkout`, args: ['checkout'] },
      { ...base, name: `pointer ${a.name}: checkout --force`, args: ['checkout', '--force'] },
      { ...base, name: `pointer ${a.name}: status`, args: ['status'] },
      { ...base, name: `pointer ${a.name}: pull`, args: ['pull'], remotes: REMOTES },
    ];
  }),
  {
    name: 'pointer in a subdirectory with ../ staying inside the repository is fine',
    setup: evilPointer(() => '../inside', { pointer: 'raw_datasets/sub/p.dvc' }),
    args: ['pull'],
    remotes: REMOTES,
    exit: 0,
    check: (w) => expect(readFileSync(join(w.repo, 'raw_datasets/inside'), 'utf8')).toBe(PAYLOAD),
  },
  {
    name: 'pointer path with ".." in the middle staying inside is fine',
    setup: evilPointer(() => 'a/../b/c'),
    args: ['checkout'],
    exit: 0,
    check: (w) => expect(readFileSync(join(w.repo, 'raw_datasets/b/c'), 'utf8')).toBe(PAYLOAD),
  },

  // Manifests: every field validated before anything is written or fetched.
  ...manifestAttacks.flatMap((a): HostileCase[] => [
    { name: `manifest ${a.name}: checkout --force`, setup: evilManifest(a.entries), args: ['checkout', '--force'], exit: 3, code: a.code },
    { name: `manifest ${a.name}: pull`, setup: evilManifest(a.entries), args: ['pull'], remotes: REMOTES, exit: 3, code: a.code },
  ]),

  // Symlinks swapped into outputs: an unsaved change, never written through.
  {
    name: 'symlink swapped in for a directory inside an output: checkout refuses',
    setup: swapInSymlink('raw_datasets/d/sub'),
    args: ['checkout'],
    exit: 7,
    code: 'checkout.would-lose-data',
    check: (w, r) => expect(r.stderr).toContain('raw_datasets/d/sub (a symlink to'),
  },
  {
    name: 'symlink swapped in for a directory inside an output: pull refuses',
    remotes: REMOTES,
    setup: swapInSymlink('raw_datasets/d/sub', { dropCache: true }),
    args: ['pull'],
    exit: 7,
    code: 'checkout.would-lose-data',
  },
  {
    name: 'symlink swapped in for a directory inside an output: checkout --force replaces the link, records it in the stash',
    setup: swapInSymlink('raw_datasets/d/sub'),
    args: ['checkout', '--force'],
    exit: 0,
    check: async (w, r) => {
      expect(lstatSync(join(w.repo, 'raw_datasets/d/sub')).isDirectory()).toBe(true);
      expect(readFileSync(join(w.repo, 'raw_datasets/d/sub/f'), 'utf8')).toBe('f content');
      const stash = (r.json as { stash: { id: string; links: Array<{ path: string; target: string }> } }).stash;
      expect(stash.links).toEqual([{ path: 'raw_datasets/d/sub', target: join(w.outside, 'docs') }]);
      // apply without --links: the link is reported, not re-created; with --links it is in the way.
      const plain = await runGuarded(w, ['stash', 'apply', stash.id]);
      expect(plain.code).toBe(0);
      expect((plain.json as { linksNotRestored: unknown[] }).linksNotRestored).toHaveLength(1);
      const inTheWay = await runGuarded(w, ['stash', 'apply', stash.id, '--links']);
      expect([inTheWay.code, inTheWay.errorCode]).toEqual([7, 'stash.link-in-the-way']);
      const to = tempDir('reg-stash-to-');
      try {
        const elsewhere = await runGuarded(w, ['stash', 'apply', stash.id, '--links', '--to', to]);
        expect(elsewhere.code).toBe(0);
        expect(lstatSync(join(to, 'raw_datasets/d/sub')).isSymbolicLink()).toBe(true);
      } finally {
        removeDir(to);
      }
    },
  },
  // Hardlink checkout links straight at the target when nothing is there: the per-directory
  // checks must still refuse the symlink, and no temp link may be left behind.
  {
    name: 'symlink swapped in for a directory inside an output, cache.type hardlink: checkout refuses',
    setup: async (w) => {
      setConfigValue(join(w.repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
      await swapInSymlink('raw_datasets/d/sub')(w);
    },
    args: ['checkout'],
    exit: 7,
    code: 'checkout.would-lose-data',
    check: (w) => expect(tempFilesUnder(w.repo)).toEqual([]),
  },
  {
    name: 'symlink swapped in for a directory inside an output, cache.type hardlink: checkout --force links into a real directory, no temp files',
    setup: async (w) => {
      setConfigValue(join(w.repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
      await swapInSymlink('raw_datasets/d/sub')(w);
    },
    args: ['checkout', '--force'],
    exit: 0,
    check: (w) => {
      expect(lstatSync(join(w.repo, 'raw_datasets/d/sub')).isDirectory()).toBe(true);
      expect(readFileSync(join(w.repo, 'raw_datasets/d/sub/f'), 'utf8')).toBe('f content');
      expect(lstatSync(join(w.repo, 'raw_datasets/d/sub/f')).ino).toBe(lstatSync(join(w.repo, '.reg/cache/files/md5', md5('f content').slice(0, 2), md5('f content').slice(2))).ino);
      expect(tempFilesUnder(w.repo)).toEqual([]);
    },
  },
  {
    name: 'symlinked output root: checkout refuses',
    setup: swapInSymlink('raw_datasets/d'),
    args: ['checkout', 'raw_datasets/d'],
    exit: 7,
    code: 'checkout.would-lose-data',
  },
  {
    name: 'symlinked output root: checkout --force replaces the link by a real directory',
    setup: swapInSymlink('raw_datasets/d'),
    args: ['checkout', '--force'],
    exit: 0,
    check: (w) => {
      expect(lstatSync(join(w.repo, 'raw_datasets/d')).isDirectory()).toBe(true);
      expect(readdirSync(join(w.repo, 'raw_datasets/d')).sort()).toEqual(['g', 'sub']);
    },
  },
  {
    name: 'symlinked file output pointing outside: checkout --force replaces the link, the target stays',
    setup: async (w) => {
      writeFileSync(join(w.repo, 'raw_datasets/f.txt'), 'data');
      await regOk(w.repo, ['add', 'raw_datasets/f.txt']);
      git(w.repo, 'add', '-A');
      git(w.repo, 'commit', '-qm', 'f');
      rmSync(join(w.repo, 'raw_datasets/f.txt'));
      symlinkSync(join(w.outside, '.ssh/authorized_keys'), join(w.repo, 'raw_datasets/f.txt'));
    },
    args: ['checkout', '--force'],
    exit: 0,
    check: (w) => {
      expect(lstatSync(join(w.repo, 'raw_datasets/f.txt')).isFile()).toBe(true);
      expect(readFileSync(join(w.repo, 'raw_datasets/f.txt'), 'utf8')).toBe('data');
    },
  },

  // reg add: nothing written through a symlinked parent; names with control characters refused.
  {
    name: 'add through a symlinked directory (would write the .dvc and .gitignore outside)',
    setup: (w) => symlinkSync(join(w.outside, 'docs'), join(w.repo, 'raw_datasets/ext')),
    args: ['add', 'raw_datasets/ext/deep'],
    exit: 2,
    code: 'add.through-symlink',
  },
  {
    name: 'add of a symlink to a directory',
    setup: (w) => symlinkSync(join(w.outside, 'docs'), join(w.repo, 'raw_datasets/lnk')),
    args: ['add', 'raw_datasets/lnk'],
    exit: 2,
    code: 'add.symlinked-dir',
  },
  ...['new\nline', 'tab\there', 'esc\u001b[31mred', 'del\u007f', 'csi\u009b31m'].map((name): HostileCase => ({
    name: `add of a name with a control character (${JSON.stringify(name)})`,
    setup: (w) => writeFileSync(join(w.repo, 'raw_datasets', name), 'x'),
    args: ['add', `raw_datasets/${name}`],
    exit: 2,
    code: 'add.control-char',
    check: (w) => expect(existsSync(join(w.repo, 'raw_datasets', `${name}.dvc`))).toBe(false),
  })),
  {
    name: 'new with a newline in the entry name (even with --force)',
    setup: () => undefined,
    args: ['new', '--force', 'raw_datasets/a\nb'],
    exit: 2,
    code: 'new.control-char',
  },

  // reg sync pull: names from the bucket listing and the remote manifest are validated.
  {
    name: 'sync pull: entry ".." from the listing (its files would land in .git/)',
    remotes: ['fake-s3'],
    setup: async (w) => {
      await w.putRemote('processed_datasets/../.reg-sync.json', syncManifest('..', { '.git/config': FSMONITOR }));
      await w.putRemote('processed_datasets/../.git/config', FSMONITOR);
    },
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-entry',
  },
  {
    name: 'sync pull: entry "." from the listing',
    remotes: ['fake-s3'],
    setup: (w) => w.putRemote('processed_datasets/./.reg-sync.json', syncManifest('.', { 'x': 'x' })),
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-entry',
  },
  {
    name: 'sync pull: entry ".git" from the listing',
    remotes: ['dir', 's3rver', 'fake-s3'],
    setup: async (w) => {
      await w.putRemote('processed_datasets/.git/.reg-sync.json', syncManifest('.git', { config: FSMONITOR }));
      await w.putRemote('processed_datasets/.git/config', FSMONITOR);
    },
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-entry',
  },
  {
    name: 'sync pull: entry name with a newline from the listing',
    remotes: ['dir', 'fake-s3'],
    setup: (w) => w.putRemote('processed_datasets/a\nb/.reg-sync.json', syncManifest('a\nb', { x: 'x' })),
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-entry',
  },
  {
    name: 'sync pull: remote manifest naming "../../.git/config"',
    remotes: ['dir', 's3rver', 'fake-s3'],
    setup: async (w) => {
      await w.putRemote('processed_datasets/e/.reg-sync.json', syncManifest('processed_datasets/e', { '../../.git/config': FSMONITOR }));
    },
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-key',
  },
  {
    name: 'sync pull: remote manifest naming ".git/config" inside the entry',
    remotes: ['dir', 's3rver'],
    setup: (w) => w.putRemote('processed_datasets/e/.reg-sync.json', syncManifest('processed_datasets/e', { 'sub/.git/config': FSMONITOR })),
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-key',
  },
  {
    name: 'sync pull: remote manifest listing "a" and "a/b" (a file and a directory)',
    remotes: ['dir'],
    setup: (w) => w.putRemote('processed_datasets/e/.reg-sync.json', syncManifest('processed_datasets/e', { a: 'file', 'a/b': 'below it' })),
    args: ['sync', 'pull'],
    exit: 3,
    code: 'sync.unsafe-key',
  },
  {
    name: 'sync pull: S3 "folder" markers in a listing without manifest are not files',
    remotes: ['fake-s3'],
    setup: remoteEntry({ 'sub/': '', 'sub/ok.txt': 'ok' }, { manifest: false }),
    args: ['sync', 'pull', 'processed_datasets/e'],
    exit: 0,
    check: (w) => expect(readFileSync(join(w.repo, 'processed_datasets/e/sub/ok.txt'), 'utf8')).toBe('ok'),
  },
  {
    name: 'sync pull: file key "../x" in a listing without manifest',
    remotes: ['fake-s3'],
    setup: remoteEntry({ 'ok.txt': 'ok', '../../.git/config': FSMONITOR }, { manifest: false }),
    args: ['sync', 'pull', 'processed_datasets/e'],
    exit: 3,
    code: 'sync.unsafe-key',
  },
  {
    name: 'sync pull: file key ".git/config" in a listing without manifest',
    remotes: ['dir', 's3rver', 'fake-s3'],
    setup: remoteEntry({ 'ok.txt': 'ok', '.git/config': FSMONITOR }, { manifest: false }),
    args: ['sync', 'pull', 'processed_datasets/e'],
    exit: 3,
    code: 'sync.unsafe-key',
  },
  {
    name: 'sync pull: symlinked directory inside the entry is not written through',
    remotes: ['dir', 's3rver'],
    setup: remoteEntry({ 'sub/authorized_keys': 'attacker key' }, { localLink: 'e/sub' }),
    args: ['sync', 'pull'],
    exit: 7,
    code: 'sync.conflict',
  },
  {
    name: 'sync pull --force: the symlinked directory is replaced by a real one',
    remotes: ['dir'],
    setup: remoteEntry({ 'sub/authorized_keys': 'attacker key' }, { localLink: 'e/sub' }),
    args: ['sync', 'pull', '--force'],
    exit: 0,
    check: (w) => {
      expect(lstatSync(join(w.repo, 'processed_datasets/e/sub')).isDirectory()).toBe(true);
      expect(readFileSync(join(w.repo, 'processed_datasets/e/sub/authorized_keys'), 'utf8')).toBe('attacker key');
    },
  },
  {
    name: 'sync pull: symlinked entry directory',
    remotes: ['dir'],
    setup: remoteEntry({ authorized_keys: 'attacker key' }, { localLink: 'e' }),
    args: ['sync', 'pull', '--force'],
    exit: 7,
    code: 'sync.symlinked-entry',
  },

  // reg's own state is not a way out either.
  {
    name: 'a committed .reg symlink (would send cache, state and stash writes outside)',
    setup: (w) => {
      renameSync(join(w.repo, '.reg'), join(w.outside, 'reg-state'));
      symlinkSync(join(w.outside, 'reg-state'), join(w.repo, '.reg'));
    },
    args: ['status'],
    exit: 3,
    code: 'repo.reg-symlink',
  },
  {
    name: 'a stash record naming a path outside the repository',
    setup: (w) => {
      const oid = putCacheObject(w, PAYLOAD);
      mkdirSync(join(w.repo, '.reg/stash'), { recursive: true });
      writeFileSync(join(w.repo, '.reg/stash/s1.json'), JSON.stringify({ id: 's1', createdAt: '', reason: 'x', oid, files: [{ path: toOutside(w, 'run.sh'), md5: oid, size: 1 }], restoreCommand: '' }));
    },
    args: ['stash', 'apply', 's1'],
    exit: 3,
    code: 'stash.bad-record',
  },
  {
    name: 'a stash id that is a path',
    setup: () => undefined,
    args: (w) => ['stash', 'apply', `../../${basename(w.outside)}/docs/notes`],
    exit: 2,
    code: 'stash.unknown',
  },

  // The post-checkout hook reads pointers git just brought: a hostile one is skipped, never fatal.
  {
    name: 'post-checkout hook with a pointer into .git/hooks',
    setup: async (w) => {
      await evilPointer(() => '../.git/hooks/post-checkout', { isexec: true })(w);
    },
    args: (w) => ['hook', 'post-checkout', git(w.repo, 'rev-parse', 'HEAD~1').trim(), git(w.repo, 'rev-parse', 'HEAD').trim(), '1'],
    exit: 0,
    check: (_w, r) => {
      const skipped = (r.json as { skipped: Array<{ pointer: string; reason: string }> }).skipped;
      expect(skipped).toHaveLength(1);
      expect(skipped[0]!.pointer).toBe('raw_datasets/evil.dvc');
      expect(skipped[0]!.reason).toContain('../.git/hooks/post-checkout');
    },
  },
];

let s3rver: S3Server | undefined;
beforeAll(async () => {
  s3rver = await startS3Server('hostile-bucket');
}, 60_000);
afterAll(async () => {
  await s3rver?.stop();
});

describe('hostile inputs never write outside their place', () => {
  for (const c of cases) {
    for (const kind of c.remotes ?? (['none'] as RemoteKind[])) {
      it(`${c.name}${kind === 'none' ? '' : ` [${kind}]`}`, async () => {
        const w = await makeWorld(kind, s3rver);
        try {
          await c.setup(w);
          const args = typeof c.args === 'function' ? c.args(w) : c.args;
          const r = await runGuarded(w, args, c.guarded?.(w) ?? []);
          expect(r.code, `exit code; stderr: ${r.stderr}`).toBe(c.exit);
          if (c.code !== undefined) expect(r.errorCode, r.stderr).toBe(c.code);
          if (c.exit !== 0) expect(r.stderr).toMatch(/^reg: error: /m);
          expect(existsSync('/tmp/reg-hostile-owned')).toBe(false);
          await c.check?.(w, r);
        } finally {
          await w.cleanup();
        }
      });
    }
  }
});

describe('hostile pointer files only break the commands that select them', () => {
  it('a bad pointer elsewhere: named targets work (with a warning); selecting it fails with file and line', async () => {
    const w = await makeWorld('none');
    try {
      await trackedDir(w);
      const oid = putCacheObject(w, PAYLOAD);
      commit(w, { 'raw_datasets/evil.dvc': pointerText([{ md5: oid, path: '../.git/hooks/post-checkout', isexec: true }]) });
      rmSync(join(w.repo, 'raw_datasets/d/g'));
      const named = await runGuarded(w, ['checkout', 'raw_datasets/d']);
      expect(named.code, named.stderr).toBe(0);
      expect(readFileSync(join(w.repo, 'raw_datasets/d/g'), 'utf8')).toBe('g content');
      const area = await runGuarded(w, ['status', 'raw_datasets/d']);
      expect(area.code).toBe(0);
      const all = await runGuarded(w, ['status']);
      expect([all.code, all.errorCode]).toEqual([3, 'pointer.path-internal']);
      expect(all.stderr).toContain('raw_datasets/evil.dvc:6:9');
      const dirTarget = await runGuarded(w, ['checkout', 'raw_datasets']);
      expect([dirTarget.code, dirTarget.errorCode]).toEqual([3, 'pointer.path-internal']);
    } finally {
      await w.cleanup();
    }
  });
});


describe('file names are printed escaped', () => {
  it('a file name with terminal escape sequences inside an output reaches the terminal as visible text', async () => {
    const w = await makeWorld('none');
    try {
      const evil = 'title\u001b]0;pwned\u0007\u001b[2J\nfake line';
      mkdirSync(join(w.repo, 'raw_datasets/d'), { recursive: true });
      writeFileSync(join(w.repo, 'raw_datasets/d', evil), 'x');
      await regOk(w.repo, ['add', 'raw_datasets/d']);
      writeFileSync(join(w.repo, 'raw_datasets/d', evil), 'changed');
      const r = await regOk(w.repo, ['status', '-v', 'raw_datasets/d']);
      expect(r.stdout).toContain('    M title\\e]0;pwned\\x07\\e[2J\\nfake line\n');
      expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
      // --json keeps the real name (JSON escapes it).
      const json = JSON.parse((await regOk(w.repo, ['--json', 'status', 'raw_datasets/d'])).stdout);
      expect(json.outputs[0].changes.modified).toEqual([evil]);
    } finally {
      await w.cleanup();
    }
  });
});

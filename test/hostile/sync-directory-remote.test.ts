import { lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, regOk, writeTree } from '../helpers/repo.js';
import { snapshotTree } from './tree.js';
import { makeWorld, md5, runGuarded, type Outcome, type World } from './world.js';

/**
 * `reg sync` against a directory remote that another tool (or another user of a shared remote)
 * has written to. The real CLI, spawned:
 * - a same-sized file of another tool at a key a cut-off first push meant to write (sync.ts
 *   md5OfDirectoryFile hashes it): exit 7, the remote file byte-identical;
 * - a remote file that is a symlink to a file or directory outside (the sentinel): never read
 *   through (a push replaces the link with its own file; a pull is refused naming the link);
 * - a remote directory (the entry's, or one below it, or `files/md5/XX` for `reg push`) that is a
 *   symlink to a directory outside: exit 3 `remote.link-outside` naming the link, nothing written
 *   or deleted there (before the fix, `sync push --force --delete` deleted the sentinel's files).
 * The sentinel tree outside and `.git` are byte-identical after every command (runGuarded).
 */
const ENTRY = 'processed_datasets/tokenized';
const FILES = { 'a.txt': 'alpha', 'b.txt': 'bravo' };

let w: World;
const remote = (rel = '') => join(w.remoteDir!, ENTRY, rel);

/** What a first push cut off after both copies had started leaves behind: its pending list. */
function pendingList(): void {
  const pending = join(w.repo, '.reg/tmp/sync-pending/team', `${ENTRY}.json`);
  mkdirSync(dirname(pending), { recursive: true });
  writeFileSync(pending, JSON.stringify({ files: Object.fromEntries(Object.entries(FILES).map(([n, t]) => [n, { md5: md5(t), size: t.length }])) }));
}

const transferred = (r: Outcome) => (r.json?.entries as Array<{ transferred: string[] }> | undefined)?.[0]?.transferred;

function expectRefused(r: Outcome, exit: number, ...words: string[]): void {
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stderr).not.toMatch(/internal error/i);
  expect(r.stderr).toMatch(/^reg: error: /m);
  for (const word of words) expect(r.stderr).toContain(word);
}

beforeEach(async () => {
  w = await makeWorld('dir');
  writeFileSync(join(w.repo, '.reg/config.local.yaml'), 'hooks:\n  install: false\n');
  writeTree(w.repo, Object.fromEntries(Object.entries(FILES).map(([n, t]) => [`${ENTRY}/${n}`, t])));
  // The sentinel holds a file with exactly the bytes reg would send, so a read through a link would be taken as reg's own.
  writeFileSync(join(w.outside, 'docs', 'a.txt'), FILES['a.txt']);
});
afterEach(async () => {
  await w.cleanup();
});

describe('reg sync push against another tool\'s files on a directory remote', () => {
  it('a same-sized file of another tool where a cut-off push wrote: exit 7 naming it, the remote file byte-identical; without it the push completes', async () => {
    pendingList();
    writeTree(remote(), { 'b.txt': FILES['b.txt'], 'a.txt': 'omega' });
    const r = await runGuarded(w, ['sync', 'push', ENTRY], [w.remoteDir!]);
    expectRefused(r, 7, 'a.txt');
    expect(r.errorCode).toBe('sync.conflict');
    expect(readFileSync(remote('a.txt'), 'utf8')).toBe('omega');
    writeFileSync(remote('a.txt'), FILES['a.txt']);
    const again = await runGuarded(w, ['sync', 'push', ENTRY]);
    expect(again.code, again.stderr).toBe(0);
    expect(transferred(again)).toEqual([]);
  });

  for (const target of ['file', 'directory'] as const) {
    it(`a remote file that is a symlink to a ${target} outside: not read through; the push writes its own file in the link's place`, async () => {
      pendingList();
      writeTree(remote(), { 'b.txt': FILES['b.txt'] });
      symlinkSync(join(w.outside, 'docs', target === 'file' ? 'a.txt' : 'deep'), remote('a.txt'));
      const r = await runGuarded(w, ['sync', 'push', ENTRY]);
      expect(r.code, r.stderr).toBe(0);
      // Read through, the link (to the very bytes reg sends) would have been taken as reg's own copy.
      expect(transferred(r)).toEqual(['a.txt']);
      expect(lstatSync(remote('a.txt')).isFile()).toBe(true);
      expect(readFileSync(remote('a.txt'), 'utf8')).toBe(FILES['a.txt']);
    });
  }
});

describe('symbolic links on a directory remote that lead outside it', () => {
  it('reg sync pull of a file the remote manifest names that is a link to a file outside: refused naming the link, nothing written', async () => {
    await regOk(w.repo, ['sync', 'push', ENTRY]);
    // The manifest names the link's target bytes, so the download would verify.
    const manifest = JSON.parse(readFileSync(remote('.reg-sync.json'), 'utf8'));
    manifest.files['c.txt'] = { md5: md5(FILES['a.txt']), size: FILES['a.txt'].length };
    writeFileSync(remote('.reg-sync.json'), JSON.stringify(manifest));
    symlinkSync(join(w.outside, 'docs', 'a.txt'), remote('c.txt'));
    const workTree = snapshotTree(join(w.repo, ENTRY));
    const r = await runGuarded(w, ['sync', 'pull', ENTRY], [w.remoteDir!]);
    expectRefused(r, 4, `${ENTRY}/c.txt leads outside the remote's directory, to ${join(w.outside, 'docs', 'a.txt')}`);
    expect(snapshotTree(join(w.repo, ENTRY))).toEqual(workTree);
  });

  for (const [what, link] of [
    ['the entry\'s directory', ENTRY],
    ['a directory below the entry', `${ENTRY}/sub`],
  ] as const) {
    it(`${what} is a link to a directory outside: sync push, push --force --delete and pull write and delete nothing there`, async () => {
      writeTree(w.repo, { [`${ENTRY}/sub/c.txt`]: 'charlie' });
      mkdirSync(dirname(join(w.remoteDir!, link)), { recursive: true });
      symlinkSync(join(w.outside, 'docs'), join(w.remoteDir!, link));
      for (const args of [['sync', 'push', ENTRY], ['sync', 'push', '--force', '--delete', ENTRY]]) {
        // The sentinel (docs/notes.txt and docs/a.txt, which --delete would remove) is guarded; files of the entry outside the link may arrive.
        const r = await runGuarded(w, args);
        expect([3, 4], `${args.join(' ')}: ${r.stderr}`).toContain(r.code);
        expectRefused(r, r.code, `${link} leads outside the remote's directory, to ${join(w.outside, 'docs')}`);
      }
      const pull = await runGuarded(w, ['sync', 'pull', ENTRY]);
      if (link === ENTRY) expectRefused(pull, 3, `${link} leads outside the remote's directory`);
      else {
        // A listing never descends into a link: the sentinel's files are not the entry's, and local sub/c.txt stays.
        expect(pull.code, pull.stderr).toBe(0);
        expect(readFileSync(join(w.repo, ENTRY, 'sub/c.txt'), 'utf8')).toBe('charlie');
        expect(() => lstatSync(join(w.repo, ENTRY, 'sub/notes.txt'))).toThrow();
      }
    });
  }

  it('reg push to a directory remote whose files/md5/XX is a link to a directory outside: refused, nothing written there', async () => {
    writeTree(w.repo, { 'data/a.txt': FILES['a.txt'] });
    await regOk(w.repo, ['add', 'data']);
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'entry');
    const oid = md5(FILES['a.txt']);
    mkdirSync(join(w.remoteDir!, 'files/md5'), { recursive: true });
    symlinkSync(join(w.outside, 'docs'), join(w.remoteDir!, 'files/md5', oid.slice(0, 2)));
    const r = await runGuarded(w, ['push', 'data'], [w.remoteDir!]);
    expect([3, 4], r.stderr).toContain(r.code);
    expectRefused(r, r.code, `files/md5/${oid.slice(0, 2)} leads outside the remote's directory`);
    // The link removed, the same push completes.
    rmSync(join(w.remoteDir!, 'files/md5', oid.slice(0, 2)));
    const again = await runGuarded(w, ['push', 'data']);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(w.remoteDir!, 'files/md5', oid.slice(0, 2), oid.slice(2)), 'utf8')).toBe(FILES['a.txt']);
  });
});

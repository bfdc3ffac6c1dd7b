import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitIndexV2, gitIndexV2Parts } from '../../src/data/git-index.js';
import { MIRROR_MIN_ENTRIES, writeMirrorIndex } from '../../src/workspace/mirror-index.js';
import { StatCache } from '../../src/workspace/stat-cache.js';
import type { WalkedFile } from '../../src/workspace/walk.js';
import { makeGitRepo, removeDir, writeTree } from '../helpers/repo.js';

/** The mirror index is a Git index git itself reads: its entries, their stat data and their order. */
let repo: string;
beforeEach(() => {
  repo = makeGitRepo();
});
afterEach(() => removeDir(repo));

const gitWith = (index: string, ...args: string[]) =>
  execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_INDEX_FILE: index }, encoding: 'utf8', maxBuffer: 64 << 20 });

/** Names whose UTF-8 byte order differs from a naive or UTF-16 order ('-' < '.' < '/' < '0', 'é' < '😀' as bytes, not as UTF-16). */
const NAMES = ['a-b', 'a.b', 'a/b', 'a0', 'z\u00e9', 'z\u{1F600}', 'z\uFB01', 'Z'];

describe('mirror index', () => {
  it('is read by git: entries in byte order with their stat data, and nothing changed for an unchanged tree', () => {
    const files: Record<string, string> = {};
    for (const n of NAMES) files[`ds/${n}/x.txt`] = `content of ${n}`;
    writeTree(repo, files);
    const rels = Object.keys(files).map((p) => p.slice('ds/'.length));
    // Older than the index file: git would compare the content of an entry as new as the index ("racily clean").
    const old = new Date(Date.now() - 10_000);
    for (const r of rels) utimesSync(join(repo, 'ds', r), old, old);
    const st = rels.map((r) => lstatSync(join(repo, 'ds', r)));
    const index = join(repo, 'mirror.index');
    writeFileSync(
      index,
      gitIndexV2({ count: rels.length, prefix: 'ds/', path: (k) => rels[k]!, ctimeMs: (k) => st[k]!.ctimeMs, mtimeMs: (k) => st[k]!.mtimeMs, ino: (k) => st[k]!.ino, size: (k) => st[k]!.size, mode: () => 0o100644, uid: (k) => st[k]!.uid, gid: (k) => st[k]!.gid }),
    );
    const listed = gitWith(index, 'ls-files', '-z').split('\0').filter(Boolean);
    const byBytes = Object.keys(files).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(listed).toEqual(byBytes);
    expect(listed).not.toEqual(Object.keys(files).sort()); // the UTF-16 order differs: the test means something
    const debug = gitWith(index, 'ls-files', '--debug', '--', 'ds/a-b/x.txt');
    const s = lstatSync(join(repo, 'ds/a-b/x.txt'));
    expect(debug).toContain(`ctime: ${Math.floor(s.ctimeMs / 1000)}:`);
    expect(debug).toContain(`mtime: ${Math.floor(s.mtimeMs / 1000)}:`);
    expect(debug).toMatch(new RegExp(`ino: ${s.ino % 2 ** 32}\\b`));
    expect(debug).toMatch(new RegExp(`uid: ${s.uid}\\s+gid: ${s.gid}`));
    expect(debug).toMatch(new RegExp(`size: ${s.size}\\b`));
    expect(gitWith(index, 'diff-files', '--name-only', '-z')).toBe('');
    writeFileSync(join(repo, 'ds/a.b/x.txt'), 'changed!');
    expect(gitWith(index, 'diff-files', '--name-only', '-z')).toBe('ds/a.b/x.txt\0');
  });

  it('is made in parts of at most 1 MiB (the checksum over all of them) that git reads as one index, with an entry at every part boundary intact', () => {
    // 30,000 entries of ~100 bytes: three parts and the checksum. Paths of varying length, so the parts end at different offsets within an entry's padding.
    const count = 30_000;
    const name = (k: number) => `dir${k % 7}/${'n'.repeat(k % 23)}file-${String(k).padStart(6, '0')}.bin`;
    const entries = { count, prefix: 'ds/', path: name, ctimeMs: (k: number) => 1_700_000_000_000 + k, mtimeMs: (k: number) => 1_700_000_000_000 + k * 3, ino: (k: number) => 10_000 + k, size: (k: number) => k + 1, mode: () => 0o100644, uid: () => 1000, gid: () => 1000 };
    // Each part is handed out through one reused buffer: copy it before asking for the next (as a writer consumes it).
    const parts = [...(function* () {
      for (const part of gitIndexV2Parts(entries)) yield Buffer.from(part);
    })()];
    expect(parts.length).toBeGreaterThanOrEqual(4);
    for (const part of parts.slice(0, -1)) expect(part.length).toBeLessThanOrEqual(1 << 20);
    expect(parts.at(-1)!.length).toBe(20);
    const index = join(repo, 'parts.index');
    writeFileSync(index, Buffer.concat(parts));
    expect(Buffer.concat(parts).equals(gitIndexV2(entries))).toBe(true);
    const listed = gitWith(index, 'ls-files', '-z').split('\0').filter(Boolean);
    expect(listed).toHaveLength(count);
    expect(listed).toEqual(Array.from({ length: count }, (_, k) => `ds/${name(k)}`).sort());
    // The trailing checksum is the SHA-1 of everything before it (git checks it only in fsck, so it is checked here).
    const whole = Buffer.concat(parts);
    expect(createHash('sha1').update(whole.subarray(0, -20)).digest('hex')).toBe(whole.subarray(-20).toString('hex'));
    const debug = gitWith(index, 'ls-files', '--debug', '--', `ds/${name(29_999)}`);
    expect(debug).toMatch(/ino: 39999\b/);
    expect(debug).toMatch(/size: 30000\b/);
  });

  it('an entry longer than a part (no file system takes such a path) is handed out as a part of its own, between the others, and git reads the index whole', () => {
    // A 1.1 MiB path of 255-byte segments: the first entry's part ends before it, the next starts after it.
    const long = 'b/' + Array.from({ length: 4400 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(251)}`).join('/');
    const names = ['a.txt', long, 'c.txt'];
    const entries = { count: 3, prefix: 'ds/', path: (k: number) => names[k]!, ctimeMs: () => 1_700_000_000_000, mtimeMs: () => 1_700_000_000_000, ino: (k: number) => 7 + k, size: (k: number) => 10 + k, mode: () => 0o100644, uid: () => 1000, gid: () => 1000 };
    const parts = [...(function* () {
      for (const part of gitIndexV2Parts(entries)) yield Buffer.from(part);
    })()];
    expect(parts.map((p) => p.length > 1 << 20)).toEqual([false, true, false, false]);
    const whole = Buffer.concat(parts);
    expect(createHash('sha1').update(whole.subarray(0, -20)).digest('hex')).toBe(whole.subarray(-20).toString('hex'));
    const index = join(repo, 'long.index');
    writeFileSync(index, whole);
    expect(gitWith(index, 'ls-files', '-z').split('\0').filter(Boolean)).toEqual(names.map((n) => `ds/${n}`));
    expect(gitWith(index, 'ls-files', '--debug', '--', 'ds/c.txt')).toMatch(/ino: 9\b[\s\S]*size: 12\b/);
  });

  it('holds only rows older than the second of their scan, and not empty files, and is written only from MIRROR_MIN_ENTRIES rows', () => {
    const index = join(repo, 'm.index');
    const checked = 1_700_000_010_500;
    const rows = [
      { relpath: 'old', mtimeMs: 1_700_000_009_000, ctimeMs: 1_700_000_009_000, size: 3 }, // in
      { relpath: 'same-second', mtimeMs: 1_700_000_009_000, ctimeMs: 1_700_000_010_100, size: 3 }, // ctime in the scan's second
      { relpath: 'margin', mtimeMs: 1_700_000_009_990, ctimeMs: 1_700_000_009_990, size: 3 }, // a scan at 10.040 would be too close
      { relpath: 'empty', mtimeMs: 1_700_000_009_000, ctimeMs: 1_700_000_009_000, size: 0 },
    ];
    const asRows = (list: typeof rows, checkedAt: (k: number) => number) => ({
      count: list.length,
      relpath: (k: number) => list[k]!.relpath,
      ino: () => 1,
      size: (k: number) => list[k]!.size,
      mtimeMs: (k: number) => list[k]!.mtimeMs,
      ctimeMs: (k: number) => list[k]!.ctimeMs,
      checkedAtMs: checkedAt,
    });
    expect(writeMirrorIndex(index, 'ds', asRows(rows, () => checked))).toBeLessThan(MIRROR_MIN_ENTRIES); // too few rows: nothing written
    const many = Array.from({ length: MIRROR_MIN_ENTRIES }, (_, k) => ({ ...rows[0]!, relpath: `f${k}` }));
    const all = [...rows, ...many];
    const checkedAt = (k: number) => (all[k]!.relpath === 'margin' ? 1_700_000_010_040 : checked);
    expect(writeMirrorIndex(index, 'ds', asRows(all, checkedAt))).toBe(MIRROR_MIN_ENTRIES + 1);
    const listed = new Set(gitWith(index, 'ls-files', '-z').split('\0').filter(Boolean));
    expect(listed.has('ds/old')).toBe(true);
    expect(listed.has('ds/same-second')).toBe(false);
    expect(listed.has('ds/margin')).toBe(false);
    expect(listed.has('ds/empty')).toBe(false);
    expect(listed.size).toBe(MIRROR_MIN_ENTRIES + 1);
  });

  it('never vouches for a row the append log patched since the mirror was written, even if git did not report it', () => {
    const statDir = join(repo, 'stat');
    const OLD = 1_700_000_000_000;
    const files: WalkedFile[] = Array.from({ length: MIRROR_MIN_ENTRIES + 5 }, (_, i) => ({ relpath: `f${i}`, ino: 1000 + i, size: 10, mtimeMs: OLD, ctimeMs: OLD, mode: 0o100644 }));
    const c = StatCache.load(statDir, 'ds', false);
    for (const f of files) c.record(f, 'a'.repeat(32), OLD + 10_000);
    c.retainOnly(files.map((f) => f.relpath));
    c.save();
    const mirror = StatCache.mirrorIndexOf(statDir, 'ds', false)!;
    expect(mirror).toBeDefined();
    expect(readdirSync(statDir).filter((n) => n.endsWith('.index'))).toHaveLength(1);
    // f3 changed (a later ctime, another md5): the scan that saw it appends its row to the log.
    const now = files.map((f) => (f.relpath === 'f3' ? { ...f, ctimeMs: OLD + 5000 } : f));
    const again = StatCache.load(statDir, 'ds', false);
    for (const f of now) if (again.lookup(f) === undefined) again.record(f, 'b'.repeat(32), OLD + 20_000);
    again.retainOnly(now.map((f) => f.relpath));
    again.save();
    expect(StatCache.mirrorIndexOf(statDir, 'ds', false)!.gen).toBe(mirror.gen); // no rewrite: the log holds the patch
    const loaded = StatCache.load(statDir, 'ds', false);
    const trusted = loaded.trustedStats(mirror.gen, new Set())!;
    expect(trusted.mirrored).toBe(files.length - 1);
    // Asked in walk order, as the walk does.
    const got = new Map(files.map((f) => [f.relpath, trusted.stats(f.relpath)]));
    expect(got.get('f2')).toMatchObject({ ino: 1002, size: 10, mtimeMs: OLD, ctimeMs: OLD });
    expect(got.get('f3')).toBeUndefined();
    expect([...got.values()].filter((v) => v !== undefined)).toHaveLength(files.length - 1);
    // Another generation's rows are never vouched for.
    expect(loaded.trustedStats('000000000000', new Set())).toBeUndefined();
    // A rewrite (a file added) writes the new generation's mirror and removes the others, a crash's leftover too.
    const leftover = `${mirror.file.slice(0, -'.0123456789ab.index'.length)}.0123456789ab.index`;
    writeFileSync(leftover, 'left by a crash');
    const more = [...now, { ...files[0]!, relpath: 'added', ino: 5 }];
    const third = StatCache.load(statDir, 'ds', false);
    for (const f of more) if (third.lookup(f) === undefined) third.record(f, 'c'.repeat(32), OLD + 30_000);
    third.retainOnly(more.map((f) => f.relpath));
    third.save();
    const fresh = StatCache.mirrorIndexOf(statDir, 'ds', false)!;
    expect(fresh.gen).not.toBe(mirror.gen);
    expect(readdirSync(statDir).filter((n) => n.endsWith('.index'))).toEqual([fresh.file.slice(statDir.length + 1)]);
  });
});

import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { interruptWhen } from '../helpers/interrupt.js';
import { filesUnder, git, makeGitRepo, reg, regOk, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/repo.js';
import { makeSentinel, snapshotTree } from './tree.js';

/**
 * Interrupting a checkout of many files, the real CLI spawned: Ctrl-C (SIGINT) in copy and in
 * hardlink mode exits 130 with no temp file left and no data file holding bytes other than its
 * pointer's; SIGKILL at varying points of a hardlink checkout (and of a hardlink pull from a
 * directory remote), and the exact state of a kill between a link and its stat, leave nothing
 * `reg status` calls clean while a file's bytes differ from its pointer, and the next checkout
 * (with a pull where the cache held corrupt objects) repairs. `.git` and a sentinel tree outside
 * the repository stay byte-identical throughout.
 */
const DATA = 'raw_datasets/d';
/** Enough files that a kill lands while links are still being made, even on a fast machine. */
const FILES = 6000;
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

/** relpath (under DATA) -> content; sorted names, so manifest order is this order. */
const contents = new Map<string, string>();
for (let i = 0; i < FILES; i++) contents.set(`d${String(i % 40).padStart(2, '0')}/f${String(i).padStart(5, '0')}.txt`, `file ${i}\n`.repeat(1 + (i % 7)));
const inOrder = [...contents.keys()].sort();
/** Objects whose stamp is gone (good bytes): the careful path verifies them before linking. */
const unstamped = inOrder.filter((_, i) => i % 11 === 3);
/** Objects whose bytes were replaced behind reg's back (same size): never to appear in the workspace. */
const corrupted = inOrder.filter((_, i) => i % 97 === 5);

let repo: string;
let remote: string;
let sentinel: string;
let gitBefore: Record<string, string>;

const objectPath = (rel: string) => {
  const oid = md5(contents.get(rel)!);
  return join(repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2));
};

function unstamp(path: string): void {
  const t = Date.now() / 1000 - 5.5;
  utimesSync(path, t, t);
}

function corrupt(path: string): void {
  const bytes = readFileSync(path);
  bytes[0] = bytes[0]! ^ 0x20;
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
}

/** The workspace files whose bytes are not their pointer's (missing ones not counted). */
function wrongFiles(): string[] {
  const root = join(repo, DATA);
  return filesUnder(root).filter((f) => !contents.has(f) || readFileSync(join(root, f), 'utf8') !== contents.get(f));
}

function emptyWorkspace(): void {
  rmSync(join(repo, DATA), { recursive: true, force: true });
  rmSync(join(repo, '.reg/tmp'), { recursive: true, force: true });
}

async function statusOf(): Promise<{ state: string; workspace: string }> {
  const r = await regOk(repo, ['--json', 'status', DATA]);
  return JSON.parse(r.stdout).outputs[0];
}

async function expectComplete(): Promise<void> {
  expect(filesUnder(join(repo, DATA))).toEqual(inOrder);
  expect(wrongFiles()).toEqual([]);
  expect(tempFilesUnder(repo)).toEqual([]);
  expect((await statusOf()).state).toBe('up-to-date');
}

/** Ready when the file at `fraction` of the manifest order exists (the checkout got that far). */
const reached = (fraction: number) => {
  const probe = join(repo, DATA, inOrder[Math.floor(fraction * (inOrder.length - 1))]!);
  return () => existsSync(probe);
};

beforeAll(async () => {
  repo = makeGitRepo();
  remote = tempDir('reg-kill-remote-');
  sentinel = makeSentinel();
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', remote, '--default']);
  writeTree(repo, Object.fromEntries([...contents].map(([rel, c]) => [`${DATA}/${rel}`, c])));
  await regOk(repo, ['add', DATA]);
  await regOk(repo, ['push', DATA]);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'data');
  gitBefore = snapshotTree(join(repo, '.git'));
}, 300_000);

afterAll(() => {
  for (const d of [repo, remote, sentinel]) if (d) removeDir(d);
});

describe.each(['copy', 'hardlink'])('Ctrl-C during a plain checkout of many files (cache.type %s)', (type) => {
  it.each([0.05, 0.5])('at %s of the files: exit 130, no temp file, no wrong bytes; a re-run completes', async (fraction) => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], type);
    emptyWorkspace();
    for (const rel of unstamped) unstamp(objectPath(rel));
    const sentinelBefore = snapshotTree(sentinel);
    const r = await interruptWhen(repo, ['checkout', DATA], reached(fraction));
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted');
    expect(tempFilesUnder(repo)).toEqual([]);
    expect(wrongFiles()).toEqual([]);
    expect(filesUnder(join(repo, DATA)).length).toBeLessThan(FILES);
    expect((await statusOf()).state).not.toBe('up-to-date');
    await regOk(repo, ['checkout', DATA]);
    await expectComplete();
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
  }, 180_000);
});

describe('copy mode with corrupt and unstamped objects among many files (copied in batches on worker threads)', () => {
  it('exit 6 naming every corrupt object (one with its stamp kept, as after bit rot under a restored mtime), none of their bytes in the work tree, no temp file; unstamped objects are verified and stamped; a pull repairs', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'copy');
    emptyWorkspace();
    for (const rel of unstamped) unstamp(objectPath(rel));
    const stampKept = corrupted[0]!;
    for (const rel of corrupted) {
      const before = statSync(objectPath(rel));
      corrupt(objectPath(rel));
      if (rel === stampKept) utimesSync(objectPath(rel), before.atime, before.mtime);
    }
    expect(statSync(objectPath(stampKept)).mtimeMs % 1_024_000).toBe(0);
    const sentinelBefore = snapshotTree(sentinel);
    const r = await reg(repo, ['--json', 'checkout', DATA]);
    const error = JSON.parse(r.stdout).error;
    expect([r.code, error?.code], r.stderr).toEqual([6, 'checkout.corrupt-object']);
    expect(error.details.objects.map((o: { oid: string }) => o.oid).sort()).toEqual(corrupted.map((rel) => md5(contents.get(rel)!)).sort());
    for (const rel of corrupted) expect(existsSync(join(repo, DATA, rel))).toBe(false);
    expect(wrongFiles()).toEqual([]);
    expect(filesUnder(join(repo, DATA)).length).toBe(FILES - corrupted.length);
    expect(tempFilesUnder(repo)).toEqual([]);
    // Verified in the copy's read pass, the good unstamped objects carry the stamp again.
    for (const rel of unstamped.filter((u) => !corrupted.includes(u))) expect(statSync(objectPath(rel)).mtimeMs % 1_024_000).toBe(0);
    expect((await statusOf()).state).not.toBe('up-to-date');
    await regOk(repo, ['pull', DATA]);
    await expectComplete();
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
  }, 180_000);
});

describe('SIGKILL during a hardlink checkout', () => {
  it.each([0, 0.02, 0.3, 0.7])('at %s of the files, with unstamped and corrupt objects: status is never falsely clean; checkout (and pull for the corrupt objects) repairs', async (fraction) => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    emptyWorkspace();
    for (const rel of unstamped) unstamp(objectPath(rel));
    for (const rel of corrupted) corrupt(objectPath(rel));
    const sentinelBefore = snapshotTree(sentinel);
    const r = await interruptWhen(repo, ['checkout', DATA], fraction === 0 ? () => existsSync(join(repo, DATA)) : reached(fraction), {}, { signal: 'SIGKILL' });
    expect(r.signal).toBe('SIGKILL');
    // A corrupt object's bytes never hold a data file's name once reg has looked at them; a kill
    // between the link and its stat may leave one, and then status must see it.
    const wrong = wrongFiles();
    const st = await statusOf();
    if (wrong.length > 0 || filesUnder(join(repo, DATA)).length < FILES) expect(st.state).not.toBe('up-to-date');
    const again = await reg(repo, ['--json', 'checkout', DATA]);
    expect([again.code, JSON.parse(again.stdout).error?.code]).toEqual([6, 'checkout.corrupt-object']);
    expect(wrongFiles()).toEqual([]);
    await regOk(repo, ['pull', DATA]);
    await expectComplete();
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
  }, 180_000);

  it('killed between a link and its stat (the link of a corrupt unstamped object in place, no stat cache row): status reports it, checkout repairs with the pull', async () => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    await regOk(repo, ['checkout', DATA]);
    const victim = inOrder[inOrder.length - 2]!;
    // The state a kill leaves right after link(): the last files not yet linked, the stat cache never saved.
    for (const rel of inOrder.slice(-5)) rmSync(join(repo, DATA, rel));
    rmSync(join(repo, '.reg/tmp'), { recursive: true, force: true });
    corrupt(objectPath(victim));
    linkSync(objectPath(victim), join(repo, DATA, victim));
    expect(wrongFiles()).toEqual([victim]);
    const st = await statusOf();
    expect(st.state).not.toBe('up-to-date');
    const again = await reg(repo, ['--json', 'checkout', DATA]);
    expect([again.code, JSON.parse(again.stdout).error?.code], again.stderr).toEqual([6, 'checkout.corrupt-object']);
    // The link to the corrupt object is gone with it; its bytes are kept in the quarantine.
    expect(existsSync(join(repo, DATA, victim))).toBe(false);
    expect(wrongFiles()).toEqual([]);
    const kept = filesUnder(join(repo, '.reg/cache/quarantine')).map((q) => readFileSync(join(repo, '.reg/cache/quarantine', q), 'utf8'));
    const good = Buffer.from(contents.get(victim)!);
    good[0] = good[0]! ^ 0x20;
    expect(kept).toContain(good.toString('utf8'));
    await regOk(repo, ['pull', DATA]);
    await expectComplete();
  }, 180_000);
});

describe('SIGKILL during a hardlink pull from a directory remote', () => {
  it.each([0.02, 0.5])('at %s of the files, empty cache: status is never falsely clean; the next pull completes', async (fraction) => {
    setConfigValue(join(repo, '.reg/config.yaml'), ['cache', 'type'], 'hardlink');
    emptyWorkspace();
    rmSync(join(repo, '.reg/cache'), { recursive: true, force: true });
    const sentinelBefore = snapshotTree(sentinel);
    const r = await interruptWhen(repo, ['pull', DATA], reached(fraction), {}, { signal: 'SIGKILL' });
    expect(r.signal).toBe('SIGKILL');
    expect(wrongFiles()).toEqual([]);
    if (filesUnder(join(repo, DATA)).length < FILES) expect((await statusOf()).state).not.toBe('up-to-date');
    await regOk(repo, ['pull', DATA]);
    await expectComplete();
    expect(snapshotTree(sentinel)).toEqual(sentinelBefore);
    expect(snapshotTree(join(repo, '.git'))).toEqual(gitBefore);
  }, 180_000);
});

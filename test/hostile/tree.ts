import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTempName } from '../../src/fsutil.js';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { removeDir, tempDir } from '../helpers/repo.js';

/** One buffer for md5OfFile: its bytes are consumed by the hash before the next read. */
const CHUNK = Buffer.allocUnsafe(1 << 20);

/**
 * The md5 of every byte of a file, read 1 MiB at a time: the digest readFileSync would give,
 * without allocating the whole file (reading a 768 MiB file at once took seconds on CI, in
 * chunks a fraction of that).
 */
function md5OfFile(path: string): string {
  const hash = createHash('md5');
  const fd = openSync(path, 'r');
  try {
    for (let n: number; (n = readSync(fd, CHUNK, 0, CHUNK.length, null)) > 0; ) hash.update(CHUNK.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Everything below `root` as `relpath -> description`: directories with their mode, files with
 * mode and md5, symlinks with their target (never followed). Two equal snapshots mean nothing
 * was created, removed, changed, re-moded or re-linked.
 */
export function snapshotTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(abs)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const name of readdirSync(abs).sort()) visit(join(abs, name), rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile()) out[rel] = `file ${mode} ${md5OfFile(abs)}`;
    else out[rel] = `special ${mode}`;
  };
  visit(root, '');
  return out;
}

/**
 * A directory outside the repository that an attack would like to write into: a fake home with
 * `.ssh/authorized_keys`, an executable script and nested directories. Tests assert it is
 * byte-identical after each hostile command.
 */
export function makeSentinel(): string {
  const dir = tempDir('reg-sentinel-');
  mkdirSync(join(dir, '.ssh'), { recursive: true });
  writeFileSync(join(dir, '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA... owner@laptop\n');
  mkdirSync(join(dir, 'docs', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'docs', 'notes.txt'), 'keep me\n');
  writeFileSync(join(dir, 'docs', 'deep', 'x'), 'x');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  return dir;
}

/**
 * Runs `command` (reg against the repository at `repo`) and asserts that Git's own files are
 * byte-identical afterwards: reg reads `.git`, it never writes there. `mayChange` names paths
 * below `.git` the command may write (`hooks` for `reg hooks install`).
 */
export async function keepingGit<T>(repo: string, command: () => Promise<T>, mayChange: string[] = []): Promise<T> {
  const own = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !mayChange.some((p) => k === p || k.startsWith(p + '/'))));
  const before = own(snapshotTree(join(repo, '.git')));
  const result = await command();
  expect(own(snapshotTree(join(repo, '.git'))), `${repo}/.git`).toEqual(before);
  return result;
}

/** Paths below root with a temp name in any segment (temp files and temp directories, empty ones too). */
export function tempPathsUnder(root: string): string[] {
  return Object.keys(snapshotTree(root)).filter((k) => k.split('/').some(isTempName));
}

/** Flips a bit of a (read-only) cache object and puts its mtime (the verify stamp) back: bit rot the stamp cannot see. */
export function rot(path: string): void {
  const before = statSync(path);
  const bytes = readFileSync(path);
  bytes[0] = bytes[0]! ^ 0x01;
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
  utimesSync(path, before.atime, before.mtime);
}

/**
 * Registers a sentinel tree outside every repository for the calling test file, and an afterEach
 * asserting it is byte-identical after every test. Returns the sentinel's path (once beforeAll ran).
 */
export function guardSentinelTree(): () => string {
  let sentinel = '';
  let before: Record<string, string> = {};
  beforeAll(() => {
    sentinel = makeSentinel();
    before = snapshotTree(sentinel);
  });
  afterAll(() => {
    if (sentinel) removeDir(sentinel);
  });
  afterEach(() => expect(snapshotTree(sentinel)).toEqual(before));
  return () => sentinel;
}

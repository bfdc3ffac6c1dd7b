import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { expect } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { makeContext } from '../../dist/context.js';
import { init } from '../../dist/ops/registry/init.js';
import type { Backend } from '../../dist/store/backend.js';
import { LocalBackend } from '../../dist/store/local.js';
import { S3Backend } from '../../dist/store/s3.js';
import { git, makeGitRepo, reg, removeDir, tempDir, type CliResult } from '../helpers/repo.js';
import type { S3Server } from '../helpers/s3server.js';
import { startFakeS3, type FakeS3 } from './fake-s3.js';
import { makeSentinel, snapshotTree } from './tree.js';

/** Where a hostile case's remote data lives: none, a directory remote, s3rver, or the fake S3 endpoint (keys with `..`). */
export type RemoteKind = 'none' | 'dir' | 's3rver' | 'fake-s3';

/** One victim repository (a registry with the default areas), a sentinel tree outside it, and a remote. */
export interface World {
  repo: string;
  /** The sentinel tree outside the repository. */
  outside: string;
  kind: RemoteKind;
  env: Record<string, string>;
  /** Puts an object on the remote under a key relative to the remote's root (bypassing reg). */
  putRemote(key: string, bytes: Buffer | string): Promise<void>;
  /** Every key on the remote (relative to its root), sorted. */
  remoteKeys(): Promise<string[]>;
  /** A directory remote's directory (undefined for the others). */
  remoteDir?: string;
  /** The fake S3 server of a 'fake-s3' world (tests switch its faults on). */
  fake?: FakeS3;
  cleanup(): Promise<void>;
}

let s3Counter = 0;

export async function makeWorld(kind: RemoteKind, s3rver?: S3Server): Promise<World> {
  const repo = makeGitRepo();
  await init(makeContext({ cwd: repo }));
  const outside = makeSentinel();
  const config = join(repo, '.reg/config.yaml');
  let env: Record<string, string> = {};
  let putRemote: World['putRemote'] = async () => {
    throw new Error('this world has no remote');
  };
  let listed: Backend | undefined;
  let remoteKeys: World['remoteKeys'] = async () => {
    if (!listed) throw new Error('this world has no remote');
    const keys: string[] = [];
    for await (const page of listed.list('')) keys.push(...page.map((o) => o.key));
    return keys.sort();
  };
  let remoteDir: string | undefined;
  let fakeServer: FakeS3 | undefined;
  const stops: Array<() => Promise<void> | void> = [() => removeDir(repo), () => removeDir(outside)];
  if (kind === 'dir') {
    const dir = tempDir('reg-hostile-remote-');
    stops.push(() => removeDir(dir));
    remoteDir = dir;
    listed = new LocalBackend(dir);
    setConfigValue(config, ['remotes', 'team'], { url: dir });
    putRemote = async (key, bytes) => {
      const abs = join(dir, ...key.split('/'));
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, bytes);
    };
  } else if (kind === 's3rver' || kind === 'fake-s3') {
    let endpoint: string;
    let bucket: string;
    const prefix = `hostile/${++s3Counter}-${basename(repo)}`;
    if (kind === 's3rver') {
      if (!s3rver) throw new Error('s3rver not started');
      ({ endpoint, bucket, env } = s3rver);
      const backend = new S3Backend({ bucket, prefix, endpointUrl: endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 4 }, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
      stops.push(() => backend.close());
      listed = backend;
      putRemote = (key, bytes) => backend.putBytes(key, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
    } else {
      const fake: FakeS3 = (fakeServer = await startFakeS3({}));
      stops.push(() => fake.stop());
      ({ endpoint, bucket, env } = fake);
      putRemote = async (key, bytes) => {
        fake.objects.set(`${prefix}/${key}`, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
      };
      remoteKeys = async () => [...fake.objects.keys()].filter((k) => k.startsWith(`${prefix}/`)).map((k) => k.slice(prefix.length + 1)).sort();
    }
    setConfigValue(config, ['remotes', 'team'], { url: `s3://${bucket}/${prefix}`, 'endpoint-url': endpoint, 'path-style': true, 'read-timeout': 10, 'connect-timeout': 5 });
  }
  if (kind !== 'none') setConfigValue(config, ['core', 'remote'], 'team');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'registry');
  return {
    repo,
    outside,
    kind,
    env,
    putRemote,
    remoteKeys,
    ...(remoteDir !== undefined ? { remoteDir } : {}),
    ...(fakeServer !== undefined ? { fake: fakeServer } : {}),
    async cleanup() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

export const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** Stores bytes as a cache object of the repository (as a teammate's reg would have), read-only. */
export function putCacheObject(w: World, bytes: Buffer | string, suffix = ''): string {
  const oid = md5(bytes) + suffix;
  const abs = join(w.repo, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2));
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, bytes);
  chmodSync(abs, 0o444);
  return oid;
}

/** Stores an object on the remote under the DVC 3 layout; returns its oid. */
export async function putRemoteObject(w: World, bytes: Buffer | string, suffix = ''): Promise<string> {
  const oid = md5(bytes) + suffix;
  await w.putRemote(`files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`, bytes);
  return oid;
}

/** `.dir` object bytes for raw entries (no validation: that is the point). */
export function manifestBytes(entries: Array<{ relpath: string; md5: string }>): string {
  return '[' + entries.map((e) => `{"md5": ${JSON.stringify(e.md5)}, "relpath": ${JSON.stringify(e.relpath)}}`).join(', ') + ']';
}

export interface Out {
  md5: string;
  size?: number;
  path: string;
  isexec?: boolean;
}

/** A `.dvc` file's text (paths double-quoted, so any string survives YAML). */
export function pointerText(outs: Out[]): string {
  return 'outs:\n' + outs.map((o) => `- md5: ${o.md5}\n  size: ${o.size ?? 1}\n${o.isexec ? '  isexec: true\n' : ''}  hash: md5\n  path: ${JSON.stringify(o.path)}\n`).join('');
}

/** Writes files into the work tree and commits them, as a teammate's pushed commit would bring them. */
export function commit(w: World, files: Record<string, string>, message = 'teammate'): void {
  for (const [rel, text] of Object.entries(files)) {
    const abs = join(w.repo, rel);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
  }
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', message);
}

export interface Outcome extends CliResult {
  /** `error.code` of the --json document, when the command failed. */
  errorCode?: string;
  json?: Record<string, unknown>;
}

/**
 * Runs `reg --json <args>` (`reg <args>` with `json: false`; killed after `timeoutMs` when given) and asserts that the sentinel tree
 * outside the repo, the repo's `.git/` and every extra guarded directory are byte-identical
 * (contents, modes, links) afterwards.
 */
export async function runGuarded(w: World, args: string[], guarded: string[] = [], options: { json?: boolean; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Outcome> {
  const dirs = [w.outside, join(w.repo, '.git'), ...guarded];
  const before = dirs.map(snapshotTree);
  const r = await reg(w.repo, options.json === false ? args : ['--json', ...args], { env: { ...w.env, ...options.env }, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  dirs.forEach((d, i) => expect(snapshotTree(d), `${d} changed`).toEqual(before[i]));
  const errorCode = (json?.error as { code?: string } | undefined)?.code;
  return { ...r, json, ...(errorCode ? { errorCode } : {}) };
}

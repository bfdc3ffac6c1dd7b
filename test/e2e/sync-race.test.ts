import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConfigValue } from '../../dist/config.js';
import { S3Backend } from '../../dist/store/s3.js';
import { filesUnder, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';

/**
 * Two clones run `reg sync push` of the same entry, with different content, at the same moment.
 * Every time: exactly one succeeds and the other is refused with exit 7, and the remote is never
 * mixed — its manifest lists exactly the winner's files and every stored byte matches it.
 */
const ENTRY = 'processed_datasets/shared';
const TRIALS = 20;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

interface Manifest {
  files: Record<string, { md5: string; size: number }>;
}

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server('race-bucket');
});
afterAll(async () => {
  await s3?.stop();
});

/** A clone whose entry holds `tag`-specific content: same names in both clones, different bytes. */
function entryFiles(tag: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < 12; i++) files[`${ENTRY}/part-${i}.txt`] = `${tag} part ${i} ${randomBytes(6).toString('hex')}\n`;
  files[`${ENTRY}/only-${tag}.txt`] = `${tag}\n`;
  return files;
}

async function clone(configure: (repo: string) => Promise<void>): Promise<string> {
  const repo = makeGitRepo();
  await regOk(repo, ['init']);
  await configure(repo);
  return repo;
}

/** Fresh content for the next trial (and no memory of earlier syncs). */
function prepare(repo: string, tag: string): void {
  rmSync(join(repo, ENTRY), { recursive: true, force: true });
  rmSync(join(repo, '.reg', 'tmp', 'sync'), { recursive: true, force: true });
  writeTree(repo, entryFiles(tag));
}

const outcomes = { locked: 0, changed: 0 };

async function race(a: string, b: string, env: Record<string, string>): Promise<string> {
  const [ra, rb] = await Promise.all([reg(a, ['sync', 'push', ENTRY], { env }), reg(b, ['sync', 'push', ENTRY], { env })]);
  expect([ra.code, rb.code].sort(), `a: ${ra.stderr}\nb: ${rb.stderr}`).toEqual([0, 7]);
  const loser = ra.code === 7 ? ra : rb;
  expect(loser.stderr).toMatch(/refused/);
  if (/another push of it is running/.test(loser.stderr)) outcomes.locked++;
  else outcomes.changed++;
  return ra.code === 0 ? a : b;
}

/** The remote holds exactly the winner's entry: manifest = winner's files, stored bytes = manifest. */
async function assertWinnerOnRemote(winner: string, manifest: Manifest, read: (rel: string) => Buffer | Promise<Buffer>): Promise<void> {
  const local = filesUnder(join(winner, ENTRY));
  expect(Object.keys(manifest.files).sort()).toEqual(local);
  for (const rel of local) {
    const stored = await read(rel);
    expect(md5(stored), rel).toBe(manifest.files[rel]!.md5);
    expect(md5(stored), rel).toBe(md5(readFileSync(join(winner, ENTRY, rel))));
  }
}

afterAll(() => {
  // Which way the loser lost depends on timing; both are exit 7 (see the assertions above).
  console.log(`sync races: loser found the lock held ${outcomes.locked} times, found the remote changed ${outcomes.changed} times`);
});

describe('concurrent reg sync push of one entry', () => {
  it(`directory remote: ${TRIALS} races, always one success and one exit 7, never a mixed remote`, async () => {
    const store = tempDir('reg-race-store-');
    const a = await clone(async (repo) => void (await regOk(repo, ['remote', 'add', 'team', join(store, 'none'), '--default'])));
    const b = await clone(async (repo) => void (await regOk(repo, ['remote', 'add', 'team', join(store, 'none'), '--default'])));
    try {
      for (let t = 0; t < TRIALS; t++) {
        const root = join(store, `t${t}`);
        for (const [repo, tag] of [[a, 'alpha'], [b, 'beta']] as const) {
          prepare(repo, tag);
          setConfigValue(join(repo, '.reg', 'config.yaml'), ['remotes', 'team', 'url'], root);
        }
        const winner = await race(a, b, {});
        const entryDir = join(root, ...ENTRY.split('/'));
        const manifest = JSON.parse(readFileSync(join(entryDir, '.reg-sync.json'), 'utf8')) as Manifest;
        await assertWinnerOnRemote(winner, manifest, (rel) => readFileSync(join(entryDir, rel)));
        expect(filesUnder(entryDir).filter((f) => f !== '.reg-sync.json')).toEqual(filesUnder(join(winner, ENTRY)));
        expect(filesUnder(root).filter((f) => f.endsWith('.tmp') || f.includes('.reg-sync-locks/'))).toEqual([]);
      }
    } finally {
      for (const d of [a, b, store]) removeDir(d);
    }
  }, 600_000);

  it(`S3 (s3rver, which ignores conditional writes): ${TRIALS} races, always one success and one exit 7, never a mixed remote`, async () => {
    const configure = async (repo: string) => {
      await regOk(repo, ['remote', 'add', 'team', `s3://${s3.bucket}/none`, '--default']);
      await regOk(repo, ['remote', 'modify', 'team', 'endpoint-url', s3.endpoint]);
      await regOk(repo, ['remote', 'modify', 'team', 'path-style', 'true']);
    };
    const a = await clone(configure);
    const b = await clone(configure);
    const readAll = async (backend: S3Backend, key: string) => {
      const { body } = await backend.get(key);
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    try {
      for (let t = 0; t < TRIALS; t++) {
        const prefix = `race-${t}-${randomBytes(3).toString('hex')}`;
        for (const [repo, tag] of [[a, 'alpha'], [b, 'beta']] as const) {
          prepare(repo, tag);
          setConfigValue(join(repo, '.reg', 'config.yaml'), ['remotes', 'team', 'url'], `s3://${s3.bucket}/${prefix}`);
        }
        const backend = new S3Backend(
          { bucket: s3.bucket, prefix, endpointUrl: s3.endpoint, region: 'us-east-1', pathStyle: true, checksums: 'when_required', maxSockets: 8 },
          { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        );
        try {
          const winner = await race(a, b, s3.env);
          const manifest = JSON.parse((await readAll(backend, `${ENTRY}/.reg-sync.json`)).toString('utf8')) as Manifest;
          await assertWinnerOnRemote(winner, manifest, (rel) => readAll(backend, `${ENTRY}/${rel}`));
          const keys: string[] = [];
          for await (const page of backend.list('')) for (const o of page) keys.push(o.key);
          expect(keys.filter((k) => k.startsWith(`${ENTRY}/`) && !k.endsWith('.reg-sync.json')).sort()).toEqual(filesUnder(join(winner, ENTRY)).map((f) => `${ENTRY}/${f}`));
          expect(keys.filter((k) => k.includes('.reg-sync-locks/') || k.includes('.reg-probe/'))).toEqual([]);
        } finally {
          backend.close();
        }
      }
    } finally {
      removeDir(a);
      removeDir(b);
    }
  }, 600_000);
});

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { add } from '../../dist/ops/data/add.js';
import { checkout } from '../../dist/ops/data/checkout.js';
import { init } from '../../dist/ops/registry/init.js';
import { push } from '../../dist/ops/remote/push.js';
import { remoteAdd } from '../../dist/ops/remote/remote.js';
import { md5OfBuffer } from '../../dist/data/hash.js';
import { serializeManifest } from '../../dist/data/manifest.js';
import { makeContext } from '../../dist/context.js';
import { makeGitRepo, writeTree } from './repo.js';

/**
 * A registry whose history exercises every kind of change, built with the real `reg add` between
 * commits (dates fixed, so the order is deterministic):
 *
 *   c1  v0          images as DVC 2 wrote it (legacy pointer, legacy cache objects):
 *                   a.txt (CRLF text), b.txt, sub/c.txt
 *   c2  v1          images re-added as DVC 3, gains d.txt; models/model.bin added
 *   c3  v2          images: b.txt renamed to sub/b-renamed.txt, sub/c.txt modified, d.txt deleted,
 *                   e.txt, dup1.txt, dup2.txt added (dup1 and dup2 have the same content)
 *   c4  experiment  (branch from v2) images loses sub/; model.bin modified
 *   c5  v3          (main) dup1/dup2 renamed to z/dup-a.txt, z/dup-b.txt, plus a third copy z/dup-c.txt
 *   c6              (main) README only
 *   c7              (main, HEAD) images rolled back to v1: the pointer text of c2, byte for byte
 */
export const IMAGES = 'raw_datasets/images';
export const MODEL = 'models/model.bin';

export const CONTENT = {
  a: 'alpha\r\nline two\r\n',
  b: 'bravo\n',
  c: 'charlie\n',
  c2: 'charlie, second take\n',
  d: 'delta\n',
  e: 'echo echo\n',
  dup: 'same bytes\n',
  model1: Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.alloc(3000, 7)]),
  model2: Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.alloc(5000, 9)]),
  readme: '# registry\n',
};

export const md5 = (s: string | Buffer): string => createHash('md5').update(s).digest('hex');
export const size = (s: string | Buffer): number => Buffer.byteLength(s);

export type FixtureCommit = 'c1' | 'c2' | 'c3' | 'c4' | 'c5' | 'c6' | 'c7';

export interface HistoryFixture {
  root: string;
  commits: Record<FixtureCommit, string>;
  /** The images manifest oid of each version. */
  imagesOid: { v0: string; v1: string; v2: string; exp: string; v3: string };
  modelOid: { v1: string; exp: string };
  /** The legacy md5 of a.txt (dos2unix), which differs from its DVC 3 md5. */
  aLegacyMd5: string;
}

/** `git add -A` and a commit dated 2024-01-<day> 12:00 UTC; returns its id. */
export function commitOnDay(root: string, message: string, day: number): string {
  const date = `2024-01-${String(day).padStart(2, '0')}T12:00:00+00:00`;
  const env = { ...process.env, GIT_AUTHOR_NAME: 'reg tests', GIT_AUTHOR_EMAIL: 'tests@example.org', GIT_COMMITTER_NAME: 'reg tests', GIT_COMMITTER_EMAIL: 'tests@example.org', GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date, GIT_CONFIG_NOSYSTEM: '1' };
  execFileSync('git', ['add', '-A'], { cwd: root, env });
  execFileSync('git', ['commit', '-q', '-m', message], { cwd: root, env });
  return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, env, encoding: 'utf8' }).trim();
}

function gitq(root: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
}

function setDir(root: string, rel: string, files: Record<string, string | Buffer>): void {
  rmSync(join(root, rel), { recursive: true, force: true });
  writeTree(join(root, rel), files);
}

function pointerOid(root: string, rev: string, pointer: string): string {
  return /md5: ([0-9a-f]{32}(\.dir)?)/.exec(gitq(root, 'show', `${rev}:${pointer}`))![1]!;
}

/** Builds the fixture. With `remoteDir`, every version except the experiment branch's is pushed there. */
export async function buildHistoryFixture(options: { remoteDir?: string } = {}): Promise<HistoryFixture> {
  const root = makeGitRepo();
  const ctx = makeContext({ cwd: root });
  await init(ctx);
  if (options.remoteDir) await remoteAdd(ctx, { name: 'store', url: options.remoteDir, default: true });
  const pushAll = async () => {
    if (options.remoteDir) await push(ctx, { targets: [] });
  };

  // c1: what DVC 2 left behind: a legacy pointer, legacy objects (cache root XX/REST), a legacy manifest.
  const v0Files: Record<string, string> = { 'a.txt': CONTENT.a, 'b.txt': CONTENT.b, 'sub/c.txt': CONTENT.c };
  setDir(root, IMAGES, v0Files);
  const cacheRoot = join(root, '.reg', 'cache');
  const putLegacy = (oid: string, bytes: Buffer) => {
    const p = join(cacheRoot, oid.slice(0, 2), oid.slice(2));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, bytes);
    chmodSync(p, 0o444);
  };
  const entries = Object.entries(v0Files).map(([relpath, text]) => {
    const bytes = Buffer.from(text);
    const legacyMd5 = md5OfBuffer(bytes, true);
    putLegacy(legacyMd5, bytes);
    return { relpath, md5: legacyMd5 };
  });
  const manifest = serializeManifest(entries);
  const v0 = md5(manifest) + '.dir';
  putLegacy(v0, manifest);
  const total = Object.values(v0Files).reduce((s, t) => s + size(t), 0);
  writeTree(root, {
    [`${IMAGES}.dvc`]: `outs:\n- md5: ${v0}\n  size: ${total}\n  nfiles: 3\n  path: images\n`,
    'raw_datasets/.gitignore': '/images\n',
    'README.md': CONTENT.readme,
  });
  const c1 = commitOnDay(root, 'images as DVC 2 wrote them', 1);
  gitq(root, 'tag', 'v0');
  await pushAll();

  // c2: re-added with reg (DVC 3), gains d.txt; a model file appears.
  setDir(root, IMAGES, { ...v0Files, 'd.txt': CONTENT.d });
  writeTree(root, { [MODEL]: CONTENT.model1 });
  await add(ctx, { targets: [IMAGES, MODEL] });
  const c2 = commitOnDay(root, 'images v1 (DVC 3), d.txt; first model', 2);
  gitq(root, 'tag', '-a', 'v1', '-m', 'release 1');
  await pushAll();

  // c3: rename, modify, delete, gain, duplicates.
  setDir(root, IMAGES, { 'a.txt': CONTENT.a, 'sub/b-renamed.txt': CONTENT.b, 'sub/c.txt': CONTENT.c2, 'e.txt': CONTENT.e, 'dup1.txt': CONTENT.dup, 'dup2.txt': CONTENT.dup });
  await add(ctx, { targets: [IMAGES] });
  const c3 = commitOnDay(root, 'images v2: rename b, modify c, drop d, add e and two duplicates', 3);
  gitq(root, 'tag', 'v2');
  await pushAll();

  // c4 on branch experiment: images loses sub/, the model changes. Never pushed.
  gitq(root, 'checkout', '-q', '-b', 'experiment');
  setDir(root, IMAGES, { 'a.txt': CONTENT.a, 'e.txt': CONTENT.e, 'dup1.txt': CONTENT.dup, 'dup2.txt': CONTENT.dup });
  writeTree(root, { [MODEL]: CONTENT.model2 });
  await add(ctx, { targets: [IMAGES, MODEL] });
  const c4 = commitOnDay(root, 'experiment: without sub/, bigger model', 4);

  // c5 back on main: the duplicates move, a third copy appears.
  gitq(root, 'checkout', '-q', 'main');
  await checkout(ctx, { targets: [], force: true });
  setDir(root, IMAGES, { 'a.txt': CONTENT.a, 'sub/b-renamed.txt': CONTENT.b, 'sub/c.txt': CONTENT.c2, 'e.txt': CONTENT.e, 'z/dup-a.txt': CONTENT.dup, 'z/dup-b.txt': CONTENT.dup, 'z/dup-c.txt': CONTENT.dup });
  await add(ctx, { targets: [IMAGES] });
  const c5 = commitOnDay(root, 'images v3: duplicates moved to z/', 5);
  gitq(root, 'tag', 'v3');
  await pushAll();

  writeTree(root, { 'README.md': CONTENT.readme + '\nMore words.\n' });
  const c6 = commitOnDay(root, 'docs only', 6);

  // c7: roll images back to v1 (the pointer text of c2, byte-identical), data checked out.
  gitq(root, 'checkout', 'v1', '--', `${IMAGES}.dvc`);
  await checkout(ctx, { targets: [IMAGES], force: true });
  const c7 = commitOnDay(root, 'roll images back to v1', 7);
  await pushAll();

  return {
    root,
    commits: { c1, c2, c3, c4, c5, c6, c7 },
    imagesOid: {
      v0,
      v1: pointerOid(root, 'v1', `${IMAGES}.dvc`),
      v2: pointerOid(root, 'v2', `${IMAGES}.dvc`),
      exp: pointerOid(root, 'experiment', `${IMAGES}.dvc`),
      v3: pointerOid(root, 'v3', `${IMAGES}.dvc`),
    },
    modelOid: { v1: pointerOid(root, 'v1', `${MODEL}.dvc`), exp: pointerOid(root, 'experiment', `${MODEL}.dvc`) },
    aLegacyMd5: md5OfBuffer(Buffer.from(CONTENT.a), true),
  };
}

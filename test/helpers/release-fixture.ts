import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { push } from '../../dist/ops/remote/push.js';
import { remoteAdd } from '../../dist/ops/remote/remote.js';
import { makeContext } from '../../dist/context.js';
import { commitOnDay } from './history-fixture.js';
import { git, makeGitRepo, tempDir, writeTree } from './repo.js';

/** The publishable entry of the release fixture (a directory with a card that has a licence). */
export const PAGES = 'raw_datasets/pages';

export const PAGES_CARD = `---
license: CC-BY-4.0
source: scanned at the lab
owner: Jane Doe
title: Pages
---
# Card: pages

Scanned pages.
`;

export interface ReleaseFixture {
  /** The registry (cache holds every object), its directory remote (every object pushed), and a Git clone of it (empty cache). */
  root: string;
  remoteDir: string;
  clone: string;
  /** The manifest oid of PAGES at v1. */
  manifest: string;
}

/**
 * A registry with one publishable entry, `raw_datasets/pages` (the given files plus its card),
 * committed and tagged v1, pushed to a directory remote, and a `git clone` of it whose cache is
 * empty (what a teammate has before fetching): what export, share, catalog publish, gc and verify
 * need in the fault tests.
 */
export async function buildReleaseFixture(files: Record<string, string | Buffer>): Promise<ReleaseFixture> {
  const root = makeGitRepo();
  const remoteDir = tempDir('reg-release-remote-');
  const ctx = makeContext({ cwd: root });
  await init(ctx);
  await remoteAdd(ctx, { name: 'store', url: remoteDir, default: true });
  writeTree(join(root, PAGES), files);
  writeTree(root, { [`${PAGES}.card.md`]: PAGES_CARD });
  await add(ctx, { targets: [PAGES] });
  await push(ctx, { targets: [] });
  commitOnDay(root, 'pages v1', 1);
  git(root, 'tag', 'v1');
  const manifest = /md5: ([0-9a-f]{32}\.dir)/.exec(readFileSync(join(root, `${PAGES}.dvc`), 'utf8'))![1]!;
  const clone = tempDir('reg-release-clone-');
  git(clone, 'clone', '-q', root, '.');
  return { root, remoteDir, clone, manifest };
}

/** Copies one object from the fixture's registry cache into the clone's (e.g. the manifest alone). */
export function copyObjectToClone(fx: ReleaseFixture, oid: string): void {
  const rel = join('.reg', 'cache', 'files', 'md5', oid.slice(0, 2), oid.slice(2));
  mkdirSync(dirname(join(fx.clone, rel)), { recursive: true });
  copyFileSync(join(fx.root, rel), join(fx.clone, rel));
}

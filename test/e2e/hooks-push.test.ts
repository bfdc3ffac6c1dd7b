import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeGitRepo, regOk, removeDir, REG_BIN, tempDir, writeTree, filesUnder } from '../helpers/repo.js';

const binDir = tempDir('reg-bin-');
writeFileSync(join(binDir, 'reg'), `#!/bin/sh\nexec "${process.execPath}" "${REG_BIN}" "$@"\n`);
chmodSync(join(binDir, 'reg'), 0o755);
afterAll(() => removeDir(binDir));
const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org', GIT_CONFIG_NOSYSTEM: '1', PATH: `${binDir}:${process.env.PATH}` };

function gitRun(cwd: string, ...args: string[]) {
  const r = spawnSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
function gitOk(cwd: string, ...args: string[]): string {
  const r = gitRun(cwd, ...args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const card = (name: string) => `---\nlicense: MIT\nsource: https://example.org\nowner: ana\n---\n# Card: ${name}\n`;

let repo: string;
let bare: string;
let store: string;
beforeEach(async () => {
  repo = makeGitRepo();
  bare = tempDir('reg-bare-');
  store = tempDir('reg-store-');
  gitOk(bare, 'init', '-q', '--bare');
  gitOk(repo, 'remote', 'add', 'origin', bare);
  await regOk(repo, ['init']);
  await regOk(repo, ['remote', 'add', 'store', store, '--default']);
  await regOk(repo, ['hooks', 'install']);
});
afterEach(() => [repo, bare, store].forEach(removeDir));

async function commitDataset(name: string, files: Record<string, string>): Promise<void> {
  writeTree(repo, Object.fromEntries(Object.entries(files).map(([k, v]) => [`raw_datasets/${name}/${k}`, v])));
  writeTree(repo, { [`raw_datasets/${name}.card.md`]: card(name) });
  await regOk(repo, ['add', `raw_datasets/${name}`]);
  gitOk(repo, 'add', '-A');
  gitOk(repo, 'commit', '-qm', `add ${name}`);
}

describe('pre-push hook + real git push', () => {
  it('push mode uploads the data of the commits being pushed before git push goes ahead', async () => {
    await commitDataset('mnist', { 'a.txt': 'alpha', 'b/c.txt': 'gamma' });
    expect(filesUnder(store)).toEqual([]);
    const p = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toContain('uploaded the data of 1 pointer');
    const objects = filesUnder(store);
    expect(objects.filter((k) => k.endsWith('.dir'))).toHaveLength(1);
    expect(objects).toHaveLength(3);
    expect(gitOk(bare, 'log', '--oneline', 'main')).toContain('add mnist');

    // An older version that is no longer in the workspace is uploaded too (v1 and v2 pushed at once).
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'alpha v2' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'commit', '-qam', 'mnist v2');
    writeTree(repo, { 'raw_datasets/mnist/a.txt': 'alpha v3' });
    await regOk(repo, ['add', 'raw_datasets/mnist']);
    gitOk(repo, 'commit', '-qam', 'mnist v3');
    const p2 = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p2.code, p2.stderr).toBe(0);
    expect(p2.stderr).toContain('uploaded the data of 2 pointers');
    expect(filesUnder(store).filter((k) => k.endsWith('.dir'))).toHaveLength(3);
    // nothing new: the hook is a no-op
    const p3 = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p3.code).toBe(0);
    expect(p3.stderr).not.toContain('uploaded');
  });

  it('check mode refuses the push with a list, and allows it after reg push', async () => {
    const config = readFileSync(join(repo, '.reg/config.yaml'), 'utf8');
    expect(config).toMatch(/^  pre-push: push$/m);
    writeFileSync(join(repo, '.reg/config.yaml'), config.replace(/^  pre-push: push$/m, '  pre-push: check'));
    await commitDataset('mnist', { 'a.txt': 'alpha' });
    const p = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p.code).not.toBe(0);
    expect(p.stderr).toContain('push refused');
    expect(p.stderr).toContain('raw_datasets/mnist.dvc');
    expect(p.stderr).toContain('reg push');
    expect(filesUnder(store)).toEqual([]);
    expect(gitRun(bare, 'rev-parse', '--verify', '-q', 'main').code).not.toBe(0);
    await regOk(repo, ['push']);
    expect(gitRun(repo, 'push', '-q', 'origin', 'main').code).toBe(0);
  });

  it('push mode refuses when the data is in neither the cache nor the remote', async () => {
    await commitDataset('mnist', { 'a.txt': 'alpha' });
    rmSync(join(repo, '.reg/cache'), { recursive: true, force: true });
    const p = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p.code).not.toBe(0);
    expect(p.stderr).toContain('raw_datasets/mnist.dvc');
    expect(p.stderr).toContain('not in the local cache');
  });

  it('a chained pre-existing pre-push hook gets the same stdin and runs first', async () => {
    await regOk(repo, ['hooks', 'uninstall']);
    const hooks = join(repo, '.git/hooks');
    writeFileSync(join(hooks, 'pre-push'), `#!/bin/sh\ncat > "${join(repo, 'seen-refs.txt')}"\necho "$1" >> "${join(repo, 'seen-refs.txt')}"\n`);
    chmodSync(join(hooks, 'pre-push'), 0o755);
    expect((await regOk(repo, ['hooks', 'install'])).stdout).toContain('pre-push: chained');
    await commitDataset('mnist', { 'a.txt': 'alpha' });
    const p = gitRun(repo, 'push', '-q', 'origin', 'main');
    expect(p.code, p.stderr).toBe(0);
    const seen = readFileSync(join(repo, 'seen-refs.txt'), 'utf8');
    expect(seen).toMatch(/^refs\/heads\/main [0-9a-f]{40} refs\/heads\/main 0{40}\n/);
    expect(seen.trim().endsWith('origin')).toBe(true);
    expect(filesUnder(store).length).toBeGreaterThan(0);
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { registryOverview } from '../../dist/ops/registry/overview.js';
import { push } from '../../dist/ops/remote/push.js';
import { sync } from '../../dist/ops/registry/sync.js';
import { setConfigValue } from '../../dist/config.js';
import { makeContext } from '../../dist/context.js';
import { makeGitRepo, removeDir, tempDir, writeTree } from '../helpers/repo.js';

let repo: string;
let store: string;
const ctx = () => makeContext({ cwd: repo });
const rawCard = (n: string) => `---\nlicense: MIT\nsource: https://example.org\nowner: ana\n---\n# Card: ${n}\n`;

beforeEach(async () => {
  repo = makeGitRepo();
  store = tempDir('reg-ov-store-');
  await init(ctx());
  setConfigValue(join(repo, '.reg/config.yaml'), ['remotes', 'team'], { url: store });
  setConfigValue(join(repo, '.reg/config.yaml'), ['core', 'remote'], 'team');
});
afterEach(() => [repo, store].forEach(removeDir));

function rows(o: Awaited<ReturnType<typeof registryOverview>>): string[] {
  return o.areas.flatMap((a) => a.entries.map((e) => `${e.path} card:${e.card.ok ? 'ok' : 'bad'} ${e.data}`));
}

describe('registryOverview', () => {
  it('reports per area and entry: card ok and data state', async () => {
    writeTree(repo, {
      'raw_datasets/mnist/a.txt': 'a',
      'raw_datasets/mnist.card.md': rawCard('mnist'),
      'raw_datasets/ocr/p.txt': 'p',
      'raw_datasets/ocr.card.md': '# Card: ocr\n',
      'raw_datasets/untracked/x.txt': 'x',
      'processed_datasets/tokenized/part.bin': 't',
      'processed_datasets/tokenized.card.md': '# Card: tokenized\n',
      'champion_models/bart-base.card.md': '# Card: bart-base\n',
      'experiments/run-1/log.txt': 'l',
    });
    await add(ctx(), { targets: ['raw_datasets/mnist', 'raw_datasets/ocr'] });
    writeFileSync(join(repo, 'raw_datasets/ocr/p.txt'), 'changed');
    let o = await registryOverview(ctx());
    expect(rows(o)).toEqual([
      'champion_models/bart-base card:ok missing',
      'experiments/run-1 card:bad local',
      'processed_datasets/tokenized card:ok not-pushed',
      'raw_datasets/mnist card:ok up-to-date',
      'raw_datasets/ocr card:bad modified',
      'raw_datasets/untracked card:bad not-tracked',
    ]);
    const ocr = o.areas.find((a) => a.name === 'raw_datasets')!.entries.find((e) => e.name === 'ocr')!;
    expect(ocr.card.problems.join(' ')).toContain('required field "license"');
    expect(o.summary.entries).toBe(6);

    // with the remote: versioned data not pushed yet
    o = await registryOverview(ctx(), { remote: true });
    expect(rows(o)).toContain('raw_datasets/mnist card:ok not-pushed');
    await push(ctx(), { targets: ['raw_datasets/mnist'] });
    await sync(ctx(), { direction: 'push', targets: ['processed_datasets/tokenized'] });
    o = await registryOverview(ctx(), { remote: true });
    expect(rows(o)).toContain('raw_datasets/mnist card:ok up-to-date');
    expect(rows(o)).toContain('processed_datasets/tokenized card:ok up-to-date');
    writeFileSync(join(repo, 'processed_datasets/tokenized/part.bin'), 'u');
    o = await registryOverview(ctx());
    expect(rows(o)).toContain('processed_datasets/tokenized card:ok modified');
  });
});

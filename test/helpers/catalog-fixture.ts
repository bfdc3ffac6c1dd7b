import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { add } from '../../dist/ops/data/add.js';
import { init } from '../../dist/ops/registry/init.js';
import { sync } from '../../dist/ops/registry/sync.js';
import { remoteAdd } from '../../dist/ops/remote/remote.js';
import { makeContext } from '../../dist/context.js';
import { commitOnDay } from './history-fixture.js';
import { makeGitRepo, tempDir, writeTree } from './repo.js';

/** A 1x1 PNG (valid magic, decodes in a browser). */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/**
 * Every way a card tries to run script. Payloads call `__regTrap(...)` (installed by the browser
 * test before any page script) or `alert`, which the test replaces by the same trap.
 */
export const HOSTILE_CARD = `---
license: "<img src=x onerror=__regTrap('license')>"
source: "javascript:__regTrap('source')"
owner: mallory
code: "data:text/html,<script>__regTrap('code')</script>"
doi: "10.1234/\\"><script>__regTrap('doi')</script>"
homepage: "https://example.org/\\" onmouseover=\\"__regTrap('homepage')"
---
# Card: hostile

A card that tries everything. <script>__regTrap('inline script')</script>

<img src=x onerror="__regTrap('img onerror')">
<svg onload="__regTrap('svg onload')"><circle r="5"/></svg>
<iframe src="javascript:__regTrap('iframe')"></iframe>
<iframe srcdoc="<script>parent.__regTrap('srcdoc')</script>"></iframe>
<style>body { display: none }</style>
<p style="position:fixed;top:0" onclick="__regTrap('onclick')" onmouseover="__regTrap('onmouseover')">styled paragraph</p>
<a href="javascript:__regTrap('js link')">js link</a>
<a href="JaVaScRiPt:__regTrap('mixed case')">mixed case</a>
<a href="&#106;avascript:__regTrap('entity')">entity link</a>
<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;__regTrap('hex entities')">hex entities</a>
<a href="java&#x09;script:__regTrap('tab')">tab in scheme</a>
<a href="data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX19yZWdUcmFwKCdkYXRhJyk8L3NjcmlwdD4=">data link</a>
<a href="vbscript:msgbox(1)">vbscript</a>
<object data="javascript:__regTrap('object')"></object><embed src="javascript:__regTrap('embed')">
<form action="javascript:__regTrap('form')"><button>go</button></form>
<math><mtext><table><mglyph><style><img src=x onerror="__regTrap('mxss')"></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=__regTrap('noscript')>"></p></noscript>
<base href="javascript:__regTrap('base')//">
<meta http-equiv="refresh" content="0;url=javascript:__regTrap('refresh')">

[markdown js link](javascript:__regTrap('md link'))
[markdown data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
[title trick](https://example.org "\\" onmouseover=\\"__regTrap('title')")
![image js](javascript:__regTrap('md image'))
<javascript:__regTrap('autolink')>

\`\`\`html
<script>this is code, shown as text</script>
\`\`\`
`;

export interface CatalogFixture {
  root: string;
  remoteDir: string;
  /** Every entry path (area/name), sorted. */
  entries: string[];
  /** The entry with 10k files (when built with bigFiles). */
  big?: string;
  commits: string[];
}

function card(name: string, fields: Record<string, string>, body: string): string {
  const fm = Object.entries(fields).map(([k, v]) => `${k}: ${v}`);
  return `---\n${fm.join('\n')}\n---\n# Card: ${name}\n\n${body}\n`;
}

/**
 * A registry for the catalog tests, committed on fixed dates:
 *  - raw_datasets (versioned): tibetan_ocr with 3 versions (CSV, PNG, text files), 7 more small
 *    entries with various licences and owners, one card missing its owner (a card problem), the
 *    hostile card, and (bigFiles) big_scan with `bigFiles` files in 100 directories;
 *  - processed_datasets / champion_models / training_results (synced): 6 entries pushed with
 *    `reg sync push` to the directory remote, so each has a sync state;
 *  - experiments (local): 3 entries with cards, plus a card whose name is markup.
 */
export async function buildCatalogFixture(options: { bigFiles?: number } = {}): Promise<CatalogFixture> {
  const root = makeGitRepo();
  const remoteDir = tempDir('reg-catalog-remote-');
  const ctx = makeContext({ cwd: root });
  await init(ctx);
  await remoteAdd(ctx, { name: 'store', url: remoteDir, default: true });
  const commits: string[] = [];
  let day = 1;
  const commitAll = (message: string) => commits.push(commitOnDay(root, message, day++));
  commitAll('registry layout');

  const rd = 'raw_datasets';
  const ocr = `${rd}/tibetan_ocr`;
  const setOcr = (lines: number, extra: Record<string, string | Buffer> = {}) => {
    rmSync(join(root, ocr), { recursive: true, force: true });
    const csv = ['line_id,text,confidence', ...Array.from({ length: lines }, (_, i) => `${i},"བཀྲ་ཤིས་ line ${i}, quoted",0.${90 + (i % 10)}`)].join('\n') + '\n';
    writeTree(join(root, ocr), { 'transcriptions.csv': csv, 'images/page-001.png': TINY_PNG, 'README.txt': 'Line images of Tibetan woodblock prints.\n', ...extra });
  };
  setOcr(10);
  writeTree(root, {
    [`${ocr}.card.md`]: card('tibetan_ocr', { license: 'CC-BY-4.0', source: 'https://example.org/bdrc', owner: 'alice', doi: '10.5281/zenodo.1234567', arxiv: '2401.01234', code: 'https://example.org/code/tib-ocr' }, 'Tibetan OCR line images with transcriptions from woodblock prints.\n\n## Provenance\n\nScanned at the library in 2023.'),
  });
  await add(ctx, { targets: [ocr] });
  commitAll('tibetan_ocr v1');
  setOcr(25, { 'images/page-002.png': TINY_PNG });
  await add(ctx, { targets: [ocr] });
  commitAll('tibetan_ocr v2: more lines, a second page');
  setOcr(60, { 'images/page-002.png': TINY_PNG, 'notes/cleaning.md': '# Cleaning\n\nDropped blurry lines.\n', 'meta.jsonl': '{"page":1,"lines":30}\n{"page":2,"lines":30}\n' });
  await add(ctx, { targets: [ocr] });
  commitAll('tibetan_ocr v3: cleaning notes and metadata');

  const small: Array<[string, string, string, string]> = [
    ['sanskrit_corpus', 'CC0-1.0', 'bob', 'Sanskrit texts, plain UTF-8, one file per work.'],
    ['weather_stations', 'ODbL-1.0', 'carol', 'Hourly readings of 40 weather stations.'],
    ['street_images', 'CC-BY-SA-4.0', 'alice', 'Street-level photos for segmentation.'],
    ['speech_commands', 'CC-BY-4.0', 'dave', 'One-second spoken commands, 35 words.'],
    ['protein_folds', 'MIT', 'erin', 'Predicted structures of small proteins.'],
    ['census_tables', 'proprietary', 'bob', 'Census tables by district, aggregated.'],
    ['bird_songs', 'CC-BY-NC-4.0', 'carol', 'Field recordings of bird songs.'],
  ];
  for (const [name, license, owner, text] of small) {
    writeTree(root, {
      [`${rd}/${name}/data.txt`]: `${name} data\n`,
      [`${rd}/${name}/part/values.tsv`]: 'key\tvalue\na\t1\nb\t2\n',
      [`${rd}/${name}.card.md`]: card(name, { license, source: `https://example.org/${name}`, owner }, text),
    });
  }
  writeTree(root, {
    [`${rd}/no_owner/file.txt`]: 'x\n',
    [`${rd}/no_owner.card.md`]: card('no_owner', { license: 'CC-BY-4.0', source: 'somewhere' }, 'An entry whose card lacks an owner.'),
    [`${rd}/hostile/file.txt`]: 'hostile data\n',
    [`${rd}/hostile.card.md`]: HOSTILE_CARD,
  });
  await add(ctx, { targets: [...small.map(([n]) => `${rd}/${n}`), `${rd}/no_owner`, `${rd}/hostile`] });
  commitAll('seven small datasets, one card without owner, a hostile card');

  let big: string | undefined;
  if (options.bigFiles) {
    big = `${rd}/big_scan`;
    for (let d = 0; d < 100; d++) {
      const dir = join(root, big, `shard-${String(d).padStart(3, '0')}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < options.bigFiles / 100; f++) writeFileSync(join(dir, `scan_${String(d * 1000 + f).padStart(6, '0')}.txt`), `scan ${d} ${f}\n`);
    }
    writeTree(root, { [`${big}.card.md`]: card('big_scan', { license: 'CC-BY-4.0', source: 'https://example.org/scans', owner: 'frank' }, `Scanned pages, ${options.bigFiles} files in 100 shards.`) });
    await add(ctx, { targets: [big] });
    commitAll('big_scan: many files');
  }

  const synced: Array<[string, string, string]> = [
    ['processed_datasets', 'ocr_lines_clean', 'Cleaned OCR lines, deduplicated.'],
    ['processed_datasets', 'weather_daily', 'Daily aggregates of the weather stations.'],
    ['champion_models', 'ocr_crnn', 'The OCR model in production.'],
    ['champion_models', 'segmenter', 'Street scene segmentation model.'],
    ['training_results', 'ocr_run_42', 'Training curves and checkpoints of run 42.'],
    ['training_results', 'seg_sweep', 'Hyper-parameter sweep of the segmenter.'],
  ];
  for (const [area, name, text] of synced) {
    writeTree(root, {
      [`${area}/${name}/results.csv`]: 'epoch,loss\n1,0.9\n2,0.5\n',
      [`${area}/${name}/nested/log.txt`]: `${name} log\n`,
      [`${area}/${name}.card.md`]: card(name, { license: 'CC-BY-4.0', owner: 'gina' }, text),
    });
  }
  await sync(ctx, { direction: 'push', targets: [] });
  const local: Array<[string, string]> = [
    ['scratch_alice', 'Alice tries things.'],
    ['tokenizer_test', 'Tokenizer experiments.'],
    ['quick_eval', 'A quick evaluation.'],
  ];
  for (const [name, text] of local) writeTree(root, { [`experiments/${name}/notes.txt`]: 'local\n', [`experiments/${name}.card.md`]: card(name, { owner: 'alice' }, text) });
  // A card whose entry name is markup (only a card: such a name never becomes data).
  const evil = `"><img src=x onerror=__regTrap('name')>`;
  writeTree(root, { [`experiments/${evil}.card.md`]: card(evil, { owner: 'mallory' }, 'Its name is markup.') });
  commitAll('synced entries pushed, local experiments, a card named with markup');

  const entries = [
    ocr,
    ...small.map(([n]) => `${rd}/${n}`),
    `${rd}/no_owner`,
    `${rd}/hostile`,
    ...(big ? [big] : []),
    ...synced.map(([a, n]) => `${a}/${n}`),
    ...local.map(([n]) => `experiments/${n}`),
    `experiments/${evil}`,
  ].sort();
  return { root, remoteDir, entries, ...(big ? { big } : {}), commits };
}


// The catalog (issue 10): `reg catalog build -o site/` of a registry with 1,000 entries in every
// kind of area (cards with front matter, pointers, several commits of history) and one 100k-file
// dataset, with its peak RSS; then the built index page in headless Chromium from file://: its
// DOMContentLoaded, and the time from a keystroke in the search box to the next frame after the
// list changed.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateTree } from '../lib/datasets.mjs';
import { median } from '../lib/results.mjs';

export const name = 'catalog';
export const description = '`reg catalog build` of 1,000 entries + one 100k-file dataset (wall, peak RSS) vs the Git reads it needs; the index page in headless Chromium from file://: DOMContentLoaded and search keystroke to updated list';
export const needs = ['Debian chromium (/usr/bin/chromium or REG_TEST_CHROMIUM) and playwright-core (dev dependency) for the browser rows'];

const BUILD_BUDGET_SECONDS = 5;
const RSS_BUDGET_MB = 400;
const DCL_BUDGET_MS = 1000;
const KEYSTROKE_BUDGET_MS = 50;
const CHROMIUM = process.env.REG_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Entries in the registry (the 100k-file dataset is one of them). */
function entryCount(h) {
  const v = process.env.BENCH_CATALOG_ENTRIES;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 10) throw new Error(`BENCH_CATALOG_ENTRIES must be an integer >= 10, got ${v}`);
    return n;
  }
  return h.cfg.size === 'full' ? 1000 : h.cfg.size === 'quick' ? 300 : 40;
}

const WORDS = ['tibetan', 'ocr', 'lines', 'sanskrit', 'corpus', 'weather', 'stations', 'street', 'images', 'speech', 'commands', 'protein', 'folds', 'census', 'tables', 'bird', 'songs', 'satellite', 'tiles', 'medical', 'scans', 'traffic', 'counts', 'legal', 'texts', 'genome', 'reads', 'audio', 'clips', 'forest', 'plots'];
const LICENSES = ['CC-BY-4.0', 'CC0-1.0', 'ODbL-1.0', 'CC-BY-SA-4.0', 'MIT', 'CC-BY-NC-4.0', 'proprietary'];
const OWNERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'heidi'];

function word(i, k) {
  return WORDS[(i * 7 + k * 13) % WORDS.length];
}

function entryName(i) {
  return `${word(i, 0)}_${word(i, 1)}_${String(i).padStart(4, '0')}`;
}

function card(i, name, area) {
  const title = `${word(i, 0)} ${word(i, 1)} ${word(i, 2)}`;
  const fields = [
    `title: ${title}`,
    `description: ${title[0].toUpperCase()}${title.slice(1)} collected for project ${i % 17}.`,
    `license: ${LICENSES[i % LICENSES.length]}`,
    `source: https://example.org/${area}/${name}`,
    `owner: ${OWNERS[i % OWNERS.length]}`,
    ...(i % 3 === 0 ? [`doi: 10.5281/zenodo.${1000000 + i}`] : []),
    ...(i % 5 === 0 ? [`arxiv: 2401.${String(10000 + i).slice(-5)}`] : []),
    `tags: [${word(i, 3)}, ${word(i, 4)}]`,
  ];
  const body = [
    `# Card: ${name}`,
    '',
    `${title} from the ${word(i, 5)} archive, cleaned and split for training. Each record has an id, the ${word(i, 6)} text and a confidence score.`,
    '',
    '## Provenance',
    '',
    `- collected in ${2015 + (i % 9)} by the ${word(i, 7)} team`,
    `- see [the project page](https://example.org/projects/${i}) and the **${word(i, 8)}** notes`,
    '',
    '## Use',
    '',
    '```python',
    `ds = load("${area}/${name}")`,
    '```',
    '',
    `| split | rows |\n| --- | --- |\n| train | ${1000 + i} |\n| test | ${100 + (i % 50)} |`,
    '',
  ];
  return `---\n${fields.join('\n')}\n---\n${body.join('\n')}`;
}

function writeEntry(dir, i, version) {
  mkdirSync(join(dir, 'part'), { recursive: true });
  const rows = Array.from({ length: 5 + version }, (_, r) => `${r},${word(i, r)} ${word(i + r, 1)},0.${90 + (r % 10)}`);
  writeFileSync(join(dir, 'data.csv'), `id,text,confidence\n${rows.join('\n')}\n`);
  writeFileSync(join(dir, 'README.txt'), `${entryName(i)} version ${version}\n`);
  writeFileSync(join(dir, 'part', 'values.tsv'), `key\tvalue\na\t${i}\nb\t${version}\n`);
}

/**
 * The registry: `reg init`'s areas; ~60% versioned entries (3 files each, added, with up to 8
 * later commits changing some of them), one 100k-file versioned dataset from the bench's tree
 * generator, ~30% synced entries pushed with `reg sync push` to a directory remote, ~10% local
 * experiments (cards only). Commits on fixed dates, so the history and the site are reproducible.
 */
function makeRegistry(h, repo, remote, entries, bigFiles) {
  rmSync(repo, { recursive: true, force: true });
  rmSync(remote, { recursive: true, force: true });
  mkdirSync(repo, { recursive: true });
  mkdirSync(remote, { recursive: true });
  h.git(repo, ['init', '-q', '-b', 'main']);
  h.reg(repo, ['-q', 'init']);
  h.reg(repo, ['-q', 'remote', 'add', 'store', remote, '--default']);
  let day = 1;
  const commit = (message) => {
    const date = `2024-01-${String(day).padStart(2, '0')}T12:00:00Z`;
    day = Math.min(day + 1, 28);
    h.git(repo, ['add', '-A']);
    h.git(repo, ['commit', '-q', '--allow-empty', '-m', message], { env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
  };
  commit('registry layout');

  const rest = entries - 1;
  const nVersioned = Math.round(rest * 0.6);
  const nSynced = Math.round(rest * 0.3);
  const nLocal = rest - nVersioned - nSynced;
  const syncedAreas = ['processed_datasets', 'champion_models', 'training_results'];
  const versioned = [];
  for (let i = 0; i < nVersioned; i++) {
    const n = entryName(i);
    versioned.push(`raw_datasets/${n}`);
    writeEntry(join(repo, 'raw_datasets', n), i, 0);
    writeFileSync(join(repo, 'raw_datasets', `${n}.card.md`), card(i, n, 'raw_datasets'));
  }
  // One `reg add` per few hundred targets keeps the command line short.
  const addAll = (targets) => {
    for (let k = 0; k < targets.length; k += 200) h.reg(repo, ['-q', 'add', ...targets.slice(k, k + 200)]);
  };
  addAll(versioned);
  commit(`${nVersioned} versioned datasets`);
  for (let c = 1; c <= 8; c++) {
    const changed = versioned.filter((_, i) => (i * 31 + c * 7) % 10 === 0);
    for (const p of changed) writeEntry(join(repo, p), versioned.indexOf(p), c);
    addAll(changed);
    commit(`new version of ${changed.length} datasets (round ${c})`);
  }

  const big = 'raw_datasets/big_scan';
  const d = generateTree(join(repo, big), bigFiles, 3);
  writeFileSync(join(repo, `${big}.card.md`), card(nVersioned, 'big_scan', 'raw_datasets'));
  h.reg(repo, ['-q', 'add', big]);
  commit(`big_scan: ${bigFiles} files`);

  for (let k = 0; k < nSynced; k++) {
    const i = nVersioned + 1 + k;
    const area = syncedAreas[k % syncedAreas.length];
    const n = entryName(i);
    mkdirSync(join(repo, area, n, 'nested'), { recursive: true });
    writeFileSync(join(repo, area, n, 'results.csv'), `epoch,loss\n1,0.9\n2,0.${k % 10}\n`);
    writeFileSync(join(repo, area, n, 'nested', 'log.txt'), `${n} log\n`);
    writeFileSync(join(repo, area, `${n}.card.md`), card(i, n, area));
  }
  if (nSynced > 0) h.reg(repo, ['-q', 'sync', 'push']);
  commit(`${nSynced} synced entries`);
  for (let k = 0; k < nLocal; k++) {
    const i = nVersioned + 1 + nSynced + k;
    const n = entryName(i);
    writeFileSync(join(repo, 'experiments', `${n}.card.md`), card(i, n, 'experiments'));
  }
  commit(`${nLocal} local experiments`);
  return { versioned: nVersioned, synced: nSynced, local: nLocal, bigBytes: d.bytes };
}

/** The realistic query typed into the search box, and then deleted, so every row comes back. */
const KEYS = [...'ocr lines', ...Array(9).fill('Backspace'), ...'weather', ...Array(7).fill('Backspace')];

async function browserRows(h, site, entries) {
  if (!existsSync(CHROMIUM)) {
    h.note(`catalog: ${CHROMIUM} is missing (apt-get install chromium): the browser rows are skipped`);
    return;
  }
  const require = createRequire(join(h.root, 'package.json'));
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (err) {
    h.note(`catalog: playwright-core cannot be loaded (${err.message.split('\n')[0]}): the browser rows are skipped`);
    return;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const url = pathToFileURL(join(site, 'index.html')).href;
  const dcl = [];
  const keystrokes = [];
  try {
    for (let r = 0; r < Math.max(3, h.cfg.rounds); r++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Keystroke to updated list: from the input event (its timeStamp: when the key produced it)
      // to after the next frame, i.e. the page's handler, style, layout and paint of the change.
      await page.addInitScript(() => {
        window.__benchKeys = [];
        window.addEventListener('input', (ev) => {
          const t0 = ev.timeStamp;
          requestAnimationFrame(() => {
            const ch = new MessageChannel();
            ch.port1.onmessage = () => window.__benchKeys.push(performance.now() - t0);
            ch.port2.postMessage(0);
          });
        }, true);
      });
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('body[data-ready="true"]');
      const nav = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { dcl: n.domContentLoadedEventEnd };
      });
      dcl.push(nav.dcl);
      h.sample('catalog-index-dcl', `index.html DOMContentLoaded, ${entries} entries (file://)`, { seconds: nav.dcl / 1000 });
      const shownAll = await page.textContent('#count');
      if (!shownAll.startsWith(`${entries} of ${entries}`)) throw new Error(`the index says "${shownAll}", ${entries} entries expected`);
      await page.focus('#q');
      for (let k = 0; k < KEYS.length; k++) {
        await page.keyboard.press(KEYS[k]);
        await page.waitForFunction((n) => window.__benchKeys.length >= n, k + 1, { timeout: 10_000 });
        await page.waitForTimeout(50); // a typist's pace: each keystroke is measured on its own
      }
      const times = await page.evaluate(() => window.__benchKeys);
      if (times.length !== KEYS.length) throw new Error(`measured ${times.length} keystrokes, typed ${KEYS.length}`);
      const back = await page.textContent('#count');
      if (!back.startsWith(`${entries} of ${entries}`)) throw new Error(`after deleting the query the index says "${back}"`);
      if (errors.length) throw new Error(`the index page raised: ${errors.join('; ')}`);
      keystrokes.push(...times);
      h.log(`  keystroke to updated list (round ${r + 1}): median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over ${times.length} keys`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  // Per keystroke, not per round: filled in directly rather than through h.sample's log line each.
  const secs = keystrokes.map((x) => Number((x / 1000).toFixed(4)));
  h.results.measurements['catalog-keystroke'] = { label: `search keystroke to updated list (${keystrokes.length} keys)`, samples: secs, rssMB: [], median: Number(median(secs).toFixed(4)), min: Math.min(...secs), max: Math.max(...secs) };
  h.target(`index DOMContentLoaded < ${DCL_BUDGET_MS} ms (headless Chromium, file://, ${entries} entries)`, median(dcl) < DCL_BUDGET_MS, `median ${median(dcl).toFixed(0)} ms, ${Math.min(...dcl).toFixed(0)}-${Math.max(...dcl).toFixed(0)} ms`);
  h.target(`search keystroke to updated list < ${KEYSTROKE_BUDGET_MS} ms (query "ocr lines" / "weather" typed and deleted)`, median(keystrokes) < KEYSTROKE_BUDGET_MS, `median ${median(keystrokes).toFixed(1)} ms, max ${Math.max(...keystrokes).toFixed(1)} ms`);
}

export async function run(h) {
  const { cfg } = h;
  const entries = entryCount(h);
  const bigFiles = cfg.statusFiles;
  const repo = join(h.tmp, 'catalog-repo');
  const remote = join(h.tmp, 'catalog-remote');
  const t0 = Date.now();
  const made = makeRegistry(h, repo, remote, entries, bigFiles);
  h.log(`  generated the catalog registry: ${entries} entries (${made.versioned} versioned + big_scan with ${bigFiles} files, ${made.synced} synced, ${made.local} local) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  h.results.datasets.catalog = { files: bigFiles + made.versioned * 3 + made.synced * 2, bytes: made.bigBytes, entries };
  h.syncDisk();

  const site = join(h.scratch, 'catalog-site');
  const areas = ['raw_datasets', 'processed_datasets', 'champion_models', 'training_results', 'experiments'];
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    rmSync(site, { recursive: true, force: true });
    h.syncDisk();
    const b = h.sample('catalog-build', `reg catalog build, ${entries} entries + ${bigFiles}-file dataset`, h.reg(repo, ['--json', 'catalog', 'build', '-o', site]));
    const out = JSON.parse(b.stdout);
    if (out.entries !== entries) throw new Error(`reg catalog build reported ${out.entries} entries, ${entries} expected`);
    if (!existsSync(join(site, 'index.html'))) throw new Error('reg catalog build wrote no index.html');
    // The Git reads a build cannot do without: every commit touching the areas with its changed
    // paths, and the committed tree. Mostly a measure of how loaded the machine is right now.
    h.sample('catalog-git-reads', 'git log --raw over the areas + git ls-tree -r HEAD', h.sh(`git log --raw --no-abbrev --format='%H %an %aI %s' HEAD -- ${areas.join(' ')} > /dev/null && git ls-tree -r HEAD > /dev/null`, { cwd: repo }));
  }
  h.compare('catalog-build', 'catalog-git-reads');
  for (let r = 0; r < cfg.rounds; r++) {
    h.sample('catalog-rebuild', 'reg catalog build again, nothing changed', h.reg(repo, ['-q', 'catalog', 'build', '-o', site]));
  }
  const m = h.results.measurements['catalog-build'];
  h.target(`catalog build < ${BUILD_BUDGET_SECONDS} s (${entries} entries + a ${bigFiles}-file dataset)`, m.median < BUILD_BUDGET_SECONDS, `median ${m.median.toFixed(2)} s, ${m.min.toFixed(2)}-${m.max.toFixed(2)} s`);
  h.target(`catalog build peak RSS < ${RSS_BUDGET_MB} MB`, m.peakRssMB !== undefined && m.peakRssMB < RSS_BUDGET_MB, m.peakRssMB === undefined ? 'no RSS figure could be taken' : `${m.peakRssMB.toFixed(0)} MB`);
  const json = JSON.parse(readFileSync(join(site, 'catalog.json'), 'utf8'));
  if (json.entries.length !== entries) throw new Error(`catalog.json lists ${json.entries.length} entries, ${entries} expected`);

  await browserRows(h, site, entries);
}

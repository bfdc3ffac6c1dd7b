import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCatalogFixture, type CatalogFixture } from '../helpers/catalog-fixture.js';
import { PROJECT_ROOT, git, regOk, removeDir, tempDir } from '../helpers/repo.js';
import { chromiumMissing, launchChromium, watchedPage, type PageWatch } from './chromium.js';

/**
 * The catalog in a real browser (Debian's Chromium, headless), opened from file:// as a user
 * would open a built site: the fixture has 21 entries in every kind of area, a 10k-file dataset,
 * three versions of one entry, a hostile card and an entry named with markup.
 */
const missing = chromiumMissing();
const OUT = join(PROJECT_ROOT, 'test-output');

describe.skipIf(missing !== undefined)(`catalog site in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let fx: CatalogFixture;
  let site: string;
  let browser: Browser;
  let head: string;
  const watches: PageWatch[] = [];

  beforeAll(async () => {
    fx = await buildCatalogFixture({ bigFiles: 10_000 });
    site = join(tempDir('reg-catalog-site-'), 'site');
    await regOk(fx.root, ['catalog', 'build', '-o', site]);
    head = git(fx.root, 'rev-parse', 'HEAD').trim();
    browser = await launchChromium();
    mkdirSync(OUT, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (fx) {
      removeDir(fx.root);
      removeDir(fx.remoteDir);
    }
    if (site) removeDir(join(site, '..'));
  }, 120_000);

  const url = (rel: string) => pathToFileURL(join(site, rel)).href;

  async function open(rel: string): Promise<{ page: Page; watch: PageWatch }> {
    const w = await watchedPage(browser);
    watches.push(w.watch);
    await w.page.goto(url(rel));
    await w.page.waitForSelector('body[data-ready="true"]');
    return w;
  }

  const visibleNames = (page: Page) => page.$$eval('#entries tbody tr:not([hidden]) td.name a', (as) => as.map((a) => a.textContent));

  /** The page of an entry, from catalog.json (the machine-readable side of the same build). */
  function entryHref(path: string): string {
    const catalog = JSON.parse(readFileSync(join(site, 'catalog.json'), 'utf8')) as { entries: Array<{ path: string; page: string }> };
    return catalog.entries.find((e) => e.path === path)!.page;
  }

  test('the index lists every entry of every area, with its status', async () => {
    const { page } = await open('index.html');
    const names = await visibleNames(page);
    expect(names.sort()).toEqual(fx.entries.map((e) => e.slice(e.indexOf('/') + 1)).sort());
    expect(await page.textContent('#count')).toBe(`${fx.entries.length} of ${fx.entries.length} entries`);
    expect(await page.$$eval('.areas li', (lis) => lis.map((li) => li.textContent?.replace(/\s+/g, ' ').trim()))).toEqual([
      'champion_models synced 2 entries',
      'experiments local 4 entries',
      'processed_datasets synced 2 entries',
      'raw_datasets versioned 11 entries',
      'training_results synced 2 entries',
    ]);
    const row = (name: string) => page.$eval(`#entries tbody tr:has(td.name a:text-is("${name}"))`, (tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent?.replace(/\s+/g, ' ').trim()));
    expect(await row('tibetan_ocr')).toEqual(['tibetan_ocr', 'raw_datasets versioned', 'Tibetan OCR line images with transcriptions from woodblock prints.', 'CC-BY-4.0', 'alice', expect.stringMatching(/KiB$/), '6', '2024-01-04 reg tests', 'ok']);
    expect((await row('no_owner')).at(-1)).toBe('1 problem');
    expect((await row('big_scan'))[6]).toBe('10000');
    await page.screenshot({ path: join(OUT, 'catalog-index.png'), fullPage: true });
  });

  test('typing in the search box filters and ranks entries as reg search does', async () => {
    const { page } = await open('index.html');
    await page.locator('#q').pressSequentially('ocr', { delay: 30 });
    const shown = await visibleNames(page);
    const cli = JSON.parse((await regOk(fx.root, ['search', 'ocr', '--json'])).stdout) as { results: Array<{ name: string; matches: Record<string, string[]> }> };
    expect(shown).toEqual(cli.results.map((r) => r.name));
    expect(shown).toContain('tibetan_ocr');
    expect(shown).not.toContain('bird_songs');
    expect(await page.textContent('#count')).toBe(`${shown.length} of ${fx.entries.length} entries matching “ocr”`);
    expect(await page.textContent('#entries tbody tr:not([hidden]) .why')).toMatch(/^matches name/);
    // Card text, fields and file paths are searched too.
    await page.fill('#q', 'woodblock');
    expect(await visibleNames(page)).toEqual(['tibetan_ocr']);
    await page.fill('#q', 'shard');
    expect(await visibleNames(page)).toEqual(['big_scan']);
    expect(await page.textContent('#entries tbody tr:not([hidden]) .why')).toMatch(/file paths$/);
    // Filters combine with the query and with each other; the state is kept in the URL.
    await page.fill('#q', '');
    await page.selectOption('#f-owner', 'carol');
    expect((await visibleNames(page)).sort()).toEqual(['bird_songs', 'weather_stations']);
    await page.selectOption('#f-license', 'ODbL-1.0');
    expect(await visibleNames(page)).toEqual(['weather_stations']);
    expect(new URL(page.url()).hash).toBe('#license=ODbL-1.0&owner=carol');
    await page.selectOption('#f-license', '');
    await page.selectOption('#f-owner', '');
    await page.selectOption('#f-area', 'experiments');
    expect(await visibleNames(page)).toHaveLength(4);
    // Sorting by a column.
    await page.selectOption('#f-area', 'raw_datasets');
    await page.click('button[data-sort="nfiles"]');
    expect((await visibleNames(page))[0]).toBe('big_scan');
    expect(await page.getAttribute('th:has(button[data-sort="nfiles"])', 'aria-sort')).toBe('descending');
  });

  test('the keyboard reaches search and results: / focuses the box, arrows move through the entries', async () => {
    const { page } = await open('index.html');
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('q');
    await page.keyboard.type('tibetan');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('tibetan_ocr');
    await page.keyboard.press('Enter');
    await page.waitForURL(/entries\/raw_datasets--tibetan_ocr-[0-9a-f]{8}\.html$/);
    expect(await page.textContent('h1')).toBe('tibetan_ocr');
  });

  test('clicking an entry opens its page: card, fields as links, data, versions with a chart, previews, commands', async () => {
    const { page } = await open('index.html');
    await page.click('#entries td.name a:text-is("tibetan_ocr")');
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('h1')).toBe('tibetan_ocr');
    expect(await page.getAttribute('table.fields tr:has(th:text-is("doi")) a', 'href')).toBe('https://doi.org/10.5281/zenodo.1234567');
    expect(await page.getAttribute('table.fields tr:has(th:text-is("arxiv")) a', 'href')).toBe('https://arxiv.org/abs/2401.01234');
    expect(await page.textContent('.card-body h3')).toBe('Provenance');
    // The commit that last changed the entry, not the build's HEAD.
    expect(await page.textContent('#cmd-get')).toBe(`reg get raw_datasets/tibetan_ocr --rev ${fx.commits[3]}`);
    expect(head).not.toBe(fx.commits[3]);
    const versions = await page.$$eval('#versions tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).slice(0, 6).map((td) => td.textContent)));
    expect(versions.map((v) => [v[3], v[5]])).toEqual([
      ['tibetan_ocr v3: cleaning notes and metadata', '6'],
      ['tibetan_ocr v2: more lines, a second page', '4'],
      ['tibetan_ocr v1', '3'],
    ]);
    expect(versions[2]![1]).toBe('2024-01-02');
    expect(await page.$$eval('.chart svg polyline', (ps) => ps.map((p) => p.getAttribute('class')))).toEqual(['line-size', 'line-files']);
    expect(await page.$$eval('.chart svg circle.dot-files', (cs) => cs.length)).toBe(3);
    expect(await page.textContent('.chart title')).toMatch(/^Size and file count of 3 versions from 2024-01-02 to 2024-01-04/);
    const older = await page.textContent('#cmd-v2');
    expect(older).toBe(`reg get raw_datasets/tibetan_ocr --rev ${fx.commits[1]}`);
    // Previews from the local cache: the CSV's first rows, the PNG copied into the site.
    const csv = '.previews figure:has(figcaption code:text-is("transcriptions.csv"))';
    expect(await page.$$eval(`${csv} thead th`, (ths) => ths.map((th) => th.textContent))).toEqual(['line_id', 'text', 'confidence']);
    expect(await page.textContent(`${csv} tbody tr td:nth-child(2)`)).toBe('བཀྲ་ཤིས་ line 0, quoted');
    expect(await page.$$eval(`${csv} tbody tr`, (trs) => trs.length)).toBe(20);
    expect(await page.$$eval('.previews figure:has(figcaption code:text-is("meta.jsonl")) thead th', (ths) => ths.map((th) => th.textContent))).toEqual(['page', 'lines']);
    const img = await page.$eval('.previews img', (i) => ({ w: (i as HTMLImageElement).naturalWidth, src: i.getAttribute('src') }));
    expect(img.w).toBe(1);
    expect(img.src).toMatch(/^\.\.\/data\/img-[0-9a-f]{32}\.png$/);
    await page.screenshot({ path: join(OUT, 'catalog-entry.png'), fullPage: true });
  });

  test('the file tree of a 10k-file dataset expands, pages and filters without rendering every file', async () => {
    const { page } = await open('index.html');
    await page.goto(url(entryHref(fx.big!)));
    await page.waitForSelector('#file-browser[data-ready="true"]');
    const top = page.locator('#file-tree > li[role="treeitem"]');
    expect(await top.count()).toBe(100);
    expect(await top.first().textContent()).toMatch(/^shard-000\/100 files · 990 B$/);
    // A big tree is loaded in chunks from its own data directory, not carried by the page.
    expect(await page.getAttribute('#file-browser', 'data-base')).toMatch(/^\.\.\/data\/raw_datasets--big_scan-[0-9a-f]{8}\/$/);
    expect(await page.$$eval('script[src*="/data/"]', (ss) => ss.map((s) => s.getAttribute('src')!.replace(/^.*\//, '')))).toEqual(['t0.js']);
    // Expand with the mouse...
    await top.first().click();
    await page.waitForSelector('#file-tree > li[aria-expanded="true"] > ul > li');
    expect(await page.locator('#file-tree > li:first-child > ul > li[role="treeitem"]').count()).toBe(100);
    expect(await page.textContent('#file-tree > li:first-child > ul > li:first-child .name')).toBe('scan_000000.txt');
    // ...and with the keyboard: down to the second shard, right to open it, right into it, left back.
    await page.keyboard.press('ArrowLeft');
    expect(await top.first().getAttribute('aria-expanded')).toBe('false');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('#file-tree > li:nth-child(2)[aria-expanded="true"] > ul > li');
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate(() => document.activeElement?.querySelector('.name')?.textContent)).toBe('scan_001000.txt');
    await page.keyboard.press('ArrowLeft');
    expect(await page.evaluate(() => document.activeElement?.querySelector('.name')?.textContent)).toBe('shard-001/');
    // Never one DOM node per file.
    expect(await page.$$eval('#file-browser li', (lis) => lis.length)).toBeLessThan(400);
    // The filter searches every path (loaded on demand) and shows the first matches.
    await page.fill('#file-filter-input', 'scan_004017');
    await page.waitForSelector('.file-results:not([hidden]) li');
    expect(await page.$$eval('.file-results li .name', (els) => els.map((e) => e.textContent))).toEqual(['shard-004/scan_004017.txt']);
    expect(await page.textContent('.file-results-status')).toBe('1 matching file');
    expect(await page.isHidden('#file-tree')).toBe(true);
    await page.fill('#file-filter-input', 'scan_00');
    await page.waitForFunction(() => document.querySelector('.file-results-status')?.textContent?.startsWith('1000 matching'));
    expect(await page.textContent('.file-results-status')).toBe('1000 matching files (first 200 shown)');
    expect(await page.$$eval('.file-results li', (lis) => lis.length)).toBe(200);
    await page.fill('#file-filter-input', '');
    await page.waitForSelector('#file-tree:not([hidden])');
    expect(await page.isHidden('.file-results')).toBe(true);
  });

  test('synced entries list the files of their last sync; local entries say their data stays local', async () => {
    const { page } = await open('index.html');
    await page.goto(url(entryHref('champion_models/ocr_crnn')));
    await page.waitForSelector('#file-browser[data-ready="true"]');
    expect(await page.$$eval('#file-tree > li .name', (els) => els.map((e) => e.textContent))).toEqual(['nested/', 'results.csv']);
    // A small tree comes with the page: it expands and filters with no data script loaded.
    await page.click('#file-tree > li:first-child');
    await page.waitForSelector('#file-tree > li[aria-expanded="true"] > ul > li');
    expect(await page.$$eval('#file-tree > li:first-child > ul > li .name', (els) => els.map((e) => e.textContent))).toEqual(['log.txt']);
    await page.fill('#file-filter-input', 'LOG.T');
    await page.waitForSelector('.file-results:not([hidden]) li');
    expect(await page.$$eval('.file-results li .name', (els) => els.map((e) => e.textContent))).toEqual(['nested/log.txt']);
    expect(await page.$$eval('script[src*="/data/"]', (ss) => ss.length)).toBe(0);
    await page.fill('#file-filter-input', '');
    expect(await page.textContent('#files-h + p')).toMatch(/as of the last sync from this workspace/);
    expect(await page.textContent('#cmd-get')).toBe('reg sync pull champion_models/ocr_crnn');
    await page.goto(url(entryHref('experiments/quick_eval')));
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#main')).toContain('A local area: its files stay on each machine');
    expect(await page.$('#cmd-get')).toBeNull();
  });

  test('the hostile card and the entry named with markup run no script', async () => {
    for (const path of ['raw_datasets/hostile', fx.entries.find((e) => e.includes('<img'))!]) {
      const { page, watch } = await open('index.html');
      await page.goto(url(entryHref(path)));
      await page.waitForSelector('body[data-ready="true"]');
      // Hover and click everything a card produced, as a reader might.
      for (const el of await page.$$('.card-body a, .card-body p, table.fields td, h1')) {
        await el.hover({ timeout: 2000 }).catch(() => undefined);
        await el.click({ modifiers: ['Control'], noWaitAfter: true, timeout: 2000 }).catch(() => undefined);
      }
      await page.waitForTimeout(300);
      expect(await page.evaluate(() => (window as unknown as { __regTrapped: string[] }).__regTrapped)).toEqual([]);
      expect(watch.dialogs).toEqual([]);
      // The sanitizer removed everything, so the Content-Security-Policy had nothing to refuse.
      expect(watch.errors).toEqual([]);
      const scripts = await page.$$eval('script', (ss) => ss.map((s) => s.getAttribute('src')));
      expect(scripts.every((s) => s !== null && /^\.\.\/(assets|data)\//.test(s))).toBe(true);
      expect(await page.$$eval('iframe, object, embed, svg:not(.chart svg), img, form, style, base, meta[http-equiv="refresh"]', (els) => els.map((e) => e.outerHTML))).toEqual([]);
      if (path === 'raw_datasets/hostile') expect(await page.textContent('.card-body')).toContain('A card that tries everything.');
      else expect(await page.textContent('h1')).toBe(`"><img src=x onerror=__regTrap('name')>`);
    }
    // The index shows the markup name and the hostile licence as text.
    const { page } = await open('index.html');
    expect(await page.$$('#entries img')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __regTrapped: string[] }).__regTrapped)).toEqual([]);
  });

  test('every entry page opens with its name as the title', async () => {
    const { page } = await open('index.html');
    const links = await page.$$eval('#entries td.name a', (as) => as.map((a) => ({ href: a.getAttribute('href')!, name: a.textContent! })));
    expect(links).toHaveLength(fx.entries.length);
    for (const l of links) {
      await page.goto(url(l.href));
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('h1')).toBe(l.name);
      expect(await page.evaluate(() => (window as unknown as { __regTrapped: string[] }).__regTrapped)).toEqual([]);
    }
  });

  test('a phone-width screen shows entries as blocks (no horizontal scrolling of the page)', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(url('index.html'));
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    expect(await page.$eval('#entries tbody tr', (tr) => getComputedStyle(tr).display)).toBe('block');
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(13, 17, 23)');
    await page.screenshot({ path: join(OUT, 'catalog-index-phone-dark.png') });
    expect(errors).toEqual([]);
    await context.close();
  });

  test('no page logged an error or asked the network for anything', () => {
    expect(watches.length).toBeGreaterThan(5);
    expect(watches.flatMap((w) => w.errors)).toEqual([]);
    expect(watches.flatMap((w) => w.requests).filter((u) => !u.startsWith('file://'))).toEqual([]);
    expect(watches.flatMap((w) => w.dialogs)).toEqual([]);
  });

  test('the site is only relative links and carries the Content-Security-Policy', () => {
    const html = readFileSync(join(site, 'index.html'), 'utf8');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'">`);
    for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(m[1]).not.toMatch(/^(https?:|\/\/|\/)/);
  });
});

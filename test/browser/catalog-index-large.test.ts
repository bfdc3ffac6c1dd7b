import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { commitOnDay } from '../helpers/history-fixture.js';
import { makeGitRepo, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { chromiumMissing, launchChromium, watchedPage, type PageWatch } from './chromium.js';

/**
 * The index page of a registry with 1,000 entries, in Chromium from file://: the search box and
 * the filters select the right entries (the same ones, in the same order, as `reg search`), while
 * the table holds only a window of them and "Show more" / "Show all" bring in the rest.
 * Correctness only: how fast this is, is measured by `npm run bench` (the catalog case).
 */
const missing = chromiumMissing();
const ENTRIES = 1000;
const STEP = 50;
const WORDS = ['tibetan', 'ocr', 'weather', 'street', 'speech', 'protein', 'census', 'bird', 'satellite', 'genome'];
const OWNERS = ['alice', 'bob', 'carol', 'dave'];
const AREAS = ['experiments', 'processed_datasets', 'champion_models', 'training_results'];

function entry(i: number): { area: string; name: string; owner: string; words: string[] } {
  const words = [WORDS[i % WORDS.length]!, WORDS[(i * 3 + 1) % WORDS.length]!];
  return { area: AREAS[i % AREAS.length]!, name: `${words[0]}_${words[1]}_${String(i).padStart(4, '0')}`, owner: OWNERS[i % OWNERS.length]!, words };
}

describe.skipIf(missing !== undefined)(`catalog index of ${ENTRIES} entries in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let root: string;
  let site: string;
  let browser: Browser;
  const watches: PageWatch[] = [];

  beforeAll(async () => {
    root = makeGitRepo();
    await regOk(root, ['init']);
    const files: Record<string, string> = {};
    for (let i = 0; i < ENTRIES; i++) {
      const e = entry(i);
      // Cards only: synced and local entries exist through their card, which is all the index needs.
      files[`${e.area}/${e.name}.card.md`] = `---\nlicense: CC-BY-4.0\nowner: ${e.owner}\n---\n# Card: ${e.name}\n\nRecords of ${e.words.join(' and ')} for project ${i % 7}.\n`;
    }
    writeTree(root, files);
    commitOnDay(root, `${ENTRIES} entries`, 1);
    site = join(tempDir('reg-catalog-large-'), 'site');
    await regOk(root, ['catalog', 'build', '-o', site]);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (root) removeDir(root);
    if (site) removeDir(join(site, '..'));
  }, 120_000);

  async function openIndex(): Promise<Page> {
    const w = await watchedPage(browser);
    watches.push(w.watch);
    await w.page.goto(pathToFileURL(join(site, 'index.html')).href);
    await w.page.waitForSelector('body[data-ready="true"]');
    return w.page;
  }

  const tableNames = (page: Page) => page.$$eval('#entries tbody tr td.name a', (as) => as.map((a) => a.textContent ?? ''));

  async function cliResults(query: string, ...flags: string[]): Promise<string[]> {
    const out = JSON.parse((await regOk(root, ['search', query, '--json', ...flags])).stdout) as { results: Array<{ name: string }> };
    return out.results.map((r) => r.name);
  }

  test('every entry is counted, the first window is in the table and the rest come with "Show more" or "Show all"', async () => {
    const page = await openIndex();
    expect(await page.textContent('#count')).toBe(`${ENTRIES} of ${ENTRIES} entries`);
    const first = await tableNames(page);
    expect(first).toHaveLength(STEP);
    expect(await page.textContent('#more-entries')).toBe(`Show ${STEP} more`);
    expect(await page.textContent('#all-entries')).toBe(`Show all ${ENTRIES}`);
    await page.click('#more-entries');
    const two = await tableNames(page);
    expect(two).toHaveLength(2 * STEP);
    expect(two.slice(0, STEP)).toEqual(first);
    // The keyboard walks from the last row into the next window.
    await page.focus('#entries tbody tr:last-child td.name a');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe((await tableNames(page))[2 * STEP]);
    expect(await tableNames(page)).toHaveLength(3 * STEP);
    await page.click('#all-entries');
    const all = await tableNames(page);
    expect(new Set(all).size).toBe(ENTRIES);
    expect(all.slice(0, 3 * STEP)).toEqual((await tableNames(page)).slice(0, 3 * STEP));
    expect(await page.isHidden('#more-entries')).toBe(true);
    expect(await page.isHidden('#all-entries')).toBe(true);
  });

  test('typing filters and ranks exactly as reg search does, and deleting the query brings every entry back', async () => {
    const page = await openIndex();
    await page.locator('#q').pressSequentially('weather', { delay: 20 });
    const cli = await cliResults('weather');
    expect(cli.length).toBeGreaterThan(STEP);
    expect(await page.textContent('#count')).toBe(`${cli.length} of ${ENTRIES} entries matching “weather”`);
    expect(await tableNames(page)).toEqual(cli.slice(0, STEP));
    expect(await page.textContent('#all-entries')).toBe(`Show all ${cli.length}`);
    await page.click('#more-entries');
    expect(await tableNames(page)).toEqual(cli.slice(0, 2 * STEP));
    // A narrower query: fewer entries than one window, so no button.
    await page.fill('#q', 'weather 0042');
    const narrow = await cliResults('weather 0042');
    expect(narrow.length).toBeGreaterThan(0);
    expect(await tableNames(page)).toEqual(narrow);
    expect(await page.isHidden('#more-entries')).toBe(true);
    expect(await page.isHidden('#all-entries')).toBe(true);
    expect(await page.textContent('#entries tbody tr .why')).toMatch(/^matches name/);
    // Back to nothing typed, key by key: every entry again, in index order.
    await page.focus('#q');
    await page.keyboard.press('End');
    for (let i = 0; i < 'weather 0042'.length; i++) await page.keyboard.press('Backspace');
    expect(await page.textContent('#count')).toBe(`${ENTRIES} of ${ENTRIES} entries`);
    expect(await tableNames(page)).toHaveLength(STEP);
    expect(await page.$$eval('#entries tbody tr .why', (cells) => cells.every((c) => c.textContent === ''))).toBe(true);
    // The state follows into the URL once typing pauses.
    await page.locator('#q').pressSequentially('bird', { delay: 20 });
    await page.waitForFunction(() => location.hash === '#q=bird');
  });

  test('filters combine with the query; sorting orders the whole selection, not only the rows shown', async () => {
    const page = await openIndex();
    await page.selectOption('#f-owner', 'carol');
    await page.selectOption('#f-area', 'champion_models');
    const carol = Array.from({ length: ENTRIES }, (_, i) => entry(i)).filter((e) => e.owner === 'carol' && e.area === 'champion_models');
    expect(carol.length).toBe(ENTRIES / 4);
    expect(await page.textContent('#count')).toBe(`${carol.length} of ${ENTRIES} entries`);
    expect(new URL(page.url()).hash).toBe('#area=champion_models&owner=carol');
    await page.fill('#q', 'genome');
    const cli = await cliResults('genome', '--area', 'champion_models', '--owner', 'carol');
    const shown = await tableNames(page);
    expect(shown).toEqual(cli.slice(0, STEP));
    expect(cli.every((n) => carol.some((e) => e.name === n))).toBe(true);
    expect(shown.length).toBeGreaterThan(0);
    await page.fill('#q', '');
    await page.selectOption('#f-owner', '');
    await page.selectOption('#f-area', '');
    await page.click('button[data-sort="name"]');
    await page.click('button[data-sort="name"]');
    const names = Array.from({ length: ENTRIES }, (_, i) => entry(i).name);
    const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
    expect(await tableNames(page)).toEqual([...names].sort((a, b) => -collator.compare(a, b)).slice(0, STEP));
    expect(await page.getAttribute('th:has(button[data-sort="name"])', 'aria-sort')).toBe('descending');
  });

  test('no page logged an error', () => {
    expect(watches.length).toBeGreaterThan(0);
    for (const w of watches) {
      expect(w.errors).toEqual([]);
      expect(w.requests.every((r) => r.startsWith('file://'))).toBe(true);
    }
  });
});

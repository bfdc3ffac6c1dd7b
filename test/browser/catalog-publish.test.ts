import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeContext } from '../../dist/context.js';
import { catalogPublish } from '../../dist/ops/publish/catalog-publish.js';
import { buildCatalogFixture, type CatalogFixture } from '../helpers/catalog-fixture.js';
import { snapshotTree } from '../hostile/tree.js';
import { counting, type BackendCall } from '../helpers/counting-backend.js';
import { commitOnDay } from '../helpers/history-fixture.js';
import { filesUnder, reg, regOk, removeDir } from '../helpers/repo.js';
import { startS3Server, type S3Server } from '../helpers/s3server.js';
import { chromiumMissing, launchChromium, watchedPage } from './chromium.js';

/**
 * `reg catalog publish` to a directory remote and to an S3-compatible server (s3rver): the site
 * lands under the prefix, a second publish with nothing changed uploads nothing (every request is
 * counted through the backend wrapper), a change uploads only the files it changed, and the
 * published index.html, fetched over HTTP from the S3 server, renders in Chromium.
 */
const missing = chromiumMissing();

type PublishJson = { uploaded: string[]; unchanged: number; deleted: string[]; files: number; prefix: string };
const puts = (calls: BackendCall[]) => calls.filter((c) => c.op === 'putBytes' || c.op === 'putFile' || c.op === 'delete');

let fx: CatalogFixture;

beforeAll(async () => {
  fx = await buildCatalogFixture();
}, 180_000);

afterAll(() => {
  if (fx) for (const d of [fx.root, fx.remoteDir]) removeDir(d);
});

describe('reg catalog publish to a directory remote', () => {
  test('uploads the site under the prefix, then only what changed', async () => {
    const remoteBefore = snapshotTree(fx.remoteDir);
    const first = JSON.parse((await regOk(fx.root, ['catalog', 'publish', '--json'])).stdout) as PublishJson;
    expect(first.prefix).toBe('catalog/');
    expect(first.uploaded).toHaveLength(first.files);
    const published = filesUnder(join(fx.remoteDir, 'catalog'));
    // The remote's other files (data objects, synced areas) are untouched: the catalog only ever writes below its prefix.
    expect(Object.fromEntries(Object.entries(snapshotTree(fx.remoteDir)).filter(([p]) => p !== 'catalog' && !p.startsWith('catalog/')))).toEqual(remoteBefore);
    expect(published).toEqual(first.uploaded.slice().sort());
    expect(published).toContain('index.html');

    // Nothing changed: nothing is sent or deleted (requests counted below the CLI, in the op).
    const calls: BackendCall[] = [];
    const again = await catalogPublish(makeContext({ cwd: fx.root }), { wrapBackend: counting(calls) });
    expect(again.uploaded).toEqual([]);
    expect(again.deleted).toEqual([]);
    expect(again.unchanged).toBe(first.files);
    expect(calls.length).toBeGreaterThan(0);
    expect(puts(calls)).toEqual([]);

    // One card changes: its entry page, the index and the search data change, nothing else.
    const card = join(fx.root, 'raw_datasets/bird_songs.card.md');
    writeFileSync(card, readFileSync(card, 'utf8').replace('Field recordings of bird songs.', 'Field recordings of bird songs at dawn.'));
    commitOnDay(fx.root, 'bird_songs: say when', 25);
    const changedCalls: BackendCall[] = [];
    const changed = await catalogPublish(makeContext({ cwd: fx.root }), { wrapBackend: counting(changedCalls) });
    expect(changed.uploaded).toEqual(['assets/catalog-index.js', 'catalog.json', expect.stringMatching(/^entries\/raw_datasets--bird_songs-[0-9a-f]{8}\.html$/), 'index.html', '.reg-catalog.json']);
    expect(puts(changedCalls).map((c) => c.key).sort()).toEqual(changed.uploaded.map((p) => `catalog/${p}`).sort());
    expect(readFileSync(join(fx.remoteDir, 'catalog/index.html'), 'utf8')).toContain('at dawn.');

    // --dry-run says what would go and sends nothing.
    writeFileSync(card, readFileSync(card, 'utf8').replace('at dawn.', 'at dusk.'));
    commitOnDay(fx.root, 'bird_songs: dusk', 26);
    const dry = await regOk(fx.root, ['catalog', 'publish', '--dry-run']);
    expect(dry.stdout).toMatch(/would upload \d+ files/);
    expect(dry.stdout).toContain('  + index.html');
    expect(readFileSync(join(fx.remoteDir, 'catalog/index.html'), 'utf8')).toContain('at dawn.');
  });

  test('a prefix that is the root or the data layout is refused before anything is sent', async () => {
    for (const prefix of ['/', '../up', 'files/', 'ab/', 'a//b', 'champion_models/', 'champion_models/catalog/', 'training_results']) {
      const r = await reg(fx.root, ['catalog', 'publish', '--prefix', prefix, '--json']);
      expect(r.code, prefix).toBe(2);
      expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'catalog.prefix' } });
    }
  });
});

describe.skipIf(missing !== undefined)(`reg catalog publish to S3, viewed over HTTP in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let s3: S3Server;
  let browser: Browser;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3Server('catalog-bucket');
    env = { ...s3.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    await regOk(fx.root, ['remote', 'add', 'bucket', `s3://${s3.bucket}/team`], { env });
    await regOk(fx.root, ['remote', 'modify', 'bucket', 'endpoint-url', s3.endpoint], { env });
    await regOk(fx.root, ['remote', 'modify', 'bucket', 'path-style', 'true'], { env });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s3?.stop();
  });

  test('publishes, publishes again without sending anything, and the bucket serves a working site', async () => {
    const first = JSON.parse((await regOk(fx.root, ['catalog', 'publish', '-r', 'bucket', '--prefix', 'site/catalog/', '--json'], { env })).stdout) as PublishJson;
    expect(first.uploaded).toHaveLength(first.files);

    const calls: BackendCall[] = [];
    const again = await catalogPublish(makeContext({ cwd: fx.root, env }), { remote: 'bucket', prefix: 'site/catalog/', wrapBackend: counting(calls) });
    expect(again.uploaded).toEqual([]);
    expect(again.unchanged).toBe(first.files);
    // S3 listings carry single-part ETags: no object is read back to compare, nothing is put.
    expect(calls.filter((c) => c.op === 'get' && c.key !== 'site/catalog/.reg-catalog.json')).toEqual([]);
    expect(puts(calls)).toEqual([]);

    const base = `${s3.endpoint}/${s3.bucket}/team/site/catalog/`;
    const res = await fetch(`${base}index.html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');

    const { page, watch } = await watchedPage(browser);
    await page.goto(`${base}index.html`);
    await page.waitForSelector('body[data-ready="true"]');
    const names = await page.$$eval('#entries tbody tr:not([hidden]) td.name a', (as) => as.map((a) => a.textContent));
    expect(names).toHaveLength(fx.entries.length);
    await page.fill('#q', 'woodblock');
    expect(await page.$$eval('#entries tbody tr:not([hidden]) td.name a', (as) => as.map((a) => a.textContent))).toEqual(['tibetan_ocr']);
    await page.click('#entries td.name a:text-is("tibetan_ocr")');
    await page.waitForSelector('#file-browser[data-ready="true"]');
    expect(page.url().startsWith(`${base}entries/`)).toBe(true);
    expect(await page.textContent('h1')).toBe('tibetan_ocr');
    expect(await page.$$eval('#versions tbody tr', (trs) => trs.length)).toBe(3);
    expect(await page.$$eval('#file-tree > li', (lis) => lis.length)).toBeGreaterThan(0);
    expect(watch.errors, watch.requests.join('\n')).toEqual([]);
    expect(watch.dialogs).toEqual([]);
    expect(watch.requests.filter((u) => !u.startsWith(base))).toEqual([]);
    await page.context().close();
  });
});

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeContext, search as searchApi } from '../../dist/index.js';
import { buildCatalogFixture, type CatalogFixture } from '../helpers/catalog-fixture.js';
import { snapshotTree } from '../hostile/tree.js';
import { commitOnDay } from '../helpers/history-fixture.js';
import { REG_BIN, filesUnder, git, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * `reg catalog build` and `reg search` end to end (the real CLI on a real repository): what is
 * built (commit, --rev, --worktree), that the same commit gives the same bytes, the search
 * command's output and filters, and the hostile cases: output directories reg must refuse, a
 * symlink or a forged site index in the output, a manifest naming paths outside its directory.
 */

interface CatalogJson {
  source: { rev: string; commit?: string; worktree?: boolean };
  entries: Array<{ path: string; description: string; page: string; versions: unknown[]; files: { count: number } | null }>;
}

function siteBytes(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((rel) => [rel, createHash('md5').update(readFileSync(join(dir, rel))).digest('hex')]));
}

let fx: CatalogFixture;
let work: string;
let sentinel: string;
let sentinelDigest: Record<string, string>;

beforeAll(async () => {
  fx = await buildCatalogFixture();
  work = tempDir('reg-catalog-cli-');
  sentinel = tempDir('reg-sentinel-');
  writeTree(sentinel, { 'keep.txt': 'keep\n', 'entries/x.html': 'not a catalog page\n', 'index.html': 'not a catalog\n' });
  sentinelDigest = snapshotTree(sentinel);
}, 180_000);

afterAll(() => {
  // The sentinel outside every output directory and the repository's .git are checked by each
  // hostile test; once more here, after everything.
  if (sentinel) expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
  for (const d of [fx?.root, fx?.remoteDir, work, sentinel]) if (d) removeDir(d);
});

describe('reg catalog build', () => {
  test('builds the committed registry deterministically: a second build writes nothing, another directory gets the same bytes', async () => {
    const a = join(work, 'a');
    const first = JSON.parse((await regOk(fx.root, ['catalog', 'build', '-o', a, '--json'])).stdout) as { entries: number; files: number; written: number; unchanged: number; commit: string };
    expect(first).toMatchObject({ entries: fx.entries.length, written: first.files, unchanged: 0, commit: git(fx.root, 'rev-parse', 'HEAD').trim() });
    const again = JSON.parse((await regOk(fx.root, ['catalog', 'build', '-o', a, '--json'])).stdout) as { written: number; unchanged: number; removed: number };
    expect(again).toMatchObject({ written: 0, unchanged: first.files, removed: 0 });
    const b = join(work, 'b');
    await regOk(fx.root, ['catalog', 'build', '-o', b]);
    expect(siteBytes(b)).toEqual(siteBytes(a));
    const catalog = JSON.parse(readFileSync(join(a, 'catalog.json'), 'utf8')) as CatalogJson;
    expect(catalog.entries.map((e) => e.path)).toEqual(fx.entries);
    for (const e of catalog.entries) expect(existsSync(join(a, e.page))).toBe(true);
    // Text output names the directory and what was done.
    const text = await regOk(fx.root, ['catalog', 'build', '-o', a]);
    expect(text.stdout).toMatch(new RegExp(`: ${fx.entries.length} entries, \\d+ files \\([^)]+\\); 0 written, \\d+ unchanged\n`));
  });

  test('--rev builds an older commit; files the older site does not have are removed from the output', async () => {
    const dir = join(work, 'rev');
    await regOk(fx.root, ['catalog', 'build', '-o', dir]);
    const r = JSON.parse((await regOk(fx.root, ['catalog', 'build', '-o', dir, '--rev', fx.commits[1]!, '--json'])).stdout) as { entries: number; removed: number; commit: string };
    expect(r).toMatchObject({ entries: 1, commit: fx.commits[1] });
    expect(r.removed).toBeGreaterThanOrEqual(fx.entries.length - 1); // at least every other entry's page
    const catalog = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as CatalogJson;
    expect(catalog.entries.map((e) => e.path)).toEqual(['raw_datasets/tibetan_ocr']);
    expect(catalog.entries[0]!.versions).toHaveLength(1);
    expect(catalog.entries[0]!.files?.count).toBe(3);
    expect(filesUnder(join(dir, 'entries'))).toEqual([catalog.entries[0]!.page.slice('entries/'.length)]);
    const bad = await reg(fx.root, ['catalog', 'build', '-o', dir, '--rev', 'no-such-rev']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('no-such-rev');
  });

  test('small entries carry their file tree in their page (no directory of their own); a site of the older layout is cleaned on rebuild', async () => {
    const dir = join(work, 'layout');
    await regOk(fx.root, ['catalog', 'build', '-o', dir]);
    const catalog = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as CatalogJson;
    const files = filesUnder(dir);
    const slugOf = (path: string) => catalog.entries.find((e) => e.path === path)!.page.replace(/^entries\/|\.html$/g, '');
    // This fixture's entries are all small: no data directory of their own (the big tree's
    // data/<slug>/ is checked in test/browser/catalog-site.test.ts).
    expect(files.filter((p) => /^data\/[^/]+\//.test(p))).toEqual([]);
    // A small entry's tree is in its page, its preview image in data/ under its md5.
    const small = readFileSync(join(dir, catalog.entries.find((e) => e.path === 'raw_datasets/tibetan_ocr')!.page), 'utf8');
    expect(small).toMatch(/<div class="file-browser" id="file-browser" data-tree="\[\[\[0,0,1,/);
    expect(small).not.toContain('data-base=');
    expect(small).toMatch(/<img src="\.\.\/data\/img-[0-9a-f]{32}\.png"/);
    // A site of the older layout (a directory per entry with t0.js and p0.js, listed in its site
    // index): the rebuild removes those files and their directories, so publish has nothing stale to send.
    const index = JSON.parse(readFileSync(join(dir, '.reg-catalog.json'), 'utf8')) as { format: string; files: Record<string, string> };
    const old = catalog.entries.filter((e) => e.files !== null).map((e) => slugOf(e.path));
    for (const slug of old) {
      writeTree(dir, { [`data/${slug}/t0.js`]: 'RegTree.chunk();\n', [`data/${slug}/p0.js`]: 'RegTree.paths();\n' });
      index.files[`data/${slug}/t0.js`] = index.files[`data/${slug}/p0.js`] = '0'.repeat(32);
    }
    writeFileSync(join(dir, '.reg-catalog.json'), JSON.stringify(index));
    const r = JSON.parse((await regOk(fx.root, ['catalog', 'build', '-o', dir, '--json'])).stdout) as { removed: number; written: number };
    expect(r).toMatchObject({ removed: old.length * 2, written: 1 });
    expect(filesUnder(dir)).toEqual(files);
    expect(readdirSync(join(dir, 'data')).every((n) => /^img-[0-9a-f]{32}\.png$/.test(n))).toBe(true);
  });

  test('uncommitted edits are shown only with --worktree', async () => {
    const card = join(fx.root, 'raw_datasets/bird_songs.card.md');
    const before = readFileSync(card, 'utf8');
    writeFileSync(card, before.replace('Field recordings of bird songs.', 'Uncommitted: dawn chorus recordings.'));
    try {
      const committed = join(work, 'committed');
      await regOk(fx.root, ['catalog', 'build', '-o', committed]);
      const desc = (dir: string) => (JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as CatalogJson).entries.find((e) => e.path === 'raw_datasets/bird_songs')!.description;
      expect(desc(committed)).toBe('Field recordings of bird songs.');
      const wt = join(work, 'worktree');
      await regOk(fx.root, ['catalog', 'build', '-o', wt, '--worktree']);
      expect(desc(wt)).toBe('Uncommitted: dawn chorus recordings.');
      const hits = JSON.parse((await regOk(fx.root, ['search', 'dawn', '--worktree', '--json'])).stdout) as { results: Array<{ path: string }> };
      expect(hits.results.map((h) => h.path)).toEqual(['raw_datasets/bird_songs']);
      expect(JSON.parse((await regOk(fx.root, ['search', 'dawn', '--json'])).stdout)).toMatchObject({ total: 0, results: [] });
    } finally {
      writeFileSync(card, before);
    }
  });
});

describe('reg catalog serve', () => {
  test('serves the site on 127.0.0.1, rebuilds on a new commit, stops on Ctrl-C', async () => {
    const headBefore = git(fx.root, 'rev-parse', 'HEAD').trim();
    const child = spawn(process.execPath, [REG_BIN, 'catalog', 'serve', '--port', '0'], { cwd: fx.root, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const waitFor = (re: RegExp) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = () => {
          const m = stderr.match(re);
          if (m) resolve(m);
        };
        child.stderr.on('data', (d) => {
          stderr += d;
          check();
        });
        check();
        setTimeout(() => reject(new Error(`no ${re} in 60 s; stderr: ${stderr}`)), 60_000).unref();
      });
    try {
      const base = (await waitFor(/serving the catalog at (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
      const index = await fetch(base);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await index.text()).toContain('tibetan_ocr');
      expect((await fetch(`${base}../../etc/passwd`)).status).toBe(404);
      expect((await fetch(`${base}index.html`, { method: 'POST' })).status).toBe(405);
      // A new commit is picked up without restarting.
      const card = join(fx.root, 'raw_datasets/census_tables.card.md');
      const before = readFileSync(card, 'utf8');
      writeFileSync(card, before.replace('Census tables by district, aggregated.', 'Census tables, now by ward.'));
      commitOnDay(fx.root, 'census: by ward', 21);
      await waitFor(/rebuilt for [0-9a-f]{10}/);
      expect(await (await fetch(base)).text()).toContain('Census tables, now by ward.');
      child.kill('SIGINT');
      expect(await closed).toBe(130);
    } finally {
      child.kill('SIGKILL');
      git(fx.root, 'reset', '-q', '--hard', headBefore);
    }
    expect(stdout).toBe('');
  });
});

describe('reg search', () => {
  type Hits = { query: string; total: number; results: Array<{ path: string; score: number; matches: Record<string, string[]>; license?: string; owner?: string }> };
  const searchJson = async (...args: string[]) => {
    const r = await regOk(fx.root, ['search', ...args, '--json']);
    return JSON.parse(r.stdout) as Hits; // one JSON document, nothing else on stdout
  };

  test('ranks matches with the fields they matched in; every word must match', async () => {
    const ocr = await searchJson('ocr');
    expect(ocr.query).toBe('ocr');
    // Name matches rank first.
    expect(ocr.results.slice(0, 4).map((h) => h.matches.name)).toEqual([['ocr'], ['ocr'], ['ocr'], ['ocr']]);
    const scores = ocr.results.map((h) => h.score);
    expect([...scores].sort((x, y) => y - x)).toEqual(scores);
    expect(ocr.results.map((h) => h.path)).toEqual(expect.arrayContaining(['champion_models/ocr_crnn', 'processed_datasets/ocr_lines_clean', 'training_results/ocr_run_42']));
    expect(ocr.total).toBe(ocr.results.length);
    const two = await searchJson('tibetan', 'woodblock');
    expect(two.results.map((h) => h.path)).toEqual(['raw_datasets/tibetan_ocr']);
    expect(two.results[0]!.matches.text).toEqual(expect.arrayContaining(['woodblock']));
    expect((await searchJson('tibetan', 'zebra')).total).toBe(0);
    // File paths inside manifests are searched.
    expect((await searchJson('cleaning.md')).results.map((h) => h.path)).toEqual(['raw_datasets/tibetan_ocr']);
  });

  test('the library API (search from the package index) gives the same ranked result', async () => {
    const viaCli = await searchJson('ocr', '--owner', 'gina');
    const viaApi = await searchApi(makeContext({ cwd: fx.root }), { query: 'ocr', owner: 'gina' });
    expect(JSON.parse(JSON.stringify(viaApi))).toEqual(viaCli);
  });

  test('--area, --license and --owner filter (licence and owner case-insensitively); --limit cuts', async () => {
    expect((await searchJson('ocr', '--area', 'champion_models')).results.map((h) => h.path)).toEqual(['champion_models/ocr_crnn']);
    const byLicence = await searchJson('data', '--license', 'cc-by-4.0');
    expect(byLicence.results.length).toBeGreaterThan(0);
    expect(byLicence.results.every((h) => h.license === 'CC-BY-4.0')).toBe(true);
    const byOwner = await searchJson('s', '--owner', 'CAROL');
    expect(byOwner.results.map((h) => h.path).sort()).toEqual(['raw_datasets/bird_songs', 'raw_datasets/weather_stations']);
    const limited = await searchJson('ocr', '--limit', '1');
    expect(limited.results).toHaveLength(1);
    expect(limited.total).toBeGreaterThan(1);
  });

  test('text output lists each hit with where it matched; no hit is a note on stderr, exit 0', async () => {
    const r = await regOk(fx.root, ['search', 'woodblock']);
    expect(r.stdout).toBe('raw_datasets/tibetan_ocr  (CC-BY-4.0, alice)\n    Tibetan OCR line images with transcriptions from woodblock prints.\n    matches: description, card text\n');
    const none = await regOk(fx.root, ['search', 'zebra']);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('no entry matches "zebra"');
    const usage = await reg(fx.root, ['search', 'x', '--limit', '0']);
    expect(usage.code).toBe(2);
  });
});

describe('hostile inputs leave everything outside the output directory untouched', () => {
  const gitDigest = () => snapshotTree(join(fx.root, '.git'));

  test('an output directory inside .git or .reg, the repository itself, or a directory reg did not build is refused', async () => {
    const gitBefore = gitDigest();
    for (const [out, code] of [
      ['.git/site', 'catalog.output-in-git'],
      ['.git', 'catalog.output-in-git'],
      ['.reg/site', 'catalog.output-in-reg'],
      ['.reg', 'catalog.output-in-reg'],
      ['.', 'catalog.output-is-repo'],
      ['..', 'catalog.output-is-repo'],
      [sentinel, 'catalog.output-not-empty'],
      [join(sentinel, 'keep.txt'), 'catalog.output-not-dir'],
    ] as const) {
      const r = await reg(fx.root, ['catalog', 'build', '-o', out, '--json']);
      expect(r.code, `-o ${out}: ${r.stderr}`).toBe(2);
      expect(JSON.parse(r.stdout)).toMatchObject({ error: { code } });
    }
    expect(existsSync(join(fx.root, '.git/site'))).toBe(false);
    expect(existsSync(join(fx.root, '.reg/site'))).toBe(false);
    expect(gitDigest()).toEqual(gitBefore);
    expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
  });

  test('a .git reached through a symlink is refused too', async () => {
    const link = join(work, 'git-link');
    symlinkSync(join(fx.root, '.git'), link);
    const gitBefore = gitDigest();
    const r = await reg(fx.root, ['catalog', 'build', '-o', join(link, 'site')]);
    expect(r.code).toBe(2);
    expect(gitDigest()).toEqual(gitBefore);
  });

  test('an output inside the work tree is built there; one reached through a symlink in the work tree is refused', async () => {
    const r = JSON.parse((await regOk(fx.root, ['catalog', 'build', '-o', 'site', '--json'])).stdout) as { files: number; written: number };
    expect(r.written).toBe(r.files);
    expect(existsSync(join(fx.root, 'site/index.html'))).toBe(true);
    removeDir(join(fx.root, 'site'));
    symlinkSync(sentinel, join(fx.root, 'linkdir'));
    try {
      const bad = await reg(fx.root, ['catalog', 'build', '-o', 'linkdir/site', '--json']);
      expect(bad.code).toBe(7);
      expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'path.symlink' } });
      expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
    } finally {
      removeDir(join(fx.root, 'linkdir'));
    }
  });

  test('a symlink inside a built site is never written through', async () => {
    const dir = join(work, 'symlinked');
    await regOk(fx.root, ['catalog', 'build', '-o', dir]);
    removeDir(join(dir, 'entries'));
    symlinkSync(join(sentinel, 'entries'), join(dir, 'entries'));
    const r = await reg(fx.root, ['catalog', 'build', '-o', dir, '--json']);
    expect(r.code).toBe(7);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'path.symlink' } });
    expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
  });

  test('files a previous build did not write are never overwritten, even under a site index', async () => {
    const dir = join(work, 'user-files');
    writeTree(dir, { '.reg-catalog.json': '{"format":"reg-catalog/1","files":{}}\n', 'index.html': 'my own page\n' });
    const r = await reg(fx.root, ['catalog', 'build', '-o', dir, '--json']);
    expect(r.code).toBe(7);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'catalog.output-foreign-file' } });
    expect(r.stderr).toContain('index.html');
    expect(filesUnder(dir)).toEqual(['.reg-catalog.json', 'index.html']);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toBe('my own page\n');
  });

  test('a forged site index naming files outside the output directory deletes nothing there', async () => {
    const dir = join(work, 'forged');
    await regOk(fx.root, ['catalog', 'build', '-o', dir]);
    const up = '../'.repeat(12);
    const forged = {
      format: 'reg-catalog/1',
      files: Object.fromEntries(
        [`${up}${sentinel.slice(1)}/keep.txt`, `entries/${up}${sentinel.slice(1)}/keep.txt`, `${sentinel}/keep.txt`, '../sentinel-sibling.txt', 'entries/../../x', '.git/config', 'a\\..\\b', 'nul\0name'].map((p) => [p, '0'.repeat(32)]),
      ),
    };
    writeFileSync(join(dir, '.reg-catalog.json'), JSON.stringify(forged));
    writeFileSync(join(work, 'sentinel-sibling.txt'), 'sibling\n');
    const r = await reg(fx.root, ['catalog', 'build', '-o', dir]);
    // Either refused as a hostile path (exit 3) or built ignoring the forged names: never a deletion outside.
    expect([0, 3]).toContain(r.code);
    expect(readFileSync(join(work, 'sentinel-sibling.txt'), 'utf8')).toBe('sibling\n');
    expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
  });

  test('a directory manifest naming paths outside its directory: the entry says so, the site is built, nothing escapes', async () => {
    const root = fx.root;
    const manifest = JSON.stringify([
      { md5: 'd41d8cd98f00b204e9800998ecf8427e', relpath: `../../../../${sentinel.slice(1)}/keep.txt` },
      { md5: 'd41d8cd98f00b204e9800998ecf8427e', relpath: 'ok.txt' },
    ]);
    const oid = createHash('md5').update(manifest).digest('hex');
    mkdirSync(join(root, '.reg/cache/files/md5', oid.slice(0, 2)), { recursive: true });
    writeFileSync(join(root, '.reg/cache/files/md5', oid.slice(0, 2), `${oid.slice(2)}.dir`), manifest);
    writeTree(root, {
      'raw_datasets/escape.dvc': `outs:\n- md5: ${oid}.dir\n  size: 0\n  nfiles: 2\n  hash: md5\n  path: escape\n`,
      'raw_datasets/escape.card.md': '---\nlicense: MIT\nowner: mallory\n---\n# Card: escape\n\nA manifest that names a path outside.\n',
    });
    const head = commitOnDay(root, 'an entry whose manifest escapes', 20);
    try {
      const gitBefore = gitDigest();
      const dir = join(work, 'escape');
      await regOk(root, ['catalog', 'build', '-o', dir]);
      const catalog = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as CatalogJson;
      const entry = catalog.entries.find((e) => e.path === 'raw_datasets/escape')!;
      expect(entry.files).toBeNull();
      expect(readFileSync(join(dir, entry.page), 'utf8')).toContain('unsafe relpath');
      expect(filesUnder(dir).every((p) => /^(\.reg-catalog\.json|catalog\.json|index\.html|assets\/[a-z0-9.-]+|entries\/[A-Za-z0-9._-]+\.html|data\/[A-Za-z0-9._-]+(\/[a-z0-9.-]+)?)$/.test(p))).toBe(true);
      expect(gitDigest()).toEqual(gitBefore);
      expect(snapshotTree(sentinel)).toEqual(sentinelDigest);
    } finally {
      git(root, 'reset', '-q', '--hard', `${head}~1`);
    }
  });
});

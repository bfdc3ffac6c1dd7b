import { formatBytes } from '../data/format.js';
import { isFilled } from '../policy/cards.js';
import { versionsChart } from './chart.js';
import { day, esc, fieldValueHtml, page } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { Listing } from './file-tree.js';
import type { CatalogEntry, CatalogModel, CatalogPreview } from './model.js';

/** Pure page rendering: model in, HTML out. Every registry value is escaped or sanitized here. */

const MODE_TEXT = { versioned: 'versioned', synced: 'synced', local: 'local' } as const;

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9._\/@:=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that gets an entry's data (a version of it with `commit`). */
export function getCommand(entry: CatalogEntry, commit: string | undefined): string | undefined {
  if (entry.mode === 'versioned') return `reg get ${shellQuote(entry.path)}${commit ? ` --rev ${commit}` : ''}`;
  if (entry.mode === 'synced') return `reg sync pull ${shellQuote(entry.path)}`;
  return undefined;
}

function statusBadge(e: CatalogEntry): string {
  if (e.status.ok) return '<span class="status ok">ok</span>';
  const n = e.status.problems.length;
  return `<span class="status bad" title="${esc(e.status.problems.join('\n'))}">${n} problem${n === 1 ? '' : 's'}</span>`;
}

function sizeOf(e: CatalogEntry): number | undefined {
  return e.data?.size ?? (e.files && e.files.unknownSizes === 0 ? e.files.totalSize : undefined);
}

function nfilesOf(e: CatalogEntry): number | undefined {
  return e.data?.nfiles ?? (e.data && !e.data.isDir && e.data.oid ? 1 : undefined) ?? e.files?.paths.length;
}

function header(title: string, sub: string, crumbs?: string): string {
  return [
    '<a class="skip" href="#main">Skip to content</a>',
    '<header class="site">',
    crumbs ? `<nav class="crumbs" aria-label="Breadcrumb">${crumbs}</nav>` : '',
    `<h1>${title}</h1>`,
    `<p class="sub">${sub}</p>`,
    '</header>',
  ].join('\n');
}

function sourceText(model: CatalogModel): string {
  if (model.source.worktree) return `the work tree${model.source.commit ? ` (on ${esc(model.source.commit.slice(0, 12))})` : ''}, uncommitted edits included`;
  return `commit <code>${esc(model.source.commit!.slice(0, 12))}</code>${model.source.rev !== 'HEAD' && model.source.rev !== model.source.commit ? ` (${esc(model.source.rev)})` : ''}`;
}

/** The index names the commit it was built from; entry pages do not, so they change only with their entry. */
function footer(model: CatalogModel | undefined): string {
  return `<footer class="site">Built by <code>reg catalog build</code>${model ? ` from ${sourceText(model)}` : ''}. Static files: no network is used to view them.</footer>`;
}

function options(values: readonly string[], all: string): string {
  return [`<option value="">${esc(all)}</option>`, ...values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`)].join('');
}

function distinct(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined && v !== ''))].sort((a, b) => a.localeCompare(b));
}

export function renderIndexPage(model: CatalogModel): string {
  const n = model.entries.length;
  const areas = model.areas
    .map((a) => `<li><a href="#area=${encodeURIComponent(a.name)}" data-area="${esc(a.name)}">${esc(a.name)}</a> <span class="mode">${MODE_TEXT[a.mode]}</span> <span class="muted">${a.entries} entr${a.entries === 1 ? 'y' : 'ies'}</span></li>`)
    .join('\n');
  const rows = model.entries
    .map((e, i) => {
      const size = sizeOf(e);
      const nfiles = nfilesOf(e);
      return [
        `<tr data-i="${i}">`,
        `<td class="name"><a href="entries/${e.slug}.html">${esc(e.name)}</a><span class="why"></span></td>`,
        `<td data-label="Area">${esc(e.area)} <span class="mode">${MODE_TEXT[e.mode]}</span></td>`,
        `<td class="desc">${esc(e.description)}</td>`,
        `<td data-label="Licence">${esc(e.license ?? '')}</td>`,
        `<td data-label="Owner">${esc(e.owner ?? '')}</td>`,
        `<td class="num" data-label="Size">${size === undefined ? '' : esc(formatBytes(size))}</td>`,
        `<td class="num" data-label="Files">${nfiles ?? ''}</td>`,
        `<td data-label="Last change">${e.lastChange ? `<time datetime="${esc(e.lastChange.date)}">${esc(day(e.lastChange.date))}</time> <span class="muted">${esc(e.lastChange.author)}</span>` : ''}</td>`,
        `<td data-label="Card">${statusBadge(e)}</td>`,
        '</tr>',
      ].join('');
    })
    .join('\n');
  const sortable = (key: string, label: string, cls = '') => `<th scope="col"${cls ? ` class="${cls}"` : ''}><button type="button" data-sort="${key}">${label}</button></th>`;
  const body = [
    header(esc(model.title), `${n} entr${n === 1 ? 'y' : 'ies'} in ${model.areas.length} area${model.areas.length === 1 ? '' : 's'} · ${sourceText(model)}`),
    '<main id="main">',
    '<section class="areas" aria-labelledby="areas-h">',
    '<h2 id="areas-h">Areas</h2>',
    `<ul>${areas}</ul>`,
    '</section>',
    '<section aria-labelledby="entries-h">',
    '<h2 id="entries-h">Entries</h2>',
    '<form class="controls" id="controls" role="search" aria-label="Search and filter entries">',
    '<label for="q">Search <input type="search" id="q" placeholder="names, card text, fields, file paths" autocomplete="off" spellcheck="false" aria-controls="entries" aria-describedby="count"></label>',
    `<label for="f-area">Area <select id="f-area" aria-controls="entries">${options(model.areas.map((a) => a.name), 'All areas')}</select></label>`,
    `<label for="f-license">Licence <select id="f-license" aria-controls="entries">${options(distinct(model.entries.map((e) => e.license)), 'Any licence')}</select></label>`,
    `<label for="f-owner">Owner <select id="f-owner" aria-controls="entries">${options(distinct(model.entries.map((e) => e.owner)), 'Any owner')}</select></label>`,
    '</form>',
    `<p id="count" role="status" aria-live="polite">${n} entr${n === 1 ? 'y' : 'ies'}</p>`,
    '<table id="entries">',
    '<thead><tr>',
    sortable('name', 'Name'),
    sortable('area', 'Area'),
    '<th scope="col">Description</th>',
    sortable('license', 'Licence'),
    sortable('owner', 'Owner'),
    sortable('size', 'Size', 'num'),
    sortable('nfiles', 'Files', 'num'),
    sortable('date', 'Last change'),
    sortable('status', 'Card'),
    '</tr></thead>',
    `<tbody>\n${rows}\n</tbody>`,
    '</table>',
    '</section>',
    '</main>',
    footer(model),
  ].join('\n');
  return page({ title: model.title, root: '', scripts: ['assets/shared.js', 'assets/catalog-index.js', 'assets/index-page.js'], body });
}

/** The sort keys the index page script needs, parallel to the model's entries. */
export function indexSortKeys(model: CatalogModel): Array<[number | null, number | null, string, number]> {
  return model.entries.map((e) => [sizeOf(e) ?? null, nfilesOf(e) ?? null, e.lastChange?.date ?? '', e.status.ok ? 1 : 0]);
}

function copyable(id: string, command: string, label: string): string {
  return `<div class="cmd"><code id="${id}">${esc(command)}</code><button type="button" class="copy" data-copy="${id}" aria-label="Copy ${esc(label)}">Copy</button></div>`;
}

function previewHtml(p: CatalogPreview, i: number): string {
  const caption = `<figcaption><code>${esc(p.path)}</code></figcaption>`;
  if (p.kind === 'image') return `<figure>${caption}<img src="../${previewImagePath(p.md5, p.mime)}" alt="${esc(p.path)}" loading="lazy"></figure>`;
  if (p.kind === 'text') return `<figure>${caption}<pre tabindex="0">${esc(p.text)}${p.truncated ? '\n…' : ''}</pre></figure>`;
  const head = p.columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('');
  const rows = p.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<figure>${caption}<div class="preview-table" tabindex="0" role="region" aria-label="First rows of ${esc(p.path)}"><table id="preview-${i}"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>${p.truncated ? '<p class="muted">First rows only.</p>' : ''}</figure>`;
}

function imageExt(mime: string): string {
  return { 'image/png': '.png', 'image/jpeg': '.jpg', 'image/gif': '.gif', 'image/webp': '.webp' }[mime] ?? '.bin';
}

/** Where a preview image is in the site (relative to its root). */
export function previewImagePath(md5: string, mime: string): string {
  return `data/img-${md5}${imageExt(mime)}`;
}

export interface TreeInfo {
  pathChunks: number;
  dirs: number;
  /** A small tree carried by the page: its one listing chunk, and its paths with their sizes. */
  inline?: [listings: Listing[], paths: string[], sizes: Array<number | null>];
}

export function renderEntryPage(model: CatalogModel, e: CatalogEntry, tree: TreeInfo | undefined): string {
  const root = '../';
  const parts: string[] = [];
  const sub = [
    `<a href="../index.html#area=${encodeURIComponent(e.area)}">${esc(e.area)}</a> <span class="mode">${MODE_TEXT[e.mode]}</span>`,
    e.license ? `licence ${esc(e.license)}` : '',
    e.owner ? `owner ${esc(e.owner)}` : '',
    statusBadge(e),
  ].filter(Boolean);
  parts.push(header(esc(e.name), sub.join(' · '), '<a href="../index.html">All entries</a>'));
  parts.push('<main id="main">');
  if (e.description) parts.push(`<p class="lead">${esc(e.description)}</p>`);

  // The commit that last changed the entry (not the build's): pages of entries a new commit did
  // not touch stay byte-identical, so publish sends only what changed.
  const command = getCommand(e, e.mode === 'versioned' ? (e.lastChange?.commit ?? model.source.commit) : undefined);
  if (command) {
    parts.push('<section aria-labelledby="get-h"><h2 id="get-h">Get the data</h2>', copyable('cmd-get', command, 'the command'), '<p id="copy-status" class="muted" role="status" aria-live="polite"></p></section>');
  }

  if (!e.status.ok) {
    parts.push('<section aria-labelledby="problems-h"><h2 id="problems-h">Card problems</h2><ul class="problems">');
    for (const p of e.status.problems) parts.push(`<li>${esc(p)}</li>`);
    parts.push('</ul><p class="muted">From <code>reg check</code>.</p></section>');
  }

  parts.push('<section aria-labelledby="card-h"><h2 id="card-h">Card</h2>');
  if (e.card) {
    const fields = Object.entries(e.card.fields).filter(([, v]) => isFilled(v));
    if (fields.length > 0) {
      parts.push('<table class="fields"><caption class="muted">Front matter</caption><tbody>');
      for (const [k, v] of fields) parts.push(`<tr><th scope="row">${esc(k)}</th><td>${fieldValueHtml(k, v)}</td></tr>`);
      parts.push('</tbody></table>');
    }
    const html = renderMarkdown(e.card.body);
    if (html.trim() !== '') parts.push(`<article class="card-body">${html}</article>`);
    parts.push(`<p class="muted">From <code>${esc(e.card.path)}</code>.</p>`);
  } else {
    parts.push('<p>This entry has no card yet.</p>');
  }
  parts.push('</section>');

  const summary: Array<[string, string]> = [];
  if (e.data) {
    summary.push(['Pointer', `<code>${esc(e.data.pointer)}</code>`]);
    if (e.data.oid) summary.push(['Hash (md5)', `<code>${esc(e.data.oid)}</code>${e.data.legacy ? ' (DVC 2)' : ''}`]);
    if (e.data.size !== undefined) summary.push(['Size', esc(formatBytes(e.data.size))]);
    summary.push(['Files', e.data.isDir ? String(e.data.nfiles ?? e.files?.paths.length ?? 'unknown') : '1 (a single file)']);
    summary.push(['Remote', e.data.remote ? esc(e.data.remote) : '<span class="muted">none configured</span>']);
    if (e.data.pushed !== undefined) summary.push(['On the remote', e.data.pushed ? 'yes' : '<strong class="problems">no: not pushed</strong>']);
  }
  if (e.sync) {
    summary.push(['Remote', esc(e.sync.remote)]);
    summary.push(['Last sync here', e.sync.syncedAt ? esc(e.sync.syncedAt) : '<span class="muted">never synced from this workspace</span>']);
  }
  if (e.files && !e.data) {
    summary.push(['Files', String(e.files.paths.length)]);
    summary.push(['Size', esc(formatBytes(e.files.totalSize)) + (e.files.unknownSizes ? ` (+ ${e.files.unknownSizes} of unknown size)` : '')]);
  }
  if (e.lastChange) summary.push(['Last change', `<time datetime="${esc(e.lastChange.date)}">${esc(day(e.lastChange.date))}</time> by ${esc(e.lastChange.author)}: ${esc(e.lastChange.subject)} (<code>${esc(e.lastChange.commit.slice(0, 12))}</code>)`]);
  if (summary.length > 0) {
    parts.push('<section aria-labelledby="data-h"><h2 id="data-h">Data</h2><table class="summary"><tbody>');
    for (const [k, v] of summary) parts.push(`<tr><th scope="row">${k}</th><td>${v}</td></tr>`);
    parts.push('</tbody></table>');
    if (e.mode === 'local') parts.push('<p class="muted">A local area: its data stays on each machine.</p>');
    parts.push('</section>');
  }

  if (e.versions.length > 0) {
    parts.push('<section aria-labelledby="versions-h"><h2 id="versions-h">Versions</h2>');
    parts.push(versionsChart(e.versions, 'chart'));
    parts.push('<div class="preview-table"><table class="versions" id="versions"><thead><tr><th scope="col">Commit</th><th scope="col">Date</th><th scope="col">Author</th><th scope="col">Subject</th><th scope="col" class="num">Size</th><th scope="col" class="num">Files</th><th scope="col">Get</th></tr></thead><tbody>');
    e.versions.forEach((v, i) => {
      const cmd = v.change === 'deleted' || v.error ? undefined : getCommand(e, v.commit);
      parts.push(
        [
          '<tr>',
          `<td><code>${esc(v.commit.slice(0, 10))}</code></td>`,
          `<td><time datetime="${esc(v.date)}">${esc(day(v.date))}</time></td>`,
          `<td>${esc(v.author)}</td>`,
          `<td>${esc(v.subject)}${v.change === 'deleted' ? ' <span class="muted">(entry removed)</span>' : ''}${v.error ? ` <span class="problems">${esc(v.error)}</span>` : ''}</td>`,
          `<td class="num">${v.size === undefined ? '' : esc(formatBytes(v.size))}</td>`,
          `<td class="num">${v.nfiles ?? (v.oid && !v.oid.endsWith('.dir') ? 1 : '')}</td>`,
          `<td>${cmd ? `<code id="cmd-v${i}">${esc(cmd)}</code> <button type="button" class="copy" data-copy="cmd-v${i}" aria-label="Copy the command for ${esc(v.commit.slice(0, 10))}">Copy</button>` : ''}</td>`,
          '</tr>',
        ].join(''),
      );
    });
    parts.push('</tbody></table></div></section>');
  }

  parts.push('<section aria-labelledby="files-h"><h2 id="files-h">Files</h2>');
  if (e.files && tree) {
    const what = e.files.source === 'sync-state' ? 'as of the last sync from this workspace' : e.files.source === 'file' ? 'a single file' : 'of the version above, from its manifest';
    parts.push(
      `<p class="muted">${e.files.paths.length} file${e.files.paths.length === 1 ? '' : 's'}, ${esc(formatBytes(e.files.totalSize))}${e.files.unknownSizes ? ` (+ ${e.files.unknownSizes} not in the local cache, size unknown)` : ''}, ${what}.</p>`,
      tree.inline
        ? `<div class="file-browser" id="file-browser" data-tree="${esc(JSON.stringify(tree.inline))}">`
        : `<div class="file-browser" id="file-browser" data-base="../data/${e.slug}/" data-path-chunks="${tree.pathChunks}">`,
      `<div class="file-filter"><label for="file-filter-input">Filter files <input type="search" id="file-filter-input" placeholder="part of a path" autocomplete="off" spellcheck="false"></label> <span class="file-results-status muted" role="status" aria-live="polite"></span></div>`,
      '<div class="file-results" hidden></div>',
      '<ul role="tree" aria-label="Files" id="file-tree"></ul>',
      '</div>',
    );
  } else {
    parts.push(`<p class="muted">${esc(e.filesNote ?? 'No file list.')}</p>`);
  }
  parts.push('</section>');

  if (e.previews.length > 0) {
    parts.push('<section class="previews" aria-labelledby="previews-h"><h2 id="previews-h">Previews</h2>');
    e.previews.forEach((p, i) => parts.push(previewHtml(p, i)));
    parts.push('</section>');
  }
  parts.push('</main>', footer(undefined));
  return page({ title: `${e.name} · ${model.title}`, root, scripts: ['../assets/shared.js', '../assets/entry-page.js'], body: parts.join('\n') });
}

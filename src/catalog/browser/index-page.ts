/**
 * The index page: instant search (RegSearch over assets/catalog-index.js), filters by area,
 * licence and owner, sortable columns, keyboard navigation. The rows are in the HTML already (the
 * page works without script); this only moves them in and out of the table, never rebuilds them.
 * At most `limit` rows are in the table at a time ("Show more" adds the next ROWS_STEP, "Show all"
 * the rest, ArrowDown past the last row the next step): a keystroke that brings back a thousand
 * rows then lays out fifty, which keeps typing instant on a large registry. State lives in the URL fragment (#q=...&area=...), so
 * a filtered view can be linked and survives reloads.
 */
(() => {
  type SortKey = 'default' | 'name' | 'area' | 'license' | 'owner' | 'size' | 'nfiles' | 'date' | 'status';
  const FIELD_LABELS: Record<string, string> = { name: 'name', area: 'area', description: 'description', fields: 'card fields', text: 'card text', paths: 'file paths' };
  const ROWS_STEP = 50;
  /** The URL fragment follows the search after this pause in typing (replaceState costs a frame's worth of work). */
  const STATE_DELAY_MS = 300;

  function start(): void {
    const data = window.RegCatalogIndex;
    const table = document.getElementById('entries') as HTMLTableElement | null;
    const q = document.getElementById('q') as HTMLInputElement | null;
    if (!data || !table || !q) return;
    const tbody = table.tBodies[0]!;
    const selects = {
      area: document.getElementById('f-area') as HTMLSelectElement,
      license: document.getElementById('f-license') as HTMLSelectElement,
      owner: document.getElementById('f-owner') as HTMLSelectElement,
    };
    const count = document.getElementById('count')!;
    const rows: HTMLTableRowElement[] = [];
    for (const tr of Array.from(tbody.rows)) rows[Number(tr.dataset.i)] = tr;
    const docs = data.index.docs;
    let sort: SortKey = 'default';
    let descending = false;
    /** The entries the query and filters select, in display order; the first `limit` are in the table. */
    let order: number[] = [];
    let why = new Map<number, Record<string, string[]>>();
    let query = '';
    let limit = ROWS_STEP;

    const button = (id: string): HTMLButtonElement => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'more';
      b.id = id;
      b.setAttribute('aria-controls', 'entries');
      b.hidden = true;
      return b;
    };
    const more = button('more-entries');
    const all = button('all-entries');
    const buttons = document.createElement('p');
    buttons.className = 'more-entries';
    buttons.append(more, ' ', all);
    table.after(buttons);

    const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
    const compare = (a: number, b: number): number => {
      const da = docs[a]!;
      const db = docs[b]!;
      const ka = data.keys[a]!;
      const kb = data.keys[b]!;
      const num = (x: number | null, y: number | null) => (x ?? -1) - (y ?? -1);
      let r = 0;
      switch (sort) {
        case 'name': r = collator.compare(da.name, db.name); break;
        case 'area': r = collator.compare(da.area, db.area); break;
        case 'license': r = collator.compare(da.license, db.license); break;
        case 'owner': r = collator.compare(da.owner, db.owner); break;
        case 'size': r = num(ka[0], kb[0]); break;
        case 'nfiles': r = num(ka[1], kb[1]); break;
        case 'date': r = ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0; break;
        case 'status': r = ka[3] - kb[3]; break;
        default: r = 0;
      }
      if (descending) r = -r;
      return r || a - b;
    };

    /** Puts the first `limit` entries of `order` in the table, touching only what changed. */
    const render = (): void => {
      const shown = order.slice(0, limit);
      const current = tbody.rows;
      let same = current.length === shown.length;
      for (let k = 0; same && k < shown.length; k++) same = current[k] === rows[shown[k]!];
      if (!same) tbody.replaceChildren(...shown.map((i) => rows[i]!));
      for (const i of shown) {
        const cell = rows[i]!.querySelector('.why');
        if (!cell) continue;
        const fields = Object.keys(why.get(i) ?? {}).map((f) => FIELD_LABELS[f] ?? f);
        const text = query !== '' && fields.length > 0 ? `matches ${fields.join(', ')}` : '';
        if (cell.textContent !== text) cell.textContent = text;
      }
      const rest = order.length - shown.length;
      more.hidden = all.hidden = rest <= 0;
      if (rest > 0) {
        more.textContent = `Show ${Math.min(ROWS_STEP, rest)} more`;
        all.textContent = `Show all ${order.length}`;
      }
    };

    const update = (typing = false): void => {
      const t0 = performance.now();
      query = q.value.trim();
      const hits = RegSearch.search(data.index, query, { area: selects.area.value, license: selects.license.value, owner: selects.owner.value });
      order = query === '' ? hits.map((h) => h.doc).sort(compare) : hits.map((h) => h.doc);
      why = new Map(hits.map((h) => [h.doc, h.matches]));
      limit = ROWS_STEP;
      render();
      count.textContent = `${order.length} of ${docs.length} entries${query !== '' ? ` matching “${query}”` : ''}`;
      table.dataset.searchMs = (performance.now() - t0).toFixed(1);
      // Typing saves the state after a pause; a filter, a sort or a cleared box at once.
      clearTimeout(stateTimer);
      if (typing) stateTimer = setTimeout(saveState, STATE_DELAY_MS);
      else saveState();
    };
    let stateTimer: ReturnType<typeof setTimeout> | undefined;
    // A page left right after typing still carries the state.
    window.addEventListener('pagehide', () => saveState());

    const showMore = (n: number): void => {
      if (limit >= order.length) return;
      limit += n;
      render();
    };
    more.addEventListener('click', () => showMore(ROWS_STEP));
    all.addEventListener('click', () => showMore(order.length));

    const saveState = (): void => {
      const p = new URLSearchParams();
      if (q.value) p.set('q', q.value);
      for (const [k, s] of Object.entries(selects)) if (s.value) p.set(k, s.value);
      if (sort !== 'default') p.set('sort', (descending ? '-' : '') + sort);
      const hash = p.toString();
      if (hash !== location.hash.slice(1)) history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
    };

    const loadState = (): void => {
      const p = new URLSearchParams(location.hash.slice(1));
      q.value = p.get('q') ?? '';
      for (const [k, s] of Object.entries(selects)) {
        const v = p.get(k) ?? '';
        s.value = Array.from(s.options).some((o) => o.value === v) ? v : '';
      }
      const sp = p.get('sort') ?? '';
      descending = sp.startsWith('-');
      sort = (sp.replace(/^-/, '') || 'default') as SortKey;
      markSort();
    };

    const markSort = (): void => {
      for (const b of Array.from(table.querySelectorAll<HTMLButtonElement>('button[data-sort]'))) {
        const th = b.closest('th')!;
        if (b.dataset.sort === sort) th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
      }
    };

    table.querySelector('thead')!.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-sort]');
      if (!b) return;
      const key = b.dataset.sort as SortKey;
      if (sort === key) descending = !descending;
      else {
        sort = key;
        descending = key === 'size' || key === 'nfiles' || key === 'date';
      }
      markSort();
      update();
    });

    q.addEventListener('input', () => update(q.value !== ''));
    for (const s of Object.values(selects)) s.addEventListener('change', () => update());
    document.getElementById('controls')!.addEventListener('submit', (ev) => ev.preventDefault());
    window.addEventListener('hashchange', () => {
      loadState();
      update();
    });

    const visibleLinks = (): HTMLAnchorElement[] => Array.from(tbody.querySelectorAll<HTMLAnchorElement>('td.name a'));
    q.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown') {
        const first = visibleLinks()[0];
        if (first) {
          ev.preventDefault();
          first.focus();
        }
      } else if (ev.key === 'Escape' && q.value !== '') {
        q.value = '';
        update();
      }
    });
    tbody.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
      const links = visibleLinks();
      const at = links.indexOf(document.activeElement as HTMLAnchorElement);
      if (at === -1) return;
      ev.preventDefault();
      if (ev.key === 'ArrowDown' && at === links.length - 1 && !more.hidden) {
        showMore(ROWS_STEP);
        visibleLinks()[at + 1]?.focus();
      } else if (ev.key === 'ArrowUp' && at === 0) q.focus();
      else links[Math.max(0, Math.min(links.length - 1, at + (ev.key === 'ArrowDown' ? 1 : -1)))]!.focus();
    });
    document.addEventListener('keydown', (ev) => {
      const el = document.activeElement;
      if (ev.key === '/' && !(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) {
        ev.preventDefault();
        q.focus();
      }
    });
    for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('a[data-area]'))) {
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        selects.area.value = a.dataset.area ?? '';
        update();
        q.focus();
      });
    }

    loadState();
    update();
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

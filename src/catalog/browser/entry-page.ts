/**
 * An entry page: copy buttons for the `reg get` commands, and the file browser. A small entry's
 * tree comes with the page (the data-tree attribute); a big one's directory listings are loaded on
 * demand from data/<slug>/t<N>.js chunks (script elements: file:// pages cannot fetch()). It
 * shows at most one page of rows per opened directory, and follows the WAI-ARIA tree pattern for
 * the keyboard (arrows, Home/End, Enter/Space). The filter loads a big tree's path lists (p<N>.js)
 * once and shows the first matches as a flat list.
 */
(() => {
  type DirRow = [string, number, number, number | null, number];
  type FileRow = [string, number | null];
  type Listing = [number, number, number, DirRow[], FileRow[], number];

  const listings = new Map<string, Listing>();
  const pathLists: Array<{ paths: string[]; sizes: Array<number | null> }> = [];
  const pending = new Map<string, Promise<void>>();
  const MAX_RESULTS = 200;

  window.RegTree = {
    chunk(_key, _id, items) {
      for (const l of items as Listing[]) listings.set(`${l[0]}:${l[1]}`, l);
    },
    paths(_key, k, paths, sizes) {
      pathLists[k] = { paths, sizes };
    },
  };

  function loadScript(src: string): Promise<void> {
    let p = pending.get(src);
    if (p) return p;
    p = new Promise<void>((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.appendChild(s);
    });
    pending.set(src, p);
    return p;
  }

  function sizeText(n: number | null): string {
    return n === null ? 'size unknown' : regFormatBytes(n);
  }

  function setupCopy(): void {
    const status = document.getElementById('copy-status');
    document.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-copy]');
      if (!b) return;
      const target = document.getElementById(b.dataset.copy ?? '');
      if (!target) return;
      const text = target.textContent ?? '';
      const done = (msg: string) => {
        if (status) status.textContent = msg;
      };
      const select = () => {
        const range = document.createRange();
        range.selectNodeContents(target);
        const sel = window.getSelection();
        sel?.removeAllRanges();
        sel?.addRange(range);
        done('Selected: press Ctrl+C to copy');
      };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => done(`Copied: ${text}`), select);
      else select();
    });
  }

  function setupTree(container: HTMLElement): void {
    const base = container.dataset.base ?? '';
    // A small tree comes with the page (data-tree: its one listing chunk, paths and sizes); a big
    // one is loaded chunk by chunk from data/<slug>/.
    const inline = container.dataset.tree === undefined ? undefined : (JSON.parse(container.dataset.tree) as [Listing[], string[], Array<number | null>]);
    if (inline) {
      window.RegTree!.chunk('', 0, inline[0]);
      window.RegTree!.paths('', 0, inline[1], inline[2]);
    }
    const pathChunks = inline ? 0 : Number(container.dataset.pathChunks ?? '0');
    const tree = container.querySelector<HTMLUListElement>('ul[role="tree"]')!;
    const filter = container.querySelector<HTMLInputElement>('input[type="search"]');
    const results = container.querySelector<HTMLElement>('.file-results');
    const resultsStatus = container.querySelector<HTMLElement>('.file-results-status');

    const chunk = (id: number) => (inline ? Promise.resolve() : loadScript(`${base}t${id}.js`));

    const itemFor = (label: string, meta: string, isDir: boolean): HTMLLIElement => {
      const li = document.createElement('li');
      li.setAttribute('role', 'treeitem');
      li.tabIndex = -1;
      const row = document.createElement('span');
      row.className = 'row';
      const name = document.createElement('span');
      name.className = isDir ? 'name dir' : 'name';
      name.textContent = isDir ? `${label}/` : label;
      const m = document.createElement('span');
      m.className = 'meta';
      m.textContent = meta;
      row.append(name, m);
      li.appendChild(row);
      return li;
    };

    /** Appends one page of a directory's listing to `group` (with a "show more" item for the next page). */
    const renderPage = async (group: HTMLUListElement, dirId: number, page: number, chunkId: number): Promise<void> => {
      await chunk(chunkId);
      const l = listings.get(`${dirId}:${page}`);
      if (!l) throw new Error(`listing ${dirId}:${page} missing from chunk ${chunkId}`);
      const frag = document.createDocumentFragment();
      for (const [name, id, nfiles, size, first] of l[3]) {
        const li = itemFor(name, `${nfiles} file${nfiles === 1 ? '' : 's'} · ${sizeText(size)}`, true);
        li.setAttribute('aria-expanded', 'false');
        li.dataset.dir = String(id);
        li.dataset.chunk = String(first);
        frag.appendChild(li);
      }
      for (const [name, size] of l[4]) frag.appendChild(itemFor(name, sizeText(size), false));
      if (l[5] !== -1) {
        const li = document.createElement('li');
        li.setAttribute('role', 'none');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'more';
        b.textContent = `Show more (page ${page + 2} of ${l[2]})`;
        b.addEventListener('click', () => {
          li.remove();
          void renderPage(group, dirId, page + 1, l[5]).then(() => {
            const next = group.querySelectorAll<HTMLElement>(':scope > li[role="treeitem"]')[(page + 1) * 500];
            next?.focus();
          });
        });
        li.appendChild(b);
        frag.appendChild(li);
      }
      group.appendChild(frag);
    };

    const toggle = async (li: HTMLLIElement, open?: boolean): Promise<void> => {
      if (li.dataset.dir === undefined) return;
      const expanded = li.getAttribute('aria-expanded') === 'true';
      const want = open ?? !expanded;
      if (want === expanded) return;
      let group = li.querySelector<HTMLUListElement>(':scope > ul');
      if (!group) {
        group = document.createElement('ul');
        group.setAttribute('role', 'group');
        li.appendChild(group);
        await renderPage(group, Number(li.dataset.dir), 0, Number(li.dataset.chunk));
      }
      group.hidden = !want;
      li.setAttribute('aria-expanded', String(want));
    };

    const visibleItems = (): HTMLLIElement[] =>
      Array.from(tree.querySelectorAll<HTMLLIElement>('li[role="treeitem"]')).filter((li) => {
        for (let p = li.parentElement; p && p !== tree; p = p.parentElement) if (p.hidden) return false;
        return true;
      });

    const focusItem = (li: HTMLLIElement | undefined): void => {
      if (!li) return;
      for (const x of Array.from(tree.querySelectorAll<HTMLLIElement>('li[tabindex="0"]'))) x.tabIndex = -1;
      li.tabIndex = 0;
      li.focus();
    };

    tree.addEventListener('click', (ev) => {
      const li = (ev.target as HTMLElement).closest<HTMLLIElement>('li[role="treeitem"]');
      if (!li) return;
      focusItem(li);
      void toggle(li);
    });
    tree.addEventListener('keydown', (ev) => {
      const li = (ev.target as HTMLElement).closest<HTMLLIElement>('li[role="treeitem"]');
      if (!li) return;
      const items = visibleItems();
      const at = items.indexOf(li);
      let handled = true;
      switch (ev.key) {
        case 'ArrowDown': focusItem(items[at + 1]); break;
        case 'ArrowUp': focusItem(items[at - 1]); break;
        case 'Home': focusItem(items[0]); break;
        case 'End': focusItem(items[items.length - 1]); break;
        case 'ArrowRight':
          if (li.dataset.dir !== undefined && li.getAttribute('aria-expanded') !== 'true') void toggle(li, true);
          else if (li.dataset.dir !== undefined) focusItem(li.querySelector<HTMLLIElement>(':scope > ul > li[role="treeitem"]') ?? undefined);
          break;
        case 'ArrowLeft':
          if (li.getAttribute('aria-expanded') === 'true') void toggle(li, false);
          else focusItem(li.parentElement?.closest<HTMLLIElement>('li[role="treeitem"]') ?? undefined);
          break;
        case 'Enter':
        case ' ':
          void toggle(li);
          break;
        default:
          handled = false;
      }
      if (handled) ev.preventDefault();
    });

    const showResults = async (): Promise<void> => {
      if (!filter || !results || !resultsStatus) return;
      const needle = filter.value.trim().toLowerCase();
      if (needle === '') {
        results.hidden = true;
        resultsStatus.textContent = '';
        tree.hidden = false;
        return;
      }
      resultsStatus.textContent = 'Loading file list…';
      await Promise.all(Array.from({ length: pathChunks }, (_, k) => loadScript(`${base}p${k}.js`)));
      if (filter.value.trim().toLowerCase() !== needle) return;
      const list = document.createElement('ol');
      list.className = 'file-results-list';
      let found = 0;
      for (const chunkData of pathLists) {
        if (!chunkData) continue;
        for (let i = 0; i < chunkData.paths.length; i++) {
          const p = chunkData.paths[i]!;
          if (!p.toLowerCase().includes(needle)) continue;
          found++;
          if (found > MAX_RESULTS) continue;
          const li = document.createElement('li');
          const name = document.createElement('span');
          name.className = 'name';
          name.textContent = p;
          const meta = document.createElement('span');
          meta.className = 'meta';
          meta.textContent = sizeText(chunkData.sizes[i] ?? null);
          li.append(name, meta);
          list.appendChild(li);
        }
      }
      results.replaceChildren(list);
      results.hidden = false;
      tree.hidden = true;
      resultsStatus.textContent = found === 0 ? 'No file matches' : `${found} matching file${found === 1 ? '' : 's'}${found > MAX_RESULTS ? ` (first ${MAX_RESULTS} shown)` : ''}`;
    };
    let timer: number | undefined;
    filter?.addEventListener('input', () => {
      clearTimeout(timer);
      timer = window.setTimeout(() => void showResults(), 120);
    });

    void renderPage(tree, 0, 0, 0).then(() => {
      const first = tree.querySelector<HTMLLIElement>('li[role="treeitem"]');
      if (first) first.tabIndex = 0;
      container.dataset.ready = 'true';
    });
  }

  function start(): void {
    setupCopy();
    const files = document.getElementById('file-browser');
    if (files) setupTree(files);
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

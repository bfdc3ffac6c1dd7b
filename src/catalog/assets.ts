import { readFileSync } from 'node:fs';
import { formatBytes } from '../data/format.js';
import { createSearchEngine } from './search-core.js';
import { SITE_CSS } from './style.js';

/**
 * The site's static assets. `shared.js` is generated from the functions Node uses
 * (createSearchEngine, formatBytes: self-contained, so their compiled source runs as is in a
 * classic script), which is how `reg search` and the search box share one implementation. The
 * page scripts are compiled from src/catalog/browser/ by its own tsconfig (DOM types).
 */
export function siteAssets(): Array<{ path: string; data: string }> {
  const browserScript = (name: string) => readFileSync(new URL(`./browser/${name}`, import.meta.url), 'utf8');
  return [
    { path: 'assets/site.css', data: SITE_CSS },
    {
      path: 'assets/shared.js',
      data: `"use strict";\nvar RegSearch = (${createSearchEngine.toString()})();\nvar regFormatBytes = ${formatBytes.toString()};\n`,
    },
    { path: 'assets/index-page.js', data: browserScript('index-page.js') },
    { path: 'assets/entry-page.js', data: browserScript('entry-page.js') },
  ];
}

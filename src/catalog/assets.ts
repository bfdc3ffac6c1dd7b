import { readFileSync } from 'node:fs';
import { packagePath } from '../package-info.js';
import { SITE_CSS } from './style.js';

const SITE_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/><path d="M4 4h8M4 8h8M4 12h5" stroke="#fff" stroke-width="2"/></svg>\n';

/**
 * The compiled text of a self-contained module of reg (no imports) as classic-script
 * declarations: `export` keywords and the source-map comment dropped. Read from the file rather
 * than taken with Function#toString, whose text depends on how the module was loaded.
 */
function moduleAsScript(path: string): string {
  return readFileSync(path, 'utf8').replace(/^export /gm, '').replace(/^\/\/# sourceMappingURL=.*$/m, '').trimEnd();
}

/**
 * The site's static assets. `shared.js` is the compiled source of the modules Node uses
 * (search-core: createSearchEngine; data/format: formatBytes), which is how `reg search` and the
 * search box share one implementation. The page scripts are compiled from src/catalog/browser/ by
 * its own tsconfig (DOM types).
 */
export function siteAssets(): Array<{ path: string; data: string }> {
  const browserScript = (name: string) => readFileSync(packagePath(`dist/catalog/browser/${name}`), 'utf8');
  return [
    { path: 'assets/site.css', data: SITE_CSS },
    { path: 'assets/icon.svg', data: SITE_ICON },
    {
      path: 'assets/shared.js',
      data: `"use strict";\n${moduleAsScript(packagePath('dist/catalog/search-core.js'))}\nvar RegSearch = createSearchEngine();\n${moduleAsScript(packagePath('dist/data/format.js'))}\nvar regFormatBytes = formatBytes;\n`,
    },
    { path: 'assets/index-page.js', data: browserScript('index-page.js') },
    { path: 'assets/entry-page.js', data: browserScript('entry-page.js') },
  ];
}

import { formatBytes } from '../data/format.js';
import { day, esc } from './html.js';
import type { CatalogVersion } from './model.js';

/**
 * A small inline SVG of size and file count over the versions (oldest left), each line on its own
 * scale. Colours come from the stylesheet (classes), so no inline style is needed under the CSP.
 */
export function versionsChart(versions: readonly CatalogVersion[], id: string): string {
  const points = versions.filter((v) => v.size !== undefined || v.nfiles !== undefined).reverse();
  if (points.length === 0) return '';
  const W = 600;
  const H = 160;
  const PAD = { left: 8, right: 8, top: 22, bottom: 22 };
  const x = (i: number) => (points.length === 1 ? W / 2 : PAD.left + (i * (W - PAD.left - PAD.right)) / (points.length - 1));
  const series = (key: 'size' | 'nfiles') => {
    const values = points.map((p) => p[key]);
    const max = Math.max(1, ...values.map((v) => v ?? 0));
    const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
    const coords = values.flatMap((v, i) => (v === undefined ? [] : [`${x(i).toFixed(1)},${y(v).toFixed(1)}`]));
    return { max, coords };
  };
  const size = series('size');
  const files = series('nfiles');
  const dots = (coords: string[], cls: string) => coords.map((c) => { const [cx, cy] = c.split(','); return `<circle class="${cls}" cx="${cx}" cy="${cy}" r="3"/>`; }).join('');
  const first = day(points[0]!.date);
  const last = day(points[points.length - 1]!.date);
  const summary = `Size and file count of ${points.length} version${points.length === 1 ? '' : 's'} from ${first} to ${last}; largest ${formatBytes(size.max)}, most files ${files.max}.`;
  return [
    `<figure class="chart">`,
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-t">`,
    `<title id="${id}-t">${esc(summary)}</title>`,
    `<line class="axis" x1="0" y1="${H - PAD.bottom}" x2="${W}" y2="${H - PAD.bottom}"/>`,
    size.coords.length > 1 ? `<polyline class="line-size" points="${size.coords.join(' ')}"/>` : '',
    files.coords.length > 1 ? `<polyline class="line-files" points="${files.coords.join(' ')}"/>` : '',
    dots(size.coords, 'dot-size'),
    dots(files.coords, 'dot-files'),
    `<text class="label" x="${PAD.left}" y="14">${esc(first)}</text>`,
    `<text class="label" x="${W - PAD.right}" y="14" text-anchor="end">${esc(last)}</text>`,
    `</svg>`,
    `<figcaption><span class="key-size">size</span> (up to ${esc(formatBytes(size.max))}) and <span class="key-files">files</span> (up to ${files.max}) per version, oldest left</figcaption>`,
    `</figure>`,
  ].join('');
}

import type { RegistryOverview } from '../ops/registry/overview.js';
import type { Output } from './output.js';

const STATE_TEXT: Record<string, string> = {
  'up-to-date': 'up to date',
  modified: 'modified',
  outdated: 'outdated',
  diverged: 'diverged',
  'not-in-cache': 'not in cache',
  'not-pushed': 'not pushed',
  missing: 'missing',
  'not-tracked': 'not tracked',
  local: 'local only',
};

/** Text rendering of `registryOverview` for `reg status` without targets (the status command wires it in). */
export function renderOverview(r: RegistryOverview, out: Output): void {
  if (r.areas.length === 0) {
    out.line('no registry areas configured (run reg init to create the default layout)');
    return;
  }
  for (const area of r.areas) {
    out.line(`${area.name}/ (${area.mode}, ${area.entries.length} ${area.entries.length === 1 ? 'entry' : 'entries'})`);
    const width = Math.max(0, ...area.entries.map((e) => e.name.length));
    for (const e of area.entries) {
      const card = e.card.ok ? 'card ok' : e.card.exists ? 'card invalid' : 'no card';
      out.line(`  ${e.name.padEnd(width)}  ${card.padEnd(12)}  ${STATE_TEXT[e.data] ?? e.data}${e.detail ? ` (${e.detail})` : ''}`);
      if (out.verbose) for (const p of e.card.problems) out.line(`      ${p}`);
    }
  }
  const s = r.summary;
  const bad = s.entries - s.cardsOk;
  out.line(`${s.entries} ${s.entries === 1 ? 'entry' : 'entries'}; ${bad === 0 ? 'all cards ok' : `${bad} without a valid card (reg check)`}`);
  for (const p of r.problems) out.note(`error: ${p.file}: ${p.message}\n  fix: ${p.fix}`);
}

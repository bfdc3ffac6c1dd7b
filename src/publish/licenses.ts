import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * SPDX licences from the maintained `spdx-license-list` package: its id list, and the full text
 * of one licence read from the package's per-licence file (the full list is 5 MB; a release
 * needs one or two texts).
 */
export interface SpdxLicense {
  /** The canonical SPDX id (case as SPDX spells it). */
  id: string;
  name: string;
  url: string;
  osiApproved: boolean;
  text: string;
}

const require = createRequire(import.meta.url);
let ids: Map<string, string> | undefined;

/** SPDX ids by lower case (ids are case-insensitive in SPDX expressions). */
function knownIds(): Map<string, string> {
  ids ??= new Map((require('spdx-license-list/spdx-simple.json') as string[]).map((id) => [id.toLowerCase(), id]));
  return ids;
}

/** The canonical spelling of an SPDX id, or undefined when the list does not have it. */
export function canonicalSpdxId(id: string): string | undefined {
  return knownIds().get(id.trim().toLowerCase());
}

export function spdxLicense(id: string): SpdxLicense | undefined {
  const canonical = canonicalSpdxId(id);
  if (canonical === undefined) return undefined;
  const file = require.resolve(`spdx-license-list/licenses/${canonical}.json`);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { name: string; url: string; osiApproved: boolean; licenseText: string };
  return { id: canonical, name: raw.name, url: raw.url, osiApproved: raw.osiApproved, text: raw.licenseText };
}

/**
 * The licence ids of a card's `license` value: one SPDX id, a simple expression (`MIT OR
 * Apache-2.0`, `(A AND B)`), or a YAML list of ids. `unknown` lists the parts that are not SPDX
 * ids (a licence written out in words, a typo, `LicenseRef-...`).
 */
export function licenseIdsOf(value: unknown): { ids: string[]; unknown: string[]; expression: string } {
  const parts = Array.isArray(value) ? value.map(String) : [String(value ?? '')];
  const expression = parts.join(' OR ').trim();
  const tokens = parts.flatMap((p) => p.replace(/[()]/g, ' ').split(/\s+(?:OR|AND|WITH)\s+|\s*,\s*/i)).map((t) => t.trim()).filter(Boolean);
  const ids: string[] = [];
  const unknown: string[] = [];
  for (const t of tokens) {
    const id = canonicalSpdxId(t.replace(/\+$/, ''));
    if (id === undefined) unknown.push(t);
    else if (!ids.includes(id)) ids.push(id);
  }
  return { ids, unknown, expression };
}

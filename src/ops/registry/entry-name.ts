import { RegError } from '../../errors.js';
import { classifyAreaChild, type Area } from '../../policy/areas.js';
import { checkEntryName } from '../../policy/naming.js';

/**
 * The naming rule applied when an entry is created (`reg new`, `reg add` of a new entry): the
 * same `checkEntryName` decision `reg check` makes later. A breach of an error-severity rule
 * throws (exit 5) unless `force`; everything else comes back as warning lines.
 */
export function guardEntryName(area: Area, name: string, options: { isFile: boolean; force?: boolean; code: string }): string[] {
  const warnings: string[] = [];
  // Only an area's direct children are entries (README.md, hidden files and paths inside an entry are not).
  if (name.includes('/') || classifyAreaChild(name) !== 'data') return warnings;
  for (const p of checkEntryName(name, area.rules.naming, { isFile: options.isFile })) {
    if (p.severity === 'error' && !options.force) throw new RegError(options.code, 'policy', `${area.name}/${name}: ${p.message}`, { hint: p.fix });
    warnings.push(`${area.name}/${name}: ${p.message}: ${p.fix}`);
  }
  return warnings;
}

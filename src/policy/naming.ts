import type { NamingRule } from './areas.js';

export interface NamingProblem {
  severity: 'error' | 'warning';
  message: string;
  fix: string;
}

/** Suggests a name that follows the default rule: lowercase, hyphens, no spaces/underscores. */
export function suggestName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '') || 'entry';
}

/** Checks an entry name against the naming rule. Pure. */
export function checkName(name: string, rule: NamingRule): NamingProblem[] {
  const out: NamingProblem[] = [];
  if (!new RegExp(rule.pattern).test(name)) {
    const s = suggestName(name);
    out.push({
      severity: 'error',
      message: `entry name "${name}" breaks the naming rule ${rule.pattern}`,
      fix: `rename it (data, pointer and card), e.g. to "${s}"; the rule is rules.naming.pattern in .reg/config.yaml`,
    });
  }
  for (const word of rule.warnWords) {
    if (word && name.toLowerCase().includes(word.toLowerCase())) {
      out.push({
        severity: 'warning',
        message: `entry name "${name}" contains the word "${word}"`,
        fix: `the area already says what it holds; consider a name without "${word}"`,
      });
    }
  }
  return out;
}

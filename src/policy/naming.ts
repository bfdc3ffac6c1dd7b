/**
 * Entry naming: one rule, one function, used by `reg new`, `reg add` and `reg check` alike.
 * Pure.
 */

export type NamingSeverity = 'error' | 'warning';

export interface NamingRule {
  /** Regex (JavaScript syntax) every entry name must match. */
  pattern: string;
  /** Words that give a warning when they appear in a name (e.g. "dataset": the area already says it). */
  warnWords: string[];
  /** What breaking `pattern` is: an error (new/add refuse, check fails) or a warning. */
  severity: NamingSeverity;
  /** The preset this rule started from, for messages. */
  preset?: NamingPresetName;
}

export type NamingPresetName = 'default' | 'strict';

/**
 * - default: what real registries use — letters, digits, '.', '_' and '-', starting and ending
 *   with a letter or digit (`coco_2017`, `imagenet-1k.v2`, `MNIST`).
 * - strict:  lowercase words joined by hyphens, and a warning for "dataset" in a name (the
 *   convention of the Mila registry this tool started from).
 */
export const NAMING_PRESETS: Readonly<Record<NamingPresetName, NamingRule>> = {
  default: { pattern: '^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$', warnWords: [], severity: 'error', preset: 'default' },
  strict: { pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', warnWords: ['dataset'], severity: 'error', preset: 'strict' },
};

export function isNamingPreset(name: unknown): name is NamingPresetName {
  return typeof name === 'string' && Object.hasOwn(NAMING_PRESETS, name);
}

export interface NamingProblem {
  severity: NamingSeverity;
  message: string;
  fix: string;
}

/** A file entry's extension (`.csv` of labels.csv), which is not part of its name for the rule. */
function extensionOf(name: string): string {
  return /(?<=.)\.[A-Za-z0-9]+$/.exec(name)?.[0] ?? '';
}

/** The part of an entry name the rule judges: the whole name, or a file entry's stem (labels.csv -> labels). */
export function ruleNameOf(name: string, isFile: boolean): string {
  return isFile ? name.slice(0, name.length - extensionOf(name).length) : name;
}

/** A name close to `name` that `rule` accepts (a file entry keeps its extension), or undefined. */
export function suggestName(name: string, rule: NamingRule, isFile = false): string | undefined {
  const ext = isFile ? extensionOf(name) : '';
  const stem = name.slice(0, name.length - ext.length);
  const re = new RegExp(rule.pattern);
  const candidates = [
    stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''),
    stem.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, ''),
  ];
  const hit = candidates.find((c) => c !== '' && re.test(c));
  return hit === undefined ? undefined : hit + ext;
}

/**
 * Judges an entry name (`<area>/<name>`'s last part) against the area's naming rule: the one
 * decision `reg new`, `reg add` and `reg check` share. File entries are judged by their stem.
 */
export function checkEntryName(name: string, rule: NamingRule, options: { isFile: boolean }): NamingProblem[] {
  const judged = ruleNameOf(name, options.isFile);
  const out: NamingProblem[] = [];
  if (!new RegExp(rule.pattern).test(judged)) {
    const s = suggestName(name, rule, options.isFile);
    const what = judged === name ? `entry name "${name}"` : `entry name "${name}" (judged without its extension: "${judged}")`;
    const ruleText = rule.preset && rule.pattern === NAMING_PRESETS[rule.preset].pattern ? `the ${rule.preset} naming rule ${rule.pattern}` : `the naming rule ${rule.pattern}`;
    out.push({
      severity: rule.severity,
      message: `${what} breaks ${ruleText}`,
      fix: `${s !== undefined ? `rename it (data, pointer and card), e.g. to "${s}"` : 'rename it (data, pointer and card)'}; the rule is rules.naming in .reg/config.yaml (presets: default, strict)`,
    });
  }
  for (const word of rule.warnWords) {
    if (word && judged.toLowerCase().includes(word.toLowerCase())) {
      out.push({
        severity: 'warning',
        message: `entry name "${name}" contains the word "${word}"`,
        fix: `the area already says what it holds; consider a name without "${word}"`,
      });
    }
  }
  return out;
}

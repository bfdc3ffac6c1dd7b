import { configError } from '../errors.js';
import { getPath, isPlainObject, type ConfigData } from '../config.js';
import { isNamingPreset, NAMING_PRESETS, type NamingRule } from './naming.js';
import { parseByteSize } from '../data/units.js';
import { compareCodePoints } from '../data/manifest.js';

export type { NamingRule } from './naming.js';

/**
 * Registry areas: top-level directories with a mode each.
 *  - versioned: content-addressed, a `.dvc` pointer per entry in Git (`reg add`);
 *  - synced:    mirrored unversioned to `<remote>/<prefix>/<entry>/...` (`reg sync`);
 *  - local:     gitignored, never leaves the machine.
 * Everything here is pure: it reads a config object and returns plain values.
 */
export type AreaMode = 'versioned' | 'synced' | 'local';
export const AREA_MODES: readonly AreaMode[] = ['versioned', 'synced', 'local'];

export interface AreaRules {
  /** Front-matter fields every card of the area must set to a non-empty value. */
  requiredFields: string[];
  naming: NamingRule;
  /** Files at least this big staged into Git are refused (bytes); `rules:` sets it repository-wide. */
  largeFileBytes: number;
  /** Gitignore-style globs (repo-relative) of files exempt from the large-file rule. */
  largeFileAllow: string[];
  /** `required`: an entry without a card is an error; `optional`: a warning. */
  card: 'required' | 'optional';
}

export interface Area {
  /** Repo-relative directory ('/'-separated), also its name in the config. */
  name: string;
  mode: AreaMode;
  /** Synced areas: key prefix on the remote (default: the area name). */
  prefix: string;
  /** Synced areas: remote name (default: the default remote). */
  remote?: string;
  /** Repo-relative path of the card template. */
  template: string;
  rules: AreaRules;
}

export const CARD_SUFFIX = '.card.md';
export const TEMPLATE_FILE = 'template.card.md';
export const POINTER_SUFFIX = '.dvc';
export const DEFAULT_LARGE_FILE_BYTES = 10 * 1024 * 1024;

export const DEFAULT_RULES: AreaRules = {
  requiredFields: [],
  naming: NAMING_PRESETS.default,
  largeFileBytes: DEFAULT_LARGE_FILE_BYTES,
  largeFileAllow: [],
  card: 'required',
};

/** The default layout `reg init` writes (also used when the config has no `areas:`... only by init). */
export const DEFAULT_AREAS: ReadonlyArray<{ name: string; mode: AreaMode; requiredFields?: string[]; card?: 'optional' }> = [
  { name: 'raw_datasets', mode: 'versioned', requiredFields: ['license', 'source', 'owner'] },
  { name: 'processed_datasets', mode: 'synced' },
  { name: 'champion_models', mode: 'synced' },
  { name: 'training_results', mode: 'synced' },
  { name: 'experiments', mode: 'local', card: 'optional' },
];

export interface RegistryPolicy {
  areas: Area[];
  /** `rules:` — the defaults of every area, and what applies outside areas (the large-file rule). */
  rules: AreaRules;
  /** `hooks.pre-push`: upload missing objects (push) or only refuse (check). */
  prePush: 'push' | 'check';
  /** `hooks.install` (default true): false = this repository (or, in config.local.yaml, this user) does not use reg's git hooks. */
  installHooks: boolean;
}

const FILE = '.reg/config.yaml';

/** Parses a size from the config (see parseByteSize). */
export function parseSize(value: unknown, where: string): number {
  const n = parseByteSize(value);
  if (n === undefined) throw configError('config.size', `${FILE}: ${where} must be a size like 10MB or 1048576, got ${JSON.stringify(value)}`, { hint: 'use a number of bytes or a suffix: KB, MB, GB' });
  return n;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw configError('config.type', `${FILE}: ${where} must be a list of strings`, { hint: `e.g. ${where.split('.').pop()}: [license, source]` });
}

function parseRules(raw: unknown, base: AreaRules, where: string): AreaRules {
  if (raw === undefined || raw === null) return base;
  if (!isPlainObject(raw)) throw configError('config.type', `${FILE}: ${where} must be a mapping`, { hint: 'see docs/registry.md, "Configuration"' });
  const rules: AreaRules = { ...base, naming: { ...base.naming } };
  if ('required-fields' in raw) rules.requiredFields = stringList(raw['required-fields'], `${where}.required-fields`);
  if ('large-file-threshold' in raw) rules.largeFileBytes = parseSize(raw['large-file-threshold'], `${where}.large-file-threshold`);
  if ('large-file-allow' in raw) rules.largeFileAllow = stringList(raw['large-file-allow'], `${where}.large-file-allow`);
  if ('card' in raw) {
    const c = raw.card;
    if (c !== 'required' && c !== 'optional') throw configError('config.type', `${FILE}: ${where}.card must be required or optional`, { hint: `${where}.card: required` });
    rules.card = c;
  }
  if ('naming' in raw) rules.naming = parseNaming(raw.naming, base.naming, `${where}.naming`);
  return rules;
}

/**
 * `naming: strict` (a preset), or a mapping `{ preset, pattern, warn-words, severity }` where
 * every key overrides the preset (default: the inherited rule).
 */
function parseNaming(raw: unknown, base: NamingRule, where: string): NamingRule {
  const presets = Object.keys(NAMING_PRESETS).join(', ');
  if (typeof raw === 'string') {
    if (!isNamingPreset(raw)) throw configError('config.naming', `${FILE}: ${where} must be a preset (${presets}) or a mapping, got ${JSON.stringify(raw)}`, { hint: `${where.split('.').pop()}: strict` });
    return NAMING_PRESETS[raw];
  }
  if (!isPlainObject(raw)) throw configError('config.type', `${FILE}: ${where} must be a preset name (${presets}) or a mapping (preset, pattern, warn-words, severity)`, { hint: 'naming: { preset: strict, severity: warning }' });
  let rule: NamingRule = { ...base };
  if (raw.preset !== undefined) {
    if (!isNamingPreset(raw.preset)) throw configError('config.naming', `${FILE}: ${where}.preset must be one of ${presets}, got ${JSON.stringify(raw.preset)}`, { hint: 'naming: { preset: strict }' });
    rule = { ...NAMING_PRESETS[raw.preset] };
  }
  if (raw.pattern !== undefined) {
    if (typeof raw.pattern !== 'string') throw configError('config.type', `${FILE}: ${where}.pattern must be a string`, { hint: 'quote the regex' });
    try {
      new RegExp(raw.pattern);
    } catch (err) {
      throw configError('config.regex', `${FILE}: ${where}.pattern is not a valid regex: ${(err as Error).message}`, { hint: `the default preset's is '${NAMING_PRESETS.default.pattern}'` });
    }
    rule.pattern = raw.pattern;
    if (rule.preset && raw.preset === undefined) delete rule.preset;
  }
  if (raw['warn-words'] !== undefined) rule.warnWords = stringList(raw['warn-words'], `${where}.warn-words`);
  if (raw.severity !== undefined) {
    if (raw.severity !== 'error' && raw.severity !== 'warning') throw configError('config.type', `${FILE}: ${where}.severity must be error or warning`, { hint: `${where}.severity: warning` });
    rule.severity = raw.severity;
  }
  return rule;
}

/** Validates an area path: relative, '/'-separated, inside the repo, not reg's or git's own dirs. */
export function normalizeAreaName(name: string): string {
  const n = name.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '');
  const bad = n === '' || n.startsWith('/') || n.split('/').some((p) => p === '' || p === '.' || p === '..') || /^(\.git|\.reg|\.dvc)(\/|$)/.test(n);
  if (bad) throw configError('config.area-name', `${FILE}: area "${name}" must be a relative directory inside the repository`, { hint: 'e.g. areas: { raw_datasets: { mode: versioned } }' });
  return n;
}

/** Reads the registry policy (`areas:`, `rules:`, `hooks:`) from the merged config. */
export function registryPolicy(config: ConfigData): RegistryPolicy {
  const globalRules = parseRules(getPath(config, ['rules']), DEFAULT_RULES, 'rules');
  const rawAreas = getPath(config, ['areas']);
  const areas: Area[] = [];
  if (rawAreas !== undefined && rawAreas !== null) {
    if (!isPlainObject(rawAreas)) throw configError('config.type', `${FILE}: areas must be a mapping of directory -> { mode: versioned | synced | local }`, { hint: 'see docs/registry.md' });
    for (const [key, value] of Object.entries(rawAreas)) {
      const name = normalizeAreaName(key);
      const spec = typeof value === 'string' ? { mode: value } : value ?? {};
      if (!isPlainObject(spec)) throw configError('config.type', `${FILE}: areas.${key} must be a mapping`, { hint: `areas: { ${key}: { mode: synced } }` });
      const mode = spec.mode ?? 'versioned';
      if (typeof mode !== 'string' || !(AREA_MODES as readonly string[]).includes(mode)) {
        throw configError('config.area-mode', `${FILE}: areas.${key}.mode must be one of ${AREA_MODES.join(', ')}, got ${JSON.stringify(mode)}`, { hint: `areas.${key}.mode: synced` });
      }
      const prefix = spec.prefix === undefined || spec.prefix === null ? name : String(spec.prefix).replace(/^\/+|\/+$/g, '');
      const template = spec.template === undefined || spec.template === null ? `${name}/${TEMPLATE_FILE}` : String(spec.template);
      const remote = spec.remote === undefined || spec.remote === null ? undefined : String(spec.remote);
      const rules = parseRules(spec.rules ?? pickRuleKeys(spec), globalRules, `areas.${key}`);
      areas.push({ name, mode: mode as AreaMode, prefix, template, rules, ...(remote !== undefined ? { remote } : {}) });
    }
  }
  areas.sort((a, b) => b.name.length - a.name.length || compareCodePoints(a.name, b.name));
  for (const a of areas) {
    const parent = areas.find((b) => b !== a && a.name.startsWith(b.name + '/'));
    if (parent) throw configError('config.area-nested', `${FILE}: area ${a.name} is inside area ${parent.name}`, { hint: 'areas may not be nested' });
  }
  areas.sort((a, b) => compareCodePoints(a.name, b.name));
  const prePush = getPath(config, ['hooks', 'pre-push']) ?? 'push';
  if (prePush !== 'push' && prePush !== 'check') throw configError('config.type', `${FILE}: hooks.pre-push must be push or check, got ${JSON.stringify(prePush)}`, { hint: 'hooks: { pre-push: check }' });
  const installHooks = getPath(config, ['hooks', 'install']) ?? true;
  if (typeof installHooks !== 'boolean') throw configError('config.type', `${FILE}: hooks.install must be true or false, got ${JSON.stringify(installHooks)}`, { hint: 'hooks: { install: false }' });
  return { areas, rules: globalRules, prePush, installHooks };
}

/** Rule keys may also sit directly under the area (`areas.x.required-fields`). */
function pickRuleKeys(spec: Record<string, unknown>): Record<string, unknown> | undefined {
  const keys = ['required-fields', 'naming', 'large-file-threshold', 'large-file-allow', 'card'];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in spec) out[k] = spec[k];
  return Object.keys(out).length ? out : undefined;
}

/** The area a repo-relative path is in, with the rest of the path ('' for the area dir itself). */
export function areaOf(areas: readonly Area[], rel: string): { area: Area; rest: string } | undefined {
  for (const area of areas) {
    if (rel === area.name) return { area, rest: '' };
    if (rel.startsWith(area.name + '/')) return { area, rest: rel.slice(area.name.length + 1) };
  }
  return undefined;
}

/** What a file directly in an area directory is. */
export type AreaFileKind = 'template' | 'gitignore' | 'card' | 'pointer' | 'hidden' | 'doc' | 'data';

export function classifyAreaChild(name: string): AreaFileKind {
  if (name === TEMPLATE_FILE) return 'template';
  if (name === '.gitignore') return 'gitignore';
  if (name.endsWith(CARD_SUFFIX)) return 'card';
  if (name.endsWith(POINTER_SUFFIX)) return 'pointer';
  if (name.startsWith('.')) return 'hidden';
  // README.md, NOTES.md...: documentation about the area itself, not an entry.
  if (/\.md$/i.test(name)) return 'doc';
  return 'data';
}

/** The entry name a top-level child of an area stands for (`x.card.md` -> x, `x.dvc` -> x, `x` -> x). */
export function entryNameOf(child: string): string | undefined {
  switch (classifyAreaChild(child)) {
    case 'card':
      return child.slice(0, -CARD_SUFFIX.length);
    case 'pointer':
      return child.slice(0, -POINTER_SUFFIX.length);
    case 'data':
      return child;
    default:
      return undefined;
  }
}

export const AREA_GITIGNORE_MARKER = '# reg: area';

/**
 * The area-level `.gitignore`. Synced and local areas ignore everything but cards, the template
 * and the .gitignore itself; versioned areas start with the header only (`reg add` appends `/name`).
 */
export function areaGitignore(mode: AreaMode): string {
  if (mode === 'versioned') {
    return `${AREA_GITIGNORE_MARKER} (versioned). Data is tracked by .dvc pointers; \`reg add\` appends one /name line per entry.\n`;
  }
  return [
    `${AREA_GITIGNORE_MARKER} (${mode}). Entry data never goes into Git; only cards are committed.`,
    '/*',
    '!/.gitignore',
    '!/template.card.md',
    '!/*.card.md',
    '',
  ].join('\n');
}

/** Adds the lines of `wanted` missing from `current` (keeps user lines). Returns undefined when nothing is missing. */
export function mergeGitignore(current: string, wanted: string): string | undefined {
  const have = new Set(current.split(/\r?\n/).map((l) => l.trim()));
  const missing = wanted.split('\n').filter((l) => l.trim() !== '' && !have.has(l.trim()));
  if (missing.length === 0) return undefined;
  return current + (current && !current.endsWith('\n') ? '\n' : '') + missing.join('\n') + '\n';
}

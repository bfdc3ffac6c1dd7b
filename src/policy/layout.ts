import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPlainObject, readConfigFile, readConfigText } from '../config.js';
import { readGitignoreText, writeFileAtomicSync } from '../fsutil.js';
import { packagePath } from '../package-info.js';
import { areaGitignore, mergeGitignore, registryPolicy, TEMPLATE_FILE, type Area } from './areas.js';
import { fallbackTemplate } from './cards.js';

/** The package's `templates/` directory. */
export function templatesDir(): string {
  return packagePath('templates/');
}

/** The shipped card template for an area name, or a generic one. */
export function shippedTemplate(area: Area): string {
  const dir = templatesDir();
  const own = join(dir, `${area.name.replace(/\//g, '_')}.card.md`);
  if (existsSync(own)) return readFileSync(own, 'utf8');
  if (area.rules.requiredFields.length > 0) return fallbackTemplate(area.rules.requiredFields);
  const generic = join(dir, 'default.card.md');
  return existsSync(generic) ? readFileSync(generic, 'utf8') : fallbackTemplate([]);
}

/**
 * Splits a YAML text into its top-level sections (each key with the comments just above it),
 * so missing sections of the default config can be appended without touching the user's text.
 */
export function topLevelSections(text: string): Map<string, string> {
  const lines = text.split('\n');
  const sections = new Map<string, string>();
  let pending: string[] = [];
  let key: string | undefined;
  let body: string[] = [];
  const flush = () => {
    if (key !== undefined) sections.set(key, body.join('\n').replace(/^\n+/, '').replace(/\n+$/, '') + '\n');
  };
  for (const line of lines) {
    const m = /^([A-Za-z0-9_-]+):/.exec(line);
    if (m) {
      flush();
      key = m[1]!;
      body = [...pending, line];
      pending = [];
    } else if (/^(#|\s*$)/.test(line) && !/^\s+\S/.test(line)) {
      pending.push(line);
    } else {
      body.push(...pending, line);
      pending = [];
    }
  }
  flush();
  return sections;
}

/**
 * Adds the default `areas:`, `rules:` and `hooks:` sections to `.reg/config.yaml` when missing.
 * Returns true when the file changed.
 */
export function ensureRegistryConfig(configPath: string): boolean {
  const current = readConfigText(configPath);
  const data = readConfigFile(configPath);
  const defaults = topLevelSections(readFileSync(join(templatesDir(), 'config.yaml'), 'utf8'));
  const add: string[] = [];
  for (const [key, section] of defaults) {
    if (!(key in data)) add.push(section);
  }
  if (add.length === 0) return false;
  const sep = current === '' || current.endsWith('\n\n') ? '' : current.endsWith('\n') ? '\n' : '\n\n';
  writeFileAtomicSync(configPath, current + sep + add.join('\n'));
  return true;
}

/** What ensureAreaLayout writes through: the work-tree gateway (src/workspace/safe-fs.ts), by repo-relative path. */
export interface TreeWriter {
  ensureDir(rel: string): string;
  writeFile(rel: string, data: string): void;
}

/**
 * Creates each area directory with its `template.card.md` and `.gitignore` (missing lines only).
 * Idempotent. Returns the repo-relative paths created or changed.
 */
export function ensureAreaLayout(tree: TreeWriter, config: Record<string, unknown>): string[] {
  if (!isPlainObject(config)) return [];
  const { areas } = registryPolicy(config);
  const changed: string[] = [];
  for (const area of areas) {
    const dir = tree.ensureDir(area.name);
    if (area.template === `${area.name}/${TEMPLATE_FILE}`) {
      if (!existsSync(join(dir, TEMPLATE_FILE))) {
        tree.writeFile(`${area.name}/${TEMPLATE_FILE}`, shippedTemplate(area));
        changed.push(`${area.name}/${TEMPLATE_FILE}`);
      }
    }
    const gi = join(dir, '.gitignore');
    const text = readGitignoreText(gi, `${area.name}/.gitignore`);
    const next = mergeGitignore(text, areaGitignore(area.mode));
    if (next !== undefined) {
      tree.writeFile(`${area.name}/.gitignore`, next);
      changed.push(`${area.name}/.gitignore`);
    }
  }
  return changed;
}

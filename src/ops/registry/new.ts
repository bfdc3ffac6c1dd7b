import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { usageError } from '../../errors.js';
import { hasControlChar } from '../../data/path-rules.js';
import { areaOf, registryPolicy, type AreaMode } from '../../policy/areas.js';
import { cardFileName, renderTemplate } from '../../policy/cards.js';
import { shippedTemplate } from '../../policy/layout.js';
import { openRepo, repoRelative } from '../../repo.js';
import { workTree } from '../../workspace/safe-fs.js';
import { guardEntryName } from './entry-name.js';
import { readCardTextIfAny } from './registry-scan.js';

export interface NewEntryOptions {
  /** `<area>/<name>` (relative to the current directory). */
  target: string;
  /** Create the card even when the name breaks the naming rule. */
  force?: boolean;
}

export interface NewEntryResult {
  area: string;
  mode: AreaMode;
  name: string;
  /** Repo-relative entry path. */
  path: string;
  /** Repo-relative card path. */
  card: string;
  createdDir: boolean;
  /** The entry is an existing single file (named with its extension; the rule judges the stem). */
  isFile: boolean;
  createdCard: boolean;
  warnings: string[];
  /** Suggested next commands. */
  next: string[];
}

/** Starts a registry entry: creates `<area>/<name>/` and `<area>/<name>.card.md` from the area's template. */
export async function newEntry(ctx: Context, options: NewEntryOptions): Promise<NewEntryResult> {
  const repo = openRepo(ctx);
  const { areas } = registryPolicy(repo.config.data);
  if (areas.length === 0) throw usageError('new.no-areas', 'no registry areas are configured', { hint: 'run `reg init` to write the default layout, or add `areas:` to .reg/config.yaml' });
  const rel = repoRelative(repo, resolve(ctx.cwd, options.target.replace(/\/+$/, '')), options.target);
  const hit = areaOf(areas, rel);
  if (!hit || hit.rest === '' || hit.rest.includes('/')) {
    throw usageError('new.bad-target', `${options.target} is not <area>/<name>`, { hint: `areas: ${areas.map((a) => a.name).join(', ')}; e.g. reg new ${areas[0]!.name}/my-entry` });
  }
  const { area, rest: name } = hit;
  if (hasControlChar(name)) {
    throw usageError('new.control-char', `${JSON.stringify(name)}: an entry name may not contain control characters (newline, tab, escape...)`, {
      hint: 'choose a plain name, e.g. reg new raw_datasets/ocr-pages',
    });
  }
  if (name.endsWith('.card.md') || name.endsWith('.dvc') || name.startsWith('.') || name === 'template.card.md') {
    throw usageError('new.bad-name', `${name} is not an entry name`, { hint: 'name the entry, not its card or pointer: reg new raw_datasets/ocr-pages' });
  }
  const tree = workTree(repo);
  const entryAbs = join(repo.root, ...rel.split('/'));
  // An existing file is a file entry (judged by its stem, like reg check does); otherwise a directory is created.
  const isFile = existsSync(entryAbs) && statSync(entryAbs).isFile();
  const warnings = guardEntryName(area, name, { isFile, force: options.force, code: 'new.naming' });
  const cardRel = `${area.name}/${cardFileName(name)}`;
  const cardAbs = join(repo.root, ...cardRel.split('/'));
  const createdDir = !isFile && !existsSync(entryAbs);
  // The template is read (a symlinked one refused) before anything is created.
  const needsCard = !existsSync(cardAbs);
  const own = needsCard ? readCardTextIfAny(join(repo.root, ...area.template.split('/')), area.template) : undefined;
  if (!isFile) tree.ensureDir(rel);
  let createdCard = false;
  if (needsCard) {
    if (own === undefined) warnings.push(`${area.template} does not exist; used the built-in template (restore it with: reg init)`);
    tree.writeFile(cardRel, renderTemplate(own ?? shippedTemplate(area), { name, area: area.name, date: new Date().toISOString().slice(0, 10) }));
    createdCard = true;
  }
  const next: string[] = [`edit ${cardRel}`];
  const putData = isFile ? '' : `put the data in ${rel}/ then: `;
  if (area.mode === 'versioned') next.push(`${putData}reg add ${rel}`, `git add ${cardRel} ${rel}.dvc ${area.name}/.gitignore && git commit`);
  else if (area.mode === 'synced') next.push(`${putData}reg sync push ${rel}`, `git add ${cardRel} && git commit`);
  else if (!isFile) next.push(`put the data in ${rel}/ (it stays on this machine)`);
  return { area: area.name, mode: area.mode, name, path: rel, card: cardRel, createdDir, isFile, createdCard, warnings, next };
}

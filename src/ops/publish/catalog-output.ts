import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { usageError } from '../../errors.js';
import { MAX_SITE_INDEX_BYTES, SITE_INDEX_FILE, listedSiteFiles } from '../../catalog/site.js';
import { readRegularFileSync } from '../../fsutil.js';

/** The nearest existing ancestor of `abs`, resolved through symlinks, with the rest appended. */
function realish(abs: string): string {
  let dir = abs;
  const rest: string[] = [];
  while (!existsSync(dir)) {
    const parent = dirname(dir);
    if (parent === dir) break;
    rest.unshift(dir.slice(parent.length).replace(/^[\\/]+/, ''));
    dir = parent;
  }
  return join(realpathSync(dir), ...rest);
}

/**
 * Checks the directory `reg catalog build -o` names, once, before anything is written: never inside
 * a `.git` directory or the repository's `.reg/` (also through symlinks), never the repository or a
 * directory holding it; an existing directory must be empty or hold a catalog reg built. Returns the
 * files that build listed (its `.reg-catalog.json`), so files no longer produced can be removed.
 * The writes themselves go through the confinement layer (outputTree in src/workspace/safe-fs.ts).
 */
export function checkOutputDir(repoRoot: string, regDir: string, outAbs: string): { previous: string[] } {
  const real = realish(resolve(outAbs));
  if (real.split(sep).some((p) => p.toLowerCase() === '.git')) {
    throw usageError('catalog.output-in-git', `the output directory ${outAbs} is inside a .git directory`, { hint: 'build the site somewhere else, e.g. -o site/' });
  }
  const realReg = realish(regDir);
  const relToReg = relative(realReg, real);
  if (relToReg === '' || (!relToReg.startsWith('..') && !relToReg.startsWith(sep) && !/^[A-Za-z]:/.test(relToReg))) {
    throw usageError('catalog.output-in-reg', `the output directory ${outAbs} is inside ${regDir}, which belongs to reg`, { hint: 'build the site somewhere else, e.g. -o site/' });
  }
  const relToRepo = relative(real, realish(repoRoot));
  if (relToRepo === '' || (!relToRepo.startsWith('..') && !relToRepo.startsWith(sep))) {
    throw usageError('catalog.output-is-repo', `the output directory ${outAbs} is the repository or contains it`, { hint: 'build the site into its own directory, e.g. -o site/' });
  }
  const st = lstatSync(real, { throwIfNoEntry: false });
  if (st === undefined) return { previous: [] };
  if (!st.isDirectory()) throw usageError('catalog.output-not-dir', `${outAbs} exists and is not a directory`, { hint: 'name a new or empty directory with -o' });
  const names = readdirSync(real);
  if (names.length === 0) return { previous: [] };
  const marker = join(real, SITE_INDEX_FILE);
  if (!lstatSync(marker, { throwIfNoEntry: false })?.isFile()) {
    throw usageError('catalog.output-not-empty', `${outAbs} is not empty and holds no catalog built by reg (no ${SITE_INDEX_FILE})`, { hint: 'name a new or empty directory with -o; reg only replaces a catalog it built' });
  }
  const listing = readRegularFileSync(marker, { maxBytes: MAX_SITE_INDEX_BYTES });
  if (listing === undefined) {
    throw usageError('catalog.output-bad-index', `${join(outAbs, SITE_INDEX_FILE)} is larger than 64 MiB (or unreadable): not a site index reg wrote`, { hint: 'name a new or empty directory with -o; reg only replaces a catalog it built' });
  }
  return { previous: listedSiteFiles(listing) };
}

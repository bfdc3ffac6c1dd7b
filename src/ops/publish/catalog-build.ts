import { lstatSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context } from '../../context.js';
import { openRepo } from '../../repo.js';
import { RegError } from '../../errors.js';
import { readRegularFileSync, yieldToEventLoop } from '../../fsutil.js';
import { SITE_INDEX_FILE, renderSite, type SiteFile } from '../../catalog/site.js';
import { catalogModel, type CatalogSourceOptions } from './catalog-source.js';
import { outputTree } from '../../workspace/safe-fs.js';
import { checkOutputDir } from './catalog-output.js';

export interface CatalogBuildOptions extends CatalogSourceOptions {
  /** The output directory (relative to the cwd): new, empty, or a catalog reg built before. */
  output: string;
}

export interface CatalogBuildResult {
  output: string;
  rev: string;
  commit?: string;
  entries: number;
  /** Files the site has. */
  files: number;
  /** Files written because they were new or changed. */
  written: number;
  unchanged: number;
  /** Files of the previous build that are no longer part of the site. */
  removed: number;
  bytes: number;
}

/** The site in memory: the model gathered from Git, rendered (see catalogModel and renderSite). */
export async function catalogSite(ctx: Context, options: CatalogSourceOptions): Promise<{ files: SiteFile[]; rev: string; commit?: string; entries: number }> {
  const model = await catalogModel(ctx, options);
  return { files: renderSite(model), rev: model.source.rev, ...(model.source.commit ? { commit: model.source.commit } : {}), entries: model.entries.length };
}

/**
 * `reg catalog build`: writes the static site. Files whose bytes did not change are not
 * rewritten, files of the previous build that the site no longer has are removed, and the
 * `.reg-catalog.json` listing every file is written last.
 */
export async function catalogBuild(ctx: Context, options: CatalogBuildOptions): Promise<CatalogBuildResult> {
  const repo = openRepo(ctx);
  const outAbs = resolve(ctx.cwd, options.output);
  const { previous } = checkOutputDir(repo.root, repo.regDir, outAbs);
  const site = await catalogSite(ctx, options);
  // The confinement layer rooted at the output: plain relative paths only, never through a
  // symlink, never into .git/.reg (also when the output is inside the work tree).
  const { fs, prefix } = outputTree(repo, outAbs);
  // What the output holds at `rel` against the site's bytes: a file of another size differs
  // unread (a commit can make one of gigabytes: git stores zeros in a few MiB).
  const current = (rel: string, want: Buffer): 'same' | 'differs' | undefined => {
    const abs = fs.existing(prefix + rel);
    const st = abs === undefined ? undefined : lstatSync(abs, { throwIfNoEntry: false });
    if (abs === undefined || !st?.isFile()) return undefined;
    if (st.size !== want.length) return 'differs';
    return readRegularFileSync(abs, { maxBytes: want.length })?.equals(want) ? 'same' : 'differs';
  };
  // A file the previous build did not list is someone else's: never overwritten.
  const listed = new Set(previous);
  const changed: SiteFile[] = [];
  const foreign: string[] = [];
  const fresh = new Set<string>();
  let bytes = 0;
  for (const f of site.files) {
    bytes += f.data.length;
    const old = current(f.path, f.data);
    if (old === 'same') continue;
    if (old !== undefined && !listed.has(f.path) && f.path !== SITE_INDEX_FILE) foreign.push(f.path);
    if (old === undefined) fresh.add(f.path);
    changed.push(f);
  }
  if (foreign.length > 0) {
    throw new RegError('catalog.output-foreign-file', 'conflict', `${outAbs} holds ${foreign.length === 1 ? 'a file' : `${foreign.length} files`} that no earlier catalog build wrote: ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}`, {
      hint: 'move those files away or build into a new directory; reg only replaces files of a catalog it built',
      details: { files: foreign },
    });
  }
  // Not fsynced: the site is derived, and the next build compares every file's bytes anyway. The
  // site index is written last, after the files it lists are written and the stale ones removed,
  // so it never lists a file that is not there nor misses one a build left.
  const write = (f: SiteFile) => fs.writeFile(prefix + f.path, f.data, 0o666, false);
  // A build that fails (disk full) or is interrupted removes the files it created, which no site
  // index lists: a first build leaves no half site, and the next build does not take them for
  // someone else's files. Ctrl-C is seen between batches of writes.
  const created: string[] = [];
  try {
    let n = 0;
    for (const f of changed) {
      if (f.path === SITE_INDEX_FILE) continue;
      if (++n % 64 === 0) await yieldToEventLoop();
      ctx.signal?.throwIfAborted();
      write(f);
      if (fresh.has(f.path)) created.push(f.path);
    }
  } catch (err) {
    for (const p of created) fs.remove(prefix + p);
    fs.removeEmptyDirs(parentDirs(created, prefix));
    throw err;
  }
  const produced = new Set(site.files.map((f) => f.path));
  const stale = previous.filter((p) => !produced.has(p));
  for (const p of stale) fs.remove(prefix + p);
  fs.removeEmptyDirs(parentDirs(stale, prefix));
  for (const f of changed) if (f.path === SITE_INDEX_FILE) write(f);
  const written = changed.length;
  return {
    output: outAbs,
    rev: site.rev,
    ...(site.commit ? { commit: site.commit } : {}),
    entries: site.entries,
    files: site.files.length,
    written,
    unchanged: site.files.length - written,
    removed: stale.length,
    bytes,
  };
}

/** Every directory above the given site files (prefixed), for removeEmptyDirs. */
function parentDirs(paths: readonly string[], prefix: string): string[] {
  return paths.flatMap((p) => p.split('/').slice(0, -1).map((_, i, parts) => prefix + parts.slice(0, i + 1).join('/')));
}

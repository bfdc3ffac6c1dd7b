import { existsSync, lstatSync, statSync } from 'node:fs';
import { basename, posix, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { addGitignoreLine, gitignoreLine } from '../../data/gitignore.js';
import { isLegacy, nameSurvivesPointer, parsePointer, serializePointer, updatePointerText, type PointerOutput } from '../../data/pointer.js';
import { hasControlChar } from '../../data/path-rules.js';
import { RegError, usageError } from '../../errors.js';
import { ignoredPaths } from '../../git/read.js';
import { dvcIgnoreFor } from '../../workspace/dvcignore.js';
import { assertGitignoreFile, readGitignoreText, removeStaleTemps } from '../../fsutil.js';
import { openRepo, repoRelative, type Repo } from '../../repo.js';
import { areaOf, registryPolicy } from '../../policy/areas.js';
import { workTree, type SafeFs } from '../../workspace/safe-fs.js';
import { POINTER_SUFFIX, assertPointerFile, readPointerBytesIfAny, scanOutputs, type TrackedOutput } from './outputs.js';
import { linkWorkspaceToCache } from './link.js';
import { guardEntryName } from '../registry/entry-name.js';
import { scanWorkspace, type WorkspaceState } from './scan.js';

export interface AddOptions {
  targets: string[];
}

export interface AddedOutput {
  path: string;
  pointer: string;
  oid: string;
  size: number;
  nfiles?: number;
  /** True when the pointer was created or its content changed. */
  changed: boolean;
  hashedFiles: number;
  hashedBytes: number;
  /** Objects newly written to the cache. */
  storedObjects: number;
}

export interface AddResult {
  outputs: AddedOutput[];
  gitignores: string[];
  /** Naming-rule warnings for new entries (an error-severity breach refuses the add). */
  warnings: string[];
}

interface PlannedAdd {
  target: string;
  dataAbs: string;
  dataRel: string;
  pointerAbs: string;
}

/** Hashes data into the cache and writes its `.dvc` pointer and `.gitignore` line. */
export async function add(ctx: Context, options: AddOptions): Promise<AddResult> {
  if (options.targets.length === 0) throw usageError('add.no-targets', 'nothing to add', { hint: 'name a file or directory: reg add raw_datasets/x' });
  const repo = openRepo(ctx);
  const warnings: string[] = [];
  const fs = workTree(repo);
  const planned = await planAdds(repo, ctx, fs, options.targets, warnings);
  removeStaleTemps(repo.cache.root);
  // As DVC: no line when Git already ignores the data through another rule (one git call for all).
  const alreadyIgnored = await ignoredPaths(repo.root, planned.map((p) => p.dataRel));
  const outputs: AddedOutput[] = [];
  const gitignores = new Set<string>();
  for (const p of planned) {
    ctx.signal?.throwIfAborted();
    const { added, pointerIsNew } = await addOne(repo, ctx, fs, p, warnings);
    outputs.push(added);
    let giRel: string | undefined;
    try {
      giRel = ignoreData(fs, p.dataRel, alreadyIgnored.has(p.dataRel));
    } catch (err) {
      // A new pointer whose data Git does not ignore (the line could not be written: a full disk) would have `git add -A` commit the data: it goes again.
      if (pointerIsNew) fs.remove(added.pointer);
      throw err;
    }
    if (giRel !== undefined) gitignores.add(giRel);
    const dirRel = posix.dirname(p.dataRel);
    fs.removeStaleTemps(dirRel === '.' ? '' : dirRel);
  }
  return { outputs, gitignores: [...gitignores], warnings };
}

/** The `.gitignore` that ignores `dataRel`: the one in its directory. */
export function gitignoreOf(dataRel: string): string {
  const dirRel = posix.dirname(dataRel);
  return dirRel === '.' ? '.gitignore' : `${dirRel}/.gitignore`;
}

/**
 * Adds an output's line to the `.gitignore` next to its data (as DVC: no line when Git already
 * ignores the data through another rule). Returns that `.gitignore` when it holds the line.
 */
export function ignoreData(fs: SafeFs, dataRel: string, alreadyIgnored: boolean): string | undefined {
  const giRel = gitignoreOf(dataRel);
  const gi = fs.existing(giRel);
  const text = gi === undefined ? '' : readGitignoreText(gi, giRel);
  const next = addGitignoreLine(text, gitignoreLine(posix.basename(dataRel)));
  if (next === text) return giRel;
  if (alreadyIgnored) return undefined;
  fs.writeFile(giRel, next);
  return giRel;
}

async function planAdds(repo: Repo, ctx: Context, fs: SafeFs, targets: string[], warnings: string[]): Promise<PlannedAdd[]> {
  const { outputs: existing, invalid } = await scanOutputs(repo);
  for (const bad of invalid) ctx.progress({ type: 'log', level: 'warn', message: `ignoring ${bad.pointerRel}: ${bad.error.message}` });
  const areas = registryPolicy(repo.config.data).areas;
  const planned: PlannedAdd[] = [];
  for (const target of targets) {
    let abs = resolve(ctx.cwd, target.replace(/\/+$/, ''));
    if (abs.endsWith(POINTER_SUFFIX) && existsSync(abs) && lstatSync(abs).isFile()) {
      const own = existing.find((o) => o.pointerAbs === abs);
      if (own) abs = own.dataAbs;
    }
    const rel = repoRelative(repo, abs, target);
    if (rel === '') throw usageError('add.repo-root', 'cannot add the repository root itself', { hint: 'add a directory inside it, e.g. raw_datasets/x' });
    if (fs.problem(rel)?.code === 'path.forbidden') {
      throw usageError('add.internal-path', `${target} is inside reg's or Git's own directory`, { hint: 'add your data, not .reg/, .dvc/ or .git/' });
    }
    if (!existsSync(abs)) throw usageError('add.missing', `${target} does not exist`, { hint: 'check the path (it is relative to the current directory)' });
    if (rel.includes('\uFFFD')) throw usageError('add.non-utf8-name', `${target}: the path is not valid UTF-8`, { hint: 'rename it to a UTF-8 name' });
    if (!nameSurvivesPointer(basename(abs))) {
      throw usageError('add.unrepresentable-name', `${JSON.stringify(basename(abs))}: DVC's .dvc format cannot store this name (it would read back as another name)`, {
        hint: 'rename it; a U+0085 (NEL) character inside a name is read back as a space',
      });
    }
    if (hasControlChar(rel)) {
      throw usageError('add.control-char', `${JSON.stringify(rel)}: the name contains a control character (newline, tab, escape...)`, {
        hint: 'rename it: such names break .gitignore lines and terminals',
      });
    }
    const obstacle = fs.obstacleAbove(rel);
    if (obstacle?.symlink) {
      throw usageError('add.through-symlink', `${target} is reached through ${obstacle.path}, a symbolic link`, {
        hint: 'reg writes pointers only into real directories of the repository: add the data where it really is, or replace the link by a directory',
      });
    }
    const st = lstatSync(abs);
    if (st.isSymbolicLink() && statSync(abs).isDirectory()) {
      throw usageError('add.symlinked-dir', `${target} is a symbolic link to a directory`, { hint: 'reg does not follow links to directories (DVC neither): add the directory it points to, inside the repository' });
    }
    if (dvcIgnoreFor(repo.root, rel).outputIgnored(st.isDirectory())) {
      throw usageError('add.dvcignored', `${target} is ignored by a .dvcignore rule`, { hint: 'remove the rule from .dvcignore, or add another path (DVC refuses it too)' });
    }
    if (rel.endsWith(POINTER_SUFFIX)) throw usageError('add.pointer', `${target} is a pointer file`, { hint: 'add the data it describes instead' });
    const inArea = areaOf(areas, rel);
    if (inArea && inArea.area.mode !== 'versioned') {
      const hint =
        inArea.area.mode === 'synced'
          ? `${inArea.area.name}/ is a synced area: its data is mirrored unversioned with \`reg sync push ${rel}\``
          : `${inArea.area.name}/ is a local area: its data never leaves this machine (move it to a versioned area to version it)`;
      throw usageError('add.unversioned-area', `${target} is in the ${inArea.area.mode} area ${inArea.area.name}/, where data is not versioned`, { hint });
    }
    const pointerAbs = abs + POINTER_SUFFIX;
    // A directory, symlink or device where the pointer goes is refused before any hashing.
    assertPointerFile(pointerAbs, rel + POINTER_SUFFIX);
    // And where its .gitignore line goes (written after the pointer): a symlink there is refused now, not half-way.
    const giAbs = fs.existing(gitignoreOf(rel));
    if (giAbs !== undefined) assertGitignoreFile(giAbs, gitignoreOf(rel));
    const elsewhere = existing.find((o) => o.dataRel === rel && o.pointerAbs !== pointerAbs);
    if (elsewhere) {
      throw usageError('add.tracked-elsewhere', `${target} is already tracked by ${elsewhere.pointerRel}`, {
        hint: `reg updates only <name>.dvc pointers with one output: remove ${rel} from ${elsewhere.pointerRel} first`,
      });
    }
    if (inArea && !existsSync(pointerAbs)) {
      warnings.push(...guardEntryName(inArea.area, inArea.rest, { isFile: lstatSync(abs).isFile(), code: 'add.naming' }));
    }
    assertNoOverlap(target, rel, existing, planned);
    planned.push({ target, dataAbs: abs, dataRel: rel, pointerAbs });
  }
  const tracked = await repo.git.trackedUnder(planned.map((p) => p.dataRel));
  if (tracked.length > 0) {
    const shown = tracked.slice(0, 5).join(', ') + (tracked.length > 5 ? `, ... (${tracked.length} files)` : '');
    throw usageError('add.git-tracked', `Git already tracks ${shown}`, {
      hint: `stop tracking it in Git first: git rm -r --cached ${planned.find((p) => tracked.some((t) => t === p.dataRel || t.startsWith(p.dataRel + '/')))?.dataRel ?? ''}`,
    });
  }
  return planned;
}

function assertNoOverlap(target: string, rel: string, existing: TrackedOutput[], planned: PlannedAdd[]): void {
  const others = [
    ...existing.filter((o) => o.dataRel !== rel).map((o) => ({ rel: o.dataRel, via: o.pointerRel })),
    ...planned.map((p) => ({ rel: p.dataRel, via: `another argument (${p.target})` })),
  ];
  for (const o of others) {
    if (o.rel === rel) throw usageError('add.duplicate', `${target} is named twice`, { hint: 'name each path once' });
    if (rel.startsWith(o.rel + '/')) {
      throw usageError('add.overlap', `${target} is inside ${o.rel}, which is already tracked by ${o.via}`, {
        hint: `re-add the whole output instead: reg add ${o.rel}`,
      });
    }
    if (o.rel.startsWith(rel + '/')) {
      throw usageError('add.overlap', `${target} contains ${o.rel}, which is already tracked by ${o.via}`, {
        hint: `outputs may not overlap; remove ${o.via} first or add a different directory`,
      });
    }
  }
}

/** Adds one planned output; `pointerIsNew`: there was no pointer before (this wrote it). */
async function addOne(repo: Repo, ctx: Context, fs: SafeFs, p: PlannedAdd, warnings: string[]): Promise<{ added: AddedOutput; pointerIsNew: boolean }> {
  const pointerRel = repoRelative(repo, p.pointerAbs);
  const oldText = readPointerBytesIfAny(p.pointerAbs, pointerRel)?.toString('utf8');
  if (oldText !== undefined) {
    const unchanged = await unchangedLegacyOutput(repo, ctx, p, oldText, pointerRel);
    if (unchanged) return { added: unchanged, pointerIsNew: false };
  }
  const state = await scanWorkspace(repo, ctx, p.dataAbs, p.dataRel, { legacy: false, store: true, label: p.dataRel });
  if (!state.exists || state.oid === undefined) throw new RegError('add.vanished', 'failed', `${p.target} disappeared while adding it`);
  for (const t of state.staleTemps) fs.remove(`${p.dataRel}/${t}`);
  for (const link of state.filesLinkedOutside) {
    const shown = link.relpath === '' ? p.dataRel : `${p.dataRel}/${link.relpath}`;
    warnings.push(`${shown} is a symbolic link to ${link.target}, outside the repository: its content was added and reg push will upload it (links to files are followed, as in DVC); if you did not make that link, remove it and run reg add again before pushing`);
  }
  if (state.isDir) {
    // The scan stored the manifest unless it knew the oid from an earlier scan.
    if (!repo.cache.has(state.oid)) repo.cache.insertManifestOf(state.oid, state.files);
    // The scan stored every file it hashed and checked that the others are cached: the next
    // status need not read the manifest to find the tree complete.
    repo.cache.markComplete(state.oid);
  }
  const next: PointerOutput = {
    md5: state.oid,
    size: state.size,
    ...(state.isDir ? { nfiles: state.nfiles } : {}),
    ...(state.isexec ? { isexec: true } : {}),
    hash: 'md5',
    path: basename(p.dataAbs),
  };
  const text = oldText === undefined ? serializePointer(next) : updatePointerText(oldText, next, pointerRel);
  const changed = text !== oldText;
  if (changed) fs.writeFile(pointerRel, text);
  await linkWorkspaceToCache(repo, fs, p.dataRel, state);
  return { added: addedOutput(p, pointerRel, state, state.oid, changed), pointerIsNew: oldText === undefined };
}

function addedOutput(p: PlannedAdd, pointerRel: string, state: WorkspaceState, oid: string, changed: boolean): AddedOutput {
  return {
    path: p.dataRel,
    pointer: pointerRel,
    oid,
    size: state.size,
    ...(state.isDir ? { nfiles: state.nfiles } : {}),
    changed,
    hashedFiles: state.hashedFiles,
    hashedBytes: state.hashedBytes,
    storedObjects: state.storedObjects,
  };
}

/** DVC keeps a legacy (DVC 2) pointer byte-identical when its data has not changed; so do we. */
async function unchangedLegacyOutput(repo: Repo, ctx: Context, p: PlannedAdd, oldText: string, pointerRel: string): Promise<AddedOutput | undefined> {
  const old = parsePointer(oldText, pointerRel).outs[0];
  if (!old || !isLegacy(old) || old.md5 === undefined) return undefined;
  const state = await scanWorkspace(repo, ctx, p.dataAbs, p.dataRel, { legacy: true, store: false, label: p.dataRel });
  if (state.oid !== old.md5) return undefined;
  return addedOutput(p, pointerRel, state, old.md5, false);
}

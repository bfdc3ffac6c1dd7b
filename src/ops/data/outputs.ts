import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isLegacy, parsePointer, type PointerOutput } from '../../data/pointer.js';
import type { Context } from '../../context.js';
import { usageError, type RegError } from '../../errors.js';
import { areaOf, registryPolicy, type Area } from '../../policy/areas.js';
import { isDirectory, repoRelative, type Repo } from '../../repo.js';

/** A data output as described by one `.dvc` pointer file. */
export interface TrackedOutput {
  /** Repo-relative path of the `.dvc` file. */
  pointerRel: string;
  pointerAbs: string;
  /** Repo-relative path of the data. */
  dataRel: string;
  dataAbs: string;
  out: PointerOutput;
  legacy: boolean;
  isDir: boolean;
  text: string;
}

export const POINTER_SUFFIX = '.dvc';

export function loadPointer(repo: Repo, pointerAbs: string): TrackedOutput {
  const pointerRel = repoRelative(repo, pointerAbs);
  const text = readFileSync(pointerAbs, 'utf8');
  const pointer = parsePointer(text, pointerRel);
  if (pointer.outs.length !== 1) {
    throw usageError('pointer.multi-out', `${pointerRel}: has ${pointer.outs.length} outputs; reg supports one output per .dvc file`, {
      hint: 'split it into one .dvc file per output (dvc add writes one per file)',
    });
  }
  const out = pointer.outs[0]!;
  const dataAbs = resolve(dirname(pointerAbs), out.path);
  const dataRel = repoRelative(repo, dataAbs, `${pointerRel}: path ${out.path}`);
  return {
    pointerRel,
    pointerAbs,
    dataRel,
    dataAbs,
    out,
    legacy: isLegacy(out),
    isDir: out.md5 !== undefined ? out.md5.endsWith('.dir') : isDirectory(dataAbs),
    text,
  };
}


/** Every `.dvc` pointer in the work tree (tracked or not, but not git-ignored). */
export async function allOutputs(repo: Repo): Promise<TrackedOutput[]> {
  const files = await repo.git.listFiles(`*${POINTER_SUFFIX}`);
  return files
    .filter((f) => f.endsWith(POINTER_SUFFIX) && !f.startsWith('.reg/') && !f.startsWith('.dvc/'))
    .sort()
    .map((f) => loadPointer(repo, join(repo.root, f)));
}

/** What the command resolving targets will do with them: decides the hint for a target in a synced area. */
export type TargetPurpose = 'upload' | 'download' | 'inspect';

/**
 * Resolves command-line targets: a data path, its `.dvc` file, or a directory holding pointers
 * (every output below it). No targets means every output in the repository.
 */
export async function resolveOutputs(repo: Repo, ctx: Context, targets: readonly string[], purpose: TargetPurpose = 'inspect'): Promise<TrackedOutput[]> {
  if (targets.length === 0) return allOutputs(repo);
  const seen = new Map<string, TrackedOutput>();
  let all: TrackedOutput[] | undefined;
  for (const target of targets) {
    const abs = resolve(ctx.cwd, target.replace(/\/+$/, '') || '/');
    const rel = repoRelative(repo, abs, target);
    const pointerAbs = abs.endsWith(POINTER_SUFFIX) ? abs : abs + POINTER_SUFFIX;
    if (existsSync(pointerAbs) && !isDirectory(pointerAbs)) {
      const o = loadPointer(repo, pointerAbs);
      seen.set(o.pointerRel, o);
      continue;
    }
    all ??= await allOutputs(repo);
    const prefix = rel === '' ? '' : rel + '/';
    const under = all.filter((o) => o.dataRel.startsWith(prefix) || o.dataRel === rel);
    const containing = all.find((o) => rel.startsWith(o.dataRel + '/'));
    if (under.length === 0) {
      const unversioned = areaOf(registryPolicy(repo.config.data).areas, rel);
      if (unversioned && unversioned.area.mode !== 'versioned') throw unversionedTarget(target, rel, unversioned.area, purpose);
      const hint = containing
        ? `it is inside ${containing.dataRel}; name ${containing.dataRel} (or ${containing.pointerRel}) instead`
        : `track it first with \`reg add ${target}\``;
      throw usageError('target.not-tracked', `${target} is not tracked by reg (no ${basename(pointerAbs)} found)`, { hint });
    }
    for (const o of under) seen.set(o.pointerRel, o);
  }
  return [...seen.values()];
}

function unversionedTarget(target: string, rel: string, area: Area, purpose: TargetPurpose): RegError {
  if (area.mode === 'local') {
    return usageError('target.unversioned-area', `${target} is in the local area ${area.name}/, whose data never leaves this machine`, {
      hint: 'move the entry to a versioned area (reg add) or a synced area (reg sync push) to share it',
    });
  }
  const push = `reg sync push ${rel}`;
  const pull = `reg sync pull ${rel}`;
  const hint = purpose === 'upload' ? `upload it with: ${push}` : purpose === 'download' ? `download it with: ${pull}` : `see it in the overview (reg status), or compare with ${push} --dry-run / ${pull} --dry-run`;
  return usageError('target.unversioned-area', `${target} is in the synced area ${area.name}/: its data is mirrored with reg sync, not versioned by pointers`, { hint });
}

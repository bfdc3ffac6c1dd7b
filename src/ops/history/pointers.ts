import { join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { isLegacy, parsePointer, pointerTooLarge, type PointerOutput } from '../../data/pointer.js';
import { RegError, configError, isMissingPath, isRegError, usageError } from '../../errors.js';
import { BlobReader, resolveCommitsOrThrow, treeFiles } from '../../git/history.js';
import { repoRelative, type Repo } from '../../repo.js';
import { POINTER_SUFFIX, pointerDataRel, readPointerFile } from '../data/outputs.js';
import { pathProblem, RESERVED_IN_REPO } from '../../workspace/safe-fs.js';

/**
 * Pointers as history holds them: read from a commit's tree (or the work tree) and treated as
 * untrusted text. A pointer that does not parse, or that names a path outside the repository,
 * becomes an error for that one pointer; the others are unaffected.
 */
export interface HistoryOutput {
  /** Repo-relative path of the `.dvc` file. */
  pointerRel: string;
  /** Repo-relative path of the data it describes. */
  dataRel: string;
  out: PointerOutput;
  legacy: boolean;
  isDir: boolean;
}

/** One pointer file at a revision: its output, or why it could not be read. */
export interface PointerAt {
  pointerRel: string;
  /** Git blob id (commits only). */
  blob?: string;
  output?: HistoryOutput;
  error?: RegError;
  /** A work-tree pointer that was read but cannot be used: its text (gc keeps the oids it names). */
  text?: string;
}

/** A place pointers are read from: a commit, or the work tree (with its uncommitted changes). */
export type Side = { kind: 'commit'; rev: string; commit: string } | { kind: 'workspace' };

export function describeSide(side: Side): string {
  return side.kind === 'workspace' ? 'the workspace' : side.rev === side.commit ? side.commit.slice(0, 10) : side.rev;
}

/** Pointer files DVC and reg consider: `*.dvc` outside `.dvc/` and `.reg/`. */
export function isPointerPath(path: string): boolean {
  return path.endsWith(POINTER_SUFFIX) && !path.startsWith('.dvc/') && !path.startsWith('.reg/') && path !== POINTER_SUFFIX;
}

/**
 * The repo-relative data path a pointer at `pointerRel` names with `outPath`, refusing any path
 * that leaves the repository or points into `.git/` (at any depth), `.reg/` or `.dvc/`: the work
 * tree's rules (pointerDataRel), without the checks that need the disk.
 */
export function historyDataPath(pointerRel: string, outPath: string, shownAs = pointerRel): string {
  return pointerDataRel(pointerRel, outPath, shownAs, (rel) => pathProblem(rel, RESERVED_IN_REPO)?.reason);
}

/** Parses pointer text from history or the work tree into one output (throws a RegError naming the file). */
export function outputFromPointerText(pointerRel: string, text: string, shownAs = pointerRel): HistoryOutput {
  const pointer = parsePointer(text, shownAs);
  if (pointer.outs.length !== 1) {
    throw configError('pointer.multi-out', `${shownAs}: has ${pointer.outs.length} outputs; reg supports one output per .dvc file`, {
      hint: 'split it into one .dvc file per output',
    });
  }
  const out = pointer.outs[0]!;
  // Errors name the commit and line (`x.dvc at 1a2b3c4d5e:5`): a hostile pointer may sit in any version.
  const dataRel = historyDataPath(pointerRel, out.path, pointer.pathLocations?.[0] ?? shownAs);
  return { pointerRel, dataRel, out, legacy: isLegacy(out), isDir: out.md5?.endsWith('.dir') ?? false };
}

function asError(err: unknown): RegError {
  if (isRegError(err)) return err;
  throw err;
}

/**
 * Reads pointers from commits for one command: one `git ls-tree` per commit asked about, blob
 * contents through one `git cat-file --batch`, each distinct (path, blob) parsed once.
 */
export class PointerReader {
  readonly blobs: BlobReader;
  private readonly parsed = new Map<string, PointerAt>();

  constructor(readonly repo: Repo) {
    this.blobs = new BlobReader(repo.root);
  }

  /** Every pointer in a commit's tree (a symlink named `*.dvc` is reported as an error, never followed). */
  async pointersAtCommit(commit: string): Promise<PointerAt[]> {
    const entries = (await treeFiles(this.repo.root, commit, isPointerPath)).filter((e) => e.type === 'blob');
    return Promise.all(entries.map((e) => this.pointerFromBlob(e.path, e.oid, commit, e.mode)));
  }

  /** The pointer at `pointerRel` in a commit, or undefined when the commit has no such file. */
  async pointerAt(commit: string, pointerRel: string): Promise<PointerAt | undefined> {
    const entries = await treeFiles(this.repo.root, commit, (p) => p === pointerRel, [pointerRel]);
    const e = entries.find((x) => x.type === 'blob');
    return e ? this.pointerFromBlob(e.path, e.oid, commit, e.mode) : undefined;
  }

  /** One pointer blob (with its tree mode) as an output, memoised by path, blob and mode. */
  async pointerFromBlob(pointerRel: string, blob: string, commit: string, mode = '100644'): Promise<PointerAt> {
    const key = `${pointerRel}\0${blob}\0${mode}`;
    const known = this.parsed.get(key);
    if (known) return known;
    const shownAs = `${pointerRel} at ${commit.slice(0, 10)}`;
    const content = mode === '120000' ? 'symlink' : await this.blobs.read(blob);
    let at: PointerAt;
    if (content === 'symlink') at = { pointerRel, blob, error: configError('pointer.symlink', `${shownAs} is a symbolic link, not a pointer file`, { hint: 'a .dvc file must be a regular file; this one is corrupt or hostile' }) };
    else if (content === 'missing') at = { pointerRel, blob, error: new RegError('history.missing-blob', 'failed', `${shownAs}: blob ${blob} is missing from the Git object store`, { hint: 'the clone is incomplete (shallow or partial); fetch the full history with git fetch --unshallow' }) };
    else if (content === 'too-large') at = { pointerRel, blob, error: pointerTooLarge(shownAs) };
    else {
      try {
        at = { pointerRel, blob, output: outputFromPointerText(pointerRel, content.toString('utf8'), shownAs) };
      } catch (err) {
        at = { pointerRel, blob, error: asError(err) };
      }
    }
    this.parsed.set(key, at);
    return at;
  }

  /**
   * Pointers at a side: a commit's tree, or the `.dvc` files of the work tree (tracked or not, not
   * ignored). A pointer committed but deleted from the work tree has no work-tree version (as
   * scanOutputs and git status see it: deleted).
   */
  async pointersAt(side: Side): Promise<PointerAt[]> {
    if (side.kind === 'commit') return this.pointersAtCommit(side.commit);
    const files = (await this.repo.git.listFiles(`*${POINTER_SUFFIX}`)).filter(isPointerPath).sort();
    return files.flatMap((pointerRel): PointerAt[] => {
      let text: string;
      try {
        text = readPointerFile(join(this.repo.root, pointerRel), pointerRel);
      } catch (err) {
        if (isMissingPath(err)) return [];
        return [{ pointerRel, error: asError(err) }];
      }
      try {
        return [{ pointerRel, output: outputFromPointerText(pointerRel, text) }];
      } catch (err) {
        return [{ pointerRel, error: asError(err), text }];
      }
    });
  }

  close(): void {
    this.blobs.close();
  }
}

/** Users' revision arguments as sides (one git process for all). */
export async function commitSides(repo: Repo, revs: readonly string[]): Promise<Side[]> {
  const commits = await resolveCommitsOrThrow(repo.root, revs);
  return revs.map((rev, i) => ({ kind: 'commit', rev, commit: commits[i]! }));
}

/** A command-line path (relative to the cwd) as a repo-relative path, `.dvc` and trailing slashes dropped. */
export function targetPath(repo: Repo, ctx: Context, target: string): string {
  const abs = resolve(ctx.cwd, target.replace(/\/+$/, '') || '/');
  const rel = repoRelative(repo, abs, target);
  return rel.endsWith(POINTER_SUFFIX) ? rel.slice(0, -POINTER_SUFFIX.length) : rel;
}

/** How a target relates to the outputs at a side. */
export interface TargetSelection {
  /** Outputs equal to the target or below it. */
  outputs: HistoryOutput[];
  /** When the target is a path inside a directory output: that output and the sub-path. */
  inside?: { output: HistoryOutput; subpath: string };
}

/** The outputs a repo-relative target names among `outputs` ('' names every output). */
export function selectTarget(outputs: readonly HistoryOutput[], rel: string): TargetSelection {
  const prefix = rel === '' ? '' : rel + '/';
  const under = outputs.filter((o) => o.dataRel === rel || o.dataRel.startsWith(prefix) || o.pointerRel === rel + POINTER_SUFFIX);
  if (under.length > 0) return { outputs: under };
  const container = outputs.find((o) => o.isDir && rel.startsWith(o.dataRel + '/'));
  if (container) return { outputs: [container], inside: { output: container, subpath: rel.slice(container.dataRel.length + 1) } };
  return { outputs: [] };
}

export function notTrackedAt(target: string, sides: readonly Side[]): RegError {
  return usageError('target.not-tracked', `${target} is not tracked by reg at ${sides.map(describeSide).join(' or ')}`, {
    hint: 'name a tracked data path or its .dvc file (reg ls --rev REV lists the entries of a revision)',
  });
}

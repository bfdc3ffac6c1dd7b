import { join } from 'node:path';
import { ALL_POINTERS_PATHSPEC, commitsChanging, listRefs, resolveCommitsOrThrow, type RevSelection } from '../../git/history.js';
import type { Repo } from '../../repo.js';
import type { TrackedOutput } from '../data/outputs.js';
import { isPointerPath, type HistoryOutput, type PointerAt, type PointerReader } from './pointers.js';

/** One version of an output found in history: the output its pointer describes, and where it was found. */
export interface FoundVersion {
  output: HistoryOutput;
  /** `<commit> (<refs>)`, `the workspace`, `the index`, ... */
  version: string;
}

/**
 * Collects the versions of outputs in a selection of history (every pointer blob the selected
 * commits left, or the pointers at some tips), each labelled with its commit and the refs there.
 * Pointers that cannot be used are passed to `onError` with their blob (gc still protects what
 * they name).
 */
export class VersionCollector {
  readonly found: FoundVersion[] = [];

  private constructor(
    readonly reader: PointerReader,
    private readonly labels: Map<string, string[]>,
    private readonly onError: (at: PointerAt) => Promise<void> | void,
  ) {}

  static async create(reader: PointerReader, onError: (at: PointerAt) => Promise<void> | void = () => undefined): Promise<VersionCollector> {
    return new VersionCollector(reader, await refLabels(reader.repo), onError);
  }

  /** `a1b2c3d4e5 (main, tag: v1)`. */
  label(commit: string, prefix = ''): string {
    const names = this.labels.get(commit) ?? [];
    return `${prefix}${commit.slice(0, 10)}${names.length ? ` (${names.join(', ')})` : ''}`;
  }

  /** Every pointer blob the commits of a selection left, once per commit that left it (one git log, blobs through one cat-file). */
  async addHistory(sel: RevSelection, prefix = ''): Promise<void> {
    const commits = await commitsChanging(this.reader.repo.root, { ...sel, pathspecs: [ALL_POINTERS_PATHSPEC] });
    const reads: Array<Promise<void>> = [];
    for (const c of commits) {
      for (const ch of c.changes) {
        if (ch.blob === undefined || ch.mode === '120000' || !isPointerPath(ch.path)) continue;
        // Parsed once per distinct blob (PointerReader memoises); every commit that left it is a label.
        reads.push(this.reader.pointerFromBlob(ch.path, ch.blob, c.commit, ch.mode).then((at) => this.add(at, this.label(c.commit, prefix))));
      }
    }
    await Promise.all(reads);
  }

  /** The pointers at one commit (a branch or tag tip, a revision). */
  async addTip(commit: string): Promise<void> {
    for (const at of await this.reader.pointersAtCommit(commit)) await this.add(at, this.label(commit));
  }

  /** The tips of every local branch and/or tag. */
  async addTips(kinds: { branches?: boolean; tags?: boolean }): Promise<void> {
    const tips = await listRefs(this.reader.repo.root, kinds);
    for (const commit of new Set(tips.map((t) => t.commit))) await this.addTip(commit);
  }

  async add(at: PointerAt, version: string): Promise<void> {
    if (at.output) this.found.push({ output: at.output, version });
    else await this.onError(at);
  }
}

/** Commit -> the branch, tag and remote-tracking names pointing at it (for labels). */
async function refLabels(repo: Repo): Promise<Map<string, string[]>> {
  const labels = new Map<string, string[]>();
  for (const t of await listRefs(repo.root, { branches: true, tags: true, remotes: true })) {
    labels.set(t.commit, [...(labels.get(t.commit) ?? []), t.kind === 'tag' ? `tag: ${t.name}` : t.name]);
  }
  return labels;
}

/**
 * A version from history as the output shape the data commands take (paths under the work tree;
 * the pointer text is not kept). The path was validated when the pointer was parsed.
 */
export function asTrackedOutput(repo: Repo, o: HistoryOutput, text = ''): TrackedOutput {
  return {
    pointerRel: o.pointerRel,
    pointerAbs: join(repo.root, ...o.pointerRel.split('/')),
    index: 0,
    dataRel: o.dataRel,
    dataAbs: join(repo.root, ...o.dataRel.split('/')),
    out: o.out,
    legacy: o.legacy,
    isDir: o.isDir,
    text,
  };
}

/** Which versions `reg verify` (and other commands) read from history instead of the work tree. */
export interface HistorySelection {
  /** Every commit of every branch, remote-tracking branch and tag (and HEAD). */
  allCommits?: boolean;
  /** The pointers at these revisions. */
  revs?: string[];
  /** The pointers at the tip of every local branch. */
  allBranches?: boolean;
  /** The pointers at every tag. */
  allTags?: boolean;
}

export function selectsHistory(sel: HistorySelection | undefined): sel is HistorySelection {
  return sel !== undefined && Boolean(sel.allCommits || sel.allBranches || sel.allTags || (sel.revs && sel.revs.length > 0));
}

/**
 * The distinct versions (pointer file + oid) of the selected history, optionally only those at or
 * below repo-relative `targets`, each with every version label it was found at. Pointers that
 * cannot be used are returned as errors (their other versions are unaffected).
 */
export async function versionsOfHistory(reader: PointerReader, sel: HistorySelection, targets: readonly string[]): Promise<{ versions: Array<{ output: HistoryOutput; at: string[] }>; errors: PointerAt[] }> {
  const errors: PointerAt[] = [];
  const c = await VersionCollector.create(reader, (at) => void errors.push(at));
  if (sel.allCommits) await c.addHistory({ all: true, head: true });
  if (sel.allBranches || sel.allTags) await c.addTips({ branches: sel.allBranches, tags: sel.allTags });
  if (sel.revs && sel.revs.length > 0) {
    for (const commit of new Set(await resolveCommitsOrThrow(reader.repo.root, sel.revs))) await c.addTip(commit);
  }
  const byVersion = new Map<string, { output: HistoryOutput; at: string[] }>();
  for (const f of c.found) {
    const o = f.output;
    if (targets.length > 0 && !targets.some((t) => t === '' || o.dataRel === t || o.dataRel.startsWith(t + '/') || o.pointerRel === `${t}.dvc`)) continue;
    const k = `${o.pointerRel}\0${o.out.md5 ?? ''}`;
    const v = byVersion.get(k) ?? { output: o, at: [] };
    if (!v.at.includes(f.version)) v.at.push(f.version);
    byVersion.set(k, v);
  }
  return { versions: [...byVersion.values()], errors: [...new Map(errors.map((e) => [`${e.pointerRel}\0${e.blob ?? ''}`, e])).values()] };
}

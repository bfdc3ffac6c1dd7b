import type { Context } from '../../context.js';
import { RegError, usageError } from '../../errors.js';
import { headCommit, treeFiles } from '../../git/history.js';
import { gitText } from '../../git/read.js';
import { areaOf, CARD_SUFFIX, registryPolicy, type Area } from '../../policy/areas.js';
import { cardTooLarge } from '../../policy/cards.js';
import type { Repo } from '../../repo.js';
import { PointerReader, commitSides, notTrackedAt, selectTarget, targetPath, type HistoryOutput, type Side } from '../history/pointers.js';

/**
 * One committed version of one entry, as the publishing commands need it: its pointer (read from
 * Git as untrusted text), its card at the same commit, the commit's date and author, and the
 * label the release is named with. Nothing is read from the work tree: a release is what was
 * committed.
 */
export interface EntryVersion {
  /** The revision as the user named it (undefined: HEAD). */
  rev?: string;
  commit: string;
  side: Side;
  output: HistoryOutput;
  /** The entry's last path segment (`ocr-pages`, `labels.csv`). */
  entryName: string;
  area?: Area;
  /** Committer date, ISO 8601. */
  date: string;
  /** The commit's author name (the citation's author when the card names none). */
  author: string;
  /** The release version label: the revision made path-safe, or the short commit. */
  label: string;
}

export interface EntryCard {
  /** Repo-relative path of the card. */
  rel: string;
  /** Undefined when the commit has no card for the entry. */
  text?: string;
}

/** The version of the entry `target` names at `rev` (default HEAD). */
export async function entryVersion(repo: Repo, ctx: Context, reader: PointerReader, target: string, rev: string | undefined): Promise<EntryVersion> {
  let side: Side;
  if (rev !== undefined) side = (await commitSides(repo, [rev]))[0]!;
  else {
    const head = await headCommit(repo.root);
    if (head === undefined) throw usageError('publish.no-commit', 'the repository has no commits yet', { hint: 'commit the entry (its .dvc pointer and card) first: a release is a committed version' });
    side = { kind: 'commit', rev: 'HEAD', commit: head };
  }
  if (side.kind !== 'commit') throw new Error('unreachable');
  const rel = targetPath(repo, ctx, target);
  const pointers = await reader.pointersAt(side);
  const own = pointers.find((p) => p.pointerRel === `${rel}.dvc`);
  if (own?.error) throw own.error;
  const outputs = pointers.flatMap((p) => (p.output ? [p.output] : []));
  const sel = selectTarget(outputs, rel);
  if (sel.inside) {
    throw usageError('publish.inside-entry', `${target} is a path inside the entry ${sel.inside.output.dataRel}`, { hint: `publish the whole entry: ${sel.inside.output.dataRel}` });
  }
  const output = sel.outputs.find((o) => o.dataRel === rel || o.pointerRel === `${rel}.dvc`);
  if (output === undefined) {
    if (sel.outputs.length > 0) {
      throw usageError('publish.not-an-entry', `${target} holds ${sel.outputs.length} entries; name one of them`, { hint: `e.g. ${sel.outputs.slice(0, 3).map((o) => o.dataRel).join(', ')}` });
    }
    throw notTrackedAt(target, [side]);
  }
  if (output.out.md5 === undefined) {
    throw new RegError('publish.no-version', 'config', `${output.pointerRel} at ${side.rev} records no content hash`, { hint: 'reg add the entry and commit the pointer, then publish that commit' });
  }
  const [date, author] = (await gitText(repo.root, ['log', '-1', '--format=%cI%x00%an', side.commit])).trim().split('\0');
  const entryName = output.dataRel.slice(output.dataRel.lastIndexOf('/') + 1);
  const area = areaOf(registryPolicy(repo.config.data).areas, output.dataRel)?.area;
  return { ...(rev !== undefined ? { rev } : {}), commit: side.commit, side, output, entryName, ...(area ? { area } : {}), date: date ?? '', author: author ?? '', label: versionLabel(rev, side.commit) };
}

/** `v2` -> `v2`; `release/2024 Q1` -> `release-2024-q1`; no revision or HEAD -> the short commit. */
export function versionLabel(rev: string | undefined, commit: string): string {
  if (rev === undefined || rev === 'HEAD') return commit.slice(0, 10);
  const label = rev.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[-.]+|[-.]+$/g, '');
  return label === '' ? commit.slice(0, 10) : label;
}

/** The entry's card (`<entry>.card.md`) at the version's commit; a symlink or an oversized file is refused. */
export async function cardAt(repo: Repo, reader: PointerReader, version: EntryVersion): Promise<EntryCard> {
  const rel = version.output.dataRel + CARD_SUFFIX;
  const entry = (await treeFiles(repo.root, version.commit, (p) => p === rel, [rel])).find((e) => e.path === rel);
  if (entry === undefined) return { rel };
  const shown = `${rel} at ${version.rev ?? version.commit.slice(0, 10)}`;
  if (entry.mode === '120000' || entry.type !== 'blob') throw new RegError('card.not-a-file', 'config', `${shown} is not a regular file`, { hint: 'a card is a Markdown file; this one is corrupt or hostile' });
  const content = await reader.blobs.read(entry.oid);
  if (content === 'too-large') throw cardTooLarge(shown);
  if (content === 'missing') throw new RegError('history.missing-blob', 'failed', `${shown}: blob ${entry.oid} is missing from the Git object store`, { hint: 'the clone is incomplete; fetch the full history' });
  return { rel, text: content.toString('utf8') };
}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { areaOf, classifyAreaChild, entryNameOf, registryPolicy, CARD_SUFFIX, POINTER_SUFFIX, type Area, type RegistryPolicy } from '../../policy/areas.js';
import { MAX_POINTER_BYTES, parsePointer, pointerTooLarge } from '../../data/pointer.js';
import { cardTooLarge, MAX_CARD_BYTES } from '../../policy/cards.js';
import type { Repo } from '../../repo.js';
import { indexEntries, readBlobs, type IndexEntry } from '../../git/read.js';
import { REG_STATE_PATHSPEC, trackedRegState } from '../../workspace/reg-memo.js';
import { compareCodePoints } from '../../data/manifest.js';
import { readTextRefusingLinks, refuseNonRegularFile } from '../../fsutil.js';
import { readPointerBytesIfAny } from '../data/outputs.js';

/** One entry of an area as seen on disk and (optionally) in the index. */
export interface ScannedEntry {
  area: Area;
  name: string;
  /** `<area>/<name>` */
  path: string;
  cardRel: string;
  /** The card as it would be committed (index with `staged`, else disk); undefined when absent. */
  cardText?: string;
  /** The card exists on disk but not in the index (staged mode only). */
  cardOnlyOnDisk: boolean;
  pointerRel: string;
  pointerText?: string;
  pointerOnlyOnDisk: boolean;
  /** The entry's data exists in the workspace (dir or file). */
  dataOnDisk: boolean;
  /** The entry's data is a single file (on disk, or per its pointer's md5). */
  isFile: boolean;
}

export interface RegistryScan {
  policy: RegistryPolicy;
  entries: ScannedEntry[];
  /** Index entries inside areas (all tracked files, or only the staged ones with `staged`). */
  gitFiles: IndexEntry[];
  /** Areas whose directory does not exist. */
  missingAreas: Area[];
  /** Index paths under `.reg/tmp/`: reg's local state committed (its memos are then not trusted). */
  regStateTracked: string[];
}

function diskChildren(dir: string): Array<{ name: string; isDir: boolean }> {
  try {
    return readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, isDir: d.isDirectory() || (d.isSymbolicLink() && isDir(join(dir, d.name))) }));
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Lists every area's entries: names come from data on disk, pointers and cards (disk, plus the
 * index in staged mode). Card and pointer texts are read from the index in staged mode.
 */
export async function scanRegistry(repo: Repo, options: { staged?: boolean; stagedPaths?: readonly string[]; index?: readonly IndexEntry[] } = {}): Promise<RegistryScan> {
  const policy = registryPolicy(repo.config.data);
  const staged = Boolean(options.staged);
  const areaNames = policy.areas.map((a) => a.name);
  // The whole index, when the caller read it already, holds the areas' entries (in the same order).
  // The same git run lists reg's local state, if a commit put any there.
  const listed = options.index ?? (await indexEntries(repo.root, [...areaNames, REG_STATE_PATHSPEC]));
  const tracked = listed.filter((e) => areaNames.some((a) => e.path === a || e.path.startsWith(a + '/')));
  const regStateTracked = trackedRegState(listed);
  const indexByPath = new Map(tracked.map((e) => [e.path, e]));
  const entries: ScannedEntry[] = [];
  const missingAreas: Area[] = [];
  const wantBlobs: string[] = [];
  for (const area of policy.areas) {
    const dir = join(repo.root, ...area.name.split('/'));
    if (!existsSync(dir)) missingAreas.push(area);
    const names = new Map<string, { data: boolean; file: boolean }>();
    const note = (child: string, data: boolean, file = false) => {
      const n = entryNameOf(child);
      if (n === undefined || n === '') return;
      const cur = names.get(n) ?? { data: false, file: false };
      cur.data ||= data;
      cur.file ||= data && file;
      names.set(n, cur);
    };
    for (const c of diskChildren(dir)) {
      const kind = classifyAreaChild(c.name);
      if (kind === 'card' || kind === 'pointer' || kind === 'data') note(c.name, kind === 'data', !c.isDir);
    }
    if (staged) {
      for (const e of tracked) {
        const hit = areaOf([area], e.path);
        if (!hit || hit.rest.includes('/')) continue;
        const kind = classifyAreaChild(hit.rest);
        if (kind === 'card' || kind === 'pointer') note(hit.rest, false);
      }
    }
    for (const [name, info] of [...names].sort((a, b) => compareCodePoints(a[0], b[0]))) {
      const cardRel = `${area.name}/${name}${CARD_SUFFIX}`;
      const pointerRel = `${area.name}/${name}${POINTER_SUFFIX}`;
      const e: ScannedEntry = {
        area,
        name,
        path: `${area.name}/${name}`,
        cardRel,
        cardOnlyOnDisk: false,
        pointerRel,
        pointerOnlyOnDisk: false,
        dataOnDisk: info.data,
        isFile: info.file,
      };
      for (const [rel, key] of [[cardRel, 'card'], [pointerRel, 'pointer']] as const) {
        const abs = join(repo.root, ...rel.split('/'));
        const inIndex = indexByPath.get(rel);
        if (staged) {
          if (inIndex) wantBlobs.push(inIndex.oid);
          else if (existsSync(abs)) {
            if (key === 'card') e.cardOnlyOnDisk = true;
            else e.pointerOnlyOnDisk = true;
          }
        } else if (!isDir(abs)) {
          // Never through a symlink: a card's text is rendered into the catalog and checked; a pointer's names data.
          const text = key === 'card' ? readCardTextIfAny(abs, rel) : readPointerBytesIfAny(abs, rel)?.toString('utf8');
          if (text === undefined) continue;
          if (key === 'card') e.cardText = text;
          else e.pointerText = text;
        }
      }
      entries.push(e);
    }
  }
  if (staged) {
    const blobs = await readBlobs(repo.root, wantBlobs, Math.max(MAX_CARD_BYTES, MAX_POINTER_BYTES));
    const stagedText = (rel: string, limit: number, tooLarge: (shownAs: string) => Error): string | undefined => {
      const inIndex = indexByPath.get(rel);
      const content = inIndex && blobs.get(inIndex.oid);
      if (content === undefined || content === 'missing') return undefined;
      if (content === 'too-large' || content.length > limit) throw tooLarge(`${rel} (staged)`);
      return content.toString('utf8');
    };
    for (const e of entries) {
      e.cardText = stagedText(e.cardRel, MAX_CARD_BYTES, cardTooLarge) ?? e.cardText;
      e.pointerText = stagedText(e.pointerRel, MAX_POINTER_BYTES, pointerTooLarge) ?? e.pointerText;
    }
  }
  // A pointer to a single file (md5 without .dir) makes a file entry even when the data is absent.
  for (const e of entries) {
    if (e.isFile || e.dataOnDisk || e.pointerText === undefined) continue;
    try {
      const md5 = parsePointer(e.pointerText, e.pointerRel).outs[0]?.md5;
      if (md5 !== undefined && !md5.endsWith('.dir')) e.isFile = true;
    } catch {
      // reg check reports invalid pointers
    }
  }
  let gitFiles = tracked;
  if (staged) {
    const stagedSet = new Set(options.stagedPaths ?? []);
    gitFiles = tracked.filter((t) => stagedSet.has(t.path));
  }
  return { policy, entries, gitFiles, missingAreas, regStateTracked };
}

/**
 * A card's (or an area template's) text from the work tree, or undefined when there is none. A
 * symlink is refused, never followed: what a card says is published (catalog, `reg new`'s copy of
 * the template, check output), so a committed `x.card.md -> ~/.ssh/id_rsa` would disclose its
 * target. Anything else that is not a regular file (a directory of that name) counts as none; a
 * file over 1 MiB is refused unread (card.too-large, exit 3).
 */
export function readCardTextIfAny(abs: string, rel: string): string | undefined {
  return readTextRefusingLinks(
    abs,
    refuseNonRegularFile('card.symlink', rel, 'reads a card or template through it', `replace it with a regular file (git rm --cached ${rel} if it was committed), then run the command again`),
    { maxBytes: MAX_CARD_BYTES, tooBig: () => cardTooLarge(rel) },
  );
}

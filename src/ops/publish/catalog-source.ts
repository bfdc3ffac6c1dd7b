import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { compareCodePoints, isSafeRelpath, type ManifestEntry } from '../../data/manifest.js';
import { deepMerge, getPath, isPlainObject, type ConfigData } from '../../config.js';
import type { Context } from '../../context.js';
import { configError, isRegError, usageError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { blobsAt, commitsChanging, headCommit, resolveCommitsOrThrow, treeFiles, type CommitChanges } from '../../git/history.js';
import { areaOf, classifyAreaChild, entryNameOf, registryPolicy, CARD_SUFFIX, POINTER_SUFFIX, type Area, type RegistryPolicy } from '../../policy/areas.js';
import { parseCard } from '../../policy/cards.js';
import { openRepo, REG_DIR, type Repo } from '../../repo.js';
import { CONFIG_FILE } from '../../config.js';
import { cardBody, firstParagraph } from '../../catalog/markdown.js';
import { fieldValueText } from '../../catalog/html.js';
import { HEAD_BYTES, MAX_IMAGE_BYTES, makePreview, previewKind } from '../../catalog/preview.js';
import { entrySlug } from '../../catalog/slug.js';
import type { CatalogEntry, CatalogFiles, CatalogModel, CatalogPreview, CatalogVersion } from '../../catalog/model.js';
import { versionRows } from '../history/log.js';
import { ObjectFacts, type RemoteAccessOptions } from '../history/manifests.js';
import { PointerReader, outputFromPointerText, type HistoryOutput } from '../history/pointers.js';
import { checkEntry, type Finding } from '../registry/check.js';
import { scanRegistry, type ScannedEntry } from '../registry/registry-scan.js';
import { lastSyncState } from '../registry/sync.js';
import { resolveRemoteName } from '../remote/open-remote.js';

export type PreviewMode = 'none' | 'cache' | 'fetch';
export const PREVIEW_MODES: readonly PreviewMode[] = ['none', 'cache', 'fetch'];

export interface CatalogSourceOptions extends Pick<RemoteAccessOptions, 'jobs' | 'retry' | 'wrapBackend'> {
  /** The revision to show (default HEAD). */
  rev?: string;
  /** Show the work tree (uncommitted cards and pointers included) instead of a commit. */
  worktree?: boolean;
  /**
   * Previews of small files: `cache` (default) from the local cache only; `fetch` also downloads
   * small objects and directory manifests missing from the cache (verified); `none`.
   */
  previews?: PreviewMode;
  /** Ask each entry's remote whether it holds the current version (one request per entry). */
  remoteStatus?: boolean;
  /** Read the history (versions, last change). Default true. */
  history?: boolean;
}

/** At most this many previews per entry, looked for among its first PREVIEW_SCAN files. */
const MAX_PREVIEWS = 6;
const MAX_PER_KIND = 2;
const PREVIEW_SCAN = 5000;
/** Objects larger than this are never downloaded for a preview. */
const MAX_FETCH_BYTES = 1 << 20;
const DEFAULT_TITLE = 'Data registry';

/**
 * Gathers the site model from Git: the areas of the committed `.reg/config.yaml`, entries from
 * the committed cards and pointers, card status by `reg check`'s per-entry rules, versions from
 * one `git log` over the areas, current files from manifests in the local cache (or the last sync
 * state for synced areas), previews of small cached files. Reads only; nothing is fetched from a
 * remote unless `previews: 'fetch'`.
 */
export async function catalogModel(ctx: Context, options: CatalogSourceOptions = {}): Promise<CatalogModel> {
  const repo = openRepo(ctx);
  if (options.worktree && options.rev !== undefined) throw usageError('catalog.rev-and-worktree', '--rev and --worktree exclude each other', { hint: 'build a commit (--rev REV) or the work tree (--worktree)' });
  const previews = options.previews ?? 'cache';
  if (!PREVIEW_MODES.includes(previews)) throw usageError('catalog.previews', `--previews must be one of ${PREVIEW_MODES.join(', ')}, got ${JSON.stringify(previews)}`);
  const head = await headCommit(repo.root);
  let commit: string | undefined;
  const rev = options.worktree ? 'worktree' : (options.rev ?? 'HEAD');
  if (options.worktree) commit = head;
  else {
    if (rev === 'HEAD' && head === undefined) {
      throw usageError('catalog.no-commit', 'the repository has no commit yet, so there is nothing committed to show', { hint: 'commit the registry (git add .reg *.card.md *.dvc && git commit), or build from the work tree: --worktree' });
    }
    commit = (await resolveCommitsOrThrow(repo.root, [rev]))[0]!;
  }

  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, { jobs: options.jobs, retry: options.retry, wrapBackend: options.wrapBackend });
  try {
    const { policy, entries: scanned, title } = options.worktree ? await worktreeScan(repo) : await commitScan(repo, reader, commit!);
    const history = commit !== undefined && options.history !== false ? await readHistory(repo, reader, commit, policy, scanned) : undefined;
    const entries: CatalogEntry[] = [];
    for (const s of scanned) {
      const card = s.cardText === undefined ? undefined : parseCard(s.cardText);
      const findings: Finding[] = [];
      checkEntry(s, false, (f) => findings.push(f), card);
      const fields = card?.fields ?? {};
      const body = s.cardText === undefined ? '' : cardBody(s.cardText, card!.bodyLine);
      const text = (k: string) => (fields[k] === undefined || fields[k] === null ? undefined : fieldValueText(fields[k]).trim() || undefined);
      const entry: CatalogEntry = {
        area: s.area.name,
        mode: s.area.mode,
        name: s.name,
        path: s.path,
        slug: entrySlug(s.area.name, s.name),
        description: text('description') ?? text('summary') ?? firstParagraph(body),
        ...(text('license') ?? text('licence') ? { license: text('license') ?? text('licence') } : {}),
        ...(text('owner') ? { owner: text('owner') } : {}),
        ...(s.cardText !== undefined ? { card: { path: s.cardRel, fields, body } } : {}),
        status: { ok: !findings.some((f) => f.severity === 'error'), problems: findings.filter((f) => f.severity === 'error').map((f) => f.message) },
        versions: [],
        previews: [],
      };
      const h = history?.get(s.path);
      if (h?.last) entry.lastChange = { commit: h.last.commit, date: h.last.date, author: h.last.author, subject: h.last.subject };
      if (h) entry.versions = h.versions;
      if (s.area.mode === 'versioned') await describeVersioned(ctx, repo, facts, s, entry, commit, options, previews);
      else if (s.area.mode === 'synced') describeSynced(repo, s.area, entry);
      else entry.filesNote = 'A local area: its files stay on each machine and are not listed.';
      entries.push(entry);
    }
    if (options.remoteStatus) await markPushed(facts, entries, options.jobs ?? 16);
    entries.sort((a, b) => compareCodePoints(a.area, b.area) || compareCodePoints(a.name, b.name));
    return {
      title,
      source: { ...(commit !== undefined ? { commit } : {}), rev, worktree: Boolean(options.worktree) },
      areas: policy.areas.map((a) => ({ name: a.name, mode: a.mode, entries: entries.filter((e) => e.area === a.name).length })),
      entries,
    };
  } finally {
    reader.close();
    facts.close();
  }
}

function titleOf(config: ConfigData): string {
  const t = getPath(config, ['catalog', 'title']);
  return typeof t === 'string' && t.trim() !== '' ? t.trim() : DEFAULT_TITLE;
}

async function worktreeScan(repo: Repo): Promise<{ policy: RegistryPolicy; entries: ScannedEntry[]; title: string }> {
  const scan = await scanRegistry(repo);
  return { policy: scan.policy, entries: scan.entries, title: titleOf(repo.config.data) };
}

/**
 * The registry as a commit holds it: its `.reg/config.yaml` (with this machine's
 * config.local.yaml on top, as everywhere), and entries named by the cards and pointers directly
 * in each area. Unversioned entries exist through their card (their data is never committed).
 */
async function commitScan(repo: Repo, reader: PointerReader, commit: string): Promise<{ policy: RegistryPolicy; entries: ScannedEntry[]; title: string }> {
  const configRel = `${REG_DIR}/${CONFIG_FILE}`;
  const [configBlob] = await blobsAt(repo.root, [{ commit, path: configRel }]);
  let committed: ConfigData = {};
  if (configBlob !== undefined) {
    const content = await reader.blobs.read(configBlob);
    if (!Buffer.isBuffer(content)) throw configError('catalog.config', `${configRel} at ${commit.slice(0, 10)} cannot be read (${content})`, { hint: 'build another revision with --rev' });
    const doc = parseDocument(content.toString('utf8'), { prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) throw configError('catalog.config', `${configRel} at ${commit.slice(0, 10)}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, { hint: 'build another revision with --rev, or fix the config and commit' });
    const value = doc.toJS() as unknown;
    if (value !== null && value !== undefined && !isPlainObject(value)) throw configError('catalog.config', `${configRel} at ${commit.slice(0, 10)} is not a YAML mapping`);
    committed = (value as ConfigData | null) ?? {};
  }
  const data = deepMerge(committed, repo.config.local);
  const policy = registryPolicy(data);
  const wanted = (path: string): boolean => {
    const hit = areaOf(policy.areas, path);
    if (!hit || hit.rest.includes('/')) return false;
    const kind = classifyAreaChild(hit.rest);
    return kind === 'card' || kind === 'pointer';
  };
  const files = policy.areas.length === 0 ? [] : await treeFiles(repo.root, commit, wanted, policy.areas.map((a) => a.name));
  const byPath = new Map(files.filter((f) => f.type === 'blob').map((f) => [f.path, f]));
  const cards = [...byPath.values()].filter((f) => f.path.endsWith(CARD_SUFFIX) && f.mode !== '120000');
  const texts = await reader.blobs.readMany(cards.map((f) => f.oid));
  const entries: ScannedEntry[] = [];
  for (const area of policy.areas) {
    const names = new Set<string>();
    for (const f of byPath.values()) {
      const hit = areaOf([area], f.path);
      const n = hit ? entryNameOf(hit.rest) : undefined;
      if (n) names.add(n);
    }
    for (const name of [...names].sort(compareCodePoints)) {
      const cardRel = `${area.name}/${name}${CARD_SUFFIX}`;
      const pointerRel = `${area.name}/${name}${POINTER_SUFFIX}`;
      const cardFile = byPath.get(cardRel);
      const pointerFile = byPath.get(pointerRel);
      const cardBytes = cardFile && cardFile.mode !== '120000' ? texts.get(cardFile.oid) : undefined;
      let pointerText: string | undefined;
      let isFile = false;
      if (pointerFile) {
        const at = await reader.pointerFromBlob(pointerRel, pointerFile.oid, commit, pointerFile.mode);
        const content = pointerFile.mode === '120000' ? undefined : await reader.blobs.read(pointerFile.oid);
        pointerText = Buffer.isBuffer(content) ? content.toString('utf8') : '';
        isFile = at.output !== undefined && !at.output.isDir;
      }
      entries.push({
        area,
        name,
        path: `${area.name}/${name}`,
        cardRel,
        ...(cardBytes ? { cardText: cardBytes.toString('utf8') } : {}),
        cardOnlyOnDisk: false,
        pointerRel,
        ...(pointerText !== undefined ? { pointerText } : {}),
        pointerOnlyOnDisk: false,
        dataOnDisk: area.mode !== 'versioned',
        isFile,
      });
    }
  }
  return { policy, entries, title: titleOf(data) };
}

interface EntryHistory {
  last?: CommitChanges;
  versions: CatalogVersion[];
}

/** One `git log` over the areas at `commit`: each entry's versions (pointer changes) and last change (card or pointer). */
async function readHistory(repo: Repo, reader: PointerReader, commit: string, policy: RegistryPolicy, scanned: readonly ScannedEntry[]): Promise<Map<string, EntryHistory>> {
  const out = new Map<string, EntryHistory>();
  if (policy.areas.length === 0 || scanned.length === 0) return out;
  const entryOf = new Map<string, ScannedEntry>();
  for (const s of scanned) {
    entryOf.set(s.cardRel, s);
    entryOf.set(s.pointerRel, s);
  }
  const commits = await commitsChanging(repo.root, { commits: [commit], pathspecs: policy.areas.map((a) => `:(literal)${a.name}`) });
  const pointerCommits = new Map<string, CommitChanges[]>();
  const blobs: string[] = [];
  for (const c of commits) {
    for (const ch of c.changes) {
      const s = entryOf.get(ch.path);
      if (!s) continue;
      const h = out.get(s.path) ?? { versions: [] };
      h.last ??= c;
      out.set(s.path, h);
      if (ch.path === s.pointerRel && s.area.mode === 'versioned') {
        const list = pointerCommits.get(s.pointerRel) ?? [];
        if (list[list.length - 1] !== c) list.push(c);
        pointerCommits.set(s.pointerRel, list);
        if (ch.blob !== undefined && ch.mode !== '120000') blobs.push(ch.blob);
      }
    }
  }
  await reader.blobs.readMany(blobs);
  for (const s of scanned) {
    const list = pointerCommits.get(s.pointerRel);
    if (!list) continue;
    const { versions } = await versionRows(reader, list, s.pointerRel);
    out.get(s.path)!.versions = versions.map((v) => ({
      commit: v.commit,
      date: v.date,
      author: v.author,
      subject: v.subject,
      change: v.change,
      ...(v.oid !== undefined ? { oid: v.oid } : {}),
      ...(v.size !== undefined ? { size: v.size } : {}),
      ...(v.nfiles !== undefined ? { nfiles: v.nfiles } : {}),
      ...(v.error ? { error: v.error.message } : {}),
    }));
  }
  return out;
}

async function describeVersioned(ctx: Context, repo: Repo, facts: ObjectFacts, s: ScannedEntry, entry: CatalogEntry, commit: string | undefined, options: CatalogSourceOptions, previews: PreviewMode): Promise<void> {
  let o: HistoryOutput | undefined;
  if (s.pointerText !== undefined) {
    try {
      o = outputFromPointerText(s.pointerRel, s.pointerText, commit && !options.worktree ? `${s.pointerRel} at ${commit.slice(0, 10)}` : s.pointerRel);
    } catch (err) {
      if (!isRegError(err)) throw err;
      entry.filesNote = `The pointer cannot be read: ${err.message}`;
      return;
    }
  }
  if (!o) {
    entry.filesNote = 'No pointer: the data is not tracked yet (reg add).';
    return;
  }
  let remote: string | undefined;
  try {
    remote = facts.remoteNameFor(o.out.remote);
  } catch (err) {
    if (!isRegError(err)) throw err;
  }
  entry.data = {
    pointer: o.pointerRel,
    ...(o.out.md5 !== undefined ? { oid: o.out.md5 } : {}),
    ...(o.out.size !== undefined ? { size: o.out.size } : {}),
    ...(o.out.nfiles !== undefined ? { nfiles: o.out.nfiles } : {}),
    isDir: o.isDir,
    legacy: o.legacy,
    ...(remote !== undefined ? { remote } : {}),
  };
  const oid = o.out.md5;
  if (oid === undefined) {
    entry.filesNote = 'The pointer has no hash yet.';
    return;
  }
  if (!o.isDir) {
    entry.files = filesFrom('file', [entry.name], [o.out.size ?? facts.cachedSizes([oid], o.legacy)[0]], [oid]);
  } else {
    const ref = { oid, legacy: o.legacy };
    if (repo.cache.locate(oid, o.legacy) === undefined && previews !== 'fetch') {
      entry.filesNote = `The manifest of this version (${oid}) is not in the local cache: run reg fetch ${entry.path} (or build with --previews fetch) to list its files.`;
      return;
    }
    let manifest: ManifestEntry[];
    try {
      manifest = await facts.manifest(ref, o.out.remote);
    } catch (err) {
      if (!isRegError(err)) throw err;
      entry.filesNote = `The file list is not available: ${err.message}`;
      return;
    }
    const sizes = facts.manifestSizes(ref, manifest);
    entry.files = filesFrom('manifest', manifest.map((m) => m.relpath), sizes, manifest.map((m) => m.md5));
  }
  if (previews !== 'none') entry.previews = await previewsOf(ctx, repo, facts, entry.files, o, previews === 'fetch');
}

function filesFrom(source: CatalogFiles['source'], paths: string[], sizes: Array<number | undefined>, md5s: string[]): CatalogFiles {
  let totalSize = 0;
  let unknownSizes = 0;
  for (const s of sizes) {
    if (s === undefined) unknownSizes++;
    else totalSize += s;
  }
  return { source, paths, sizes, md5s, totalSize, unknownSizes };
}

function describeSynced(repo: Repo, area: Area, entry: CatalogEntry): void {
  let remote: string;
  try {
    remote = resolveRemoteName(repo, area.remote);
  } catch (err) {
    if (!isRegError(err)) throw err;
    entry.filesNote = 'No remote is configured for this synced area.';
    return;
  }
  const state = lastSyncState(repo, remote, entry.path);
  entry.sync = { remote, ...(state?.syncedAt ? { syncedAt: String(state.syncedAt) } : {}) };
  if (!state || typeof state.files !== 'object' || state.files === null) {
    entry.filesNote = `Not synced from this workspace yet: reg sync pull ${entry.path} gets the files.`;
    return;
  }
  const paths = Object.keys(state.files).filter(isSafeRelpath).sort(compareCodePoints);
  const sizes = paths.map((p) => {
    const size = state.files[p]?.size;
    return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined;
  });
  entry.files = filesFrom('sync-state', paths, sizes, paths.map((p) => String(state.files[p]?.md5 ?? '')));
}

/** Up to MAX_PREVIEWS previews from the first files that have a previewable name and whose bytes are cached (or fetched, small). */
async function previewsOf(ctx: Context, repo: Repo, facts: ObjectFacts, files: CatalogFiles | undefined, o: HistoryOutput, fetch: boolean): Promise<CatalogPreview[]> {
  if (!files) return [];
  const out: CatalogPreview[] = [];
  const perKind = new Map<string, number>();
  const limit = Math.min(files.paths.length, PREVIEW_SCAN);
  for (let i = 0; i < limit && out.length < MAX_PREVIEWS; i++) {
    const path = files.paths[i]!;
    const size = files.sizes[i];
    const md5 = files.md5s[i]!;
    const kind = previewKind(path, size);
    if (kind === undefined || !/^[0-9a-f]{32}$/.test(md5) || (perKind.get(kind) ?? 0) >= MAX_PER_KIND) continue;
    let abs = repo.cache.locate(md5, o.legacy);
    if (abs === undefined && fetch && size !== undefined && size <= MAX_FETCH_BYTES) {
      try {
        const remote = facts.remote(facts.remoteNameFor(o.out.remote));
        abs = (await remote.store.download({ oid: md5, legacy: o.legacy }, repo.cache, undefined, ctx.signal, size)).path;
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        // A preview is optional: the page says nothing about a file it could not get.
        ctx.progress({ type: 'log', level: 'warn', message: `no preview of ${o.dataRel}/${path}: ${(err as Error).message}` });
        continue;
      }
    }
    if (abs === undefined) continue;
    const bytes = readHead(abs, kind === 'image' ? MAX_IMAGE_BYTES + 1 : HEAD_BYTES);
    const total = size ?? bytes.length;
    const p = makePreview(path, bytes, total, md5);
    if (!p) continue;
    out.push(p);
    perKind.set(kind, (perKind.get(kind) ?? 0) + 1);
  }
  return out;
}

function readHead(abs: string, max: number): Buffer {
  const fd = openSync(abs, 'r');
  try {
    // Sized by the file, not by `max`: most previewed files are far smaller than the head limit.
    const buf = Buffer.allocUnsafe(Math.min(max, fstatSync(fd).size));
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** With --remote-status: whether each versioned entry's current version is on its remote (a `.dir` there proves the directory). */
async function markPushed(facts: ObjectFacts, entries: CatalogEntry[], jobs: number): Promise<void> {
  const asks = entries.filter((e) => e.data?.oid !== undefined && e.data.remote !== undefined);
  await mapLimit(asks, jobs, async (e) => {
    e.data!.pushed = await facts.onRemote({ oid: e.data!.oid!, legacy: e.data!.legacy }, e.data!.remote!);
  });
}

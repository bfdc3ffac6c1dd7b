import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { parsePointer } from '../../data/pointer.js';
import { isRegError } from '../../errors.js';
import type { IndexSnapshot } from '../../git/read.js';
import type { AreaMode } from '../../policy/areas.js';
import { openRepo, type Repo } from '../../repo.js';
import { check, type Finding } from './check.js';
import { scanRegistry, type ScannedEntry } from './registry-scan.js';
import type { RemoteStatusResult } from '../remote/remote-status.js';
import { scanWorkspace } from '../data/scan.js';
import { status, type StatusResult } from '../data/status.js';
import type { SyncFiles } from './sync.js';

/**
 * The data state of an entry:
 *  - up-to-date   versioned: workspace matches the pointer; synced: matches the last sync
 *  - modified     versioned: the data was edited since the pointer was written (reg add); synced: changed since the last sync (reg sync push)
 *  - outdated     versioned: the pointer is newer than the workspace data (reg checkout, or reg pull when not cached)
 *  - diverged     versioned: the pointer moved on and the data was edited here too; synced: changed here and on the remote
 *  - not-in-cache versioned: the pointer's version is not in the local cache (reg pull)
 *  - not-pushed   versioned: (with `remote`) the pointer's data is not on the remote; synced: never synced from here
 *  - missing      no data in the workspace (reg checkout / reg pull / reg sync pull)
 *  - not-tracked  versioned area: data without a .dvc pointer yet (reg add)
 *  - local        local area: data present (it never leaves this machine)
 */
export type EntryDataState = 'up-to-date' | 'modified' | 'outdated' | 'diverged' | 'not-in-cache' | 'not-pushed' | 'missing' | 'not-tracked' | 'local';

export interface OverviewEntry {
  name: string;
  /** `<area>/<name>` */
  path: string;
  card: {
    path: string;
    exists: boolean;
    /** Present and valid (header, front matter, required fields). */
    ok: boolean;
    /** What `reg check` says is wrong with the card (empty when ok). */
    problems: string[];
  };
  data: EntryDataState;
  /** A short explanation or next step. */
  detail?: string;
}

export interface OverviewArea {
  name: string;
  mode: AreaMode;
  entries: OverviewEntry[];
}

export interface RegistryOverview {
  areas: OverviewArea[];
  summary: {
    entries: number;
    cardsOk: number;
    byState: Record<EntryDataState, number>;
  };
  /** Registry-wide findings not tied to an entry (secrets in the config, data in Git...), errors only. */
  problems: Finding[];
}

export interface OverviewOptions {
  /** Also ask the remote: versioned data not pushed, synced entries changed remotely. Default false (offline). */
  remote?: boolean;
  /** A status of (at least) the versioned entries' pointers already computed by the caller: reused, not recomputed. */
  statusResult?: StatusResult;
  /** Likewise for the remote state. */
  remoteStatusResult?: RemoteStatusResult;
  /** The index and its blob sizes, when the caller started reading them already. */
  index?: Promise<IndexSnapshot>;
}

const CARD_RULES = new Set(['entry-without-card', 'card-not-committed', 'card-header', 'card-front-matter', 'card-field']);

/** `reg status` with no targets: per area and entry, whether the card is ok and the data's state. */
export async function registryOverview(ctx: Context, options: OverviewOptions = {}): Promise<RegistryOverview> {
  const repo = openRepo(ctx);
  const index = await options.index;
  const scan = await scanRegistry(repo, { index: index?.entries });
  const findings = (await check(ctx, {}, scan, index)).findings;
  const byEntry = new Map<string, Finding[]>();
  for (const f of findings) {
    if (f.area === undefined || f.entry === undefined) continue;
    const k = `${f.area}/${f.entry}`;
    byEntry.set(k, [...(byEntry.get(k) ?? []), f]);
  }
  const versioned = await versionedStates(repo, ctx, scan.entries.filter((e) => e.area.mode === 'versioned'), Boolean(options.remote), options);
  const areas: OverviewArea[] = scan.policy.areas.map((a) => ({ name: a.name, mode: a.mode, entries: [] }));
  for (const e of scan.entries) {
    const cardFindings = (byEntry.get(e.path) ?? []).filter((f) => CARD_RULES.has(f.rule) && f.severity === 'error');
    const exists = e.cardText !== undefined;
    let data: { state: EntryDataState; detail?: string };
    if (e.area.mode === 'versioned') data = versioned.get(e.path) ?? { state: 'missing' };
    else if (e.area.mode === 'local') data = e.dataOnDisk ? { state: 'local' } : { state: 'missing', detail: 'no data on this machine' };
    else data = await syncedState(repo, ctx, e, Boolean(options.remote));
    areas
      .find((a) => a.name === e.area.name)!
      .entries.push({
        name: e.name,
        path: e.path,
        card: { path: e.cardRel, exists, ok: exists && cardFindings.length === 0, problems: cardFindings.map((f) => f.message) },
        data: data.state,
        ...(data.detail ? { detail: data.detail } : {}),
      });
  }
  const byState: Record<EntryDataState, number> = { 'up-to-date': 0, modified: 0, outdated: 0, diverged: 0, 'not-in-cache': 0, 'not-pushed': 0, missing: 0, 'not-tracked': 0, local: 0 };
  let cardsOk = 0;
  let total = 0;
  for (const a of areas) {
    for (const e of a.entries) {
      total++;
      byState[e.data]++;
      if (e.card.ok) cardsOk++;
    }
  }
  const problems = findings.filter((f) => f.severity === 'error' && f.entry === undefined);
  return { areas, summary: { entries: total, cardsOk, byState }, problems };
}

async function versionedStates(
  repo: Repo,
  ctx: Context,
  entries: ScannedEntry[],
  remote: boolean,
  known: Pick<OverviewOptions, 'statusResult' | 'remoteStatusResult'>,
): Promise<Map<string, { state: EntryDataState; detail?: string }>> {
  const out = new Map<string, { state: EntryDataState; detail?: string }>();
  const pointers: string[] = [];
  for (const e of entries) {
    if (e.pointerText === undefined) {
      out.set(e.path, e.dataOnDisk ? { state: 'not-tracked', detail: `reg add ${e.path}` } : { state: 'missing', detail: 'no data and no pointer' });
      continue;
    }
    try {
      const p = parsePointer(e.pointerText, e.pointerRel);
      if (p.outs.length !== 1) throw new Error('multi');
      pointers.push(e.pointerRel);
    } catch {
      out.set(e.path, { state: 'missing', detail: `${e.pointerRel} is not a valid pointer (reg check)` });
    }
  }
  if (pointers.length === 0) return out;
  const wanted = new Set(pointers);
  const st = known.statusResult ?? (await status(ctx, { targets: pointers.map((p) => join(repo.root, p)) }));
  const pathOf = (pointer: string) => pointer.replace(/\.dvc$/, '');
  for (const s of st.outputs) {
    if (!wanted.has(s.pointer)) continue;
    const key = pathOf(s.pointer);
    const detail = s.hint ? { detail: s.hint } : {};
    switch (s.state) {
      case 'up-to-date':
        out.set(key, { state: 'up-to-date' });
        break;
      case 'not-committed':
        out.set(key, { state: 'not-tracked', ...detail });
        break;
      default:
        out.set(key, { state: s.state, ...detail });
    }
  }
  if (remote) {
    try {
      // The remote modules are loaded only when the remote is asked: a plain status runs without them.
      const rs = known.remoteStatusResult ?? (await (await import('../remote/remote-status.js')).remoteStatus(ctx, { targets: pointers.map((p) => join(repo.root, p)) }));
      for (const r of rs.outputs) {
        if (!wanted.has(r.pointer)) continue;
        const key = pathOf(r.pointer);
        const local = out.get(key)?.state;
        if (r.state === 'not-pushed' && (local === 'up-to-date' || local === 'missing')) out.set(key, { state: 'not-pushed', detail: `reg push ${r.path}` });
      }
    } catch (err) {
      if (!isRegError(err)) throw err;
      ctx.progress({ type: 'log', level: 'warn', message: `could not ask the remote: ${err.message}` });
    }
  }
  return out;
}

async function syncedState(repo: Repo, ctx: Context, e: ScannedEntry, remote: boolean): Promise<{ state: EntryDataState; detail?: string }> {
  const abs = join(repo.root, ...e.path.split('/'));
  const [{ resolveRemoteName }, { lastSyncState, sameFiles, sync }] = await Promise.all([import('../remote/open-remote.js'), import('./sync.js')]);
  let remoteName: string;
  try {
    remoteName = resolveRemoteName(repo, e.area.remote);
  } catch {
    return existsSync(abs) ? { state: 'not-pushed', detail: 'no remote configured (reg remote add NAME URL --default)' } : { state: 'missing' };
  }
  const state = lastSyncState(repo, remoteName, e.path);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    return { state: 'missing', detail: `reg sync pull ${e.path}` };
  }
  if (remote) {
    try {
      const r = await sync(ctx, { direction: 'push', targets: [e.path], dryRun: true });
      const row = r.entries[0];
      if (row && row.transferred.length === 0 && row.deleted.length === 0) return state ? { state: 'up-to-date' } : { state: 'up-to-date', detail: 'identical to the remote' };
    } catch (err) {
      if (!isRegError(err)) throw err;
      if (err.code === 'sync.conflict') {
        return { state: 'diverged', detail: `changed here and on the remote since the last sync: compare with reg sync pull ${e.path} --dry-run, then decide which copy wins` };
      }
    }
  }
  if (!state) return { state: 'not-pushed', detail: `reg sync push ${e.path}` };
  const ws = await scanWorkspace(repo, ctx, abs, e.path, { legacy: false, store: false, label: e.path });
  const local: SyncFiles = {};
  for (const f of ws.files) if (f.relpath !== '.reg-sync.json') local[f.relpath] = { md5: f.md5, size: f.size };
  if (sameFiles(local, state.files)) return { state: 'up-to-date' };
  const changed = Object.keys(local).some((rp) => state.files[rp]?.md5 !== local[rp]!.md5);
  if (changed) return { state: 'modified', detail: `changed since the last sync (reg sync push ${e.path})` };
  return { state: 'up-to-date', detail: `some files are only on the remote (reg sync pull ${e.path})` };
}

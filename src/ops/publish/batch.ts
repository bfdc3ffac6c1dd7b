import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, lstatSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, utimes } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Context } from '../../context.js';
import { isLegacy } from '../../data/pointer.js';
import { parseByteSize } from '../../data/units.js';
import { RegError, diskError, errnoCode, isRegError, usageError } from '../../errors.js';
import { readFdUpTo } from '../../fsutil.js';
import { resolveCommits } from '../../git/history.js';
import { areaOf, registryPolicy, type Area } from '../../policy/areas.js';
import { ruleNameOf } from '../../policy/naming.js';
import { openRepo, type Repo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import type { RetryPolicy } from '../../store/transfer.js';
import { add } from '../data/add.js';
import { loadPointer } from '../data/outputs.js';
import { guardEntryName } from '../registry/entry-name.js';
import { SYNC_MANIFEST, sync } from '../registry/sync.js';
import { openRemote, resolveRemoteName } from '../remote/open-remote.js';
import { planPush, plannedTotals, push } from '../remote/push.js';
import { remotesOf } from '../remote/remote-config.js';
import { versionLabel } from './entry-version.js';
import { EXPORT_ARCHIVES, MIN_SPLIT, exportEntry, type ExportArchive } from './export.js';
import { outputTree, tempPathFor } from '../../workspace/safe-fs.js';

/**
 * `reg batch jobs.csv`: bulk work driven by a spreadsheet, one job per row — `add` (import a
 * folder from outside the repository into an entry and hash it into the cache), `push` (the same,
 * then upload), `sync-push` (import into a synced area, then mirror it) or `export` (a release
 * directory). Every row is validated and planned before anything runs, by the same code for
 * `--dry-run` and the real run; jobs whose remote entry exists already are skipped unless the row
 * says force; jobs run with bounded concurrency (the work-tree steps one at a time, transfers in
 * parallel); a failing job does not stop the others; every outcome is written to a results file
 * as soon as it is known, so `--continue` resumes without redoing finished jobs, and `--shard
 * I/N` runs every N-th job from I (a cluster job array splits one CSV with no coordinator).
 */
export type BatchAction = 'add' | 'push' | 'sync-push' | 'export';
export const BATCH_ACTIONS: readonly BatchAction[] = ['add', 'push', 'sync-push', 'export'];
/** The CSV columns reg knows (header names, case-insensitive; `_` and `-` alike). */
export const BATCH_COLUMNS = ['action', 'entry', 'area', 'source', 'import', 'remote', 'force', 'rev', 'output', 'archive', 'split'] as const;
type Column = (typeof BATCH_COLUMNS)[number];

export interface BatchOptions {
  /** The jobs CSV (relative to the working directory). */
  csv: string;
  dryRun?: boolean;
  /** Jobs running at once (default 2). */
  jobs?: number;
  /** Run only the jobs with index % count === index (0-based, in file order). */
  shard?: { index: number; count: number };
  /** Skip the jobs the results file records as done or skipped. */
  continue?: boolean;
  /** The results file (default: <csv>.results.csv, or <csv>.results-<I>-of-<N>.csv with --shard). */
  results?: string;
  /** Transfer concurrency inside each job (push / sync-push). */
  transferJobs?: number;
  retry?: RetryPolicy;
  /** Wraps every remote backend the jobs open (tests inject failures). */
  wrapBackend?: (backend: Backend) => Backend;
}

export interface BatchJob {
  /** 0-based position among the CSV's rows (what --shard counts). */
  index: number;
  /** 1-based line of the row in the CSV. */
  line: number;
  /** Identifies the job across runs: line, action, entry and a hash of the row's values. */
  key: string;
  action: BatchAction;
  /** Repo-relative path of the entry. */
  entry: string;
  /** Absolute path of a file or folder to import into the entry first. */
  source?: string;
  importMode: 'copy' | 'move';
  remote?: string;
  force: boolean;
  rev?: string;
  output?: string;
  archive?: ExportArchive;
  split?: number;
}

export interface TransferPlan {
  files: number;
  bytes: number;
  objects: number;
  /** The counts are an upper bound: the data is not hashed yet (identical files are sent once). */
  estimate: boolean;
}

export interface JobPlan {
  job: BatchJob;
  /**
   * `run`; `skip` (with the reason) when the remote entry exists and the row does not say force;
   * `fail` (with the reason and `error`) when the remote could not be asked: the job fails
   * without running and the others go on (--continue tries it again).
   */
  decision: 'run' | 'skip' | 'fail';
  reason?: string;
  /** Exit-code class of a `fail` decision (transfer). */
  error?: string;
  /** What the import copies (or moves) into the work tree; an export: what it writes. */
  copy: { files: number; bytes: number };
  /** What would be sent to the remote. */
  send: TransferPlan;
}

export type JobStatus = 'done' | 'skipped' | 'failed' | 'interrupted' | 'pending';

export interface JobOutcome {
  key: string;
  line: number;
  action: BatchAction;
  entry: string;
  status: JobStatus;
  /** Why it failed or was skipped, or what was done. */
  reason: string;
  files: number;
  bytes: number;
  objects: number;
  /** Exit-code class of a failure (transfer, integrity, ...). */
  error?: string;
  /** The import step finished (a later failure or interruption does not redo it). */
  imported?: boolean;
}

export interface BatchResult {
  csv: string;
  results: string | null;
  dryRun: boolean;
  shard: { index: number; count: number } | null;
  /** The plan of every job this run considered (dry run and real run alike). */
  plan: JobPlan[];
  /** Real run: the outcome of each job of this shard, previously finished ones included. */
  outcomes: JobOutcome[];
  totals: { jobs: number; run: number; skip: number; fail: number; copyFiles: number; copyBytes: number; sendFiles: number; sendBytes: number; sendObjects: number; estimate: boolean };
  /** Jobs finished by an earlier run (--continue), not run again. */
  previouslyDone: number;
  done: number;
  skipped: number;
  failed: number;
}

interface RowError {
  line: number;
  column?: string;
  message: string;
}

const DEFAULT_JOBS = 2;

export async function batch(ctx: Context, options: BatchOptions): Promise<BatchResult> {
  const repo = openRepo(ctx);
  const csvAbs = resolve(ctx.cwd, options.csv);
  const shown = relative(ctx.cwd, csvAbs) || csvAbs;
  if (options.shard && (options.shard.count < 1 || options.shard.index < 0 || options.shard.index >= options.shard.count)) {
    throw usageError('batch.bad-shard', `--shard ${options.shard.index}/${options.shard.count}: I must be between 0 and N-1`, { hint: 'e.g. --shard 0/4 ... --shard 3/4 (SLURM: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)' });
  }
  const resultsAbs = resolve(ctx.cwd, options.results ?? defaultResultsPath(options.csv, options.shard));
  const previous = options.continue ? readResults(resultsAbs) : new Map<string, JobOutcome>();
  if (options.continue && previous.size === 0 && !existsSync(resultsAbs)) {
    throw usageError('batch.no-results', `--continue: there is no results file ${relative(ctx.cwd, resultsAbs) || resultsAbs} to continue from`, { hint: 'run without --continue first (or name the file with --results)' });
  }
  const finished = (key: string) => {
    const p = previous.get(key);
    return p !== undefined && (p.status === 'done' || p.status === 'skipped');
  };
  const { jobs: allJobs, errors } = readJobs(repo, ctx, csvAbs, shown, (key) => finished(key) || previous.get(key)?.imported === true);
  const selected = options.shard ? allJobs.filter((j) => j.index % options.shard!.count === options.shard!.index) : allJobs;
  const todo = selected.filter((j) => !finished(j.key));
  // Rows with problems are not planned; every other row is, so one run reports every problem.
  const badLines = new Set(errors.map((e) => e.line));
  const plans = await planJobs(repo, ctx, todo.filter((j) => !badLines.has(j.line)), previous, errors, options);
  if (errors.length > 0) {
    errors.sort((a, b) => a.line - b.line);
    throw usageError('batch.invalid', `${shown}: ${errors.length} problem${errors.length === 1 ? '' : 's'}, nothing was run:\n${errors.map((e) => `  ${shown}:${e.line}: ${e.column ? `column ${e.column}: ` : ''}${e.message}`).join('\n')}`, {
      hint: 'fix the rows (the columns are described in the README, "Batch uploads") and run again',
      details: errors,
    });
  }
  const totals = totalsOf(plans);
  const result: BatchResult = {
    csv: csvAbs,
    results: options.dryRun ? null : resultsAbs,
    dryRun: Boolean(options.dryRun),
    shard: options.shard ?? null,
    plan: plans,
    outcomes: [],
    totals,
    previouslyDone: selected.length - todo.length,
    done: 0,
    skipped: 0,
    failed: 0,
  };
  if (options.dryRun) return result;
  await runJobs(repo, ctx, selected, plans, previous, resultsAbs, options, result);
  return result;
}

export function defaultResultsPath(csv: string, shard: { index: number; count: number } | undefined): string {
  const base = csv.replace(/\.csv$/i, '');
  return shard ? `${base}.results-${shard.index}-of-${shard.count}.csv` : `${base}.results.csv`;
}

/** Parses `I/N`. */
export function parseShard(text: string): { index: number; count: number } | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  return m ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading and validating rows

/**
 * The most of a jobs or results CSV reg reads: a million jobs of a few hundred bytes. The file is
 * named on the command line, but may be `/dev/zero` by mistake or a pipe that never ends.
 */
export const MAX_BATCH_CSV_BYTES = 256 * 1024 * 1024;

/** The text of a jobs or results CSV (a regular file or a pipe), at most MAX_BATCH_CSV_BYTES of it; `tooBig` when longer. */
function readCsvText(abs: string, tooBig: () => Error): string {
  const fd = openSync(abs, 'r');
  try {
    return readFdUpTo(fd, { maxBytes: MAX_BATCH_CSV_BYTES, tooBig }).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** `importDone(key)`: the job's import finished in an earlier run (its source may be gone, moved into place). */
function readJobs(repo: Repo, ctx: Context, csvAbs: string, shown: string, importDone: (key: string) => boolean): { jobs: BatchJob[]; errors: RowError[] } {
  let text: string;
  try {
    text = readCsvText(csvAbs, () =>
      usageError('batch.csv-too-large', `${shown} is longer than ${MAX_BATCH_CSV_BYTES / (1024 * 1024)} MiB, more than a jobs CSV holds`, { hint: 'name the jobs CSV (a file, not a device), or split the jobs into several CSVs run one after another' }),
    );
  } catch (err) {
    if (isRegError(err)) throw err;
    throw usageError('batch.no-csv', `cannot read ${shown}: ${(err as Error).message}`, { hint: 'name the jobs CSV (see fixtures/batch-jobs.csv for the format)' });
  }
  let records: Array<{ record: Record<string, string>; info: { lines: number }; raw: string }>;
  let header: string[] = [];
  try {
    records = parse(text, {
      columns: (h: string[]) => (header = h.map((c) => c.trim().toLowerCase().replace(/_/g, '-'))),
      info: true,
      raw: true,
      bom: true,
      comment: '#',
      comment_no_infix: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as typeof records;
  } catch (err) {
    const e = err as { lines?: number; message: string };
    throw usageError('batch.bad-csv', `${shown}${e.lines ? `:${e.lines}` : ''}: ${e.message}`, { hint: 'every row needs as many fields as the header; quote fields holding commas' });
  }
  const errors: RowError[] = [];
  const unknown = header.filter((h) => !(BATCH_COLUMNS as readonly string[]).includes(h));
  if (unknown.length > 0) errors.push({ line: 1, message: `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${BATCH_COLUMNS.join(', ')})` });
  if (!header.includes('action') || !header.includes('entry')) errors.push({ line: 1, message: 'the header must name the columns action and entry' });
  const { areas } = registryPolicy(repo.config.data);
  const remotes = Object.keys(remotesOf(repo.config.data));
  const jobs: BatchJob[] = [];
  const entries = new Map<string, number>();
  records.forEach(({ record, info, raw }, index) => {
    const line = info.lines - (raw.replace(/\r?\n$/, '').match(/\n/g)?.length ?? 0);
    const bad = (column: Column | undefined, message: string) => errors.push({ line, ...(column ? { column } : {}), message });
    const get = (c: Column) => (record[c] ?? '').trim();
    const action = get('action').toLowerCase() as BatchAction;
    if (!BATCH_ACTIONS.includes(action)) {
      bad('action', get('action') === '' ? `no action (one of ${BATCH_ACTIONS.join(', ')})` : `unknown action "${get('action')}" (one of ${BATCH_ACTIONS.join(', ')})`);
      return;
    }
    const area = get('area').replace(/^\.\/|\/+$/g, '');
    const entryText = get('entry').replace(/\/+$/, '');
    if (entryText === '') return void bad('entry', 'no entry');
    const entryRel = area !== '' && !entryText.includes('/') ? `${area}/${entryText}` : entryText;
    const entryAbs = resolve(repo.root, entryRel);
    const rel = relative(repo.root, entryAbs).split(sep).join('/');
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || /^(\.git|\.reg|\.dvc)(\/|$)/.test(rel)) return void bad('entry', `${entryText} is not a path inside the repository (relative to its root)`);
    const hit = areaOf(areas, rel);
    if (area !== '' && hit?.area.name !== area) return void bad('area', `${entryRel} is not in the area ${area}`);
    const key = `${line}:${action}:${rel}:${createHash('sha1').update(JSON.stringify(BATCH_COLUMNS.map(get))).digest('hex').slice(0, 10)}`;
    const job: BatchJob = { index, line, key, action, entry: rel, importMode: 'copy', force: false };
    const force = get('force').toLowerCase();
    if (['true', 'yes', '1', 'force'].includes(force)) job.force = true;
    else if (!['', 'false', 'no', '0'].includes(force)) bad('force', `force must be true or false, got "${get('force')}"`);
    const mode = get('import').toLowerCase();
    if (mode === 'move' || mode === 'copy') job.importMode = mode;
    else if (mode !== '') bad('import', `import must be copy or move, got "${get('import')}"`);
    if (get('remote') !== '') {
      if (!remotes.includes(get('remote').toLowerCase())) bad('remote', `no remote named "${get('remote')}" (known: ${remotes.join(', ') || 'none: reg remote add NAME URL'})`);
      else job.remote = get('remote').toLowerCase();
    }
    if (get('source') !== '') {
      if (action === 'export') bad('source', 'an export publishes a committed version: it imports nothing');
      else checkSource(repo, ctx, job, get('source'), importDone(key), bad);
    } else if (mode !== '') bad('import', 'import (copy or move) needs a source');
    const isFile = (job.source !== undefined ? lstatSync(job.source, { throwIfNoEntry: false }) : lstatSync(entryAbs, { throwIfNoEntry: false }))?.isFile() ?? false;
    checkAction(job, hit?.area, isFile, bad);
    if (action === 'export') {
      job.rev = get('rev') || undefined;
      job.output = get('output');
      if (job.output === '') bad('output', 'an export needs an output directory');
      const archive = (get('archive') || 'none').toLowerCase() as ExportArchive;
      if (!EXPORT_ARCHIVES.includes(archive)) bad('archive', `archive must be one of ${EXPORT_ARCHIVES.join(', ')}, got "${get('archive')}"`);
      else job.archive = archive;
      if (get('split') !== '') {
        const split = parseByteSize(get('split'));
        if (split === undefined || split < MIN_SPLIT) bad('split', `split must be a size of at least 1MiB, like 4GiB, got "${get('split')}"`);
        else if (archive === 'none') bad('split', 'split cuts an archive: set archive to tar, tar.gz or zip');
        else job.split = split;
      }
    } else {
      for (const c of ['rev', 'output', 'archive', 'split'] as const) if (get(c) !== '') bad(c, `${c} is an export option; this row is ${action}`);
    }
    const other = entries.get(`${job.action}\0${rel}`);
    if (other !== undefined) bad('entry', `${rel} has the same ${action} job on line ${other}`);
    entries.set(`${job.action}\0${rel}`, line);
    jobs.push(job);
  });
  return { jobs, errors };
}

function checkAction(job: BatchJob, area: Area | undefined, isFile: boolean, bad: (c: Column | undefined, m: string) => void): void {
  if (job.action === 'sync-push') {
    if (area?.mode !== 'synced') bad('entry', `${job.entry} is not in a synced area${area ? ` (${area.name} is ${area.mode})` : ''}: sync-push mirrors synced areas`);
    else if (job.entry.split('/').length !== area.name.split('/').length + 1) bad('entry', `${job.entry} is not an entry (a direct child of ${area.name})`);
  } else if (job.action === 'add' || job.action === 'push') {
    if (area !== undefined && area.mode !== 'versioned') bad('entry', `${job.entry} is in the ${area.mode} area ${area.name}: ${job.action} versions data (use sync-push for synced areas)`);
  }
  if (area !== undefined && (job.action !== 'export')) {
    try {
      guardEntryName(area, job.entry.slice(area.name.length + 1), { isFile, code: 'batch.naming' });
    } catch (err) {
      if (!isRegError(err)) throw err;
      bad('entry', `${err.message}${err.hint ? ` (${err.hint})` : ''}`);
    }
  }
}

function checkSource(repo: Repo, ctx: Context, job: BatchJob, text: string, imported: boolean, bad: (c: Column | undefined, m: string) => void): void {
  const abs = resolve(ctx.cwd, text);
  const inRepo = relative(repo.root, abs);
  if (inRepo === '' || (!inRepo.startsWith('..') && !isAbsolute(inRepo))) return void bad('source', `${text} is inside the repository: the source is a folder to import from outside it`);
  job.source = abs;
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (st === undefined) {
    // A moved source is gone once its import is done.
    if (!imported) bad('source', `${text} does not exist`);
    return;
  }
  if (st.isSymbolicLink()) return void bad('source', `${text} is a symbolic link: name the folder it points to`);
  if (!st.isDirectory() && !st.isFile()) return void bad('source', `${text} is neither a folder nor a file`);
}

// ---------------------------------------------------------------------------------------------
// Planning (the dry run and the real run share it)

/** Files and bytes under a source; symlinks and special files are refused (an import copies plain files). */
function walkSource(abs: string): { files: number; bytes: number; problem?: string } {
  const st = lstatSync(abs);
  if (st.isFile()) return { files: 1, bytes: st.size };
  let files = 0;
  let bytes = 0;
  const stack = [abs];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        files++;
        bytes += lstatSync(p).size;
      } else return { files, bytes, problem: `${p} is ${e.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}: an import copies plain files and folders only` };
    }
  }
  return { files, bytes };
}

async function planJobs(repo: Repo, ctx: Context, jobs: readonly BatchJob[], previous: ReadonlyMap<string, JobOutcome>, errors: RowError[], options: BatchOptions): Promise<JobPlan[]> {
  const { areas } = registryPolicy(repo.config.data);
  const remotes = new Map<string, ReturnType<typeof openRemote>>();
  const remoteFor = (name: string | undefined) => {
    const resolved = resolveRemoteName(repo, name);
    let r = remotes.get(resolved);
    if (r === undefined) {
      r = openRemote(repo, ctx, { remote: resolved, jobs: options.transferJobs, wrapBackend: options.wrapBackend });
      remotes.set(resolved, r);
    }
    return r;
  };
  // Export rows: their revisions resolved in one git call (the release directory name needs the commit).
  const revs = [...new Set(jobs.filter((j) => j.action === 'export').map((j) => j.rev ?? 'HEAD'))];
  const resolved = new Map((await resolveCommits(repo.root, revs)).map((r, i) => [revs[i]!, r.commit]));
  const plans: JobPlan[] = [];
  try {
    for (const job of jobs) {
      ctx.signal?.throwIfAborted();
      const bad = (column: Column | undefined, message: string) => errors.push({ line: job.line, ...(column ? { column } : {}), message });
      const plan: JobPlan = { job, decision: 'run', copy: { files: 0, bytes: 0 }, send: { files: 0, bytes: 0, objects: 0, estimate: false } };
      plans.push(plan);
      const imported = previous.get(job.key)?.imported === true;
      const dest = resolve(repo.root, job.entry);
      try {
        if (job.source !== undefined && !imported) {
          if (existsSync(dest)) bad('entry', `${job.entry} exists already: an import never overwrites data (remove it, or drop the source to ${job.action} what is there)`);
          const walked = walkSource(job.source);
          if (walked.problem) bad('source', walked.problem);
          plan.copy = { files: walked.files, bytes: walked.bytes };
          const dir = lstatSync(job.source).isDirectory();
          if (job.action === 'push' || job.action === 'sync-push') plan.send = { files: walked.files, bytes: walked.bytes, objects: walked.files + (dir && job.action === 'push' ? 1 : 0), estimate: job.action === 'push' };
        } else if (job.action !== 'export' && !existsSync(dest) && !existsSync(`${dest}.dvc`)) {
          bad('entry', `${job.entry} does not exist${job.source === undefined ? ' and the row names no source to import' : ''}`);
          continue;
        }
        if (job.action === 'push') await planPushJob(repo, ctx, job, plan, imported, remoteFor);
        else if (job.action === 'sync-push') await planSyncJob(repo, job, plan, areas, remoteFor, imported);
        else if (job.action === 'export') planExportJob(repo, job, plan, resolved, bad);
      } catch (err) {
        if (!isRegError(err) || ctx.signal?.aborted) throw err;
        // An unreachable remote is no fault of the row: that job fails, the others run.
        if (err.exit === 'transfer') Object.assign(plan, { decision: 'fail', reason: failureReason(err), error: err.exit });
        else bad(undefined, `${err.message}${err.hint ? ` (${err.hint})` : ''}`);
      }
    }
  } finally {
    for (const r of remotes.values()) r.close();
  }
  return plans;
}

async function planPushJob(repo: Repo, ctx: Context, job: BatchJob, plan: JobPlan, imported: boolean, remoteFor: (name: string | undefined) => ReturnType<typeof openRemote>): Promise<void> {
  if (job.source !== undefined && !imported) return; // new data: planned from the source walk
  const pointerAbs = resolve(repo.root, job.entry) + '.dvc';
  if (!existsSync(pointerAbs)) {
    // Data in the work tree that is not added yet: everything in it would be sent.
    const walked = walkSource(resolve(repo.root, job.entry));
    plan.send = { files: walked.files, bytes: walked.bytes, objects: walked.files + (lstatSync(resolve(repo.root, job.entry)).isDirectory() ? 1 : 0), estimate: true };
    return;
  }
  const outputs = loadPointer(repo, pointerAbs).filter((o) => o.out.md5 !== undefined);
  if (outputs.length === 0) return;
  const remote = remoteFor(job.remote ?? outputs[0]!.out.remote);
  const pushPlan = await planPush(repo, ctx, outputs, remote);
  const missing = plannedTotals(pushPlan);
  if (missing.objects === 0 && !job.force) {
    plan.decision = 'skip';
    plan.reason = `${job.entry} (${outputs.map((o) => o.out.md5).join(', ')}) is on ${remote.name} already`;
    return;
  }
  plan.send = { ...missing, estimate: outputs.some((o) => isLegacy(o.out)) };
}

async function planSyncJob(repo: Repo, job: BatchJob, plan: JobPlan, areas: readonly Area[], remoteFor: (name: string | undefined) => ReturnType<typeof openRemote>, imported: boolean): Promise<void> {
  const hit = areaOf(areas, job.entry)!;
  const remote = remoteFor(job.remote ?? hit.area.remote);
  const key = [hit.area.prefix, hit.rest, SYNC_MANIFEST].filter((p) => p !== '').join('/');
  if ((await remote.store.backend.head(key)) !== undefined && !job.force) {
    plan.decision = 'skip';
    plan.reason = `${job.entry} exists on ${remote.name} already (the row does not say force)`;
    return;
  }
  if (job.source === undefined || imported) {
    const walked = walkSource(resolve(repo.root, job.entry));
    plan.send = { files: walked.files, bytes: walked.bytes, objects: walked.files, estimate: true };
  }
}

function planExportJob(repo: Repo, job: BatchJob, plan: JobPlan, commits: ReadonlyMap<string, string | undefined>, bad: (c: Column | undefined, m: string) => void): void {
  const commit = commits.get(job.rev ?? 'HEAD');
  if (commit === undefined) return void bad('rev', `${job.rev ?? 'HEAD'} is not a commit in this repository`);
  const pointerAbs = resolve(repo.root, job.entry) + '.dvc';
  const output = existsSync(pointerAbs) ? loadPointer(repo, pointerAbs)[0] : undefined;
  plan.copy = { files: output?.out.nfiles ?? 1, bytes: output?.out.size ?? 0 };
  const bundle = resolve(repo.root, job.output!, `${ruleNameOf(basename(job.entry), output?.isDir === false)}-${versionLabel(job.rev, commit)}`);
  if (existsSync(bundle) && !job.force) {
    plan.decision = 'skip';
    plan.reason = `${relative(repo.root, bundle)} exists already (the row does not say force)`;
  }
}

function totalsOf(plans: readonly JobPlan[]): BatchResult['totals'] {
  const t = { jobs: plans.length, run: 0, skip: 0, fail: 0, copyFiles: 0, copyBytes: 0, sendFiles: 0, sendBytes: 0, sendObjects: 0, estimate: false };
  for (const p of plans) {
    if (p.decision !== 'run') {
      t[p.decision]++;
      continue;
    }
    t.run++;
    t.copyFiles += p.copy.files;
    t.copyBytes += p.copy.bytes;
    t.sendFiles += p.send.files;
    t.sendBytes += p.send.bytes;
    t.sendObjects += p.send.objects;
    t.estimate ||= p.send.estimate;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Running

/** A mutex for the work-tree steps (imports and adds share .gitignore files and the hashing pool). */
class Lock {
  private tail = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn);
    this.tail = next.then(() => undefined, () => undefined);
    return next;
  }
}

async function runJobs(repo: Repo, ctx: Context, selected: readonly BatchJob[], plans: readonly JobPlan[], previous: ReadonlyMap<string, JobOutcome>, resultsAbs: string, options: BatchOptions, result: BatchResult): Promise<void> {
  const outcomes = new Map<string, JobOutcome>();
  for (const j of selected) {
    const p = previous.get(j.key);
    outcomes.set(j.key, p && (p.status === 'done' || p.status === 'skipped') ? p : { key: j.key, line: j.line, action: j.action, entry: j.entry, status: 'pending', reason: p?.reason ?? '', files: 0, bytes: 0, objects: 0, ...(p?.imported ? { imported: true } : {}) });
  }
  const { fs, prefix } = outputTree(repo, dirname(resultsAbs));
  const resultsRel = prefix + basename(resultsAbs);
  let writing = Promise.resolve();
  const save = () => {
    const rows = [...outcomes.values()];
    writing = writing.then(() => fs.writeFile(resultsRel, resultsCsv(rows), 0o644));
    return writing;
  };
  await save();
  const lock = new Lock();
  const total = plans.length;
  let finished = 0;
  ctx.progress({ type: 'start', phase: 'batch', label: `${total} job${total === 1 ? '' : 's'}`, total });
  const log = (text: string) => ctx.progress({ type: 'log', level: 'info', message: text });
  let next = 0;
  const worker = async () => {
    for (;;) {
      if (ctx.signal?.aborted) return;
      const plan = plans[next++];
      if (plan === undefined) return;
      const job = plan.job;
      const outcome = outcomes.get(job.key)!;
      const tag = `job ${job.line} (${job.action} ${job.entry})`;
      if (plan.decision === 'skip') {
        Object.assign(outcome, { status: 'skipped', reason: plan.reason ?? '' });
      } else if (plan.decision === 'fail') {
        Object.assign(outcome, { status: 'failed', reason: plan.reason ?? '', error: plan.error });
      } else {
        log(`${tag}: started`);
        try {
          await runJob(repo, ctx, job, outcome, lock, save, options);
          outcome.status = 'done';
        } catch (err) {
          if (ctx.signal?.aborted) {
            outcome.status = 'interrupted';
            outcome.reason = 'interrupted';
          } else {
            // A disk condition the op left to the CLI to name (a full output directory): named here, as the CLI would.
            const known = diskError(err) ?? err;
            outcome.status = 'failed';
            outcome.reason = failureReason(known);
            outcome.error = isRegError(known) ? known.exit : 'failed';
          }
        }
      }
      finished++;
      // Recorded before it is reported: once a job says done, --continue knows it.
      await save();
      log(`${tag}: ${outcome.status}${outcome.reason && outcome.status !== 'done' ? `: ${outcome.reason}` : ''} [${finished}/${total}]`);
      ctx.progress({ type: 'advance', phase: 'batch', done: 1 });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs ?? DEFAULT_JOBS, plans.length)) }, worker));
  } finally {
    ctx.progress({ type: 'end', phase: 'batch' });
    await save();
  }
  result.outcomes = [...outcomes.values()];
  result.done = result.outcomes.filter((o) => o.status === 'done').length;
  result.skipped = result.outcomes.filter((o) => o.status === 'skipped').length;
  result.failed = result.outcomes.filter((o) => o.status === 'failed').length;
  if (ctx.signal?.aborted) {
    throw new RegError('interrupted', 'interrupted', `interrupted: ${result.done} jobs done; the results are in ${resultsAbs}`, { hint: `finish with: reg batch ${options.csv} --continue${options.shard ? ` --shard ${options.shard.index}/${options.shard.count}` : ''}` });
  }
}

/** A failure as one results cell: the message's first two lines (what failed and the first cause: a transfer error lists one per line) and the hint. */
function failureReason(err: unknown): string {
  return isRegError(err) ? `${err.message.split('\n').slice(0, 2).map((l) => l.trim()).join(': ')}${err.hint ? ` (${err.hint})` : ''}` : `internal error: ${(err as Error)?.message ?? String(err)}`;
}

async function runJob(repo: Repo, ctx: Context, job: BatchJob, outcome: JobOutcome, lock: Lock, save: () => Promise<void>, options: BatchOptions): Promise<void> {
  const common = { remote: job.remote, jobs: options.transferJobs, retry: options.retry, wrapBackend: options.wrapBackend };
  if (job.action === 'export') {
    const r = await exportEntry(ctx, { ...common, entry: job.entry, rev: job.rev, output: resolve(repo.root, job.output!), archive: job.archive, split: job.split, force: job.force });
    Object.assign(outcome, { reason: `wrote ${r.bundle}`, files: r.files, bytes: r.bytes });
    return;
  }
  await lock.run(async () => {
    if (job.source !== undefined && !outcome.imported) {
      await importSource(repo, job, ctx.signal);
      outcome.imported = true;
      outcome.reason = `${job.importMode === 'move' ? 'moved' : 'copied'} ${job.source}`;
      await save();
    }
    if (job.source !== undefined && job.importMode === 'move' && existsSync(job.source)) rmSync(job.source, { recursive: true, force: true });
    if (job.action === 'add' || (job.action === 'push' && existsSync(resolve(repo.root, job.entry)))) {
      const r = await add(ctx, { targets: [job.entry] });
      const o = r.outputs[0];
      if (o) Object.assign(outcome, { files: o.nfiles ?? 1, bytes: o.size, objects: o.storedObjects });
    }
  });
  if (job.action === 'push') {
    const r = await push(ctx, { ...common, targets: [job.entry] });
    Object.assign(outcome, { objects: r.pushed, bytes: r.bytes, reason: `pushed ${r.pushed} objects to ${r.remotes.join(', ')}` });
  } else if (job.action === 'sync-push') {
    const r = await sync(ctx, { ...common, direction: 'push', targets: [job.entry], force: job.force });
    Object.assign(outcome, { files: r.transferred, bytes: r.bytes, objects: r.transferred, reason: `sent ${r.transferred} files` });
  }
}

/**
 * Copies (or moves) the source into the entry's place: into a temp name beside it first, then
 * renamed, so the entry appears whole or not at all. A move on one filesystem is one rename.
 */
async function importSource(repo: Repo, job: BatchJob, signal: AbortSignal | undefined): Promise<void> {
  const { fs } = outputTree(repo, repo.root);
  const destRel = job.entry;
  const dest = fs.prepareWrite(destRel);
  if (lstatSync(dest, { throwIfNoEntry: false }) !== undefined) throw new RegError('batch.entry-exists', 'conflict', `${job.entry} appeared since the plan was made`, { hint: 'an import never overwrites data: remove it or drop the source column' });
  if (job.importMode === 'move') {
    try {
      renameSync(job.source!, dest);
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EXDEV') throw importError(err, job);
    }
  }
  const tmp = tempPathFor(dest);
  // Ctrl-C removes the temp copy at once: a big file's copy cannot be stopped, and may outlast
  // the grace period reg has to exit (its bytes go to an unlinked file until then). The copy
  // still running in the thread pool can add a file or folder while the tree is being removed
  // (ENOTEMPTY): a listener must not throw, so that removal is best effort and the one below,
  // once the copy has settled, finishes it.
  const removeNow = () => {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // finished below, or swept as a stale temp by a later add
    }
  };
  signal?.addEventListener('abort', removeNow, { once: true });
  try {
    await copyTree(job.source!, tmp, signal);
    signal?.throwIfAborted();
    renameSync(tmp, dest);
  } catch (err) {
    try {
      rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // the import's own error is the one to report; a leftover temp is swept as stale by a later add
    }
    throw importError(err, job);
  } finally {
    signal?.removeEventListener('abort', removeNow);
  }
}

/**
 * Copies a file or folder of plain files, timestamps kept, one file at a time with copyFile
 * (copy_file_range or a reflink: about 3x faster than a stream for big files). Unlike fs.cp it
 * stops on Ctrl-C between files. Anything but plain files and folders (a symlink appearing since
 * the plan) is refused.
 */
async function copyTree(src: string, dest: string, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  const st = await lstat(src);
  if (st.isDirectory()) {
    await mkdir(dest);
    for (const name of (await readdir(src)).sort()) await copyTree(join(src, name), join(dest, name), signal);
  } else if (st.isFile()) {
    await copyFile(src, dest, constants.COPYFILE_EXCL);
  } else {
    throw new RegError('batch.source-changed', 'failed', `${src} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}: an import copies plain files and folders only`, { hint: 'replace it with the file it stands for and continue (reg batch --continue)' });
  }
  await utimes(dest, st.atime, st.mtime);
}

function importError(err: unknown, job: BatchJob): RegError {
  if (isRegError(err)) return err;
  const code = errnoCode(err);
  const path = (err as { dest?: unknown; path?: unknown }).dest ?? (err as { path?: unknown }).path;
  const message = (err as Error).message + (typeof path === 'string' && !(err as Error).message.includes(path) ? `: ${path}` : '');
  return new RegError(code === 'ENOSPC' ? 'fs.no-space' : code === 'EACCES' || code === 'EPERM' ? 'fs.permission' : 'batch.import-failed', 'failed', `importing ${job.source} into ${job.entry} failed: ${message}`, {
    hint: code === 'ENOSPC' ? 'free some disk space and continue (reg batch --continue)' : code === 'EACCES' || code === 'EPERM' ? 'fix the permissions and continue (reg batch --continue)' : 'fix the cause and continue (reg batch --continue)',
  });
}

// ---------------------------------------------------------------------------------------------
// The results file

const RESULT_COLUMNS = ['key', 'line', 'action', 'entry', 'status', 'imported', 'reason', 'files', 'bytes', 'objects', 'error'] as const;

/**
 * A spreadsheet runs a cell starting with = + - @ (or a tab / CR before one) as a formula, and
 * entry paths start with an area name from the tracked config: such a cell gets a leading `'`
 * (OWASP's advice), which readResults takes off again.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvField(v: string | number | boolean | undefined): string {
  const raw = v === undefined || v === false ? '' : v === true ? 'yes' : String(v);
  const s = typeof v === 'string' && FORMULA_START.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function fromCsvField(s: string | undefined): string {
  return s !== undefined && s.startsWith("'") && FORMULA_START.test(s.slice(1)) ? s.slice(1) : (s ?? '');
}

function resultsCsv(rows: readonly JobOutcome[]): string {
  return [RESULT_COLUMNS.join(','), ...rows.map((r) => RESULT_COLUMNS.map((c) => csvField(r[c])).join(','))].join('\n') + '\n';
}

function readResults(abs: string): Map<string, JobOutcome> {
  const out = new Map<string, JobOutcome>();
  if (!existsSync(abs)) return out;
  let rows: Array<Record<string, string>>;
  try {
    rows = parse(readCsvText(abs, () => new Error(`longer than ${MAX_BATCH_CSV_BYTES / (1024 * 1024)} MiB`)), { columns: true, skip_empty_lines: true, bom: true }) as Array<Record<string, string>>;
  } catch (err) {
    throw new RegError('batch.bad-results', 'config', `${abs} is not a results file reg can read: ${(err as Error).message}`, { hint: 'name the right file with --results, or run again without --continue' });
  }
  for (const r of rows) {
    if (!r.key) continue;
    out.set(r.key, {
      key: r.key,
      line: Number(r.line),
      action: r.action as BatchAction,
      entry: fromCsvField(r.entry),
      status: (r.status ?? 'pending') as JobStatus,
      reason: fromCsvField(r.reason),
      files: Number(r.files) || 0,
      bytes: Number(r.bytes) || 0,
      objects: Number(r.objects) || 0,
      ...(r.error ? { error: r.error } : {}),
      ...(r.imported === 'yes' ? { imported: true } : {}),
    });
  }
  return out;
}

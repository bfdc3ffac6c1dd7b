// A million small files (opt-in: `--only million`): add, no-change status, push to a directory
// remote, checkout into an empty workspace and the status after it, each with its peak RSS, at N files and at N/10, so
// the table gives the scaling per 100k files. Also times JSON.parse / JSON.stringify of the
// N-entry `.dir` manifest in-process: DVC's one-JSON-document manifest format is a fixed cost of
// every command that reads the directory.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { expectPointerFiles, expectUpToDate, freshRegRepo, regStatusJson } from '../lib/repos.mjs';

export const name = 'million';
export const description = 'opt-in: `reg add`, no-change `reg status`, `reg push` (directory remote), `reg checkout` and the status right after it, of BENCH_MILLION_FILES (1,000,000) ~100-byte files and of a tenth of them: scaling per 100k and peak RSS';
export const needs = ['~12 GB of disk and ~5M inodes at 1,000,000 files'];
/** Not part of the default run: only with `--only million`. */
export const optIn = true;

const RSS_BUDGET_MB = 1024;
const PER_DIR = 1000;

/** n files of 60-140 bytes (each unique) in directories of PER_DIR. */
function generateSmallFiles(dir, n) {
  const ndirs = Math.max(1, Math.ceil(n / PER_DIR));
  let bytes = 0;
  const pad = 'x'.repeat(140);
  for (let d = 0; d < ndirs; d++) {
    const sub = join(dir, `d${String(d).padStart(4, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let i = d * PER_DIR; i < Math.min(n, (d + 1) * PER_DIR); i++) {
      const body = Buffer.from(`file ${i} of ${n}\n${pad.slice(0, 40 + ((i * 7919) % 100))}\n`);
      const fd = openSync(join(sub, `f${String(i).padStart(7, '0')}.txt`), 'w');
      writeSync(fd, body);
      closeSync(fd);
      bytes += body.length;
    }
  }
  return { files: n, bytes, dirs: ndirs };
}

function countFiles(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : e.isFile() ? 1 : 0;
  return n;
}

/** Times JSON.parse and JSON.stringify of the directory's manifest (the `.dir` cache object). */
function manifestCost(h, repo, n) {
  const ptr = readFileSync(join(repo, 'data.dvc'), 'utf8');
  const oid = /md5: ([0-9a-f]{32}\.dir)/.exec(ptr)?.[1];
  if (!oid) throw new Error(`data.dvc names no .dir object:\n${ptr}`);
  const file = join(repo, '.reg', 'cache', 'files', 'md5', oid.slice(0, 2), oid.slice(2));
  const text = readFileSync(file, 'utf8');
  const t0 = process.hrtime.bigint();
  const entries = JSON.parse(text);
  const t1 = process.hrtime.bigint();
  JSON.stringify(entries);
  const t2 = process.hrtime.bigint();
  const r = (ns) => ({ seconds: Number(ns) / 1e9 });
  h.sample(`million-manifest-parse-${n}`, `JSON.parse of the ${n}-entry .dir manifest (${(text.length / 2 ** 20).toFixed(1)} MiB), in the bench process`, r(t1 - t0));
  h.sample(`million-manifest-stringify-${n}`, `JSON.stringify of the ${n}-entry manifest, in the bench process`, r(t2 - t1));
}

async function oneSize(h, n) {
  const base = join(h.tmp, `million-${n}`);
  const repo = join(base, 'repo');
  const tree = join(repo, 'data');
  const t0 = Date.now();
  const d = generateSmallFiles(tree, n);
  h.results.datasets[`million-${n}`] = d;
  h.log(`  generated ${n} files (${(d.bytes / 2 ** 20).toFixed(1)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  freshRegRepo(h, repo, ['data']);
  h.syncDisk();
  h.sample(`million-add-${n}`, `reg add ${n} small files (cold cache)`, h.reg(repo, ['-q', 'add', 'data']));
  expectPointerFiles(join(repo, 'data.dvc'), n);
  h.syncDisk();
  regStatusJson(h, repo); // the first status after add may refresh the stat cache
  const st = h.sample(`million-status-${n}`, `reg status, no change (${n} files)`, regStatusJson(h, repo));
  expectUpToDate(st, `reg status of ${n} files`);
  manifestCost(h, repo, n);
  const remote = join(base, 'remote');
  mkdirSync(remote, { recursive: true });
  h.reg(repo, ['-q', 'remote', 'add', 'dir', remote, '--default']);
  h.syncDisk();
  h.sample(`million-push-${n}`, `reg push ${n} files to a directory remote`, h.reg(repo, ['-q', 'push']));
  const pushed = countFiles(join(remote, 'files'));
  if (pushed !== n + 1) throw new Error(`reg push of ${n} files: ${pushed} objects on the remote, ${n + 1} expected (files + manifest)`);
  rmSync(tree, { recursive: true, force: true });
  h.syncDisk();
  h.sample(`million-checkout-${n}`, `reg checkout ${n} files into an empty workspace`, h.reg(repo, ['-q', 'checkout']));
  const back = existsSync(tree) ? countFiles(tree) : 0;
  if (back !== n) throw new Error(`reg checkout of ${n} files: ${back} files in the workspace`);
  // The files checkout wrote are younger than its stat rows can vouch for: the first status lstats
  // them all and writes git's mirror index (the 1M run at a80d573 peaked at 986 MB here).
  const after = h.sample(`million-status-after-checkout-${n}`, `reg status right after the checkout (${n} files; lstats every file once)`, regStatusJson(h, repo));
  expectUpToDate(after, `reg status after the checkout of ${n} files`);
  rmSync(base, { recursive: true, force: true });
}

export async function run(h) {
  const n = Number(process.env.BENCH_MILLION_FILES ?? (h.cfg.size === 'full' ? 1_000_000 : h.cfg.size === 'quick' ? 20_000 : 2_000));
  if (!Number.isInteger(n) || n < 10) throw new Error(`BENCH_MILLION_FILES must be an integer >= 10, got ${process.env.BENCH_MILLION_FILES}`);
  const tenth = Math.round(n / 10);
  h.note(`million: ${n} files and ${tenth} files (a tenth, for the scaling ratio); generated and removed in turn`);
  await oneSize(h, tenth);
  await oneSize(h, n);
  const m = h.results.measurements;
  for (const step of ['add', 'status', 'push', 'checkout', 'status-after-checkout']) {
    const small = m[`million-${step}-${tenth}`];
    const big = m[`million-${step}-${n}`];
    // Per-100k cost at each size: 1.0 is linear scaling, above it worse than linear.
    const ratio = (big.median / n) / (small.median / tenth);
    h.target(`million ${step}: scales linearly from ${tenth} to ${n} files (per-file time ratio <= 1.25)`, ratio <= 1.25,
      `${ratio.toFixed(2)}x per file; ${(big.median / (n / 100_000)).toFixed(2)} s per 100k at ${n} vs ${(small.median / (tenth / 100_000)).toFixed(2)} s per 100k at ${tenth}`);
    if (big.peakRssMB !== undefined) h.target(`million ${step}: peak RSS < ${RSS_BUDGET_MB} MB at ${n} files`, big.peakRssMB < RSS_BUDGET_MB, `${big.peakRssMB.toFixed(0)} MB (${small.peakRssMB?.toFixed(0) ?? '?'} MB at ${tenth})`);
  }
}

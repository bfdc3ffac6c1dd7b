#!/usr/bin/env node
// reg benchmark: `npm run bench` (builds first) or `node bench/run.mjs [options]`.
//
// Every reg measurement is alternated with its reference in the same run (A B A B ...), and the
// medians are compared as ratios, because file-creation speed on shared machines drifts several
// fold within hours: absolute seconds from two different runs are not comparable, ratios are.
// One file per case in bench/cases/, the shared harness in bench/lib/ (docs/benchmarks.md).
//
// Options:
//   --only a,b          run only these cases (names from --list), in the usual order; opt-in
//                       cases (million) run only when named here
//   --size full|quick|tiny
//                       dataset sizes and round counts (default full; --quick = --size quick:
//                       2000 files, 64 MiB, 5000-file status tree; tiny is the harness smoke test)
//   --out <dir>         where results-<date>.json/.md go (default bench/out)
//   --list              list the cases and exit
//
// Environment (each overrides the --size preset):
//   BENCH_SMALL_FILES   files in the small-file tree for add/status/push (full: 20000)
//   BENCH_BIG_MB        size of the big file in MiB (full: 1024)
//   BENCH_STATUS_FILES  files in the large tree for add/status (full: 100000)
//   BENCH_ROUNDS        rounds for add/md5/cp measurements (3)
//   BENCH_STATUS_ROUNDS rounds for status measurements (5)
//   BENCH_PUSH_ROUNDS   rounds for push/pull measurements (full: 2, quick: 1)
//   BENCH_STARTUP_ROUNDS rounds for the start-up measurements (full: 20)
//   BENCH_COLD=0|1      also time the big-file add with a dropped page cache (default: when
//                       /proc/sys/vm/drop_caches is writable, i.e. as root)
//   BENCH_PUSH=0        skip the push/pull case
//   BENCH_REMOTE_REFS=1 run the push/pull references (cp, rclone) even when reg has no push
//   BENCH_BATCH_JOBS    jobs (source folders) in the batch case's CSV (full: 1000)
//   BENCH_BATCH_JOB_FILES files in each of those folders (full: 100)
//   BENCH_MILLION_FILES files in the million case (full: 1000000, quick: 20000, tiny: 2000)
//   BENCH_CATALOG_ENTRIES entries in the catalog case's registry (full: 1000, quick: 300, tiny: 40;
//                       its big dataset has BENCH_STATUS_FILES files)
//   BENCH_CHECKOUT_TARGET=tmpfs|disk  where copy-mode checkout and `cp -a` write (default tmpfs:
//                       /dev/shm, both tools; disk when there is none)
//   BENCH_KEEP=1        keep the temp dir (printed) instead of deleting it
//   TMPDIR              where the datasets go (os.tmpdir())
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { caseNames } from './cases/index.mjs';
import { UsageError, parseArgs } from './lib/config.mjs';
import { createHarness } from './lib/harness.mjs';
import { machineInfo } from './lib/machine.mjs';
import { ROOT, log } from './lib/proc.mjs';
import { markdownReport, textReport } from './lib/report.mjs';

async function loadCases() {
  const cases = [];
  for (const name of caseNames) {
    const c = await import(`./cases/${name}.mjs`);
    if (c.name !== name || typeof c.run !== 'function') throw new Error(`bench/cases/${name}.mjs must export name = '${name}' and run(harness)`);
    cases.push(c);
  }
  return cases;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message} (see node bench/run.mjs --help)\n`);
  process.exit(2);
}
const allCases = await loadCases();
if (opts.help || opts.list) {
  if (opts.help) process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n\ncases:\n');
  for (const c of allCases) process.stdout.write(`  ${c.name.padEnd(12)} ${c.optIn ? '(opt-in: --only) ' : ''}${c.description}${c.needs?.length ? ` [needs: ${c.needs.join(', ')}]` : ''}\n`);
  process.exit(0);
}
const unknown = (opts.only ?? []).filter((n) => !caseNames.includes(n));
if (unknown.length) {
  process.stderr.write(`bench: unknown case ${unknown.join(', ')}; cases: ${caseNames.join(', ')}\n`);
  process.exit(2);
}
// Opt-in cases (`export const optIn = true`, e.g. million) run only when named in --only.
const selected = opts.only ? allCases.filter((c) => opts.only.includes(c.name)) : allCases.filter((c) => !c.optIn);
const { cfg } = opts;

const tmp = mkdtempSync(join(tmpdir(), 'reg-bench-'));
const h = createHarness({ cfg, tmp });
const { results } = h;
results.cases = selected.map((c) => c.name);

function cleanup() {
  h.runCleanups();
  if (process.env.BENCH_KEEP === '1') {
    log(`kept ${tmp}`);
    return;
  }
  try {
    // cache objects are read-only files in writable dirs: rm handles them
    rmSync(tmp, { recursive: true, force: true });
  } catch (err) {
    log(`could not remove ${tmp}: ${err.message}`);
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

let exitCode = 0;
try {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (or use `npm run bench`)');
  results.machine = machineInfo(tmp);
  log(`temp dir ${tmp} (${results.machine.tmpFsType}); ${results.machine.nproc} cores, ${results.machine.cpuModel}; ${cfg.size} run; cases ${results.cases.join(', ')}`);
  log(`config ${JSON.stringify(cfg)}`);
  for (const c of selected) {
    await h.section(c.name, () => {
      log(`   ${c.description}`);
      return c.run(h);
    });
  }
} catch (err) {
  results.errors.push(`fatal: ${err.stack ?? err}`);
  log(`FATAL ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  cleanup();
}
const text = textReport(results);
process.stdout.write(text);
const outDir = resolve(opts.outDir ?? join(ROOT, 'bench', 'out'));
mkdirSync(outDir, { recursive: true });
const base = join(outDir, `results-${results.date.replace(/[:.]/g, '-')}${cfg.size === 'full' ? '' : `-${cfg.size}`}`);
writeFileSync(`${base}.json`, JSON.stringify({ ...results, table: text }, null, 2) + '\n');
writeFileSync(`${base}.md`, markdownReport(results));
process.stdout.write(`results written to ${base}.json (and .md)\n`);
if (results.errors.length && exitCode === 0) exitCode = 1;
process.exit(exitCode);

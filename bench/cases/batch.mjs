// `reg batch jobs.csv --dry-run` of a CSV of `add` jobs, each importing one source folder from
// outside the repository into the raw_datasets area (full size: 1,000 jobs of 100 files, 100k
// files), against `find -printf '%s'` of the same folders (the walk with a stat per file that any
// plan of files and bytes needs). Target: the dry run < 10 s.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshRegRepo } from '../lib/repos.mjs';

export const name = 'batch';
export const description = '`reg batch --dry-run` of 1,000 `add` jobs over 100k files in source folders outside the repo vs `find -printf %s` of those folders';
export const needs = ['find'];

const TARGET_S = 10;

export async function run(h) {
  const { cfg } = h;
  const help = h.run(process.execPath, [h.regBin, '--help'], { allowFail: true });
  if (!/^\s+batch\b/m.test(help.stdout)) {
    h.note('reg has no `batch` command: batch skipped');
    return;
  }
  const sources = h.datasets.batchSources();
  const repo = join(h.tmp, 'batch-repo');
  h.run('mkdir', ['-p', repo]);
  freshRegRepo(h, repo, []);
  const csv = join(h.scratch, 'batch-jobs.csv');
  writeFileSync(csv, ['action,entry,area,source', ...sources.folders.map((f) => `add,${f},raw_datasets,${join(sources.dir, f)}`)].join('\n') + '\n');
  const label = `${cfg.batchJobs} jobs, ${h.results.datasets.batchSources.files} files`;
  const before = readdirSync(repo).sort().join(',');
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    const dry = h.reg(repo, ['-q', '--json', 'batch', csv, '--dry-run']);
    checkPlan(dry.stdout, cfg.batchJobs, h.results.datasets.batchSources);
    h.sample('batch-dry-run', `reg batch --dry-run (${label})`, dry);
    h.sample('find-sizes-batch', `find -printf %s of the source folders (${label})`, h.sh(`find ${JSON.stringify(sources.dir)} -type f -printf '%s\\n' > /dev/null`));
  }
  const after = readdirSync(repo).sort().join(',');
  if (after !== before) throw new Error(`the dry run changed the repository: ${before} -> ${after}`);
  h.compare('batch-dry-run', 'find-sizes-batch');
  const m = h.results.measurements['batch-dry-run'];
  h.target(`batch dry run of ${label} < ${TARGET_S} s`, m.median < TARGET_S, `${m.median.toFixed(2)} s median (${m.min.toFixed(2)}-${m.max.toFixed(2)})`);
}

/** The plan names every job, and its totals are exactly the files and bytes of the sources. */
function checkPlan(stdout, jobs, dataset) {
  let plan;
  try {
    plan = JSON.parse(stdout);
  } catch {
    throw new Error(`reg batch --dry-run --json printed no JSON: ${stdout.slice(0, 300)}`);
  }
  const t = plan.totals ?? {};
  if (plan.plan?.length !== jobs || t.run !== jobs || t.copyFiles !== dataset.files || t.copyBytes !== dataset.bytes) {
    throw new Error(`the dry run planned ${plan.plan?.length} jobs (${t.run} to run), ${t.copyFiles} files, ${t.copyBytes} bytes; expected ${jobs} jobs, ${dataset.files} files, ${dataset.bytes} bytes`);
  }
}

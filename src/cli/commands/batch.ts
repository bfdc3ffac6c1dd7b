import { InvalidArgumentError, type Command } from 'commander';
import { batch, parseShard, type BatchResult, type JobPlan } from '../../ops/publish/batch.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural, type Output } from '../output.js';

function shardOption(value: string): { index: number; count: number } {
  const s = parseShard(value);
  if (s === undefined) throw new InvalidArgumentError('must be I/N, e.g. 0/4');
  return s;
}

function planLine(p: JobPlan): string {
  const head = `line ${p.job.line}: ${p.job.action} ${p.job.entry}`;
  if (p.decision === 'skip') return `${head}: skip (${p.reason})`;
  if (p.decision === 'fail') return `${head}: cannot be planned: ${p.reason}`;
  const parts: string[] = [];
  if (p.job.action === 'export') parts.push(`write ${plural(p.copy.files, 'file')} (${formatBytes(p.copy.bytes)}) to ${p.job.output}`);
  else if (p.copy.files > 0 || p.job.source !== undefined) parts.push(`${p.job.importMode} ${plural(p.copy.files, 'file')} (${formatBytes(p.copy.bytes)}) from ${p.job.source}`);
  if (p.job.action === 'push' || p.job.action === 'sync-push') {
    const le = p.send.estimate ? 'at most ' : '';
    parts.push(`send ${le}${plural(p.send.files, 'file')}, ${plural(p.send.objects, 'object')} (${formatBytes(p.send.bytes)})`);
  }
  if (p.job.action === 'add' && parts.length === 0) parts.push('hash into the cache');
  return `${head}: ${parts.join('; ')}`;
}

function render(r: BatchResult, out: Output): void {
  const t = r.totals;
  if (r.dryRun) {
    for (const p of r.plan) out.line(planLine(p));
    out.line(
      `dry run: ${plural(t.run, 'job')} would run, ${t.skip} skipped${t.fail ? `, ${t.fail} cannot be planned` : ''}${r.previouslyDone ? `, ${r.previouslyDone} done before` : ''}; copy ${plural(t.copyFiles, 'file')} (${formatBytes(t.copyBytes)}); send ${t.estimate ? 'at most ' : ''}${plural(t.sendFiles, 'file')}, ${plural(t.sendObjects, 'object')} (${formatBytes(t.sendBytes)})`,
    );
    return;
  }
  if (out.verbose) for (const o of r.outcomes) out.line(`line ${o.line}: ${o.action} ${o.entry}: ${o.status}${o.reason ? ` (${o.reason})` : ''}`);
  for (const o of r.outcomes) if (o.status === 'failed') out.note(`reg: job on line ${o.line} (${o.action} ${o.entry}) failed: ${o.reason}`);
  out.line(`${plural(r.done, 'job')} done, ${r.skipped} skipped, ${r.failed} failed${r.previouslyDone ? ` (${r.previouslyDone} finished by an earlier run)` : ''}; results in ${r.results}`);
}

export const batchCommand: CommandModule = {
  register(program, run) {
    program
      .command('batch')
      .description('run add / push / sync-push / export jobs from a CSV, one per row (validated and planned first; resumable; shardable)')
      .argument('<jobs.csv>', 'the jobs, one per row (columns: action, entry, area, source, import, remote, force, rev, output, archive, split)')
      .option('--dry-run', 'validate and print the plan (files, bytes, objects per job and in total); change nothing')
      .option('-j, --jobs <n>', 'jobs running at once (default 2)', parseJobs)
      .option('--shard <I/N>', 'run only every N-th job starting at I (0-based): one CSV split across machines', shardOption)
      .option('--continue', 'skip the jobs the results file records as done or skipped')
      .option('--results <file>', 'the results file (default: <jobs>.results.csv, per shard <jobs>.results-I-of-N.csv)')
      .option('--transfer-jobs <n>', 'parallel transfers inside each job', parseJobs)
      .action(async (csv: string, opts: { dryRun?: boolean; jobs?: number; shard?: { index: number; count: number }; continue?: boolean; results?: string; transferJobs?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => batch(ctx, { csv, dryRun: opts.dryRun, jobs: opts.jobs, shard: opts.shard, continue: opts.continue, results: opts.results, transferJobs: opts.transferJobs }),
          render,
          (r) => (r.failed > 0 || r.totals.fail > 0 ? 1 : 0),
        ),
      );
  },
};

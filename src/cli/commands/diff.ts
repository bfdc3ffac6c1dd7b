import type { Command } from 'commander';
import { diff, splitDiffArgs, type OutputDiff } from '../../ops/history/diff.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import type { Output } from '../output.js';
import { formatBytes, plural } from '../output.js';

const LIST_LIMIT = 200;

function bytes(n: number, unknown: boolean): string {
  return unknown && n === 0 ? '' : ` (${formatBytes(n)}${unknown ? '+' : ''})`;
}

function summary(o: OutputDiff): string {
  const t = o.totals;
  const sizeOf = (v: OutputDiff['new']) => (v?.size !== undefined ? ` (${formatBytes(v.size)}${v.nfiles !== undefined ? `, ${plural(v.nfiles, 'file')}` : ''})` : '');
  switch (o.status) {
    case 'error':
      return `unreadable: ${o.error!.message}`;
    case 'unchanged':
      return 'unchanged';
    case 'added':
      return `added${sizeOf(o.new)}`;
    case 'deleted':
      return `deleted${sizeOf(o.old)}`;
    case 'modified': {
      const unknown = t.unknownSizes > 0;
      const parts = [
        t.added ? `+${plural(t.added, 'file')}${bytes(t.addedBytes, unknown)}` : '',
        t.deleted ? `-${plural(t.deleted, 'file')}${bytes(t.deletedBytes, unknown)}` : '',
        t.modified ? `${t.modified} modified${bytes(t.modifiedBytes, unknown)}` : '',
        t.renamed ? `${t.renamed} renamed` : '',
      ].filter(Boolean);
      return `modified${parts.length ? ': ' + parts.join(', ') : ' (data path changed)'}`;
    }
  }
}

function renderFiles(o: OutputDiff, out: Output): void {
  const size = (n: number | null) => (n === null ? '' : `  ${formatBytes(n)}`);
  const rows: string[] = [];
  for (const f of o.added) rows.push(`    A  ${f.path}${size(f.size)}`);
  for (const f of o.modified) rows.push(`    M  ${f.path}${size(f.size)}`);
  for (const f of o.deleted) rows.push(`    D  ${f.path}${size(f.size)}`);
  for (const f of o.renamed) rows.push(`    R  ${f.from} -> ${f.to}${size(f.size)}`);
  rows.slice(0, LIST_LIMIT).forEach((r) => out.line(r));
  if (rows.length > LIST_LIMIT) out.line(`    ... ${rows.length - LIST_LIMIT} more (use --json for the full list)`);
}

export const diffCommand: CommandModule = {
  register(program, run) {
    program
      .command('diff')
      .description('file-level differences between versions: added, modified, deleted, renamed (default: HEAD vs the workspace)')
      .argument('[revs-and-targets...]', '[A [B]] [--] [targets...]: revisions (A alone: A vs the workspace), then data paths')
      .option('--exit-code', 'exit 1 when there are differences (like git diff --exit-code)')
      .option('--sizes', 'ask the remote for sizes of changed files the local cache does not know')
      .option('-r, --remote <name>', 'the remote to read manifests and sizes from (default: each entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel requests for --sizes', parseJobs)
      .action(async (args: string[], opts: { exitCode?: boolean; sizes?: boolean; remote?: string; jobs?: number }, cmd: Command) => {
        // commander drops `--` from the operands; the program's raw arguments still show where it was.
        const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
        const dd = raw.indexOf('--');
        const afterDashDash = dd === -1 ? undefined : raw.length - dd - 1;
        await run(
          cmd,
          async (ctx) => {
            const { revs, targets } = await splitDiffArgs(ctx, args, afterDashDash);
            return diff(ctx, { from: revs[0], to: revs[1], targets, sizes: opts.sizes, remote: opts.remote, jobs: opts.jobs });
          },
          (r, out) => {
            const changed = r.outputs.filter((o) => o.status !== 'unchanged');
            for (const o of changed) {
              out.line(`${o.path}: ${summary(o)}${o.mixedHashes ? ' [DVC 2 vs DVC 3]' : ''}`);
              if (out.verbose) renderFiles(o, out);
            }
            const unchanged = r.totals.outputs.unchanged;
            if (changed.length === 0) out.line(`no differences${unchanged ? ` (${plural(unchanged, 'output')} compared)` : ''}`);
            else if (changed.length > 1 || unchanged > 0) out.line(`${plural(changed.length, 'output')} changed, ${unchanged} unchanged`);
            for (const o of r.outputs) if (o.error?.hint) out.note(`  hint (${o.pointer}): ${o.error.hint}`);
          },
          (r) => (r.totals.outputs.error > 0 ? 3 : opts.exitCode && r.changed ? 1 : 0),
        );
      });
  },
};

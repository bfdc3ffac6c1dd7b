import type { Command } from 'commander';
import type { OutputStatus } from '../../ops/data/status.js';
import { statusReport } from '../../ops/data/status-report.js';
import type { RemoteOutputStatus } from '../../ops/remote/remote-status.js';
import { renderOverview } from '../overview-render.js';
import { parseJobs } from '../jobs.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';
import { displayPath, formatBytes, plural } from '../output.js';

const LIST_LIMIT = 50;

export function describeStatus(s: OutputStatus): string {
  const hint = s.hint ? `; ${s.hint}` : '';
  switch (s.state) {
    case 'up-to-date':
      return 'up to date';
    case 'not-committed':
      return `not committed: the pointer has no hash${hint}`;
    case 'missing':
      return `data missing from workspace${hint}`;
    case 'not-in-cache':
      return `not in cache (${plural(s.missingObjects, 'object')} of the pointer's version missing locally) — run ${s.hint}`;
    case 'outdated':
      return `outdated: the pointer is newer than the workspace data${hint}`;
    case 'diverged':
      return `diverged: the pointer changed and the data was edited here${changeCounts(s)}${hint}`;
    case 'modified':
      return `modified${changeCounts(s)}${hint}`;
  }
}

function changeCounts(s: OutputStatus): string {
  const c = s.changes;
  if (!c) return '';
  const parts = [
    c.added.length ? `${c.added.length} added` : '',
    c.modified.length ? `${c.modified.length} modified` : '',
    c.deleted.length ? `${c.deleted.length} deleted` : '',
  ].filter(Boolean);
  return parts.length ? ' — ' + parts.join(', ') : '';
}

function describeRemote(r: RemoteOutputStatus | undefined): string {
  if (!r) return '';
  switch (r.state) {
    case 'pushed':
      return `; pushed to ${r.remote}`;
    case 'not-pushed':
      return `; not pushed to ${r.remote} (${plural(r.missingObjects, 'object')}, ${formatBytes(r.missingBytes)} missing: reg push ${r.pointer.replace(/\.dvc$/, '')})`;
    case 'not-pushed-by-config':
      return '; never pushed (push: false)';
    default:
      return '';
  }
}

function renderChanges(s: OutputStatus, out: Output): void {
  if (!out.verbose || !s.changes) return;
  const rows: string[] = [];
  for (const [mark, list] of [['A', s.changes.added], ['M', s.changes.modified], ['D', s.changes.deleted]] as const) {
    for (const p of list) rows.push(`    ${mark} ${displayPath(p)}`);
  }
  rows.slice(0, LIST_LIMIT).forEach((r) => out.line(r));
  if (rows.length > LIST_LIMIT) out.line(`    ... ${rows.length - LIST_LIMIT} more (use --json for the full list)`);
}

export const statusCommand: CommandModule = {
  register(program, run) {
    program
      .command('status')
      .description('compare tracked data with its pointers (files listed with -v or --json)')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('--exit-code', 'exit 1 when anything is not up to date (or, with --remote, not pushed)')
      .option('--remote', 'also ask the remote which objects it lacks (pushed / not pushed)')
      .option('-r, --remote-name <name>', 'the remote to ask (default: core.remote)')
      .option('-j, --jobs <n>', 'parallel existence checks for --remote', parseJobs)
      .action(async (targets: string[], opts: { exitCode?: boolean; remote?: boolean; remoteName?: string; jobs?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => statusReport(ctx, { targets, remote: Boolean(opts.remote || opts.remoteName), remoteName: opts.remoteName, jobs: opts.jobs }),
          (r, out) => {
            if (r.outputs.length === 0 && !r.registry) out.line('nothing tracked yet (track data with: reg add <path>)');
            const remoteByPath = new Map((r.remote?.outputs ?? []).map((x) => [x.path, x]));
            for (const s of r.outputs) {
              out.line(`${displayPath(s.path)}: ${describeStatus(s)}${describeRemote(remoteByPath.get(s.path))}${s.legacy ? ' [DVC 2 pointer]' : ''}`);
              renderChanges(s, out);
            }
            if (r.registry) {
              if (r.outputs.length > 0) out.line();
              renderOverview(r.registry, out);
            }
          },
          (r) =>
            opts.exitCode && (r.outputs.some((s) => s.state !== 'up-to-date') || (r.remote?.outputs ?? []).some((x) => x.state === 'not-pushed')) ? 1 : 0,
        ),
      );
  },
};

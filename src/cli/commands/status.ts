import type { Command } from 'commander';
import { status, type OutputStatus } from '../../ops/status.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';
import { plural } from '../output.js';

const LIST_LIMIT = 50;

export function describeStatus(s: OutputStatus): string {
  switch (s.state) {
    case 'up-to-date':
      return 'up to date';
    case 'not-committed':
      return 'not committed (the pointer has no hash; run reg add)';
    case 'missing':
      return s.inCache ? 'data missing from workspace (restore with: reg checkout ' + s.path + ')' : 'data missing from workspace and cache (get it with: reg pull ' + s.path + ')';
    case 'not-in-cache':
      return `up to date, but ${plural(s.missingObjects, 'object')} not in the cache (re-add it: reg add ${s.path})`;
    case 'modified': {
      const c = s.changes;
      if (!c) return 'modified';
      const parts = [
        c.added.length ? `${c.added.length} added` : '',
        c.modified.length ? `${c.modified.length} modified` : '',
        c.deleted.length ? `${c.deleted.length} deleted` : '',
      ].filter(Boolean);
      return `modified${parts.length ? ' — ' + parts.join(', ') : ''}`;
    }
  }
}

function renderChanges(s: OutputStatus, out: Output): void {
  if (!out.verbose || !s.changes) return;
  const rows: string[] = [];
  for (const [mark, list] of [['A', s.changes.added], ['M', s.changes.modified], ['D', s.changes.deleted]] as const) {
    for (const p of list) rows.push(`    ${mark} ${p}`);
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
      .option('--exit-code', 'exit 1 when anything is not up to date')
      .action(async (targets: string[], opts: { exitCode?: boolean }, cmd: Command) =>
        run(
          cmd,
          (ctx) => status(ctx, { targets }),
          (r, out) => {
            if (r.outputs.length === 0) {
              out.line('nothing tracked yet (track data with: reg add <path>)');
              return;
            }
            for (const s of r.outputs) {
              out.line(`${s.path}: ${describeStatus(s)}${s.legacy ? ' [DVC 2 pointer]' : ''}`);
              renderChanges(s, out);
            }
          },
          (r) => (opts.exitCode && r.outputs.some((s) => s.state !== 'up-to-date') ? 1 : 0),
        ),
      );
  },
};

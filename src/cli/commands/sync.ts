import type { Command } from 'commander';
import { sync, type SyncResult } from '../../ops/registry/sync.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';
import { displayPath, formatBytes, plural } from '../output.js';

interface SyncFlags {
  dryRun?: boolean;
  delete?: boolean;
  force?: boolean;
  remote?: string;
  jobs?: string;
}

function render(r: SyncResult, out: Output): void {
  const verb = r.direction === 'push' ? (r.dryRun ? 'would send' : 'sent') : r.dryRun ? 'would receive' : 'received';
  const del = r.dryRun ? 'would delete' : 'deleted';
  if (r.entries.length === 0) out.line('nothing to sync');
  for (const e of r.entries) {
    if (e.transferred.length === 0 && e.deleted.length === 0) {
      out.line(`${displayPath(e.entry)}: up to date (${plural(e.unchanged, 'file')})`);
      continue;
    }
    const parts = [`${verb} ${plural(e.transferred.length, 'file')} (${formatBytes(e.bytes)})`];
    if (e.deleted.length) parts.push(`${del} ${e.deleted.length}`);
    parts.push(`${e.unchanged} unchanged`);
    out.line(`${displayPath(e.entry)}: ${parts.join(', ')}`);
    if (out.verbose || r.dryRun) {
      for (const f of e.transferred.slice(0, 50)) out.line(`  ${r.direction === 'push' ? '>' : '<'} ${displayPath(f)}`);
      for (const f of e.deleted.slice(0, 50)) out.line(`  - ${displayPath(f)}`);
    }
  }
}

function addSync(parent: Command, direction: 'push' | 'pull', run: Parameters<CommandModule['register']>[1]): void {
  parent
    .command(direction)
    .description(direction === 'push' ? 'send changed files of synced entries to the remote (by md5)' : 'get changed files of synced entries from the remote (by md5)')
    .argument('[targets...]', 'synced areas or <area>/<name> entries (default: every synced area)')
    .option('-n, --dry-run', 'show what would be transferred, change nothing')
    .option('--delete', `remove ${direction === 'push' ? 'remote' : 'local'} files that no longer exist on the ${direction === 'push' ? 'local side' : 'remote'}`)
    .option('-f, --force', direction === 'push' ? 'overwrite remote changes made since this workspace last synced' : 'overwrite local changes made since the last sync')
    .option('-r, --remote <name>', 'remote (default: the area\'s remote, else the default remote)')
    .option('-j, --jobs <n>', 'parallel transfers')
    .action(async (targets: string[], opts: SyncFlags, cmd: Command) =>
      run(
        cmd,
        (ctx) =>
          sync(ctx, {
            direction,
            targets,
            dryRun: opts.dryRun,
            delete: opts.delete,
            force: opts.force,
            remote: opts.remote,
            jobs: opts.jobs !== undefined ? Math.max(1, Number.parseInt(opts.jobs, 10) || 1) : undefined,
          }),
        render,
      ),
    );
}

export const syncCommand: CommandModule = {
  register(program, run) {
    const s = program.command('sync').description('mirror synced areas (unversioned) to and from the remote, content-aware');
    addSync(s, 'push', run);
    addSync(s, 'pull', run);
  },
};

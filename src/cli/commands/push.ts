import type { Command } from 'commander';
import { push } from '../../ops/remote/push.js';
import { pushRegistry, type RegistryPushResult } from '../../ops/remote/registry-transfer.js';
import type { CommandModule } from '../command.js';
import { formatBytes, plural } from '../output.js';
import { parseJobs } from '../jobs.js';

export const pushCommand: CommandModule = {
  register(program, run) {
    program
      .command('push')
      .description('upload the objects of tracked data that the remote lacks (directory manifests last)')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('-r, --remote <name>', 'remote to push to (default: core.remote)')
      .option('-j, --jobs <n>', 'parallel transfers (default: remote option jobs, else 4 x CPU cores)', parseJobs)
      .option('--dry-run', 'show what would be uploaded, upload nothing')
      .option('--no-check', 'with no targets: skip the registry lint (reg check) that runs first')
      .option('--force', 'with no targets: let reg sync push overwrite remote files changed by someone else')
      .action(async (targets: string[], opts: { remote?: string; jobs?: number; dryRun?: boolean; check?: boolean; force?: boolean }, cmd: Command) =>
        run(cmd, (ctx): Promise<RegistryPushResult> =>
          targets.length === 0
            ? pushRegistry(ctx, { remote: opts.remote, jobs: opts.jobs, dryRun: opts.dryRun, noCheck: opts.check === false, force: opts.force })
            : push(ctx, { targets, remote: opts.remote, jobs: opts.jobs, dryRun: opts.dryRun }), (r, out) => {
          if (r.lint && r.lint.warnings > 0) out.note(`reg check: ${plural(r.lint.warnings, 'warning')} (see reg check)`);
          if (out.verbose || r.dryRun) {
            for (const o of r.outputs) {
              if (o.state === 'pushed' || (r.dryRun && o.objects > 0)) out.line(`${r.dryRun ? 'would push' : 'pushed'} ${o.path}: ${plural(o.objects, 'object')}, ${formatBytes(o.bytes)}`);
              else if (out.verbose) out.line(`${o.state} ${o.path}`);
            }
          }
          const where = r.remotes.join(', ') || 'no remote';
          if (r.dryRun) out.line(`dry run: would push ${plural(r.pushed, 'object')} (${formatBytes(r.bytes)}) to ${where}; ${r.skipped} already there`);
          else if (r.pushed === 0) out.line(`everything is up to date on ${where} (${plural(r.skipped, 'object')} already there)`);
          else out.line(`pushed ${plural(r.pushed, 'object')} (${formatBytes(r.bytes)}) to ${where}; ${r.skipped} already there`);
          if (r.sync) {
            const changed = r.sync.entries.filter((e) => e.state !== 'up-to-date');
            out.line(`synced areas: ${r.sync.dryRun ? 'would send' : 'sent'} ${plural(r.sync.transferred, 'file')} (${formatBytes(r.sync.bytes)})${r.sync.deleted ? `, deleted ${r.sync.deleted}` : ''} for ${plural(changed.length, 'entry', 'entries')}; ${r.sync.entries.length - changed.length} up to date`);
          }
        }),
      );
  },
};

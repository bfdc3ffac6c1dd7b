import type { Command } from 'commander';
import { pull } from '../../ops/remote/pull.js';
import { pullRegistry, type RegistryPullResult } from '../../ops/remote/registry-transfer.js';
import type { CommandModule } from '../command.js';
import { formatBytes, plural } from '../output.js';
import { parseJobs } from '../jobs.js';

export const pullCommand: CommandModule = {
  register(program, run) {
    program
      .command('pull')
      .description('fetch tracked data from the remote and check it out into the workspace')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('-r, --remote <name>', 'remote to pull from (default: core.remote)')
      .option('-j, --jobs <n>', 'parallel transfers (default: remote option jobs, else 4 x CPU cores)', parseJobs)
      .option('-f, --force', 'overwrite local changes (they are stashed first; see reg stash)')
      .action(async (targets: string[], opts: { remote?: string; jobs?: number; force?: boolean }, cmd: Command) =>
        run(cmd, (ctx): Promise<RegistryPullResult> =>
          targets.length === 0
            ? pullRegistry(ctx, { remote: opts.remote, jobs: opts.jobs, force: opts.force })
            : pull(ctx, { targets, remote: opts.remote, jobs: opts.jobs, force: opts.force }), (r, out) => {
          out.line(r.fetched === 0 ? `nothing to download (${plural(r.skipped, 'object')} already cached)` : `fetched ${plural(r.fetched, 'object')} (${formatBytes(r.bytes)}) from ${r.remotes.join(', ')}`);
          for (const o of r.checkout.outputs) {
            if (o.action === 'restored') out.line(`restored ${o.path} (${plural(o.written, 'file')} written${o.removed ? `, ${o.removed} removed` : ''})`);
            else if (out.verbose) out.line(`${o.action} ${o.path}${o.reason ? ` (${o.reason})` : ''}`);
          }
          if (r.sync) out.line(`synced areas: received ${plural(r.sync.transferred, 'file')} (${formatBytes(r.sync.bytes)}) for ${plural(r.sync.entries.filter((e) => e.state !== 'up-to-date').length, 'entry', 'entries')}`);
          if (r.checkout.stash) out.note(`local changes were stashed (${r.checkout.stash.id}); see them with: reg stash apply ${r.checkout.stash.id} --to DIR (in place, over the version just pulled: reg stash apply ${r.checkout.stash.id})`);
        }),
      );
  },
};

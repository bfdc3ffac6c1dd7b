import type { Command } from 'commander';
import { fetch } from '../../ops/remote/fetch.js';
import type { CommandModule } from '../command.js';
import { formatBytes, plural } from '../output.js';
import { parseJobs } from '../jobs.js';

export const fetchCommand: CommandModule = {
  register(program, run) {
    program
      .command('fetch')
      .description('download the objects of tracked data into the cache (the workspace is not touched)')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('-r, --remote <name>', 'remote to fetch from (default: core.remote)')
      .option('-j, --jobs <n>', 'parallel transfers (default: remote option jobs, else 4 x CPU cores)', parseJobs)
      .action(async (targets: string[], opts: { remote?: string; jobs?: number }, cmd: Command) =>
        run(cmd, (ctx) => fetch(ctx, { targets, remote: opts.remote, jobs: opts.jobs }), (r, out) => {
          if (out.verbose) for (const o of r.outputs) out.line(`${o.state} ${o.path}${o.objects ? `: ${plural(o.objects, 'object')}, ${formatBytes(o.bytes)}` : ''}`);
          out.line(r.fetched === 0 ? `everything is already in the cache (${plural(r.skipped, 'object')})` : `fetched ${plural(r.fetched, 'object')} (${formatBytes(r.bytes)}) from ${r.remotes.join(', ')}; ${r.skipped} already cached`);
        }),
      );
  },
};

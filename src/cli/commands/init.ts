import type { Command } from 'commander';
import { init } from '../../ops/registry/init.js';
import type { CommandModule } from '../command.js';

export const initCommand: CommandModule = {
  register(program, run) {
    program
      .command('init')
      .description('set up reg in the current Git repository (idempotent)')
      .option('--no-areas', 'do not create the registry layout (areas config, area directories, card templates)')
      .option('--from-dvc', 'also import remotes and [cache] dir/type from .dvc/config (secrets and .dvc/config.local settings go to .reg/config.local.yaml)')
      .action(async (opts: { fromDvc?: boolean; areas?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => init(ctx, { fromDvc: opts.fromDvc, areas: opts.areas }), (r, out) => {
          out.line(r.alreadyInitialized ? `reg already initialized in ${r.root}` : `initialized reg in ${r.root}`);
          for (const f of r.created) out.line(`  created ${f}`);
          if (r.areas.length > 0 && !r.alreadyInitialized) {
            out.line(`  areas: ${r.areas.map((a) => `${a.name} (${a.mode})`).join(', ')}`);
            out.note('next: reg new <area>/<name> to start an entry; reg hooks install to enforce cards on commit;');
            out.note('  commit .reg/config.yaml, .reg/.gitignore and the area directories so a clone is a registry');
          }
          const changed = r.hooks?.actions.filter((a) => a.action !== 'unchanged') ?? [];
          if (changed.length > 0) out.line(`  git hooks: ${changed.map((a) => `${a.name} ${a.action}`).join(', ')} (in ${r.hooks!.hooksDir})`);
          if (r.hooksSkipped) out.note(`git hooks not installed: ${r.hooksSkipped}`);
          for (const remote of r.importedRemotes) {
            out.line(`  imported remote ${remote.name} (${remote.options.join(', ')}${remote.localOptions.length ? `; local: ${remote.localOptions.join(', ')}` : ''})`);
            if (remote.skipped.length) out.note(`  skipped DVC options for ${remote.name}: ${remote.skipped.join(', ')}`);
          }
          if (r.importedCache.dir !== undefined) out.line(`  imported cache dir ${r.importedCache.dir} (used in place)`);
          if (r.importedCache.type !== undefined) out.line(`  imported cache type ${r.importedCache.type}`);
        }),
      );
  },
};

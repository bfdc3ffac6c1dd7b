import type { Command } from 'commander';
import { checkout } from '../../ops/data/checkout.js';
import type { CommandModule } from '../command.js';
import { displayPath, plural } from '../output.js';

export const checkoutCommand: CommandModule = {
  register(program, run) {
    program
      .command('checkout')
      .description('make workspace data match its pointers, from the cache')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('-f, --force', 'overwrite changes that exist nowhere else (they are stashed in the cache first)')
      .option('--relink', 're-create every file with the configured cache.type, even unchanged ones')
      .action(async (targets: string[], opts: { force?: boolean; relink?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => checkout(ctx, { targets, force: opts.force, relink: opts.relink }), (r, out) => {
          for (const o of r.outputs) {
            if (o.action === 'skipped') out.line(`${displayPath(o.path)}: skipped (${o.reason})`);
            else if (o.action === 'unchanged') out.line(`${displayPath(o.path)}: already up to date`);
            else out.line(`${displayPath(o.path)}: restored (${plural(o.written, 'file')} written, ${o.removed} removed, ${o.unchanged} unchanged)`);
          }
          if (r.stash) {
            out.note(`saved ${plural(r.stash.files.length, 'overwritten file')} as stash ${r.stash.id}; get them back with: ${r.stash.restoreCommand} --to DIR (in place, over the version just checked out: ${r.stash.restoreCommand})`);
          }
        }),
      );
  },
};

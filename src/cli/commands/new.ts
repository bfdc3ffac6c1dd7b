import type { Command } from 'commander';
import { newEntry } from '../../ops/registry/new.js';
import type { CommandModule } from '../command.js';

export const newCommand: CommandModule = {
  register(program, run) {
    program
      .command('new')
      .description('start a registry entry: <area>/<name>/ and its card from the area template')
      .argument('<entry>', '<area>/<name>, e.g. raw_datasets/ocr-pages')
      .option('-f, --force', 'create it even if the name breaks the naming rule')
      .action(async (target: string, opts: { force?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => newEntry(ctx, { target, force: opts.force }), (r, out) => {
          out.line(`${r.createdDir ? 'created' : 'exists'} ${r.path}${r.isFile ? ' (file)' : '/'} (${r.mode})`);
          out.line(`${r.createdCard ? 'created' : 'exists'} ${r.card}`);
          for (const w of r.warnings) out.note(`warning: ${w}`);
          out.note('next:\n' + r.next.map((n) => `  ${n}`).join('\n'));
        }),
      );
  },
};

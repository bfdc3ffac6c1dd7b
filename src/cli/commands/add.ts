import type { Command } from 'commander';
import { add } from '../../ops/data/add.js';
import type { CommandModule } from '../command.js';
import { displayPath, formatBytes, plural } from '../output.js';

export const addCommand: CommandModule = {
  register(program, run) {
    program
      .command('add')
      .description('hash files or directories into the cache and write their .dvc pointers')
      .argument('<paths...>', 'files or directories inside the repository')
      .action(async (paths: string[], _opts: unknown, cmd: Command) =>
        run(cmd, (ctx) => add(ctx, { targets: paths }), (r, out) => {
          for (const o of r.outputs) {
            const what = o.nfiles !== undefined ? `${plural(o.nfiles, 'file')}, ${formatBytes(o.size)}` : formatBytes(o.size);
            out.line(`${o.changed ? 'added' : 'unchanged'} ${displayPath(o.path)} (${what}) -> ${displayPath(o.pointer)}`);
            if (out.verbose) out.line(`  oid ${o.oid}; hashed ${plural(o.hashedFiles, 'file')} (${formatBytes(o.hashedBytes)}), ${plural(o.storedObjects, 'new object')}`);
          }
          for (const w of r.warnings) out.note(`warning: ${w}`);
          if (r.outputs.some((o) => o.changed)) {
            out.note(`to track the changes with git, run:\n  git add ${[...r.outputs.map((o) => o.pointer), ...r.gitignores].map(displayPath).join(' ')}`);
          }
        }),
      );
  },
};

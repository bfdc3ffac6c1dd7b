import type { Command } from 'commander';
import { stashApply, stashList } from '../../ops/data/stash.js';
import type { CommandModule } from '../command.js';
import { displayPath, formatBytes, plural } from '../output.js';

export const stashCommand: CommandModule = {
  register(program, run) {
    const stash = program.command('stash').description('bytes that checkout --force overwrote, kept in the cache');
    stash
      .command('list')
      .description('list stashes')
      .action(async (_opts: unknown, cmd: Command) =>
        run(cmd, (ctx) => stashList(ctx), (r, out) => {
          if (r.stashes.length === 0) out.line('no stashes');
          for (const s of r.stashes) {
            const bytes = s.files.reduce((n, f) => n + f.size, 0);
            out.line(`${s.id}  ${plural(s.files.length, 'file')}, ${formatBytes(bytes)}  (${s.reason})`);
            if (out.verbose) for (const f of s.files) out.line(`    ${displayPath(f.path)}`);
            if (out.verbose) for (const l of s.links ?? []) out.line(`    ${displayPath(l.path)} -> ${displayPath(l.target)} (symlink)`);
          }
        }),
      );
    stash
      .command('apply')
      .description('write a stash\'s files back to where they were (or under --to DIR)')
      .argument('<id>', 'stash id from `reg stash list`')
      .option('--to <dir>', 'write the files under this directory instead')
      .option('-f, --force', 'overwrite files whose current bytes exist nowhere else')
      .option('--links', 'also re-create the symlinks to directories that checkout --force replaced')
      .action(async (id: string, opts: { to?: string; force?: boolean; links?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => stashApply(ctx, { id, to: opts.to, force: opts.force, links: opts.links }), (r, out) => {
          out.line(`applied stash ${r.id}: ${plural(r.written.length, 'file')} written, ${r.skipped.length} already identical${r.linksRestored.length ? `, ${plural(r.linksRestored.length, 'symlink')} re-created` : ''}`);
          if (r.linksNotRestored.length > 0) {
            out.note(`${plural(r.linksNotRestored.length, 'symlink')} not re-created (${r.linksNotRestored.map((l) => `${displayPath(l.path)} -> ${displayPath(l.target)}`).join(', ')}); add --links to re-create them`);
          }
        }),
      );
  },
};

import type { Command } from 'commander';
import { ls, type LsEntry } from '../../ops/history/ls.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

export const lsCommand: CommandModule = {
  register(program, run) {
    program
      .command('ls')
      .description('the files of a version from its manifest (no data is downloaded)')
      .argument('[target]', 'an entry, a path inside a directory entry, or a directory holding entries (default: the repository root)')
      .option('--rev <rev>', 'the revision to list (default: the version the work tree\'s pointers name)')
      .option('-R, --recursive', 'every file below the target instead of one level')
      .option('--sizes', 'ask the remote for sizes the local cache does not know (one request per file)')
      .option('-r, --remote <name>', 'the remote to read manifests and sizes from (default: each entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel requests for --sizes', parseJobs)
      .action(async (target: string | undefined, opts: { rev?: string; recursive?: boolean; sizes?: boolean; remote?: string; jobs?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => ls(ctx, { target, rev: opts.rev, recursive: opts.recursive, sizes: opts.sizes, remote: opts.remote, jobs: opts.jobs }),
          (r, out) => {
            // One write for the whole listing (100k lines as 100k writes cost more than building them).
            // Sizes repeat (100k files fall into a few hundred distinct columns): each is formatted once.
            const columns = new Map<number | null, string>();
            const sizeColumn = (e: LsEntry) => {
              let column = columns.get(e.size);
              if (column === undefined) columns.set(e.size, (column = (e.size === null ? '-' : formatBytes(e.size)).padStart(10)));
              return column;
            };
            const lines = r.entries.map((e) => {
              if (e.type === 'file' && e.entry === undefined) return `${sizeColumn(e)}  ${e.path}`;
              const extra = [e.nfiles !== undefined ? plural(e.nfiles, 'file') : '', e.entry ? `entry${e.entry.legacy ? ', DVC 2' : ''}` : ''].filter(Boolean);
              return `${sizeColumn(e)}  ${e.type === 'dir' ? `${e.path}/` : e.path}${extra.length ? `  (${extra.join(', ')})` : ''}`;
            });
            if (lines.length > 0) out.line(lines.join('\n'));
            if (out.verbose || r.entries.length === 0) {
              out.line(`${plural(r.entries.length, 'entry', 'entries')}, ${formatBytes(r.totalSize)}${r.unknownSizes ? ` (${r.unknownSizes} sizes unknown: not in the cache; --sizes asks the remote)` : ''}`);
            }
            for (const e of r.errors) out.note(`reg: ${e.message}`);
          },
          (r) => (r.errors.length > 0 ? 3 : 0),
        ),
      );
  },
};

import type { Command } from 'commander';
import { EXPORT_ARCHIVES, exportEntry, type ExportArchive } from '../../ops/publish/export.js';
import type { CommandModule } from '../command.js';
import { parseJobs, parseSizeOption } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

interface ExportFlags {
  rev?: string;
  output: string;
  archive?: ExportArchive;
  split?: number;
  torrent?: boolean;
  webSeed?: string;
  keepNames?: boolean;
  name?: string;
  force?: boolean;
  remote?: string;
  jobs?: number;
}

export const exportCommand: CommandModule = {
  register(program, run) {
    program
      .command('export')
      .description('write a committed version of an entry as a release directory: data or archives, checksums, README, LICENSE, CITATION.cff, datapackage.json, .torrent')
      .argument('<entry>', 'the entry to publish (its data path or .dvc file)')
      .requiredOption('-o, --output <dir>', 'directory to create the release directory <name>-<version>/ in')
      .option('--rev <rev>', 'the revision to publish (default: HEAD)')
      .option('--archive <kind>', `${EXPORT_ARCHIVES.join(' | ')}: the files as they are under data/ (default none), or one archive of them`)
      .option('--split <size>', 'cut the archive into parts of at most this size (e.g. 4GiB); join them with cat', parseSizeOption)
      .option('--torrent', 'also write a .torrent of the release (for Academic Torrents and other BitTorrent sites)')
      .option('--web-seed <url>', 'with --torrent: a URL the release directory will be served under (BitTorrent web seed)')
      .option('--keep-names', 'publish file names as they are (skip the lowercase-and-hyphens rule for files)')
      .option('--name <name>', 'the release name (default: the entry name)')
      .option('--force', 'replace an existing release directory')
      .option('-r, --remote <name>', 'remote to fetch objects the cache lacks from (default: the entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel downloads', parseJobs)
      .action(async (entry: string, opts: ExportFlags, cmd: Command) =>
        run(
          cmd,
          (ctx) =>
            exportEntry(ctx, {
              entry,
              output: opts.output,
              rev: opts.rev,
              archive: opts.archive,
              split: opts.split,
              torrent: opts.torrent,
              webSeed: opts.webSeed,
              keepNames: opts.keepNames,
              name: opts.name,
              force: opts.force,
              remote: opts.remote,
              jobs: opts.jobs,
            }),
          (r, out) => {
            if (out.verbose) for (const p of r.published) out.line(`${formatBytes(p.bytes).padStart(10)}  ${p.path}`);
            if (r.fetched > 0) out.note(`fetched ${plural(r.fetched, 'object')} the cache lacked`);
            const payload = r.archive === 'none' ? plural(r.files, 'file') : `${plural(r.files, 'file')} in ${r.published.filter((p) => /\.(tar|tar\.gz|zip)(\.part-\d+)?$/.test(p.path)).length > 1 ? 'a split' : 'one'} ${r.archive} archive`;
            out.line(`${r.replaced ? 'replaced' : 'wrote'} ${r.bundle}: ${r.entry} at ${r.rev ?? r.commit.slice(0, 10)}, ${payload} (${formatBytes(r.bytes)})${r.torrent ? `, ${r.torrent}` : ''}`);
          },
        ),
      );
  },
};

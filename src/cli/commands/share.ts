import type { Command } from 'commander';
import { share } from '../../ops/publish/share.js';
import type { CommandModule } from '../command.js';
import { parseDurationOption, parseJobs } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

export const shareCommand: CommandModule = {
  register(program, run) {
    program
      .command('share')
      .description('time-limited download links (S3 presigned URLs) for every file of a committed version: links.tsv and a download.sh that checks each md5')
      .argument('<entry>', 'the entry to share (its data path or .dvc file)')
      .requiredOption('-o, --output <dir>', 'directory to write links.tsv and download.sh to')
      .option('--rev <rev>', 'the revision to share (default: HEAD)')
      .option('--expires <duration>', 'how long the links work: 7d (the default and the S3 maximum), 12h, 30m, ...', parseDurationOption)
      .option('--force', 'replace an existing links.tsv and download.sh')
      .option('-r, --remote <name>', 'the S3 remote the data is on (default: the entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel requests when checking the remote has every file', parseJobs)
      .action(async (entry: string, opts: { output: string; rev?: string; expires?: number; force?: boolean; remote?: string; jobs?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => share(ctx, { entry, output: opts.output, rev: opts.rev, expiresIn: opts.expires, force: opts.force, remote: opts.remote, jobs: opts.jobs }),
          (r, out) => {
            for (const w of r.warnings) out.note(`reg: warning: ${w}`);
            out.line(`wrote ${r.links} and ${r.script}: ${plural(r.files, 'link')} to ${r.entry} at ${r.rev ?? r.commit.slice(0, 10)} on ${r.remote} (${formatBytes(r.bytes)}), valid until ${r.expiresAt}`);
            out.line(`a collaborator runs: sh download.sh [DIRECTORY]`);
          },
        ),
      );
  },
};

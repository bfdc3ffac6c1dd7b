import type { Command } from 'commander';
import { restore } from '../../ops/history/restore.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { displayPath, plural } from '../output.js';

interface RestoreFlags {
  rev: string;
  force?: boolean;
  remote?: string;
  jobs?: number;
}

const short = (oid: string | null) => (oid === null ? 'none' : oid.endsWith('.dir') ? `${oid.slice(0, 10)}.dir` : oid.slice(0, 10));

export const restoreCommand: CommandModule = {
  register(program, run) {
    program
      .command('restore')
      .description('roll entries back to a revision: its pointer text and its data (fetched if needed), never destroying unsaved bytes')
      .argument('<targets...>', 'data paths, .dvc files or directories holding entries')
      .requiredOption('--rev <rev>', 'the revision to roll back to (a tag, branch or commit; reg log ENTRY lists them)')
      .option('-f, --force', 'overwrite changes that exist nowhere else (they are stashed in the cache first)')
      .option('-r, --remote <name>', 'the remote to fetch missing objects from (default: the entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel downloads', parseJobs)
      .action(async (targets: string[], opts: RestoreFlags, cmd: Command) =>
        run(cmd, (ctx) => restore(ctx, { targets, rev: opts.rev, force: opts.force, remote: opts.remote, jobs: opts.jobs }), (r, out) => {
          for (const o of r.outputs) {
            if (o.action === 'already-at-rev') out.line(`${displayPath(o.path)}: already at ${r.rev}`);
            else out.line(`${displayPath(o.path)}: restored to ${r.rev} (${short(o.from)} -> ${short(o.to)}; ${plural(o.written, 'file')} written, ${o.removed} removed, ${o.unchanged} unchanged)`);
          }
          if (r.objects.fetched > 0) out.note(`fetched ${plural(r.objects.fetched, 'object')} from ${r.remotes.join(', ')}`);
          if (r.stash) {
            out.note(`saved ${plural(r.stash.files.length, 'overwritten file')} as stash ${r.stash.id}; get them back with: ${r.stash.restoreCommand} --to DIR`);
          }
          const changed = r.outputs.filter((o) => o.action === 'restored');
          if (changed.length > 0) {
            const files = [...changed.map((o) => o.pointer), ...changed.flatMap((o) => (o.gitignore ? [o.gitignore] : []))];
            out.note(`commit the rollback: git add ${files.join(' ')} && git commit`);
          }
        }),
      );
  },
};

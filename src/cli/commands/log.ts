import type { Command } from 'commander';
import { log, type LogVersion } from '../../ops/history/log.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

function refsLabel(v: LogVersion): string {
  const names = [
    ...(v.refs.head ? ['HEAD'] : []),
    ...v.refs.branches,
    ...v.refs.tags.map((t) => `tag: ${t}`),
    ...v.refs.remotes,
    ...v.refs.revs,
  ];
  return names.length > 0 ? ` (${names.join(', ')})` : '';
}

function describeVersion(v: LogVersion): string {
  if (v.error) return `unreadable pointer: ${v.error.message}`;
  if (v.change === 'deleted') return 'entry removed';
  const parts = [v.oid === undefined ? 'not committed (no hash)' : v.oid.slice(0, 8) + (v.isDir ? '.dir' : '')];
  if (v.size !== undefined) parts.push(formatBytes(v.size));
  if (v.nfiles !== undefined) parts.push(plural(v.nfiles, 'file'));
  if (v.legacy) parts.push('[DVC 2]');
  if (v.remote && !v.remote.present) parts.push(`MISSING on ${v.remote.name}`);
  return parts.join('  ');
}

export const logCommand: CommandModule = {
  register(program, run) {
    program
      .command('log')
      .description('every version of an entry across Git history (newest first), with the branches and tags holding it')
      .argument('<target>', 'the entry: its data path or its .dvc file')
      .option('--all', 'also read remote-tracking branches (default: local branches, tags and HEAD)')
      .option('--rev <rev>', 'read only the history of this revision (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
      .option('-r, --remote [name]', 'mark versions whose data is missing on the remote (default: each version\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel existence checks for --remote', parseJobs)
      .action(async (target: string, opts: { all?: boolean; rev?: string[]; remote?: string | boolean; jobs?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => log(ctx, { target, all: opts.all, revs: opts.rev, checkRemote: opts.remote !== undefined, remote: typeof opts.remote === 'string' ? opts.remote : undefined, jobs: opts.jobs }),
          (r, out) => {
            for (const v of r.versions) {
              out.line(`${v.commit.slice(0, 10)}  ${v.date.slice(0, 10)}  ${describeVersion(v)}${refsLabel(v)}  ${v.subject}`);
              if (out.verbose) {
                out.line(`    author: ${v.author} <${v.email}>  date: ${v.date}`);
                if (v.oid) out.line(`    oid: ${v.oid}  pointer: ${v.pointer}${v.path && v.path !== r.path ? `  path: ${v.path}` : ''}`);
                if (v.error?.hint) out.line(`    hint: ${v.error.hint}`);
              }
            }
            const bad = r.versions.filter((v) => v.error).length;
            if (bad > 0) out.note(`${plural(bad, 'version')} of ${r.pointer} could not be read (listed above)`);
            if (r.missingOnRemote) out.note(`${plural(r.missingOnRemote, 'version')} missing on the remote`);
          },
        ),
      );
  },
};

import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { get } from '../../ops/history/get.js';
import type { CommandModule, GlobalOptions } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

interface GetFlags {
  rev?: string;
  out?: string;
  force?: boolean;
  repo?: string;
  remote?: string;
  jobs?: number;
}

export const getCommand: CommandModule = {
  register(program, run) {
    program
      .command('get')
      .description('one file or directory of any version (or a whole entry), fetching only its objects')
      .argument('<path>', 'an entry, or a file or directory inside one (with --repo: relative to that repository\'s root)')
      .option('--rev <rev>', 'the revision (default: the work tree\'s pointers; with --repo, its default branch)')
      .option('-o, --out <path>', 'where to write (an existing directory receives the basename); - writes one file to stdout')
      .option('-f, --force', 'replace an existing output path')
      .option('--repo <path-or-url>', 'another registry: a local path or a Git URL (file://, https://, ssh://); only the pointer and config are read from it')
      .option('-r, --remote <name>', 'the remote to fetch from (default: the entry\'s remote, else core.remote)')
      .option('-j, --jobs <n>', 'parallel downloads', parseJobs)
      .action(async (path: string, opts: GetFlags, cmd: Command) => {
        const toStdout = opts.out === '-';
        if (toStdout && cmd.optsWithGlobals<GlobalOptions>().json) {
          throw usageError('get.json-to-stdout', '--json and -o - both write to stdout', { hint: 'drop --json, or write to a file with -o PATH' });
        }
        await run(
          cmd,
          (ctx) => get(ctx, { path, rev: opts.rev, out: opts.out, force: opts.force, repo: opts.repo, remote: opts.remote, jobs: opts.jobs, ...(toStdout ? { stdout: process.stdout } : {}) }),
          (r, out) => {
            // With -o -, stdout holds the file's bytes and nothing else.
            if (r.out === '-') return;
            const what = r.type === 'dir' ? `${plural(r.files, 'file')}, ${formatBytes(r.bytes)}` : formatBytes(r.bytes);
            const from = r.objects.fetched > 0 ? `${plural(r.objects.fetched, 'object')} fetched from ${r.remote}` : 'all objects were in the cache';
            out.line(`${r.out} (${what}) from ${r.entry.path}${r.rev !== null ? ` at ${r.rev}` : ''}${r.repo !== null ? ` of ${r.repo}` : ''}: ${from}`);
          },
        );
      });
  },
};

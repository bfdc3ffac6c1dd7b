import type { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { verify, type RemoteChecks, type VerifiedOutput, type VerifyProblem, type VerifyResult } from '../../ops/remote/verify.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural, type Output } from '../output.js';

const LIST_LIMIT = 50;

function describeRemote(r: RemoteChecks): string {
  const parts = [
    r.content ? `${r.content} re-hashed` : '',
    r.md5 ? `${r.md5} md5 (ETag) compared` : '',
    r.size ? `${r.size} size checked` : '',
    r.exists ? `${r.exists} existence only` : '',
    r.missing ? `${r.missing} missing` : '',
  ].filter(Boolean);
  return `${r.name}: ${parts.join(', ') || 'nothing to check'}`;
}

function describeOutput(o: VerifiedOutput): string {
  if (o.state === 'not-committed') return `${o.path}${versionsLabel(o)}: not committed (the pointer has no hash)`;
  const parts = [`cache: ${o.cache.checked} re-hashed${o.cache.notCached ? `, ${o.cache.notCached} not cached` : ''}`];
  if (o.workspace) parts.push(`workspace: ${o.workspace.checked} re-read${o.workspace.absent ? `, ${o.workspace.absent} absent` : ''}`);
  if (o.remote) parts.push('skipped' in o.remote ? 'remote: skipped (push: false)' : describeRemote(o.remote));
  if (o.membersUnknown) parts.push('files unknown (manifest unreadable)');
  const head = o.state === 'ok' ? 'ok' : o.state === 'repaired' ? `repaired ${plural(o.problems.length, 'problem')}` : plural(o.problems.filter((x) => !x.repaired).length, 'problem');
  return `${o.path}${versionsLabel(o)}: ${head} (${plural(o.objects, 'object')}; ${parts.join('; ')})`;
}

/** ` @ a1b2c3d4e5 (tag: v1), ...` for versions from history. */
function versionsLabel(o: VerifiedOutput): string {
  if (!o.versions) return '';
  return ` @ ${o.versions.slice(0, 3).join(', ')}${o.versions.length > 3 ? ` (+${o.versions.length - 3} more)` : ''}`;
}

function describeProblem(o: VerifiedOutput, x: VerifyProblem): string {
  const where = x.where === 'remote' ? `remote ${x.remote}` : x.where;
  const files = x.manifest ? `${o.path} (directory manifest)` : x.relpaths.map((r) => (r === '' ? o.path : `${o.path}/${r}`)).join(', ');
  const repair = x.repair !== undefined ? ` [${x.repair}]` : '';
  return `  ${where}: ${x.problem} ${x.key} (${files}): ${x.detail}${repair}`;
}

function render(r: VerifyResult, out: Output): void {
  let listed = 0;
  for (const o of r.outputs) {
    if (o.state === 'ok' && !out.verbose) continue;
    out.line(describeOutput(o));
    for (const x of o.problems) {
      if (listed++ < LIST_LIMIT) out.line(describeProblem(o, x));
    }
  }
  if (listed > LIST_LIMIT) out.line(`  ... and ${listed - LIST_LIMIT} more (see --json)`);
  const what = [
    plural(r.checked.cache, 'cache object'),
    ...(r.outputs.some((o) => o.workspace) ? [plural(r.checked.workspace, 'workspace file')] : []),
    ...(r.remotes.length ? [`${plural(r.checked.remote, 'object')} on ${r.remotes.join(', ')}`] : []),
  ].join(', ');
  const state = r.ok
    ? r.repaired > 0
      ? `all ${plural(r.repaired, 'problem')} repaired`
      : 'ok'
    : `${plural(r.problems, 'problem')} (${r.corrupt} corrupt, ${r.missing} missing)${r.repaired ? `, ${r.repaired} repaired` : ''}`;
  out.line(`verified ${what} (${formatBytes(r.bytes)} re-hashed): ${state}`);
  for (const a of r.advice) out.line(`fix: ${a}`);
  for (const u of r.unreadable ?? []) out.note(`reg: not verified: ${u.message}`);
}

export const verifyCommand: CommandModule = {
  register(program, run) {
    program
      .command('verify')
      .description('re-hash cache objects (and workspace files, remote objects) and report any that do not match their hash (exit 6)')
      .argument('[targets...]', 'data paths, .dvc files or directories (default: everything)')
      .option('-r, --remote [name]', "also check the objects on the remote NAME; without a name, each output's remote (else core.remote)")
      .option('--workspace', 'also re-read every workspace file and compare it with its pointer')
      .option('--repair', 're-fetch good bytes over corrupt cache objects; with --remote, re-upload good cache bytes over corrupt or missing remote objects')
      .option('--all-commits', 'verify every version in the history of every branch, remote-tracking branch and tag instead of the work tree\'s')
      .option('--rev <rev>', 'verify the versions at this revision (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
      .option('--all-branches', 'verify the versions at the tip of every local branch')
      .option('--all-tags', 'verify the versions at every tag')
      .option('-j, --jobs <n>', 'parallel remote requests (hashing uses every core)', parseJobs)
      .action(async (targets: string[], opts: { remote?: string | true; workspace?: boolean; repair?: boolean; jobs?: number; allCommits?: boolean; rev?: string[]; allBranches?: boolean; allTags?: boolean }, cmd: Command) =>
        run(
          cmd,
          (ctx) =>
            verify(ctx, {
              targets,
              checkRemote: opts.remote !== undefined,
              ...(typeof opts.remote === 'string' ? { remote: opts.remote } : {}),
              workspace: opts.workspace,
              repair: opts.repair,
              jobs: opts.jobs,
              history: { allCommits: opts.allCommits, revs: opts.rev, allBranches: opts.allBranches, allTags: opts.allTags },
            }),
          render,
          (r) => (r.ok ? 0 : r.corrupt > 0 ? ExitCode.integrity : ExitCode.transfer),
        ),
      );
  },
};

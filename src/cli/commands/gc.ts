import type { Command } from 'commander';
import { gc, type GcObject, type GcResult } from '../../ops/history/gc.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural, type Output } from '../output.js';

const LIST_LIMIT = 50;

interface GcFlags {
  yes?: boolean;
  remote?: string | true;
  workspace?: boolean;
  allBranches?: boolean;
  allTags?: boolean;
  grace?: string;
  temp?: boolean;
  quarantine?: boolean;
  jobs?: number;
}

function describeObject(o: GcObject, keyWidth: number): string {
  const size = (o.size === null ? '?' : formatBytes(o.size)).padStart(10);
  const use = o.usedBy[0];
  const what = use ? `${use.file ? `${use.entry}/${use.file}` : o.manifest ? `${use.entry} (manifest)` : use.entry} @ ${use.version}${o.usedBy.length > 1 ? ` (+${o.usedBy.length - 1})` : ''}` : o.manifest ? '(manifest; no known commit uses it)' : '(no known commit uses it)';
  return `  ${o.key.padEnd(keyWidth)}  ${size}  ${what}`;
}

function render(r: GcResult, out: Output): void {
  const where = r.target.kind === 'cache' ? `the cache ${r.target.path}` : `remote ${r.target.name} (${r.target.location})`;
  for (const v of r.noLongerProtected.slice(0, LIST_LIMIT)) out.note(`reg: not protected by this narrowed scope: ${v.entry} @ ${v.version}`);
  if (r.noLongerProtected.length > LIST_LIMIT) out.note(`reg: ... and ${r.noLongerProtected.length - LIST_LIMIT} more versions not protected (see --json)`);
  for (const u of r.unknownManifests) out.note(`reg: warning: the files of ${u.version} are unknown (${u.reason}); only the grace period protects them`);
  const shown = out.verbose ? r.objects : r.objects.slice(0, LIST_LIMIT);
  const head = r.dryRun ? `would delete ${plural(r.count, 'object')} (${formatBytes(r.bytes)}) from ${where}` : `deleted ${plural(r.deleted.length, 'object')} (${formatBytes(r.bytes)}) from ${where}`;
  out.line(r.count > 0 ? `${head}:` : `nothing to delete in ${where}`);
  const keyWidth = Math.max(0, ...shown.map((o) => o.key.length));
  for (const o of shown) out.line(describeObject(o, keyWidth));
  if (shown.length < r.objects.length) out.line(`  ... and ${r.objects.length - shown.length} more (-v lists all, --json too)`);
  const history = r.scope.narrowed ? r.scope.history.join(' and ') : 'every commit of every branch, remote-tracking branch and tag';
  out.line(`kept: ${plural(r.kept.referenced, 'object')} in use (${history}; the work tree; ${plural(r.scope.stashes, 'stash', 'stashes')}), ${r.kept.recent} more newer than the grace period (${r.grace.text})`);
  if (r.temp) out.line(`${r.dryRun ? 'would delete' : 'deleted'} ${plural(r.temp.count, 'stale temp file')} (${formatBytes(r.temp.bytes)})`);
  if (r.quarantine) out.line(`${r.dryRun ? 'would delete' : 'deleted'} ${plural(r.quarantine.count, 'quarantined object')} (${formatBytes(r.quarantine.bytes)})`);
  if (r.dryRun && (r.count > 0 || r.temp?.count || r.quarantine?.count)) out.line(`dry run: nothing was deleted; run again with --yes to delete ${plural(r.count, 'object')} (${formatBytes(r.bytes)})`);
}

export const gcCommand: CommandModule = {
  register(program, run) {
    program
      .command('gc')
      .description('delete objects no version needs (dry run unless --yes); see "gc safety rules" in the README')
      .option('--yes', 'delete (without it, only list what would be deleted)')
      .option('-r, --remote [name]', 'collect on the remote NAME (default remote without a name) instead of the local cache; needs fresh remote-tracking branches')
      .option('-w, --workspace', 'narrow: protect only the work tree\'s pointers (plus stashes and recent objects)')
      .option('-a, --all-branches', 'narrow: also protect the tips of local branches')
      .option('-T, --all-tags', 'narrow: also protect the tags')
      .option('--grace <duration>', 'keep objects newer than this (default gc.grace in .reg/config.yaml, else 14d)')
      .option('--temp', 'also delete temp files of interrupted runs in the cache (older than an hour)')
      .option('--quarantine', 'also delete quarantined (corrupt) objects older than the grace period')
      .option('-j, --jobs <n>', 'parallel requests on a remote', parseJobs)
      .action(async (opts: GcFlags, cmd: Command) =>
        run(
          cmd,
          (ctx) => gc(ctx, { yes: opts.yes, remote: opts.remote, workspace: opts.workspace, allBranches: opts.allBranches, allTags: opts.allTags, grace: opts.grace, temp: opts.temp, quarantine: opts.quarantine, jobs: opts.jobs }),
          render,
        ),
      );
  },
};

import type { Context } from '../../context.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo } from '../../repo.js';
import { indexSnapshotRemembered } from '../registry/blob-sizes.js';
import { registryOverview, type RegistryOverview } from '../registry/overview.js';
import type { RemoteStatusResult } from '../remote/remote-status.js';
import { startGitChecks } from './early-git-checks.js';
import { status, type StatusResult } from './status.js';

export interface StatusReportOptions {
  targets: string[];
  /** Also ask the default (or named) remote which objects it lacks. */
  remote?: boolean;
  remoteName?: string;
  jobs?: number;
}

export interface StatusReport extends StatusResult {
  /** Per output, pushed or not (with --remote). */
  remote?: RemoteStatusResult;
  /** With no targets in a registry with areas: per area and entry, card and data state. */
  registry?: RegistryOverview;
}

/**
 * What `reg status` shows: the per-output workspace status, optionally the remote's view, and
 * with no targets the registry overview. Each workspace is scanned once and the results shared.
 */
export async function statusReport(ctx: Context, options: StatusReportOptions): Promise<StatusReport> {
  const repo = openRepo(ctx);
  const overview = options.targets.length === 0 && registryPolicy(repo.config.data).areas.length > 0;
  // Every output: git's runs start now (or were started by the entry), and the overview's reads
  // of the index and its blob sizes run while status walks the workspace.
  const early = options.targets.length === 0 ? startGitChecks(repo.root, repo.statDir) : undefined;
  const index = overview ? indexSnapshotRemembered(repo, early?.listing) : undefined;
  // (Awaited below; a failure of status first must not leave it an unhandled rejection.)
  index?.catch(() => undefined);
  const base = await status(ctx, { targets: options.targets, early });
  const report: StatusReport = { ...base };
  if (options.remote) {
    // Loaded only with --remote: the remote and transfer modules are most of what status would load.
    const { remoteStatus } = await import('../remote/remote-status.js');
    report.remote = await remoteStatus(ctx, { targets: options.targets, remote: options.remoteName, jobs: options.jobs });
  }
  if (overview) {
    report.registry = await registryOverview(ctx, { remote: Boolean(options.remote), statusResult: base, remoteStatusResult: report.remote, index });
  }
  return report;
}

import type { Context } from '../../context.js';
import { RegError } from '../../errors.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo } from '../../repo.js';
import { check } from '../registry/check.js';
import { pull, type PullResult } from './pull.js';
import { push, type PushResult } from './push.js';
import { sync, type SyncResult } from '../registry/sync.js';

/**
 * `reg push` / `reg pull` with no targets: the whole registry, as the hand-written
 * push.sh / pull.sh did — lint, versioned objects, then every synced area.
 */
export interface RegistryTransferOptions {
  remote?: string;
  jobs?: number;
  dryRun?: boolean;
  /** Skip `reg check` before pushing. */
  noCheck?: boolean;
  force?: boolean;
}

export interface LintSummary {
  errors: number;
  warnings: number;
}

export type RegistryPushResult = PushResult & { lint?: LintSummary; sync?: SyncResult };
export type RegistryPullResult = PullResult & { sync?: SyncResult };

function hasSyncedAreas(ctx: Context): boolean {
  return registryPolicy(openRepo(ctx).config.data).areas.some((a) => a.mode === 'synced');
}

export async function pushRegistry(ctx: Context, options: RegistryTransferOptions): Promise<RegistryPushResult> {
  let lint: LintSummary | undefined;
  if (!options.noCheck) {
    const c = await check(ctx);
    lint = { errors: c.errors, warnings: c.warnings };
    if (!c.ok) {
      const list = c.findings
        .filter((f) => f.severity === 'error')
        .slice(0, 10)
        .map((f) => `  ${f.file}${f.line ? `:${f.line}` : ''}: ${f.message} [${f.rule}]`)
        .join('\n');
      throw new RegError('push.check-failed', 'policy', `reg check found ${c.errors} error(s); nothing was pushed:\n${list}`, {
        hint: 'fix them (reg check lists each fix), push only some data (reg push <targets>), or skip the lint with --no-check',
        details: { findings: c.findings },
      });
    }
  }
  const versioned = await push(ctx, { targets: [], remote: options.remote, jobs: options.jobs, dryRun: options.dryRun });
  const synced = hasSyncedAreas(ctx)
    ? await sync(ctx, { direction: 'push', targets: [], remote: options.remote, jobs: options.jobs, dryRun: options.dryRun, force: options.force })
    : undefined;
  return { ...versioned, ...(lint ? { lint } : {}), ...(synced ? { sync: synced } : {}) };
}

export async function pullRegistry(ctx: Context, options: RegistryTransferOptions): Promise<RegistryPullResult> {
  const versioned = await pull(ctx, { targets: [], remote: options.remote, jobs: options.jobs, force: options.force });
  const synced = hasSyncedAreas(ctx) ? await sync(ctx, { direction: 'pull', targets: [], remote: options.remote, jobs: options.jobs, force: options.force }) : undefined;
  return { ...versioned, ...(synced ? { sync: synced } : {}) };
}

import type { Context } from '../../context.js';
import { openRepo } from '../../repo.js';
import { check, type CheckResult, type Finding } from '../registry/check.js';
import { stagedPaths } from '../../git/read.js';

/**
 * `reg hook pre-commit`: the staged registry must pass `reg check --staged`. Every error blocks
 * the commit; warnings are only shown when they are about something being committed (so a clone
 * without the synced data does not get the same notes on every commit).
 */
export async function preCommitHook(ctx: Context): Promise<CheckResult> {
  const result = await check(ctx, { staged: true });
  if (result.warnings === 0) return result;
  const staged = await stagedPaths(openRepo(ctx).root);
  const touches = (f: Finding) => {
    const entryPath = f.area !== undefined && f.entry !== undefined ? `${f.area}/${f.entry}` : undefined;
    return staged.some((p) => p === f.file || (entryPath !== undefined && (p === entryPath || p.startsWith(entryPath + '/') || p.startsWith(entryPath + '.'))));
  };
  const findings = result.findings.filter((f) => f.severity === 'error' || touches(f));
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  return { ...result, findings, warnings };
}

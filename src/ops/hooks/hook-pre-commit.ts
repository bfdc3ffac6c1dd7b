import type { Context } from '../../context.js';
import { openRepo } from '../../repo.js';
import { check, type CheckResult, type Finding } from '../registry/check.js';
import { stagedPaths } from '../../git/read.js';
import { nothingStaged } from './nothing-staged.js';

export interface PreCommitResult extends CheckResult {
  /** Nothing is staged, so the commit records HEAD's tree as it is: nothing was checked (areas and entries are 0). */
  nothingStaged?: true;
}

/**
 * `reg hook pre-commit`: the staged registry must pass `reg check --staged`. Every error blocks
 * the commit; warnings are only shown when they are about something being committed (so a clone
 * without the synced data does not get the same notes on every commit). With nothing staged the
 * commit brings nothing new to check, and the hook passes after one git call.
 */
export async function preCommitHook(ctx: Context): Promise<PreCommitResult> {
  if (await nothingStaged(ctx)) {
    return { staged: true, areas: 0, entries: 0, findings: [], errors: 0, warnings: 0, ok: true, nothingStaged: true };
  }
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

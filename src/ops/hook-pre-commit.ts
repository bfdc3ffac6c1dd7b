import type { Context } from '../context.js';
import { check, type CheckResult } from './check.js';

/** `reg hook pre-commit`: the staged registry must pass `reg check --staged`. */
export async function preCommitHook(ctx: Context): Promise<CheckResult> {
  return check(ctx, { staged: true });
}

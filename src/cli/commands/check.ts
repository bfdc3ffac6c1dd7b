import type { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { check, type CheckResult } from '../../ops/registry/check.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';
import { plural } from '../output.js';

/** Human rendering of check findings (shared with `reg hook pre-commit`). */
export function renderFindings(r: CheckResult, out: Output, write: (s: string) => void = (s) => out.line(s)): void {
  for (const f of r.findings) {
    write(`${f.severity}: ${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.message} [${f.rule}]`);
    write(`  fix: ${f.fix}`);
  }
  const what = r.staged ? 'staged registry' : 'registry';
  if (r.findings.length === 0) write(`${what} ok: ${plural(r.entries, 'entry', 'entries')} in ${plural(r.areas, 'area')}`);
  else write(`${what}: ${plural(r.errors, 'error')}, ${plural(r.warnings, 'warning')} (${plural(r.entries, 'entry', 'entries')} in ${plural(r.areas, 'area')})`);
}

export const checkCommand: CommandModule = {
  register(program, run) {
    program
      .command('check')
      .description('lint the registry: cards, entries, names, pointers, data or secrets in Git (exit 5 on errors)')
      .option('--staged', 'check what is staged for the next commit (what the pre-commit hook runs)')
      .action(async (opts: { staged?: boolean }, cmd: Command) =>
        run(
          cmd,
          (ctx) => check(ctx, { staged: opts.staged }),
          (r, out) => renderFindings(r, out),
          (r) => (r.ok ? 0 : ExitCode.policy),
        ),
      );
  },
};

import type { Command } from 'commander';
import { ExitCode, usageError } from '../../errors.js';
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
      .option('--ci', 'the CI recipe: the lint plus "every pointer has its data on the remote" (uploads nothing)')
      .option('--range <A..B>', 'with --ci: check the pointers changed by these commits (default: every pointer in HEAD)')
      .action(async (opts: { staged?: boolean; ci?: boolean; range?: string }, cmd: Command) =>
        run(
          cmd,
          async (ctx) => {
            if (opts.range !== undefined && !opts.ci) throw usageError('check.range', '--range needs --ci', { hint: 'reg check --ci --range A..B' });
            if (opts.ci && opts.staged) throw usageError('check.ci-staged', '--ci and --staged do not go together', { hint: 'CI checks commits (--ci [--range A..B]); the pre-commit hook checks the index (--staged)' });
            return check(ctx, { staged: opts.staged, ci: opts.ci, range: opts.range });
          },
          (r, out) => {
            renderFindings(r, out);
            if (r.ci) out.line(`remote data: ${r.ci.missing === 0 ? 'all on the remote' : `${r.ci.missing} missing`} (${plural(r.ci.pointers, 'pointer version')} in ${r.ci.range})`);
          },
          (r) => (r.ok ? 0 : ExitCode.policy),
        ),
      );
  },
};

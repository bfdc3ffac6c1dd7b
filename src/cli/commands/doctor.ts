import type { Command } from 'commander';
import { ExitCode, usageError } from '../../errors.js';
import { doctor, type DoctorStatus } from '../../ops/registry/doctor.js';
import type { CommandModule } from '../command.js';

const MARK: Record<DoctorStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export const doctorCommand: CommandModule = {
  register(program, run) {
    program
      .command('doctor')
      .description('check the environment and the repository (tools, hooks, config, secrets, remote, cache) and say what to fix; exit 1 when something is broken')
      .option('-r, --remote <name>', 'the remote to probe (default: core.remote)')
      .option('--timeout <seconds>', 'upper bound for the remote probe (default 20)')
      .option('--offline', 'do not contact the remote')
      .action(async (opts: { remote?: string; timeout?: string; offline?: boolean }, cmd: Command) => {
        let timeoutMs: number | undefined;
        if (opts.timeout !== undefined) {
          if (!/^[0-9]+(\.[0-9]+)?$/.test(opts.timeout) || Number(opts.timeout) <= 0) throw usageError('doctor.timeout', `--timeout must be a positive number of seconds, got ${opts.timeout}`, { hint: '--timeout 10' });
          timeoutMs = Number(opts.timeout) * 1000;
        }
        return run(
          cmd,
          (ctx) => doctor(ctx, { remote: opts.remote, timeoutMs, offline: opts.offline, nodeVersion: process.versions.node }),
          (r, out) => {
            for (const c of r.checks) {
              out.line(`${MARK[c.status]}  ${c.id}: ${c.summary}`);
              if (c.fix && c.status !== 'ok') out.line(`      fix: ${c.fix}`);
            }
            out.line(r.ok ? `all checks passed${r.warnings ? ` (${r.warnings} warning${r.warnings > 1 ? 's' : ''})` : ''}` : `${r.failed} check${r.failed > 1 ? 's' : ''} failed`);
          },
          (r) => (r.ok ? 0 : ExitCode.failed),
        );
      });
  },
};

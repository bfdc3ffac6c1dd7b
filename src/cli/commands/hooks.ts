import type { Command } from 'commander';
import { hooksInstall, hooksStatus, hooksUninstall, type HookName, type HooksResult } from '../../ops/hooks/hooks.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';

function renderHooks(r: HooksResult, out: Output): void {
  for (const a of r.actions) out.line(`${a.name}: ${a.action}`);
  if (r.actions.length === 0) {
    out.line(`hooks directory: ${r.hooksDir}${r.hooksPath ? ` (core.hooksPath = ${r.hooksPath})` : ''}`);
    for (const h of r.hooks) out.line(`${h.name}: ${h.state}${h.chained ? ` (runs ${h.name}.local first)` : ''}`);
  }
}

export const hooksCommand: CommandModule = {
  register(program, run) {
    const hooks = program.command('hooks').description('install the git hooks that enforce cards and push data before git push');
    hooks
      .command('install')
      .description('install pre-commit, pre-push, post-checkout and post-merge (existing hooks are chained, never overwritten)')
      .argument('[hooks...]', 'only these hooks')
      .option('-f, --force', 'install even when core.hooksPath points at a husky directory')
      .action(async (names: string[], opts: { force?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => hooksInstall(ctx, { hooks: names as HookName[], force: opts.force }), (r, out) => {
          renderHooks(r, out);
          out.note(`hooks in ${r.hooksDir}; they call \`reg hook <name>\`, so reg must be on PATH`);
        }),
      );
    hooks
      .command('uninstall')
      .description('remove reg\'s hooks (a chained pre-existing hook is put back)')
      .argument('[hooks...]', 'only these hooks')
      .action(async (names: string[], _opts: unknown, cmd: Command) => run(cmd, (ctx) => hooksUninstall(ctx, { hooks: names as HookName[] }), renderHooks));
    hooks
      .command('status')
      .description('show which hooks are installed')
      .action(async (_opts: unknown, cmd: Command) => run(cmd, (ctx) => hooksStatus(ctx), renderHooks));
  },
};

import type { Command } from 'commander';
import { ExitCode, usageError } from '../../errors.js';
import type { PostUpdateResult } from '../../ops/hooks/hook-post-checkout.js';
import type { CommandModule } from '../command.js';
import type { Output } from '../output.js';
import { renderFindings } from './check.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** post-checkout's exit status becomes git checkout's: turn any failure into a warning. */
async function neverFail(hook: PostUpdateResult['hook'], p: Promise<PostUpdateResult>): Promise<PostUpdateResult> {
  try {
    return await p;
  } catch (err) {
    const e = err as Error & { hint?: string };
    return { hook, pointers: [], updated: [], unchanged: [], skipped: [{ pointer: '(all)', reason: e?.message ?? String(err), ...(e?.hint ? { hint: e.hint } : {}) }] };
  }
}

function renderPostUpdate(r: PostUpdateResult, out: Output): void {
  for (const p of r.updated) out.note(`reg: updated data for ${p}`);
  for (const s of r.skipped) out.note(`reg: warning: left ${s.pointer} as it is: ${s.reason}${s.hint ? `\n  hint: ${s.hint}` : ''}`);
}

export const hookCommand: CommandModule = {
  register(program, run) {
    program
      .command('hook')
      .description('entry point of the git hook shims (reg hooks install); not usually run by hand')
      .argument('<name>', 'pre-commit | pre-push | post-checkout | post-merge')
      .argument('[args...]', 'the arguments git passed to the hook')
      .option('--mode <mode>', 'pre-push: push (upload missing data) or check (only refuse); default hooks.pre-push')
      .action(async (name: string, args: string[], opts: { mode?: string }, cmd: Command) => {
        switch (name) {
          // Each hook imports only its own op: git runs these on every commit, push and checkout.
          case 'pre-commit': {
            const { preCommitHook } = await import('../../ops/hooks/hook-pre-commit.js');
            return run(
              cmd,
              (ctx) => preCommitHook(ctx),
              (r, out) => {
                if (r.findings.length === 0) return;
                renderFindings(r, out, (s) => process.stderr.write(s + '\n'));
                if (!r.ok) process.stderr.write('reg: commit refused by the registry rules (fix the errors above; bypass once with git commit --no-verify)\n');
              },
              (r) => (r.ok ? 0 : ExitCode.policy),
            );
          }
          case 'pre-push': {
            const { prePushHook } = await import('../../ops/hooks/hook-pre-push.js');
            if (opts.mode !== undefined && opts.mode !== 'push' && opts.mode !== 'check') throw usageError('hook.mode', `--mode must be push or check`);
            let refLines = await readStdin();
            // The pre-commit framework passes the range in the environment instead of stdin. For
            // the first push of a root commit it passes no range at all: the op then checks
            // everything reachable from the pushed branch (fail closed).
            const env = process.env;
            if (refLines.trim() === '' && env.PRE_COMMIT_TO_REF) {
              const zero = '0'.repeat(40);
              refLines = `${env.PRE_COMMIT_LOCAL_BRANCH ?? 'HEAD'} ${env.PRE_COMMIT_TO_REF} ${env.PRE_COMMIT_REMOTE_BRANCH ?? 'HEAD'} ${env.PRE_COMMIT_FROM_REF || zero}\n`;
            }
            const reachableFrom = env.PRE_COMMIT_LOCAL_BRANCH || 'HEAD';
            return run(
              cmd,
              (ctx) => prePushHook(ctx, { gitRemote: args[0] ?? env.PRE_COMMIT_REMOTE_NAME ?? 'origin', refLines, mode: opts.mode as 'push' | 'check' | undefined, reachableFrom }),
              (r, out) => {
                for (const w of r.warnings) out.note(`reg: warning: ${w}`);
                if (r.uploaded > 0) out.note(`reg: uploaded the data of ${r.uploaded} pointer${r.uploaded > 1 ? 's' : ''} before the push`);
                if (r.ok) return;
                if (r.error) process.stderr.write(`reg: push refused: ${r.error}\n`);
                if (r.missing.length > 0) {
                  process.stderr.write(`reg: push refused: ${r.missing.length} pointer${r.missing.length > 1 ? 's' : ''} in the commits being pushed ${r.missing.length > 1 ? 'have' : 'has'} data missing from the remote:\n`);
                  for (const m of r.missing) process.stderr.write(`  ${m.pointer} (${m.oid}, commit ${m.commit.slice(0, 8)})${m.remote ? ` on ${m.remote}` : ''}: ${m.reason ?? 'missing'}\n`);
                }
                process.stderr.write(r.mode === 'check' ? '  fix: run `reg push`, then git push again (or git push --no-verify to skip the check)\n' : '  fix: see the errors above, run `reg push`, then git push again\n');
              },
              (r) => (r.ok ? 0 : ExitCode.policy),
            );
          }
          case 'post-checkout': {
            const { postCheckoutHook } = await import('../../ops/hooks/hook-post-checkout.js');
            return run(cmd, (ctx) => neverFail('post-checkout', postCheckoutHook(ctx, {
                  prev: args[0] ?? process.env.PRE_COMMIT_FROM_REF ?? '',
                  next: args[1] ?? process.env.PRE_COMMIT_TO_REF ?? 'HEAD',
                  branchCheckout: (args[2] ?? process.env.PRE_COMMIT_CHECKOUT_TYPE) === '1',
                })), renderPostUpdate, () => 0);
          }
          case 'post-merge': {
            const { postMergeHook } = await import('../../ops/hooks/hook-post-checkout.js');
            return run(cmd, (ctx) => neverFail('post-merge', postMergeHook(ctx)), renderPostUpdate, () => 0);
          }
          default:
            throw usageError('hook.unknown', `unknown hook ${name}`, { hint: 'reg hook pre-commit | pre-push | post-checkout | post-merge' });
        }
      });
  },
};

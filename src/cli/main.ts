import type { Command, CommanderError } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Context } from '../context.js';
import { ExitCode, RegError, diskError, isRegError } from '../errors.js';
import type { GlobalOptions, Runner } from './command.js';
import { GLOBAL_OPTIONS } from './command-name.js';
import { commands, loadCommands } from './commands/index.js';
import { versionLine } from './fast-path.js';
import { endQuietlyOnClosedPipe, escapeTerminal, jsonStringify, makeOutput } from './output.js';
import { makeProgressSink } from './progress.js';
import { sourceStack } from './source-stack.js';

/** After Ctrl-C, how long reg may take to stop (abort transfers and hashing, remove temp files). */
const INTERRUPT_GRACE_MS = 800;

/** Builds the program, runs it, and returns the exit code: the only place that decides one (entry.ts runs the fast paths first). */
export async function main(argv: string[]): Promise<number> {
  let exit = 0;
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  const { Command, CommanderError } = await import('commander');
  const abort = new AbortController();
  // First Ctrl-C: abort the operation (it stops, cleans its temp files, exits 130). Second one,
  // or an operation that does not stop within the grace period: exit at once.
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(ExitCode.interrupted);
    process.stderr.write('\nreg: interrupted, stopping (Ctrl-C again to quit at once)\n');
    abort.abort(new RegError('interrupted', 'interrupted', 'interrupted'));
    setTimeout(() => process.exit(ExitCode.interrupted), INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', onSigint);

  const program = new Command();
  program
    .name('reg')
    .description('A Git repository as a data and model registry (DVC 3 compatible).')
    .version(versionLine(), '--version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  for (const o of GLOBAL_OPTIONS) program.option(o.flags, o.description);

  const run: Runner = async (command, op, render, exitCode) => {
    const g = command.optsWithGlobals<GlobalOptions>();
    const out = makeOutput({ json: Boolean(g.json), quiet: Boolean(g.quiet), verbose: Boolean(g.verbose) }, process.stdout, process.stderr);
    const ctx: Context = {
      cwd: resolve(g.cwd ?? process.cwd()),
      env: process.env,
      progress: makeProgressSink({ tty: Boolean(process.stderr.isTTY), quiet: out.quiet, json: out.json, verbose: out.verbose }, process.stderr),
      signal: abort.signal,
      cores: availableParallelism(),
    };
    if (!out.quiet && !NO_HOOKS_NOTICE.has(topLevelName(command))) {
      const { hooksNotice } = await import('../ops/hooks/hooks-notice.js');
      const note = hooksNotice(ctx);
      if (note) process.stderr.write(note + '\n');
    }
    const result = await op(ctx);
    abort.signal.throwIfAborted();
    if (out.json) process.stdout.write(jsonStringify(result) + '\n');
    else render(result, out);
    exit = exitCode?.(result) ?? 0;
  };

  for (const module of await loadCommands(argv, program)) module.register(program, run);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    exit = await reportError(abort.signal.aborted ? abort.signal.reason : err, argv.includes('--json'), CommanderError);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return exit;
}

/** Whether `name` is one of reg's commands (the entry keeps a code cache per command that ran). */
export function isCommandName(name: string): boolean {
  return commands.some((c) => c.name === name);
}

/** Commands that install, run or report the hooks themselves print no "hooks not installed" note. */
const NO_HOOKS_NOTICE = new Set(['init', 'hooks', 'hook', 'doctor']);

function topLevelName(command: Command): string {
  let c = command;
  while (c.parent?.parent) c = c.parent;
  return c.name();
}

/**
 * The last line of defence: a disk condition (ENOSPC, EACCES ...) or a remote/network condition
 * that escaped the operation's own mapping is still named as such, never "internal error".
 * (The classifier is loaded only when something failed: main.ts loads on every run.)
 */
async function asKnownCondition(err: unknown, commanderError: typeof CommanderError): Promise<unknown> {
  if (isRegError(err) || err instanceof commanderError) return err;
  const disk = diskError(err);
  if (disk) return disk;
  const { classifyRemoteError, remoteError } = await import('../store/remote-errors.js');
  const c = classifyRemoteError(err);
  if (c === undefined || c === 'not-found') return err;
  const generic = { name: 'NAME', description: 'the remote', kind: 's3' as const, secrets: [] };
  return remoteError(err, generic);
}

async function reportError(err: unknown, json: boolean, commanderError: typeof CommanderError): Promise<number> {
  if (err instanceof commanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    if (json) process.stdout.write(jsonStringify({ error: { code: `usage.${err.code.replace('commander.', '')}`, message: err.message } }) + '\n');
    return ExitCode.usage;
  }
  err = await asKnownCondition(err, commanderError);
  if (isRegError(err)) {
    if (json) process.stdout.write(jsonStringify({ error: err.toJSON() }) + '\n');
    process.stderr.write(`reg: error: ${escapeTerminal(err.message)}\n`);
    if (err.hint) process.stderr.write(`  hint: ${escapeTerminal(err.hint)}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  if (json) process.stdout.write(jsonStringify({ error: { code: 'internal', message: e?.message ?? String(err) } }) + '\n');
  process.stderr.write(`reg: internal error: ${e?.stack ? sourceStack(e.stack) : String(err)}\n`);
  process.stderr.write('  hint: this is a bug in reg; please report it with the command you ran\n');
  return ExitCode.failed;
}

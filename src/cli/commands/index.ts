import type { Command } from 'commander';
import { commandNameIn } from '../command-name.js';
import type { CommandModule } from '../command.js';

/** A command's name and how to import its module (the module pulls in the op and what it needs). */
export interface CommandEntry {
  name: string;
  load: () => Promise<CommandModule>;
}

/**
 * Every command, in the order `reg --help` lists them. One file per command; adding a command is
 * one line here. Modules are imported only when their command runs (see `loadCommands`), so a
 * command never pays for another command's code at start-up.
 */
export const commands: CommandEntry[] = [
  { name: 'init', load: async () => (await import('./init.js')).initCommand },
  { name: 'add', load: async () => (await import('./add.js')).addCommand },
  { name: 'status', load: async () => (await import('./status.js')).statusCommand },
  { name: 'checkout', load: async () => (await import('./checkout.js')).checkoutCommand },
  { name: 'stash', load: async () => (await import('./stash.js')).stashCommand },
  { name: 'new', load: async () => (await import('./new.js')).newCommand },
  { name: 'check', load: async () => (await import('./check.js')).checkCommand },
  { name: 'doctor', load: async () => (await import('./doctor.js')).doctorCommand },
  { name: 'hooks', load: async () => (await import('./hooks.js')).hooksCommand },
  { name: 'hook', load: async () => (await import('./hook.js')).hookCommand },
  { name: 'sync', load: async () => (await import('./sync.js')).syncCommand },
  { name: 'remote', load: async () => (await import('./remote.js')).remoteCommand },
  { name: 'push', load: async () => (await import('./push.js')).pushCommand },
  { name: 'fetch', load: async () => (await import('./fetch.js')).fetchCommand },
  { name: 'pull', load: async () => (await import('./pull.js')).pullCommand },
  { name: 'verify', load: async () => (await import('./verify.js')).verifyCommand },
  { name: 'log', load: async () => (await import('./log.js')).logCommand },
  { name: 'diff', load: async () => (await import('./diff.js')).diffCommand },
  { name: 'ls', load: async () => (await import('./ls.js')).lsCommand },
  { name: 'export', load: async () => (await import('./export.js')).exportCommand },
  { name: 'share', load: async () => (await import('./share.js')).shareCommand },
  { name: 'batch', load: async () => (await import('./batch.js')).batchCommand },
  { name: 'get', load: async () => (await import('./get.js')).getCommand },
  { name: 'restore', load: async () => (await import('./restore.js')).restoreCommand },
  { name: 'gc', load: async () => (await import('./gc.js')).gcCommand },
  { name: 'search', load: async () => (await import('./search.js')).searchCommand },
  { name: 'catalog', load: async () => (await import('./catalog.js')).catalogCommand },
];

/**
 * The modules to register for this argv: only the named command's when argv names one from the
 * table; none for a bare `--version`; all of them otherwise (`--help`, `help`, no command, an
 * unknown or misspelt command), so commander's help and suggestions see every command.
 */
export async function loadCommands(argv: readonly string[], program: Command): Promise<CommandModule[]> {
  const name = commandNameIn(argv, program.options);
  const entry = commands.find((c) => c.name === name);
  if (entry) return [await entry.load()];
  const isFlag = (a: string) => program.options.some((o) => !o.required && !o.optional && (o.long === a || o.short === a));
  if (name === undefined && argv.includes('--version') && argv.every(isFlag)) return [];
  return Promise.all(commands.map((c) => c.load()));
}

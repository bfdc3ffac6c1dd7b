import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandNameIn, commands, loadCommands } from '../../dist/cli/commands/index.js';

/** A program with the same global options as src/cli/main.ts. */
function program(withVersion = true): Command {
  const p = new Command()
    .option('--json', 'json')
    .option('-q, --quiet', 'quiet')
    .option('-v, --verbose', 'verbose')
    .option('-C, --cwd <dir>', 'dir')
    .exitOverride();
  if (withVersion) p.version('0.0.0', '--version');
  return p;
}

const argvs: string[][] = [
  [],
  ['add', 'x'],
  ['status'],
  ['--json', 'status', '--remote'],
  ['-C', 'add', 'status'],
  ['--cwd', 'add', 'status'],
  ['--cwd=add', 'status'],
  ['-Cadd', 'status'],
  ['-qC', 'add', 'status'],
  ['-qvCadd', 'push'],
  ['-qv', 'pull', '-j', '4'],
  ['--help', 'add'],
  ['-h'],
  ['--unknown', 'add'],
  ['-x', 'add'],
  ['-qx', 'add'],
  ['--json=1', 'add'],
  ['--', 'add', 'x'],
  ['-q', '--', '--weird'],
  ['-', 'add'],
  ['help', 'add'],
  ['stauts'],
  ['add', '-C', 'dir', 'x'],
];

describe('picking the command from argv before loading it', () => {
  it('finds the same subcommand commander dispatches to', () => {
    for (const argv of argvs) {
      // commander's own split of argv into operands (operands[0] is the subcommand) and unknown options
      const expected = program(false).parseOptions(argv).operands[0];
      expect({ argv, name: commandNameIn(argv, program().options) }).toEqual({ argv, name: expected });
    }
  });

  it('loads only the named command, none for --version, all for help and unknown names', async () => {
    const names = async (argv: string[]) => {
      const p = program();
      for (const m of await loadCommands(argv, p)) m.register(p, async () => {});
      return p.commands.map((c) => c.name());
    };
    expect(await names(['status', '--json'])).toEqual(['status']);
    expect(await names(['-C', 'add', 'hook', 'pre-commit'])).toEqual(['hook']);
    expect(await names(['--version'])).toEqual([]);
    expect(await names(['-q', '--version'])).toEqual([]);
    const all = commands.map((c) => c.name);
    expect(await names(['--help'])).toEqual(all);
    expect(await names([])).toEqual(all);
    expect(await names(['-q'])).toEqual(all);
    expect(await names(['stauts'])).toEqual(all);
    expect(await names(['help', 'add'])).toEqual(all);
  });

  it('every table entry loads a module that registers exactly the command it is named after', async () => {
    expect(new Set(commands.map((c) => c.name)).size).toBe(commands.length);
    for (const entry of commands) {
      const p = program();
      (await entry.load()).register(p, async () => {});
      expect(p.commands.map((c) => c.name())).toEqual([entry.name]);
    }
  });
});

import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { GLOBAL_OPTIONS, PROGRAM_OPTION_SHAPES, commandNameIn, optionShape } from '../../dist/cli/command-name.js';
import { commands, loadCommands } from '../../dist/cli/commands/index.js';

/** A program with the global options of src/cli/main.ts. */
function program(withVersion = true): Command {
  const p = new Command().exitOverride();
  if (withVersion) p.version('0.0.0', '--version');
  for (const o of GLOBAL_OPTIONS) p.option(o.flags, o.description);
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
      // What the entry uses to pick the command's code cache, before commander is loaded.
      expect({ argv, name: commandNameIn(argv, PROGRAM_OPTION_SHAPES) }).toEqual({ argv, name: expected });
    }
  });

  it('the entry reads the program options as commander does', () => {
    const shape = (o: { short?: string; long?: string; required: boolean; optional: boolean }) => ({ short: o.short, long: o.long, required: o.required, optional: o.optional });
    expect(PROGRAM_OPTION_SHAPES.map(shape)).toEqual(program().options.map(shape));
    for (const flags of ['-x, --extra [n]', '--only <list>', '-y', '--flag']) expect(shape(optionShape(flags))).toEqual(shape(new Option(flags, '')));
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

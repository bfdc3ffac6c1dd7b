/**
 * The program's own options (before the command), and how the command named on a command line is
 * found without loading commander or any command module: the entry uses it to pick the command's
 * V8 code cache, the program to load only that command's module. Kept free of imports, so the
 * entry's small bundle (dist/reg-entry.cjs) can take it in.
 */

/** What picking the command needs of an option: a subset of commander's `Option`. */
export interface OptionShape {
  short?: string;
  long?: string;
  /** Takes a value (`<dir>`). */
  required: boolean;
  /** May take a value (`[x]`). */
  optional: boolean;
}

/** The global options, registered by src/cli/main.ts (`--version` and `--help` come from commander). */
export const GLOBAL_OPTIONS: readonly { flags: string; description: string }[] = [
  { flags: '--json', description: 'print exactly one JSON document on stdout' },
  { flags: '-q, --quiet', description: 'print errors only: no results, progress, notes or warnings (--json still prints its document)' },
  { flags: '-v, --verbose', description: 'more detail (file lists, debug logs)' },
  { flags: '-C, --cwd <dir>', description: 'run as if started in <dir>' },
];

/** An option's shape from its commander flags string (`-C, --cwd <dir>`), as commander reads it. */
export function optionShape(flags: string): OptionShape {
  const names = flags.split(/[ ,|]+/).filter((f) => f.startsWith('-'));
  return {
    short: names.find((f) => !f.startsWith('--')),
    long: names.find((f) => f.startsWith('--')),
    required: flags.includes('<'),
    optional: flags.includes('['),
  };
}

/** The shapes of the program's options, in commander's order: `--version` (registered first), then the global ones. */
export const PROGRAM_OPTION_SHAPES: readonly OptionShape[] = [optionShape('--version'), ...GLOBAL_OPTIONS.map((o) => optionShape(o.flags))];

/**
 * The subcommand commander will dispatch to: the first operand, skipping the program's own options
 * (and their values) the way commander's parseOptions does. Undefined when an unknown option comes
 * first, because commander then treats every later argument as unknown too.
 */
export function commandNameIn(argv: readonly string[], programOptions: readonly OptionShape[]): string | undefined {
  const find = (flag: string) => programOptions.find((o) => o.short === flag || o.long === flag);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (arg === '--') return argv[i + 1];
    if (arg.length < 2 || arg[0] !== '-') return arg;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const option = find(eq > 0 ? arg.slice(0, eq) : arg);
      if (!option || (eq > 0 && !option.required && !option.optional)) return undefined;
      if (eq < 0 && (option.required || (option.optional && !(argv[i + 1] ?? '-').startsWith('-')))) i++;
      continue;
    }
    // A group of short flags (-qv, -qC dir, -Cdir): booleans, then possibly one that takes a value.
    for (;;) {
      const option = find(arg.slice(0, 2));
      if (!option) return undefined;
      const rest = arg.slice(2);
      if (option.required || option.optional) {
        if (rest === '' && (option.required || !(argv[i + 1] ?? '-').startsWith('-'))) i++;
        break;
      }
      if (rest === '') break;
      arg = `-${rest}`;
    }
  }
  return undefined;
}

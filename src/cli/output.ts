/** Where a command's results go: stdout for results (one JSON document with --json), stderr for the rest. */
export interface Output {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  /** A line of human-readable result text on stdout (suppressed with --json). */
  line(text?: string): void;
  /** A warning or note on stderr (suppressed with --quiet). */
  note(text: string): void;
  color: boolean;
}

export function makeOutput(opts: { json: boolean; quiet: boolean; verbose: boolean }, stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream): Output {
  return {
    ...opts,
    color: Boolean(stderr.isTTY) && !process.env.NO_COLOR,
    line(text = '') {
      if (!opts.json) stdout.write(text + '\n');
    },
    note(text: string) {
      if (!opts.quiet) stderr.write(text + '\n');
    },
  };
}

export function jsonStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function plural(n: number, word: string, pluralWord = word + 's'): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

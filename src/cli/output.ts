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
      // -q silences results too (like git -q); --json still prints its one document elsewhere.
      if (!opts.json && !opts.quiet) writeOpen(stdout, text + '\n');
    },
    note(text: string) {
      if (!opts.quiet) writeOpen(stderr, text + '\n');
    },
  };
}

/**
 * A reader that goes away (`reg status | head -1`) ends the output normally: write errors on the
 * stream (EPIPE) are absorbed instead of crashing with a stack trace, later writes are dropped,
 * and the command's own exit code stands. Call once per stream at start-up.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WritableStream & { destroy(): void }): void {
  stream.on('error', () => stream.destroy());
}

/** Writes unless the stream was closed by its reader. */
export function writeOpen(stream: NodeJS.WritableStream, text: string): void {
  if (stream.writable) stream.write(text);
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

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
      if (!opts.json && !opts.quiet) writeOpen(stdout, escapeTerminal(text) + '\n');
    },
    note(text: string) {
      if (!opts.quiet) writeOpen(stderr, escapeTerminal(text) + '\n');
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

/**
 * Characters that must not reach a terminal raw from a file name: C0 controls (newline, tab, ESC,
 * which starts every terminal escape sequence), DEL, C1 controls (CSI U+009B included), the
 * Unicode line/paragraph separators and the bidirectional overrides that reorder what is shown.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\u001b': '\\e' };

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return SHORT[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** A file name as it may be printed: every control character and escape sequence made visible (`\n`, `\e`, `\x9b`). */
export function displayPath(name: string): string {
  UNPRINTABLE.lastIndex = 0;
  return UNPRINTABLE.test(name) ? name.replace(UNPRINTABLE, escapeChar) : name;
}

/**
 * A line of reg's own text with whatever file names it embeds: newlines and tabs reg put there are
 * kept, every other control character is made visible, so no name can drive the terminal.
 */
export function escapeTerminal(text: string): string {
  UNPRINTABLE.lastIndex = 0;
  return UNPRINTABLE.test(text) ? text.replace(UNPRINTABLE, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c))) : text;
}

export function jsonStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

export { formatBytes } from '../data/format.js';

export function plural(n: number, word: string, pluralWord = word + 's'): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

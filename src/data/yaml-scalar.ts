/**
 * Writes string scalars byte for byte as DVC's YAML writer does: ruamel.yaml's round-trip dumper
 * with DVC's settings (`YAML()` + `default_flow_style = False`, so YAML 1.2 resolution,
 * allow_unicode, best width 80). See dvc-compat.md §3.4. The rules follow ruamel's emitter:
 *  - the style: plain unless the plain text would resolve to another type (YAML 1.2 as ruamel
 *    implements it: bool, int incl. signed 0b/0o/0x, float, null, timestamp, `<<`, `=`) or breaks
 *    the syntax; then single quotes, or double quotes when the text holds `'` or a newline or
 *    characters that need escapes;
 *  - folding: a single space becomes a line break once the line is past column 80 (plain and
 *    single-quoted), or the text is cut with a `\` continuation (double-quoted);
 *  - U+0085, U+2028 and U+2029 count as line breaks: in single quotes they are written raw and
 *    followed by an indented new line (test/helpers/ruamel-dvc.py cross-checks all of this).
 */
export type ScalarStyle = 'PLAIN' | 'QUOTE_SINGLE' | 'QUOTE_DOUBLE';

/** Where the scalar goes: what ruamel's emitter knows when it writes it. */
export interface ScalarPlace {
  /** Column of the scalar's first character (after `key: `). */
  column: number;
  /** Indentation of continuation lines (the key's column + 2 in DVC's files). */
  indent: number;
  /** A mapping key: never folded, never multi-line plain. */
  simpleKey?: boolean;
  /** Inside a flow collection (`[a, b]`): flow indicators forbid plain text. */
  flow?: boolean;
}

const BEST_WIDTH = 80;
const BREAK_CHARS = '\n\x85\u2028\u2029';
const BLANK_OR_BREAK = '\0 \t\r\n\x85\u2028\u2029';
const UNPLACED: ScalarPlace = { column: 0, indent: 0, simpleKey: true };

/** ruamel's YAML 1.2 implicit resolvers, looked up by the first character as ruamel does. */
const RESOLVERS: Array<{ first: string; re: RegExp }> = [
  { first: 'tTfF', re: /^(?:true|True|TRUE|false|False|FALSE)$/ },
  {
    first: '-+0123456789.',
    re: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  },
  { first: '-+0123456789', re: /^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$/ },
  { first: '<', re: /^<<$/ },
  { first: '~nN', re: /^(?:~|null|Null|NULL)$/ },
  {
    first: '0123456789',
    re: /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/,
  },
  { first: '=', re: /^=$/ },
  { first: '!&*', re: /^[!&*]$/ },
];

/** True when a plain scalar with this text would not be read back as a string (empty = null). */
export function resolvesToNonString(s: string): boolean {
  if (s === '') return true;
  const first = s[0]!;
  return RESOLVERS.some((r) => r.first.includes(first) && r.re.test(s));
}

interface Analysis {
  empty: boolean;
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  singleQuoted: boolean;
}

/** Printable for a writer with allow_unicode (DVC's): ASCII printables, and Unicode but BOM. */
function isPrintable(cp: number): boolean {
  if (cp === 0x0a || (cp >= 0x20 && cp <= 0x7e)) return true;
  return (cp === 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000) && cp !== 0xfeff;
}

function analyze(chars: string[]): Analysis {
  if (chars.length === 0) return { empty: true, multiline: false, flowPlain: false, blockPlain: true, singleQuoted: true };
  const text = chars.join('');
  let blockIndicators = text.startsWith('---') || text.startsWith('...');
  let flowIndicators = blockIndicators;
  let lineBreaks = false;
  let special = false;
  let leadingBlank = false;
  let trailingBlank = false;
  let breakThenSpace = false;
  let spaceThenBreak = false;
  let precededByBlank = true;
  let followedByBlank = chars.length === 1 || BLANK_OR_BREAK.includes(chars[1]!);
  let previousSpace = false;
  let previousBreak = false;
  const last = chars.length - 1;
  chars.forEach((ch, i) => {
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) flowIndicators = blockIndicators = true;
      if (ch === '?' || ch === ':') {
        if (chars.length === 1) flowIndicators = true;
        if (followedByBlank) blockIndicators = true;
      }
      if (ch === '-' && followedByBlank) flowIndicators = blockIndicators = true;
    } else {
      if (',[]{}'.includes(ch)) flowIndicators = true;
      if (ch === ':' && followedByBlank) flowIndicators = blockIndicators = true;
      if (ch === '#' && precededByBlank) flowIndicators = blockIndicators = true;
    }
    const isBreak = BREAK_CHARS.includes(ch);
    if (isBreak) lineBreaks = true;
    if (!isPrintable(ch.codePointAt(0)!)) special = true;
    if (ch === ' ') {
      if (i === 0) leadingBlank = true;
      if (i === last) trailingBlank = true;
      if (previousBreak) breakThenSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak) {
      if (i === 0) leadingBlank = true;
      if (i === last) trailingBlank = true;
      if (previousSpace) spaceThenBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = previousBreak = false;
    }
    precededByBlank = BLANK_OR_BREAK.includes(ch);
    followedByBlank = i + 2 >= chars.length || BLANK_OR_BREAK.includes(chars[i + 2]!);
  });
  const plain = !(leadingBlank || trailingBlank || breakThenSpace || special || spaceThenBreak || lineBreaks);
  const singleQuoted = !(breakThenSpace || special || spaceThenBreak);
  return { empty: false, multiline: lineBreaks, flowPlain: plain && !flowIndicators, blockPlain: plain && !blockIndicators, singleQuoted };
}

function chooseStyle(chars: string[], text: string, place: Pick<ScalarPlace, 'simpleKey' | 'flow'>): ScalarStyle {
  const a = analyze(chars);
  const plainAllowed = place.flow ? a.flowPlain : a.blockPlain;
  if (!resolvesToNonString(text) && !(place.simpleKey && (a.empty || a.multiline)) && plainAllowed) return 'PLAIN';
  if (text.includes("'") || text.includes('\n')) return 'QUOTE_DOUBLE';
  if (a.singleQuoted && !(place.simpleKey && a.multiline)) return 'QUOTE_SINGLE';
  return 'QUOTE_DOUBLE';
}

/** The style ruamel gives the string `s` as a block mapping value (or key). */
export function scalarStyle(s: string, place: Pick<ScalarPlace, 'simpleKey' | 'flow'> = {}): ScalarStyle {
  return chooseStyle(Array.from(s), s, place);
}

/** The emitter state ruamel keeps while writing one scalar. */
class Line {
  out = '';
  whitespace = false;
  indention = false;
  constructor(
    public column: number,
    private readonly indent: number,
  ) {}
  write(data: string, width = Array.from(data).length): void {
    this.out += data;
    this.column += width;
  }
  lineBreak(data = '\n'): void {
    this.out += data;
    this.whitespace = this.indention = true;
    this.column = 0;
  }
  writeIndent(): void {
    if (!this.indention || this.column > this.indent || (this.column === this.indent && !this.whitespace)) this.lineBreak();
    if (this.column < this.indent) {
      this.whitespace = true;
      this.write(' '.repeat(this.indent - this.column));
    }
  }
}

function writePlain(chars: string[], line: Line, split: boolean): void {
  let spaces = false;
  let start = 0;
  for (let end = 0; end <= chars.length; end++) {
    const ch = chars[end];
    if (spaces) {
      if (ch !== ' ') {
        if (start + 1 === end && line.column > BEST_WIDTH && split) {
          line.writeIndent();
          line.whitespace = line.indention = false;
        } else line.write(chars.slice(start, end).join(''));
        start = end;
      }
    } else if (ch === undefined || ch === ' ') {
      line.write(chars.slice(start, end).join(''));
      start = end;
    }
    if (ch !== undefined) spaces = ch === ' ';
  }
}

function writeSingleQuoted(chars: string[], line: Line, split: boolean): void {
  line.write("'");
  let spaces = false;
  let breaks = false;
  let start = 0;
  for (let end = 0; end <= chars.length; end++) {
    const ch = chars[end];
    if (spaces) {
      if (ch !== ' ') {
        if (start + 1 === end && line.column > BEST_WIDTH && split && start !== 0 && end !== chars.length) line.writeIndent();
        else line.write(chars.slice(start, end).join(''));
        start = end;
      }
    } else if (breaks) {
      if (ch === undefined || !BREAK_CHARS.includes(ch)) {
        if (chars[start] === '\n') line.lineBreak();
        for (const br of chars.slice(start, end)) line.lineBreak(br);
        line.writeIndent();
        start = end;
      }
    } else if (ch === undefined || ch === ' ' || ch === "'" || BREAK_CHARS.includes(ch)) {
      if (start < end) {
        line.write(chars.slice(start, end).join(''));
        start = end;
      }
    }
    if (ch === "'") {
      line.write("''");
      start = end + 1;
    }
    if (ch !== undefined) {
      spaces = ch === ' ';
      breaks = BREAK_CHARS.includes(ch);
    }
  }
  line.write("'");
}

const ESCAPES: Record<string, string> = {
  '\0': '0',
  '\x07': 'a',
  '\b': 'b',
  '\t': 't',
  '\n': 'n',
  '\v': 'v',
  '\f': 'f',
  '\r': 'r',
  '\x1b': 'e',
  '"': '"',
  '\\': '\\',
  '\x85': 'N',
  '\u2028': 'L',
  '\u2029': 'P',
};

function escapeFor(ch: string): string {
  const named = ESCAPES[ch];
  if (named !== undefined) return '\\' + named;
  const cp = ch.codePointAt(0)!;
  const hex = cp.toString(16).toUpperCase();
  if (cp <= 0xff) return '\\x' + hex.padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + hex.padStart(4, '0');
  return '\\U' + hex.padStart(8, '0');
}

/** Raw in double quotes: printable ASCII and BMP Unicode (ruamel escapes astral characters here). */
function rawInDoubleQuotes(ch: string): boolean {
  if ('"\\\x85\u2028\u2029\ufeff'.includes(ch)) return false;
  const cp = ch.codePointAt(0)!;
  return (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd);
}

function writeDoubleQuoted(chars: string[], line: Line, split: boolean): void {
  line.write('"');
  let start = 0;
  for (let end = 0; end <= chars.length; end++) {
    const ch = chars[end];
    if (ch === undefined || !rawInDoubleQuotes(ch)) {
      if (start < end) {
        line.write(chars.slice(start, end).join(''));
        start = end;
      }
      if (ch !== undefined) {
        line.write(escapeFor(ch));
        start = end + 1;
      }
    }
    if (end > 0 && end < chars.length - 1 && (ch === ' ' || start >= end) && line.column + (end - start) > BEST_WIDTH && split) {
      const data = chars.slice(start, end).join('') + '\\';
      if (start < end) start = end;
      line.write(data);
      line.writeIndent();
      line.whitespace = line.indention = false;
      if (chars[start] === ' ') line.write('\\');
    }
  }
  line.write('"');
}

/**
 * The text ruamel writes for the string `s` at `place` (without the space after `key:`); may span
 * several lines when folded. Without a place: as a key (never folded).
 */
export function renderScalar(s: string, place: ScalarPlace = UNPLACED): string {
  const chars = Array.from(s);
  const line = new Line(place.column, place.indent);
  const split = !place.simpleKey;
  switch (chooseStyle(chars, s, place)) {
    case 'PLAIN':
      writePlain(chars, line, split);
      break;
    case 'QUOTE_SINGLE':
      writeSingleQuoted(chars, line, split);
      break;
    case 'QUOTE_DOUBLE':
      writeDoubleQuoted(chars, line, split);
      break;
  }
  return line.out;
}

/** `key: value` as a line (or folded lines) of a block mapping whose keys start at `keyColumn`. */
export function renderMappingValue(key: string, value: string, keyColumn: number): string {
  return `${key}: ${renderScalar(value, { column: keyColumn + key.length + 2, indent: keyColumn + 2 })}`;
}

const READ_BREAKS = '\r\n\x85\u2028\u2029';
const UNESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029',
};
const HEX_ESCAPE_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };

/** True when `text` holds a character DVC's reader takes as a line break but YAML 1.2 does not. */
export function hasLegacyLineBreak(text: string): boolean {
  return /[\x85\u2028\u2029]/.test(text);
}

/**
 * Reads a quoted scalar (its source, quotes included) as DVC's reader does: like YAML 1.2, except
 * that U+0085, U+2028 and U+2029 are line breaks (folded like a newline; U+2028/U+2029 are kept,
 * U+0085 reads as a newline). Returns undefined for text it cannot read (the caller's YAML parser
 * has already reported anything malformed).
 */
export function readQuotedLikeDvc(source: string): string | undefined {
  const quote = source[0];
  if ((quote !== "'" && quote !== '"') || source.length < 2 || source[source.length - 1] !== quote) return undefined;
  const double = quote === '"';
  const body = Array.from(source.slice(1, -1));
  let i = 0;
  let out = '';
  const lineBreak = (): string => {
    const ch = body[i]!;
    if (ch === '\r' && body[i + 1] === '\n') {
      i += 2;
      return '\n';
    }
    i++;
    return ch === '\u2028' || ch === '\u2029' ? ch : '\n';
  };
  const followingBreaks = (): string[] => {
    const breaks: string[] = [];
    for (;;) {
      while (body[i] === ' ' || body[i] === '\t') i++;
      if (i < body.length && READ_BREAKS.includes(body[i]!)) breaks.push(lineBreak());
      else return breaks;
    }
  };
  while (i < body.length) {
    const ch = body[i]!;
    if (ch === ' ' || ch === '\t' || READ_BREAKS.includes(ch)) {
      let blanks = '';
      while (body[i] === ' ' || body[i] === '\t') blanks += body[i++];
      if (i < body.length && READ_BREAKS.includes(body[i]!)) {
        const first = lineBreak();
        const rest = followingBreaks();
        if (first !== '\n') out += first;
        else if (rest.length === 0) out += ' ';
        out += rest.join('');
      } else out += blanks;
    } else if (!double && ch === "'") {
      if (body[i + 1] !== "'") return undefined;
      out += "'";
      i += 2;
    } else if (double && ch === '\\') {
      const code = body[i + 1];
      i += 2;
      if (code === undefined) return undefined;
      if (UNESCAPES[code] !== undefined) out += UNESCAPES[code];
      else if (HEX_ESCAPE_LENGTH[code] !== undefined) {
        const hex = body.slice(i, i + HEX_ESCAPE_LENGTH[code]).join('');
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== HEX_ESCAPE_LENGTH[code]) return undefined;
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) return undefined;
        out += String.fromCodePoint(cp);
        i += hex.length;
      } else if (READ_BREAKS.includes(code)) {
        i--;
        lineBreak();
        out += followingBreaks().join('');
      } else return undefined;
    } else if (double && ch === '"') {
      return undefined;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

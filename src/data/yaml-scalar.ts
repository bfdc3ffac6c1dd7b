/**
 * How ruamel.yaml (DVC's YAML writer) renders a string scalar: plain when it cannot be misread,
 * single-quoted when a plain scalar would resolve to another type or break the syntax,
 * double-quoted when it needs escapes or starts with a single quote. See dvc-compat.md §3.4.
 */
export type ScalarStyle = 'PLAIN' | 'QUOTE_SINGLE' | 'QUOTE_DOUBLE';

const OTHER_TYPE_PATTERNS: RegExp[] = [
  /^(?:true|True|TRUE|false|False|FALSE)$/,
  /^(?:null|Null|NULL|~)$/,
  /^[-+]?[0-9_]*[0-9][0-9_]*$/,
  /^0b[0-1_]+$/,
  /^0o[0-7_]+$/,
  /^0x[0-9a-fA-F_]+$/,
  /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?$/,
  /^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/,
  /^[-+]?\.(?:inf|Inf|INF)$/,
  /^\.(?:nan|NaN|NAN)$/,
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?$/,
  /^(?:<<|=|---|\.\.\.)$/,
];

// Control characters, DEL, and the Unicode line/paragraph separators need escapes.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\x00-\x08\x0a-\x1f\x7f\u0085\u2028\u2029\ufeff]/;
// eslint-disable-next-line no-control-regex
const HAS_TAB = /\t/;

export function scalarStyle(s: string): ScalarStyle {
  if (s.startsWith("'") || NEEDS_ESCAPE.test(s) || HAS_TAB.test(s)) return 'QUOTE_DOUBLE';
  if (s === '') return 'QUOTE_SINGLE';
  if (OTHER_TYPE_PATTERNS.some((re) => re.test(s))) return 'QUOTE_SINGLE';
  if (/^[#[\]{}&*!|>"%@`,]/.test(s)) return 'QUOTE_SINGLE';
  if (/^[-?:](?: |$)/.test(s)) return 'QUOTE_SINGLE';
  if (s.includes(': ') || s.includes(' #') || s.endsWith(':')) return 'QUOTE_SINGLE';
  if (s.startsWith(' ') || s.endsWith(' ')) return 'QUOTE_SINGLE';
  return 'PLAIN';
}

const DOUBLE_ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\x07': '\\a',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\v': '\\v',
  '\f': '\\f',
  '\r': '\\r',
  '\x1b': '\\e',
  '"': '\\"',
  '\\': '\\\\',
  '\u0085': '\\N',
  '\u2028': '\\L',
  '\u2029': '\\P',
};

export function renderScalar(s: string): string {
  switch (scalarStyle(s)) {
    case 'PLAIN':
      return s;
    case 'QUOTE_SINGLE':
      return "'" + s.replace(/'/g, "''") + "'";
    case 'QUOTE_DOUBLE': {
      let out = '"';
      for (const ch of s) {
        const esc = DOUBLE_ESCAPES[ch];
        const code = ch.codePointAt(0)!;
        if (esc !== undefined) out += esc;
        else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).toUpperCase().padStart(2, '0');
        else if (code === 0xfeff) out += '\\uFEFF';
        else out += ch;
      }
      return out + '"';
    }
  }
}

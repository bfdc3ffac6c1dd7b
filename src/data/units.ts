/** Sizes and durations as users write them. Pure. */

/** `10MB`, `512k`, `1.5 GiB`, `4GiB` or a plain byte count (suffixes are powers of 1024), or undefined. */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  const m = typeof value === 'string' ? /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(value) : null;
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/** `7d`, `12h`, `30m`, `90s` or a number of seconds; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*([0-9]+)\s*(s|sec|m|min|h|d|w)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? 's').toLowerCase();
  const mult = unit === 'w' ? 604800 : unit === 'd' ? 86400 : unit === 'h' ? 3600 : unit === 'm' || unit === 'min' ? 60 : 1;
  return Number(m[1]) * mult;
}

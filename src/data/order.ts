/**
 * Orders strings by UTF-16 code units, as `Array.prototype.sort` does by default: the same order on
 * every machine and locale (git lists paths in byte order, which this matches for ASCII paths).
 * `localeCompare` would also load ICU's collator on first use, ~9 ms of a command's start here.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

import { InvalidArgumentError } from 'commander';
import { parseByteSize, parseDuration } from '../data/units.js';

/** Parses `-j/--jobs`. */
export function parseJobs(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

/** Parses a size option: `4GiB`, `500MB`, `1048576` (suffixes are powers of 1024). */
export function parseSizeOption(value: string): number {
  const n = parseByteSize(value);
  if (n === undefined || n <= 0) throw new InvalidArgumentError('must be a size like 4GiB, 500MB or a byte count');
  return n;
}

/** Parses a duration option: `7d`, `12h`, `30m`, `90s` or seconds. */
export function parseDurationOption(value: string): number {
  const n = parseDuration(value);
  if (n === undefined || n <= 0) throw new InvalidArgumentError('must be a duration like 7d, 12h, 30m or a number of seconds');
  return n;
}

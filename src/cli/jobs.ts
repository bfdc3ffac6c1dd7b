import { InvalidArgumentError } from 'commander';
import { parseByteSize } from '../policy/areas.js';

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

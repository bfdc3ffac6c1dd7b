import { InvalidArgumentError } from 'commander';

/** Parses `-j/--jobs`. */
export function parseJobs(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { Output } from './output.js';

/** Global flags every command accepts (declared once on the program). */
export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  cwd?: string;
}

/**
 * Runs an operation and renders its result: text via `render`, or the result itself as the one
 * JSON document on stdout. `exitCode` lets a command report a non-error failure (e.g. `status`
 * with `--exit-code`, `check` with findings).
 */
export type Runner = <R>(
  command: Command,
  op: (ctx: Context) => Promise<R>,
  render: (result: R, out: Output) => void,
  exitCode?: (result: R) => number,
) => Promise<void>;

export interface CommandModule {
  register(program: Command, run: Runner): void;
}

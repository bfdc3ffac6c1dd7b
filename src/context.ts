/**
 * Everything an operation needs from the outside world, injected so operations never touch
 * `process.*` and stay usable as a library and testable.
 */
export type ProgressEvent =
  | { type: 'start'; phase: string; label: string; total?: number; totalBytes?: number }
  | { type: 'advance'; phase: string; done?: number; bytes?: number }
  | { type: 'end'; phase: string }
  | { type: 'log'; level: 'info' | 'warn' | 'debug'; message: string };

export type ProgressSink = (event: ProgressEvent) => void;

export interface Context {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  progress: ProgressSink;
  /** Cancels long-running work (Ctrl-C). */
  signal?: AbortSignal;
  /** Number of CPU cores to use for hashing. */
  cores?: number;
}

export const silentProgress: ProgressSink = () => {};

export function makeContext(partial: Partial<Context> & { cwd: string }): Context {
  return { env: {}, progress: silentProgress, ...partial };
}

import type { Context } from '../../context.js';
import { RegError } from '../../errors.js';
import { describeError } from '../../store/remote-errors.js';
import { runTransfers, type TransferOutcome, type TransferTask } from '../../store/transfer.js';
import type { OpenedRemote } from './open-remote.js';
import { redact } from './remote-config.js';

export interface ProgressTransferOptions {
  phase: string;
  label: string;
  /** Defaults to the remote's job count. */
  jobs?: number;
  /** Defaults to the sum of the task sizes. */
  totalBytes?: number;
}

/**
 * runTransfers against one remote (its concurrency, retry budget and error classes) with the
 * progress events every transfer shows (start, bytes, objects, retries, end).
 */
export async function runTransfersWithProgress(ctx: Context, tasks: readonly TransferTask[], remote: OpenedRemote, options: ProgressTransferOptions): Promise<TransferOutcome> {
  const { phase } = options;
  ctx.progress({ type: 'start', phase, label: options.label, total: tasks.length, totalBytes: options.totalBytes ?? tasks.reduce((s, t) => s + t.size, 0) });
  try {
    return await runTransfers(tasks, {
      jobs: options.jobs ?? remote.jobs,
      retry: remote.retry,
      health: remote.health,
      classify: (err) => remote.classify(err),
      signal: ctx.signal,
      onBytes: (n) => ctx.progress({ type: 'advance', phase, bytes: n }),
      onDone: () => ctx.progress({ type: 'advance', phase, done: 1 }),
      onRetry: (task, err, attempt) =>
        ctx.progress({ type: 'log', level: 'debug', message: redact(`retrying ${task.key} (attempt ${attempt + 1}): ${describeError(err)}`, remote.secrets) }),
    });
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

/** The same error with the operation's partial result as its details (for --json). */
export function withDetails(err: RegError, details: unknown): RegError {
  return new RegError(err.code, err.exit, err.message, { hint: err.hint, details, cause: err });
}

import type { Context } from '../../context.js';
import { RegError } from '../../errors.js';
import { describeError } from '../../store/remote-errors.js';
import { runTransfers, type TransferOptions, type TransferOutcome, type TransferTask } from '../../store/transfer.js';
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
    return await runTransfers(tasks, transferOptions(ctx, remote, options));
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

/**
 * runTransfersWithProgress over tasks made a batch at a time, so a million objects never exist
 * as a million tasks at once: one progress phase over `total` tasks; each batch's outcome goes
 * to `onOutcome` before the next batch is made (a later batch may depend on an earlier one's
 * results); stops after a batch that met a fatal error and returns that error.
 */
export async function runTransferBatchesWithProgress(
  ctx: Context,
  batches: Iterable<readonly TransferTask[]>,
  remote: OpenedRemote,
  options: ProgressTransferOptions & { total: number; totalBytes: number; sentBefore?: (key: string) => boolean },
  onOutcome: (outcome: TransferOutcome) => void,
): Promise<RegError | undefined> {
  const { phase } = options;
  ctx.progress({ type: 'start', phase, label: options.label, total: options.total, totalBytes: options.totalBytes });
  try {
    for (const batch of batches) {
      if (batch.length === 0) continue;
      const outcome = await runTransfers(batch, { ...transferOptions(ctx, remote, options), ...(options.sentBefore ? { sentBefore: options.sentBefore } : {}) });
      onOutcome(outcome);
      if (outcome.fatal) return outcome.fatal;
    }
    return undefined;
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

function transferOptions(ctx: Context, remote: OpenedRemote, options: ProgressTransferOptions): TransferOptions {
  const { phase } = options;
  return {
    jobs: options.jobs ?? remote.jobs,
    retry: remote.retry,
    health: remote.health,
    classify: (err) => remote.classify(err),
    signal: ctx.signal,
    onBytes: (n) => ctx.progress({ type: 'advance', phase, bytes: n }),
    onDone: () => ctx.progress({ type: 'advance', phase, done: 1 }),
    onRetry: (task, err, attempt) =>
      ctx.progress({ type: 'log', level: 'debug', message: redact(`retrying ${task.key} (attempt ${attempt + 1}): ${describeError(err)}`, remote.secrets) }),
  };
}

/** The same error with the operation's partial result as its details (for --json). */
export function withDetails(err: RegError, details: unknown): RegError {
  return new RegError(err.code, err.exit, err.message, { hint: err.hint, details, cause: err });
}

import type { Context } from '../../context.js';
import { runTransfers, type RetryPolicy, type TransferOutcome, type TransferTask } from '../../store/transfer.js';
import { redact } from './remote-config.js';

export interface ProgressTransferOptions {
  phase: string;
  label: string;
  jobs: number;
  retry?: RetryPolicy;
  /** Secrets to strip from retry messages. */
  secrets?: readonly string[];
  /** Defaults to the sum of the task sizes. */
  totalBytes?: number;
}

/** runTransfers with the progress events every transfer shows (start, bytes, objects, retries, end). */
export async function runTransfersWithProgress(ctx: Context, tasks: readonly TransferTask[], options: ProgressTransferOptions): Promise<TransferOutcome> {
  const { phase } = options;
  ctx.progress({ type: 'start', phase, label: options.label, total: tasks.length, totalBytes: options.totalBytes ?? tasks.reduce((s, t) => s + t.size, 0) });
  try {
    return await runTransfers(tasks, {
      jobs: options.jobs,
      retry: options.retry,
      signal: ctx.signal,
      onBytes: (n) => ctx.progress({ type: 'advance', phase, bytes: n }),
      onDone: () => ctx.progress({ type: 'advance', phase, done: 1 }),
      onRetry: (task, err, attempt) =>
        ctx.progress({ type: 'log', level: 'debug', message: `retrying ${task.key} (attempt ${attempt + 1}): ${redact(String((err as Error)?.message ?? err), options.secrets ?? [])}` }),
    });
  } finally {
    ctx.progress({ type: 'end', phase });
  }
}

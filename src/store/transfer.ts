import { setMaxListeners } from 'node:events';
import { RegError, errnoCode, isRegError } from '../errors.js';
import { isNotFound } from './backend.js';

/**
 * The transfer queue: runs object transfers with bounded concurrency, retries transient failures
 * with exponential backoff and full jitter, reports bytes as they move, and runs directory
 * manifests only after every one of their files made it (dvc-compat.md §5.2).
 */
export interface RetryPolicy {
  /** Total attempts per object (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 250, maxDelayMs: 20_000 };

const RETRIABLE_NAMES = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottled', 'RequestThrottledException',
  'TooManyRequestsException', 'ProvisionedThroughputExceededException', 'TransactionInProgressException',
  'RequestLimitExceeded', 'BandwidthLimitExceeded', 'RequestTimeout', 'RequestTimeoutException', 'InternalError',
  'ServiceUnavailable', 'TimeoutError', 'EC2ThrottledException', 'PriorRequestNotComplete', 'IncompleteBody',
]);
const RETRIABLE_ERRNO = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

/** Throttling, 5xx, timeouts, connection resets: worth another attempt. */
export function isRetriable(err: unknown): boolean {
  if (isRegError(err) || isNotFound(err)) return false;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; message?: string };
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (e.$retryable) return true;
  if (e.name && RETRIABLE_NAMES.has(e.name)) return true;
  const code = errnoCode(err);
  if (code && RETRIABLE_ERRNO.has(code)) return true;
  if (/socket hang up|premature close|aborted|timed? ?out|ECONNRESET/i.test(e.message ?? '')) return true;
  return false;
}

/** A one-line description of a transfer error (no stack, no request ids). */
export function describeError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name && e.name !== 'Error' && e.name !== 'RegError' ? e.name : undefined;
  const msg = (e.message ?? '').split('\n')[0] || (name ?? 'unknown error');
  const parts = [msg];
  if (name && !msg.includes(name)) parts.unshift(`${name}:`);
  if (status !== undefined && !msg.includes(String(status))) parts.push(`(HTTP ${status})`);
  return parts.join(' ');
}

export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that follows `parent` but takes any number of listeners: every in-flight request
 * and stream registers one, far more than Node's default warning threshold of 10.
 */
export function fanOutSignal(parent: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose(): void } {
  if (parent === undefined) return { signal: undefined, dispose() {} };
  const child = new AbortController();
  setMaxListeners(0, child.signal);
  const onAbort = () => child.abort(parent.reason);
  if (parent.aborted) child.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { signal: child.signal, dispose: () => parent.removeEventListener('abort', onAbort) };
}

/** Runs `fn` until it succeeds, fails with a non-retriable error, or runs out of attempts. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, signal?: AbortSignal, onRetry?: (err: unknown, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= policy.attempts || !isRetriable(err)) throw err;
      onRetry?.(err, attempt);
      await sleep(backoffDelay(attempt, policy), signal);
    }
  }
}

export interface TransferTask {
  /** Remote key (what failure reports name). */
  key: string;
  size: number;
  /** Keys of tasks that must have succeeded (or be already present) before this one may run. */
  requires?: string[];
  run(onBytes: (n: number) => void, signal: AbortSignal | undefined): Promise<void>;
}

export interface TransferFailure {
  key: string;
  error: string;
  /** The error's machine code (RegError code, S3 error name or errno). */
  code?: string;
  /** The bytes did not match their hash (exit 6 rather than 4). */
  integrity: boolean;
}

export interface TransferOutcome {
  done: string[];
  failed: TransferFailure[];
  bytes: number;
}

export interface TransferOptions {
  jobs: number;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  onDone?: (task: TransferTask) => void;
  onRetry?: (task: TransferTask, err: unknown, attempt: number) => void;
}

/**
 * Runs every task without `requires` first, then the dependent ones whose requirements all
 * succeeded; a dependent task whose requirement failed is reported as failed, never run.
 * Individual failures do not stop the queue (the result lists them); an abort does.
 */
export async function runTransfers(tasks: readonly TransferTask[], parentOptions: TransferOptions): Promise<TransferOutcome> {
  const fan = fanOutSignal(parentOptions.signal);
  try {
    return await runAll(tasks, { ...parentOptions, signal: fan.signal });
  } finally {
    fan.dispose();
  }
}

async function runAll(tasks: readonly TransferTask[], options: TransferOptions): Promise<TransferOutcome> {
  const outcome: TransferOutcome = { done: [], failed: [], bytes: 0 };
  const failedKeys = new Set<string>();
  const independent = tasks.filter((t) => !t.requires || t.requires.length === 0);
  const dependent = tasks.filter((t) => t.requires && t.requires.length > 0);
  await runPool(independent, options, outcome, failedKeys);
  const runnable: TransferTask[] = [];
  for (const t of dependent) {
    const bad = t.requires!.filter((k) => failedKeys.has(k));
    if (bad.length > 0) {
      failedKeys.add(t.key);
      outcome.failed.push({ key: t.key, error: `not uploaded because ${bad.length} of its files failed (a manifest is only sent once all its files are there)`, code: 'transfer.dependency-failed', integrity: false });
    } else runnable.push(t);
  }
  await runPool(runnable, options, outcome, failedKeys);
  return outcome;
}

async function runPool(tasks: readonly TransferTask[], options: TransferOptions, outcome: TransferOutcome, failedKeys: Set<string>): Promise<void> {
  let next = 0;
  const retry = options.retry ?? DEFAULT_RETRY;
  const worker = async () => {
    for (;;) {
      if (options.signal?.aborted) return;
      const i = next++;
      if (i >= tasks.length) return;
      const task = tasks[i]!;
      let sent = 0;
      try {
        await withRetry(
          async () => {
            // Roll back the progress of a failed attempt so the byte count stays true.
            if (sent > 0) options.onBytes?.(-sent);
            sent = 0;
            await task.run((n) => {
              sent += n;
              options.onBytes?.(n);
            }, options.signal);
          },
          retry,
          options.signal,
          (err, attempt) => options.onRetry?.(task, err, attempt),
        );
        outcome.done.push(task.key);
        outcome.bytes += task.size;
        options.onDone?.(task);
      } catch (err) {
        if (options.signal?.aborted) return;
        failedKeys.add(task.key);
        outcome.failed.push({
          key: task.key,
          error: describeError(err),
          code: isRegError(err) ? err.code : ((err as { name?: string }).name ?? errnoCode(err)),
          integrity: isRegError(err) && err.exit === 'integrity',
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, tasks.length)) }, worker));
  if (options.signal?.aborted) {
    const reason: unknown = options.signal.reason;
    throw isRegError(reason) ? reason : new RegError('interrupted', 'interrupted', 'interrupted');
  }
}

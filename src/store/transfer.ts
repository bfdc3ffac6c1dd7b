import { setMaxListeners } from 'node:events';
import { RegError, errnoCode, isRegError } from '../errors.js';
import { RetriesExhaustedError, failureText, isConnectFailure, isFatalRemoteError, isRetriableRemoteError } from './remote-errors.js';

export { describeError } from './remote-errors.js';

/**
 * The transfer queue: runs object transfers with bounded concurrency, retries transient failures
 * with exponential backoff and full jitter within a budget, reports bytes as they move, and runs
 * directory manifests only after every one of their files made it (dvc-compat.md §5.2).
 */
export interface RetryPolicy {
  /** Total attempts per request or object (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * How long a remote may fail every request (nothing succeeds, no byte moves) before the whole
   * transfer gives up; default 120 s (remote option retry-budget).
   */
  budgetMs?: number;
  /** The same for a remote that cannot be connected to at all (refused, DNS, unreachable); default 15 s. */
  unreachableMs?: number;
}

export const DEFAULT_BUDGET_MS = 120_000;
export const DEFAULT_UNREACHABLE_MS = 15_000;
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 15_000, budgetMs: DEFAULT_BUDGET_MS, unreachableMs: DEFAULT_UNREACHABLE_MS };

/** Throttling, 5xx, timeouts, connection resets: worth another attempt. */
export const isRetriable = (err: unknown): boolean => isRetriableRemoteError(err);

export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

/**
 * The wait before the next attempt after attempt `attempt` failed with `err`: the backoff, but never
 * past the remote's budget (the last wait ends where the budget does, and that attempt's failure
 * gives up: a 3 s budget took up to 6 s when the full backoff was waited).
 */
export function retryDelay(attempt: number, policy: RetryPolicy, err: unknown, health?: RemoteHealth, random: () => number = Math.random): number {
  const backoff = backoffDelay(attempt, policy, random);
  return health ? Math.min(backoff, Math.max(0, health.leftFor(err))) : backoff;
}

/**
 * The health of one remote for one command, shared by every request to it: once it has failed
 * every request for the retry budget (the connect budget when it cannot even be connected to),
 * it is given up and every further request fails at once with the same error.
 */
export class RemoteHealth {
  private failingSince: number | undefined;
  private deadError: unknown;
  /** Some request to this remote has succeeded (or moved bytes) during this command. */
  everWorked = false;

  constructor(readonly policy: RetryPolicy = DEFAULT_RETRY, readonly now: () => number = Date.now) {}

  /** A request succeeded or bytes moved: the remote works. */
  activity(): void {
    this.failingSince = undefined;
    this.everWorked = true;
  }

  /** Records a transient failure of an attempt that started at `startedAt`; true when the remote is now given up. */
  failed(err: unknown, startedAt: number): boolean {
    this.failingSince = Math.min(this.failingSince ?? startedAt, startedAt);
    return this.leftFor(err) <= 0;
  }

  /** How much of the budget for failures like `err` is left, as of now (after failed()). */
  leftFor(err: unknown): number {
    const limit = isConnectFailure(err) ? (this.policy.unreachableMs ?? DEFAULT_UNREACHABLE_MS) : (this.policy.budgetMs ?? DEFAULT_BUDGET_MS);
    return limit - (this.now() - (this.failingSince ?? this.now()));
  }

  get dead(): unknown {
    return this.deadError;
  }

  kill(err: unknown): void {
    this.deadError ??= err;
  }

  assertAlive(): void {
    if (this.deadError !== undefined) throw this.deadError;
  }
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

export interface RetryHooks {
  onRetry?: (err: unknown, attempt: number) => void;
  /** Shared by every request to one remote (see RemoteHealth). */
  health?: RemoteHealth;
  /** Turns the final error into what callers see (e.g. a classified RegError). */
  classify?: (err: unknown) => unknown;
}

/**
 * Runs `fn` until it succeeds, fails with a non-retriable error, runs out of attempts, or the
 * remote runs out of budget. Running out throws "giving up after N attempts over T s: <cause>".
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, signal?: AbortSignal, hooks: RetryHooks | ((err: unknown, attempt: number) => void) = {}): Promise<T> {
  const h: RetryHooks = typeof hooks === 'function' ? { onRetry: hooks } : hooks;
  const clock = h.health?.now ?? Date.now;
  const first = clock();
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    h.health?.assertAlive();
    const startedAt = clock();
    try {
      const result = await fn(attempt);
      h.health?.activity();
      return result;
    } catch (err) {
      await retryOrThrow(err, { attempt, first, startedAt }, policy, signal, h);
    }
  }
}

/**
 * The retry decision after attempt `attempt` failed with `err`: throws the final error (classified)
 * when it is not transient or a budget ran out, else waits the backoff delay and returns.
 */
export async function retryOrThrow(err: unknown, at: { attempt: number; first: number; startedAt: number }, policy: RetryPolicy, signal: AbortSignal | undefined, hooks: RetryHooks = {}): Promise<void> {
  const { health, classify, onRetry } = hooks;
  const finish = (e: unknown) => (classify ? classify(e) : e);
  const now = health?.now ?? Date.now;
  if (signal?.aborted) throw signal.reason;
  if (!isRetriable(err)) throw finish(err);
  if (health?.failed(err, at.startedAt)) {
    health.kill(finish(new RetriesExhaustedError(at.attempt, now() - at.first, err)));
    throw health.dead;
  }
  if (health?.dead !== undefined) throw health.dead;
  if (at.attempt >= policy.attempts) {
    const exhausted = finish(new RetriesExhaustedError(at.attempt, now() - at.first, err));
    // A server that refused every connection for all these attempts (or never answered one request
    // in this command) will not answer the next requests either: give the remote up.
    if (health && (isConnectFailure(err) || !health.everWorked)) {
      health.kill(exhausted);
      throw health.dead;
    }
    throw exhausted;
  }
  onRetry?.(err, at.attempt);
  await sleep(retryDelay(at.attempt, policy, err, health), signal);
}

export interface TransferTask {
  /** Remote key (what failure reports name). */
  key: string;
  size: number;
  /**
   * Keys that must all have been sent before this task may run (a directory manifest's files):
   * by tasks of the same run, or earlier, as `TransferOptions.sentBefore` tells. When one was
   * not, the task is reported as failed (transfer.dependency-failed) and never runs.
   */
  requires?: readonly string[];
  run(onBytes: (n: number) => void, signal: AbortSignal | undefined): Promise<void>;
}

export interface TransferFailure {
  key: string;
  error: string;
  /** The error's machine code (RegError code, S3 error name or errno). */
  code?: string;
  /** The bytes did not match their hash (exit 6 rather than 4). */
  integrity: boolean;
  /** How to fix this class of failure, when known (remote and disk errors). */
  hint?: string;
}

export interface TransferOutcome {
  done: string[];
  failed: TransferFailure[];
  bytes: number;
  /**
   * Set when the queue stopped early because every further transfer would fail the same way
   * (credentials refused, no such bucket, remote given up, disk full ...): the one error to report.
   */
  fatal?: RegError;
}

export interface TransferOptions {
  jobs: number;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  onDone?: (task: TransferTask) => void;
  onRetry?: (task: TransferTask, err: unknown, attempt: number) => void;
  /** The remote's shared health (budget across every request). */
  health?: RemoteHealth;
  /** Turns a task's final error into a RegError (remote or disk class), if it has one. */
  classify?: (err: unknown) => unknown;
  /** Whether an earlier run of the same command sent `key` (for `requires` across runs made a batch at a time). */
  sentBefore?: (key: string) => boolean;
}

/**
 * Runs every task without `requires` first, then the dependent ones whose requirements were all
 * sent; a dependent task with a requirement not sent is reported as failed, never run.
 * Individual failures do not stop the queue (the result lists them); an abort does, and so does
 * a failure every further transfer would share (reported as `fatal`).
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
  const independent = tasks.filter((t) => !t.requires || t.requires.length === 0);
  const dependent = tasks.filter((t) => t.requires && t.requires.length > 0);
  await runPool(independent, options, outcome);
  if (outcome.fatal || dependent.length === 0) return outcome;
  const sentNow = new Set(outcome.done);
  const sent = (key: string) => sentNow.has(key) || options.sentBefore?.(key) === true;
  const runnable: TransferTask[] = [];
  for (const t of dependent) {
    let unsent = 0;
    for (const k of t.requires!) if (!sent(k)) unsent++;
    if (unsent > 0) outcome.failed.push(dependencyFailure(t.key, unsent));
    else runnable.push(t);
  }
  await runPool(runnable, options, outcome);
  return outcome;
}

/** The failure of a manifest not sent because `failedFiles` of its files were not. */
function dependencyFailure(key: string, failedFiles: number): TransferFailure {
  return { key, error: `not uploaded because ${failedFiles} of its files failed (a manifest is only sent once all its files are there)`, code: 'transfer.dependency-failed', integrity: false };
}

async function runPool(tasks: readonly TransferTask[], options: TransferOptions, outcome: TransferOutcome): Promise<void> {
  let next = 0;
  const retry = options.retry ?? DEFAULT_RETRY;
  const worker = async () => {
    for (;;) {
      if (options.signal?.aborted || outcome.fatal) return;
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
              if (n > 0) options.health?.activity();
              options.onBytes?.(n);
            }, options.signal);
          },
          retry,
          options.signal,
          { onRetry: (err, attempt) => options.onRetry?.(task, err, attempt), health: options.health, classify: options.classify },
        );
        outcome.done.push(task.key);
        outcome.bytes += task.size;
        options.onDone?.(task);
      } catch (err) {
        if (options.signal?.aborted) return;
        const remoteGivenUp = options.health?.dead !== undefined && err === options.health.dead;
        if ((isFatalRemoteError(err) || remoteGivenUp) && isRegError(err) && !outcome.fatal) outcome.fatal = err;
        outcome.failed.push({
          key: task.key,
          error: failureText(err),
          code: isRegError(err) ? err.code : ((err as { name?: string }).name ?? errnoCode(err)),
          integrity: isRegError(err) && err.exit === 'integrity',
          ...(isRegError(err) && err.hint ? { hint: err.hint } : {}),
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

import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { REG_BIN } from './repo.js';

/**
 * How long reg may take to exit after Ctrl-C before a test calls it a hang: a bound, never a
 * speed (reg's own grace period is under a second; a loaded machine may take several). What a
 * slow stop would break — temp files left, a half-written manifest — each test checks itself.
 */
export const STOPS_WITHIN_MS = 10_000;

/** Ctrl-C (SIGINT to the reg process) while it works: what it did, and how long it took to stop. */
export interface Interrupted {
  code: number | null;
  /** The signal that ended it (SIGKILL), or null when it exited by itself. */
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal to the exit. */
  afterSignalMs: number;
  stderr: string;
}

/**
 * Runs reg, sends SIGINT (or `how.signal`, e.g. SIGKILL) as soon as `ready(stderr)` holds (polled every
 * 5 ms: a temp file, a request reaching a stalling server, a line reg printed so far), `how.delayMs` later if given, and
 * waits for the exit. Fails when reg ends before it could be interrupted, so a test never passes
 * without the signal landing mid-way.
 */
export function interruptWhen(cwd: string, args: string[], ready: (stderr: string) => boolean, env: Record<string, string> = {}, how: { signal?: NodeJS.Signals; delayMs?: number } = {}): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REG_BIN, ...args], { cwd, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let readyAt: number | undefined;
    let signalledAt: number | undefined;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const poll = setInterval(() => {
      if (readyAt === undefined && ready(stderr)) readyAt = Date.now();
      if (signalledAt === undefined && readyAt !== undefined && Date.now() - readyAt >= (how.delayMs ?? 0)) {
        signalledAt = Date.now();
        child.kill(how.signal ?? 'SIGINT');
      }
    }, 5);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (signalledAt === undefined) reject(new Error(`reg ${args.join(' ')} finished (exit ${code}) before it could be interrupted:\n${stderr}`));
      else resolve({ code, signal, afterSignalMs: Date.now() - signalledAt, stderr });
    });
  });
}

/** A file of `bytes` zeros that takes no disk space (reading and hashing it still takes time). */
export function sparseFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}

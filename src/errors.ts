/**
 * Every failure reg reports is a RegError: a stable machine `code`, the process exit code
 * the CLI maps it to, a message saying what happened and a hint saying how to fix it.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  config: 3,
  transfer: 4,
  policy: 5,
  integrity: 6,
  conflict: 7,
  interrupted: 130,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

export const EXIT_CODE_TABLE: ReadonlyArray<{ code: number; name: ExitCodeName; meaning: string }> = [
  { code: 0, name: 'ok', meaning: 'success' },
  { code: 1, name: 'failed', meaning: 'the operation failed (local disk: ENOSPC/EACCES/EROFS with the path; unexpected state)' },
  { code: 2, name: 'usage', meaning: 'bad command line: unknown option, bad target, path outside the repo' },
  { code: 3, name: 'config', meaning: 'not a reg repository, bad config, malformed pointer or manifest' },
  { code: 4, name: 'transfer', meaning: 'the remote or network failed (remote.* codes), or some objects did not transfer' },
  { code: 5, name: 'policy', meaning: 'a registry rule refused the action (reg check, hooks)' },
  { code: 6, name: 'integrity', meaning: 'data does not match its hash (corrupt object or cache)' },
  { code: 7, name: 'conflict', meaning: 'refused to destroy bytes that exist nowhere else (use --force)' },
  { code: 130, name: 'interrupted', meaning: 'interrupted by a signal (Ctrl-C)' },
];

export interface RegErrorOptions {
  hint?: string;
  details?: unknown;
  cause?: unknown;
}

export class RegError extends Error {
  readonly code: string;
  readonly exit: ExitCodeName;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(code: string, exit: ExitCodeName, message: string, options: RegErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegError';
    this.code = code;
    this.exit = exit;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): number {
    return ExitCode[this.exit];
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export const usageError = (code: string, message: string, opts?: RegErrorOptions) =>
  new RegError(code, 'usage', message, opts);
export const configError = (code: string, message: string, opts?: RegErrorOptions) =>
  new RegError(code, 'config', message, opts);
export const integrityError = (code: string, message: string, opts?: RegErrorOptions) =>
  new RegError(code, 'integrity', message, opts);

export function isRegError(err: unknown): err is RegError {
  return err instanceof RegError;
}

/** Node's errno code of an error, if it has one (ENOENT, EEXIST, ...). */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** Nothing at the path: ENOENT, or ENOTDIR (a file where a directory on the way should be). */
export function isMissingPath(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Local disk conditions reg names as such (exit 1): the errno, what it means, how to fix it. */
const DISK_CONDITIONS: Readonly<Record<string, { code: string; what: string; fix: string }>> = {
  ENOSPC: { code: 'disk.no-space', what: 'no space left on device', fix: 'free some space on that disk (or move the cache elsewhere: cache.dir in .reg/config.local.yaml), then run the command again' },
  EDQUOT: { code: 'disk.quota', what: 'disk quota exceeded', fix: 'free some space within your quota (or ask for a larger one), then run the command again' },
  EACCES: { code: 'disk.permission', what: 'permission denied', fix: 'fix the permissions (ls -ld the path and its parent directories) or run reg as a user who may write there' },
  EPERM: { code: 'disk.permission', what: 'operation not permitted', fix: 'fix the permissions or ownership of the path (ls -ld), or run reg as a user who may change it' },
  EROFS: { code: 'disk.read-only', what: 'read-only file system', fix: 'the filesystem holding the path is mounted read-only: remount it read-write or work on another disk' },
  EIO: { code: 'disk.io', what: 'input/output error', fix: 'the disk reported a hardware or network-filesystem error: check it (dmesg) before retrying' },
  EMFILE: { code: 'disk.too-many-open-files', what: 'too many open files', fix: 'raise the limit (ulimit -n 4096) or use fewer parallel jobs (-j)' },
  ENFILE: { code: 'disk.too-many-open-files', what: 'too many open files in the system', fix: 'close other programs or raise the system limit (fs.file-max)' },
};

/** True for errno codes diskError() names (ENOSPC, EACCES, EROFS, ...). */
export function isDiskErrno(code: string | undefined): boolean {
  return code !== undefined && Object.hasOwn(DISK_CONDITIONS, code);
}

/**
 * A local disk failure (ENOSPC, EDQUOT, EACCES, EPERM, EROFS, EIO, EMFILE) as a RegError with exit 1
 * naming the errno, the path and the fix; undefined for anything else. `path` overrides the path
 * Node attached to the error (fd-based writes carry none).
 */
export function diskError(err: unknown, path?: string): RegError | undefined {
  if (isRegError(err)) return undefined;
  const errno = errnoCode(err);
  if (!isDiskErrno(errno)) return undefined;
  const c = DISK_CONDITIONS[errno!]!;
  // A copy that runs out of space failed on its destination, not on the file it read.
  const dest = (err as { dest?: unknown }).dest;
  const where = path ?? (typeof dest === 'string' && (errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EROFS') ? dest : (err as { path?: unknown }).path);
  const shown = typeof where === 'string' && where !== '' ? where : undefined;
  const syscall = (err as { syscall?: unknown }).syscall;
  return new RegError(c.code, 'failed', `${errno}: ${c.what}${typeof syscall === 'string' ? ` (${syscall})` : ''}${shown ? `: ${shown}` : ''}`, {
    hint: c.fix,
    details: { errno, ...(shown ? { path: shown } : {}) },
    cause: err,
  });
}

/**
 * Names the file a disk error happened on when Node did not (writes through a file descriptor
 * carry no path), so the error can be reported, and told local from remote, by its path.
 */
export function withPath<E>(err: E, path: string): E {
  if (typeof err === 'object' && err !== null && isDiskErrno(errnoCode(err)) && typeof (err as { path?: unknown }).path !== 'string') {
    (err as { path?: string }).path = path;
  }
  return err;
}

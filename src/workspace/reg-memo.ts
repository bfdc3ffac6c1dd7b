import { readRegularFileSync } from '../fsutil.js';
import { regState } from './safe-fs.js';

/**
 * reg's memo files under `.reg/tmp/` (the blob sizes of the index, the verdicts of card checks):
 * answers remembered from an earlier run so the next one skips work. They are reg's own state,
 * gitignored by `.reg/.gitignore`, but a commit can still carry a file there (`git add -f`), and
 * a clone or checkout then writes it: a planted memo could make a broken card pass `reg check`
 * in CI. So a memo is neither read nor written while git tracks anything under `.reg/tmp/`, it is
 * opened without following a link (and only if it is a regular file of bounded size), and it is
 * written by temp + rename through the `.reg/` gateway, never through a link.
 */

const REG_TMP = '.reg/tmp';

/** The index paths under `.reg/tmp/` (git tracks reg's local state: memos there are not trusted). */
export function trackedRegState(paths: Iterable<{ path: string }>): string[] {
  const found: string[] = [];
  for (const { path } of paths) if (path === REG_TMP || path.startsWith(`${REG_TMP}/`)) found.push(path);
  return found;
}

/** The pathspec that lists reg's local state in the index (for trackedRegState). */
export const REG_STATE_PATHSPEC = REG_TMP;

/**
 * The text of the memo `.reg/tmp/<name>`, or undefined when there is none, it is not a regular
 * file (a link is not followed), it is larger than `maxBytes`, or it cannot be read.
 */
export function readRegMemo(repo: { regDir: string }, name: string, maxBytes: number, encoding: 'utf8' | 'latin1' = 'utf8'): string | undefined {
  let abs: string | undefined;
  try {
    abs = regState(repo).existing(`tmp/${name}`);
  } catch {
    return undefined;
  }
  return abs === undefined ? undefined : readRegularFileSync(abs, { maxBytes })?.toString(encoding);
}

/** The memo `.reg/tmp/<name>` parsed as JSON (as readRegMemo reads it), or undefined when there is none or it is not JSON. */
export function readRegMemoJson(repo: { regDir: string }, name: string, maxBytes: number): unknown {
  const text = readRegMemo(repo, name, maxBytes);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Replaces the memo `.reg/tmp/<name>` (temp + rename); a failure costs only the work next time. */
export function writeRegMemo(repo: { regDir: string }, name: string, text: string): void {
  try {
    regState(repo).writeFile(`tmp/${name}`, text, 0o666, false);
  } catch {
    // .reg/tmp not writable, full, or not a real directory: the next run does the work again
  }
}

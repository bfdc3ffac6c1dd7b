import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Sleeps into the next whole second, past the stat cache's clock margin: files written before are
 * then older than the next scan's second, so they all go into the mirror index.
 */
export async function intoNextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 120);
}

/**
 * Rewrites `abs` with other bytes of the same size and puts its mtime back (or sets `mtime`): only
 * its ctime and its bytes change, which only a full stat comparison (git's, over the mirror index) sees.
 */
export function editKeepingMtime(abs: string, mtime?: Date): void {
  const before = statSync(abs);
  const bytes = readFileSync(abs);
  bytes[0] = bytes[0] === 0x58 ? 0x59 : 0x58;
  writeFileSync(abs, bytes);
  utimesSync(abs, before.atime, mtime ?? before.mtime);
}

import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Finding a stat cache's mirror index (see stat-cache.ts) by its files alone, without loading the
 * cache: what status needs to start git before anything else (also from the command-line entry,
 * before the program is loaded, so this module stays small).
 */

/** Characters of a stored generation: the `.bin` starts with them, and the mirror index's name holds them. */
export const GEN_CHARS = 12;

/** A mirror index file's name: `<stored file>.<generation>.index`. */
const MIRROR_FILE_NAME = /^[0-9a-f]{32}\.json\.[0-9a-f]+\.index$/;

/** The mirror index of stored file `file`'s generation (named in its `.bin` header), if it exists. */
export function mirrorOfStoredFile(file: string): { file: string; gen: string } | undefined {
  const header = Buffer.alloc(GEN_CHARS);
  try {
    // Not through a link, and never blocking on a FIFO planted there (this runs before every status).
    const fd = openSync(`${file}.bin`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile() || readSync(fd, header, 0, GEN_CHARS, 0) !== GEN_CHARS) return undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const gen = header.toString('latin1');
  if (!/^[0-9a-f]+$/.test(gen)) return undefined;
  const mirror = `${file}.${gen}.index`;
  // A link (committed past .reg/.gitignore) is not followed: git would read whatever it names as the index.
  return lstatSync(mirror, { throwIfNoEntry: false })?.isFile() ? { file: mirror, gen } : undefined;
}

/**
 * The mirror indexes of every output's stored generation in `statDir` (as StatCache.mirrorIndexOf
 * finds them, without knowing the outputs). Undefined when more than `max` mirror index files lie
 * there (git would run for outputs a status may not scan).
 */
export function currentMirrorIndexes(statDir: string, max: number): string[] | undefined {
  let names: string[];
  try {
    names = readdirSync(statDir);
  } catch {
    return [];
  }
  const found = names.filter((n) => MIRROR_FILE_NAME.test(n));
  if (found.length > max) return undefined;
  const current = new Set<string>();
  for (const name of found) {
    const mirror = mirrorOfStoredFile(join(statDir, name.slice(0, name.indexOf('.json') + '.json'.length)));
    if (mirror !== undefined) current.add(mirror.file);
  }
  return [...current];
}

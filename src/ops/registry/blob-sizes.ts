import { allIndexEntries, blobSizes, type IndexSnapshot, type WorkTreeListing } from '../../git/read.js';
import { readRegMemo, trackedRegState, writeRegMemo } from '../../workspace/reg-memo.js';

/** Under `.reg/tmp/`: one `<oid> <size>` line per blob of the index at the last status. */
const SIZES_FILE = 'blob-sizes';
const SIZE_LINE = /^([0-9a-f]{40}|[0-9a-f]{64}) (\d{1,15})$/;
/** Larger than the file of any index reg has seen; a bigger one is not read. */
const MAX_SIZES_BYTES = 64 * 1024 * 1024;
const GITLINK_MODE = '160000';

/**
 * The index (from `listing` when git answered it) and the sizes of its blobs, for the registry
 * overview of `reg status`. A blob's size never changes, so the sizes are remembered in
 * `.reg/tmp/blob-sizes` and only blobs not seen before cost a `git cat-file` (none on a status
 * after a status, where that process was ~10 ms of blocked main thread to start on the bench VM).
 * The file is a memo (reg-memo.ts: not used while git tracks anything under `.reg/tmp/`, never read
 * or written through a link); a line that is not exactly `<oid> <size>` ends the reading, and it
 * is rewritten with only the current blobs whenever they change. A wrong size could only mislead
 * the overview: `reg check` and the hooks always ask git.
 */
export async function indexSnapshotRemembered(repo: { root: string; regDir: string }, listing?: Promise<WorkTreeListing | undefined>): Promise<IndexSnapshot> {
  const entries = (await listing)?.entries ?? (await allIndexEntries(repo.root));
  const oids = [...new Set(entries.filter((e) => e.mode !== GITLINK_MODE).map((e) => e.oid))];
  const ours = trackedRegState(entries).length === 0;
  const known = ours ? readSizes(repo) : new Map<string, number>();
  const unknown = oids.filter((oid) => !known.has(oid));
  const asked = unknown.length > 0 ? await blobSizes(repo.root, unknown) : new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const oid of oids) {
    const size = known.get(oid) ?? asked.get(oid);
    if (size !== undefined) sizes.set(oid, size);
  }
  if (ours && (asked.size > 0 || known.size !== sizes.size)) writeSizes(repo, sizes);
  return { entries, sizes };
}

function readSizes(repo: { regDir: string }): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const line of (readRegMemo(repo, SIZES_FILE, MAX_SIZES_BYTES, 'latin1') ?? '').split('\n')) {
    if (line === '') continue;
    const m = SIZE_LINE.exec(line);
    if (!m) break;
    sizes.set(m[1]!, Number(m[2]));
  }
  return sizes;
}

function writeSizes(repo: { regDir: string }, sizes: Map<string, number>): void {
  writeRegMemo(repo, SIZES_FILE, [...sizes].map(([oid, size]) => `${oid} ${size}\n`).join(''));
}

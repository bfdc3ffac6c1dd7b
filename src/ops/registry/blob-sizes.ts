import { readFileSync } from 'node:fs';
import { withFileNoFollowSync } from '../../fsutil.js';
import { allIndexEntries, blobSizes, type IndexSnapshot, type WorkTreeListing } from '../../git/read.js';
import { regState } from '../../workspace/safe-fs.js';

/** Under `.reg/`: one `<oid> <size>` line per blob of the index at the last status. */
const SIZES_FILE = 'tmp/blob-sizes';
const SIZE_LINE = /^([0-9a-f]{40}|[0-9a-f]{64}) (\d{1,15})$/;
/** Larger than the file of any index reg has seen; a bigger one is not read. */
const MAX_SIZES_BYTES = 64 * 1024 * 1024;
const GITLINK_MODE = '160000';

/**
 * The index (from `listing` when git answered it) and the sizes of its blobs, for the registry
 * overview of `reg status`. A blob's size never changes, so the sizes are remembered in
 * `.reg/tmp/blob-sizes` and only blobs not seen before cost a `git cat-file` (none on a status
 * after a status, where that process was ~10 ms of blocked main thread to start on the bench VM).
 * The file is reg's own state: it is not used when git tracks anything under `.reg/tmp/` (a commit
 * could then have planted it), a line that is not exactly `<oid> <size>` ends the reading, and it
 * is rewritten (temp + rename) with only the current blobs whenever they change. A wrong size could
 * only mislead the overview: `reg check` and the hooks always ask git.
 */
export async function indexSnapshotRemembered(repo: { root: string; regDir: string }, listing?: Promise<WorkTreeListing | undefined>): Promise<IndexSnapshot> {
  const entries = (await listing)?.entries ?? (await allIndexEntries(repo.root));
  const oids = [...new Set(entries.filter((e) => e.mode !== GITLINK_MODE).map((e) => e.oid))];
  const ours = !entries.some((e) => e.path === '.reg/tmp' || e.path.startsWith('.reg/tmp/'));
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
  let text: string;
  try {
    const abs = regState(repo).existing(SIZES_FILE);
    if (abs === undefined) return sizes;
    text = withFileNoFollowSync(abs, (fd, st) => (st.isFile() && st.size <= MAX_SIZES_BYTES ? readFileSync(fd, 'latin1') : ''));
  } catch {
    return sizes;
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = SIZE_LINE.exec(line);
    if (!m) break;
    sizes.set(m[1]!, Number(m[2]));
  }
  return sizes;
}

function writeSizes(repo: { regDir: string }, sizes: Map<string, number>): void {
  try {
    regState(repo).writeFile(SIZES_FILE, [...sizes].map(([oid, size]) => `${oid} ${size}\n`).join(''), 0o666, false);
  } catch {
    // Only a memo: the next status asks git again.
  }
}

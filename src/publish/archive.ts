import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';

/**
 * Streamed, deterministic archives of a release: members in the order given (the caller sorts
 * them), fixed times, owners and modes, so two archives of one version are byte-identical. The
 * archive is never held in memory or written to disk before it is cut into its parts:
 * member streams -> tar (-> gzip) or zip -> PartsWriter (hashing each part as it is written).
 */
export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

export const ARCHIVE_EXTENSIONS: Readonly<Record<ArchiveKind, string>> = { tar: '.tar', 'tar.gz': '.tar.gz', zip: '.zip' };

export interface ArchiveMember {
  /** Path inside the archive ('/'-separated). */
  path: string;
  size: number;
  /** Opens the member's bytes (called once, when its turn comes). */
  open(): Readable;
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** Writes `members` as an archive of `kind` into `sink`; resolves once the sink has everything. */
export async function writeArchive(kind: ArchiveKind, members: readonly ArchiveMember[], mtime: Date, sink: Writable, signal?: AbortSignal): Promise<void> {
  if (kind === 'zip') return writeZip(members, mtime, sink, signal);
  const pack = tar.pack();
  const out = kind === 'tar.gz' ? pipeline(pack, createGzip({ level: 6 }), sink, { signal }) : pipeline(pack, sink, { signal });
  const feeding = (async () => {
    const madeDirs = new Set<string>();
    const header = { mtime, uid: 0, gid: 0, uname: '', gname: '' };
    for (const m of members) {
      signal?.throwIfAborted();
      const parts = m.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (madeDirs.has(dir)) continue;
        madeDirs.add(dir);
        await new Promise<void>((resolve, reject) => void pack.entry({ ...header, name: `${dir}/`, type: 'directory', mode: DIR_MODE }, (err) => (err ? reject(err) : resolve())));
      }
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...header, name: m.path, size: m.size, mode: FILE_MODE, type: 'file' }, (err) => (err ? reject(err) : resolve()));
        pipeline(m.open(), entry, { signal }).catch(reject);
      });
    }
    pack.finalize();
  })();
  feeding.catch((err: unknown) => pack.destroy(err as Error));
  await Promise.all([feeding, out]);
}

async function writeZip(members: readonly ArchiveMember[], mtime: Date, sink: Writable, signal?: AbortSignal): Promise<void> {
  const zip = new yazl.ZipFile();
  const out = pipeline(zip.outputStream as Readable, sink, { signal });
  let failure: unknown;
  for (const m of members) {
    zip.addReadStreamLazy(m.path, { mtime, mode: FILE_MODE, size: m.size, compress: true, forceDosTimestamp: false }, (cb) => {
      try {
        const stream = m.open();
        stream.on('error', (err) => {
          failure ??= err;
          (zip.outputStream as Readable).destroy(err);
        });
        cb(null, stream);
      } catch (err) {
        cb(err, new PassThrough());
      }
    });
  }
  zip.end();
  try {
    await out;
  } catch (err) {
    throw failure ?? err;
  }
}

export interface WrittenPart {
  /** Bundle-relative path of the part. */
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * The end of the archive pipeline: writes the stream into one file, or into parts of at most
 * `splitBytes` (plain byte splits: `cat` of the parts in order is the archive), hashing every
 * part with SHA-256 as it is written and, when there are several, the whole archive too.
 */
export class PartsWriter extends Writable {
  readonly parts: WrittenPart[] = [];
  private handle?: FileHandle;
  private current?: { path: string; bytes: number; hash: Hash };
  private readonly whole = createHash('sha256');
  private total = 0;
  wholeSha256?: string;

  /** `target(i)`: the absolute path and bundle-relative path of part i (i = -1: the unsplit archive). */
  constructor(private readonly splitBytes: number | undefined, private readonly target: (index: number) => { abs: string; rel: string }) {
    super({ highWaterMark: 4 << 20 });
  }

  get bytes(): number {
    return this.total;
  }

  private async openNext(): Promise<void> {
    await this.closeCurrent();
    const index = this.splitBytes === undefined ? -1 : this.parts.length;
    const { abs, rel } = this.target(index);
    this.handle = await open(abs, 'wx', 0o644);
    this.current = { path: rel, bytes: 0, hash: createHash('sha256') };
  }

  private async closeCurrent(): Promise<void> {
    if (this.current === undefined) return;
    await this.handle!.close();
    this.parts.push({ path: this.current.path, bytes: this.current.bytes, sha256: this.current.hash.digest('hex') });
    this.handle = undefined;
    this.current = undefined;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => cb(), cb);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    this.total += chunk.length;
    if (this.splitBytes !== undefined) this.whole.update(chunk);
    let rest = chunk;
    while (rest.length > 0) {
      if (this.current === undefined || (this.splitBytes !== undefined && this.current.bytes >= this.splitBytes)) await this.openNext();
      const room = this.splitBytes === undefined ? rest.length : Math.min(rest.length, this.splitBytes - this.current!.bytes);
      const piece = rest.subarray(0, room);
      this.current!.hash.update(piece);
      let off = 0;
      while (off < piece.length) off += (await this.handle!.write(piece, off, piece.length - off)).bytesWritten;
      this.current!.bytes += piece.length;
      rest = rest.subarray(room);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      if (this.current === undefined && this.parts.length === 0) await this.openNext(); // an empty archive is still a file
      await this.closeCurrent();
      this.wholeSha256 = this.splitBytes === undefined ? this.parts[0]!.sha256 : this.whole.digest('hex');
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const h = this.handle;
    this.handle = undefined;
    (h ? h.close().catch(() => undefined) : Promise.resolve()).then(() => cb(err));
  }
}

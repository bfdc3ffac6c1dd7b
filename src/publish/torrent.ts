import { openAsBlob } from 'node:fs';

/**
 * A .torrent of a release, built by the maintained `create-torrent` library: a multi-file
 * torrent named after the release directory, files in the order given (sorted by the caller),
 * piece size chosen by the library from the total size (up to 16 MiB pieces for large
 * releases), no trackers unless given (sites like Academic Torrents add theirs), an optional
 * web seed (BEP 19: clients fetch `<url>/<name>/<path>`), and a fixed creation date so the file
 * is the same for the same version.
 */
export interface TorrentFile {
  /** Path inside the torrent ('/'-separated). */
  path: string;
  /** The file on disk. */
  abs: string;
}

export interface TorrentOptions {
  name: string;
  creationDate: Date;
  createdBy: string;
  webSeed?: string;
  trackers?: string[];
  comment?: string;
}

const MAX_PIECE_LENGTH = 16 << 20;

export async function createTorrentFile(files: readonly TorrentFile[], options: TorrentOptions): Promise<Buffer> {
  const { default: createTorrent } = await import('create-torrent');
  // File-backed Blobs: sizes known up front (the piece size depends on the total) and the bytes
  // read only when hashed, one file at a time, so a release of 100k files opens no 100k files.
  const blobs = await Promise.all(
    files.map(async (f) => Object.assign(await openAsBlob(f.abs), { fullPath: `${options.name}/${f.path}` })),
  );
  return new Promise((resolve, reject) => {
    createTorrent(
      blobs,
      {
        name: options.name,
        creationDate: options.creationDate,
        createdBy: options.createdBy,
        maxPieceLength: MAX_PIECE_LENGTH,
        announceList: (options.trackers ?? []).map((t) => [t]),
        filterJunkFiles: false,
        ...(options.comment ? { comment: options.comment } : {}),
        ...(options.webSeed ? { urlList: [options.webSeed] } : {}),
      },
      (err, torrent) => (err ? reject(err) : resolve(torrent)),
    );
  });
}

/** The part of create-torrent's API reg uses (the package ships no types). */
declare module 'create-torrent' {
  export interface CreateTorrentOptions {
    name?: string;
    creationDate?: Date;
    comment?: string;
    createdBy?: string;
    private?: boolean;
    pieceLength?: number;
    maxPieceLength?: number;
    announceList?: string[][];
    urlList?: string[];
    filterJunkFiles?: boolean;
    onProgress?: (hashedLength: number, estimatedTorrentLength: number) => void;
  }
  type Input = string | Blob | Buffer | NodeJS.ReadableStream;
  export default function createTorrent(input: Input | Input[], opts: CreateTorrentOptions, cb: (err: Error | null, torrent: Buffer) => void): void;
}

import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

export const CHUNK_SIZE = 1 << 20;

/** DVC 2's text heuristic over the first 512 bytes of a chunk (dvc-compat.md §1.2). */
export function isTextChunk(chunk: Buffer): boolean {
  const probe = chunk.subarray(0, 512);
  if (probe.length === 0) return true;
  let nonText = 0;
  for (const b of probe) {
    if (b === 0) return false;
    const printable = (b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x0d || b === 0x09 || b === 0x0c || b === 0x08;
    if (!printable) nonText++;
  }
  return nonText / probe.length <= 0.3;
}

/** CRLF -> LF within one chunk (a pair split across chunks is left alone, as DVC does). */
export function dos2unix(chunk: Buffer): Buffer {
  if (chunk.indexOf(0x0d) === -1) return chunk;
  const out = Buffer.allocUnsafe(chunk.length);
  let j = 0;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b === 0x0d && chunk[i + 1] === 0x0a) continue;
    out[j++] = b;
  }
  return out.subarray(0, j);
}

/** Feeds one chunk into the hash; legacy chunks go through the per-chunk dos2unix rule of dvc-data. */
export function updateHash(hash: Hash, chunk: Buffer, legacy: boolean): void {
  hash.update(legacy && isTextChunk(chunk) ? dos2unix(chunk) : chunk);
}

/**
 * Incremental md5 under DVC's rules however the bytes arrive: plain, or (legacy DVC 2 file
 * objects) md5-dos2unix applied to exact 1 MiB chunks, the boundaries DVC hashes with.
 */
export class ContentHash {
  private readonly hash: Hash = createHash('md5');
  private pending: Buffer[] = [];
  private pendingLen = 0;
  size = 0;

  constructor(readonly legacy: boolean) {}

  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (!this.legacy) {
      this.hash.update(chunk);
      return;
    }
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (this.pendingLen < CHUNK_SIZE) return;
    let all = Buffer.concat(this.pending, this.pendingLen);
    while (all.length >= CHUNK_SIZE) {
      updateHash(this.hash, all.subarray(0, CHUNK_SIZE), true);
      all = all.subarray(CHUNK_SIZE);
    }
    this.pending = all.length > 0 ? [Buffer.from(all)] : [];
    this.pendingLen = all.length;
  }

  /** The hex digest; call once, after the last update. */
  digest(): string {
    if (this.legacy && this.pendingLen > 0) updateHash(this.hash, Buffer.concat(this.pending, this.pendingLen), true);
    this.pending = [];
    this.pendingLen = 0;
    return this.hash.digest('hex');
  }
}

export interface FileDigest {
  md5: string;
  size: number;
}

/** Reads until `buffer` is full or the file ends; returns the number of bytes read. */
export function readFullSync(fd: number, buffer: Buffer): number {
  let filled = 0;
  while (filled < buffer.length) {
    const n = readSync(fd, buffer, filled, buffer.length - filled, null);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/** Synchronous streaming MD5 (used inside hashing workers: one buffer, no promise overhead). */
export function hashFileSync(path: string, legacy = false, buffer: Buffer = Buffer.allocUnsafe(CHUNK_SIZE)): FileDigest {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('md5');
    let size = 0;
    for (;;) {
      // Fill whole chunks so the legacy per-1MiB rule sees the same boundaries as DVC.
      const filled = readFullSync(fd, buffer);
      if (filled === 0) break;
      size += filled;
      updateHash(hash, buffer.subarray(0, filled), legacy);
      if (filled < buffer.length) break;
    }
    return { md5: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

export async function hashFile(path: string, legacy = false): Promise<FileDigest> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('md5');
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    let size = 0;
    for (;;) {
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      size += filled;
      updateHash(hash, buffer.subarray(0, filled), legacy);
      if (filled < buffer.length) break;
    }
    return { md5: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

export function md5OfBuffer(bytes: Buffer, legacy = false): string {
  if (!legacy) return createHash('md5').update(bytes).digest('hex');
  const hash = new ContentHash(true);
  hash.update(bytes);
  return hash.digest();
}

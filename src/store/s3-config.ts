import { configError } from '../errors.js';

/** S3 remote settings and URL parsing: no SDK import, so commands that never talk to S3 start fast. */
export type ChecksumMode = 'when_required' | 'when_supported';

export interface S3Options {
  bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket root). */
  prefix: string;
  endpointUrl?: string;
  region?: string;
  profile?: string;
  pathStyle?: boolean;
  checksums: ChecksumMode;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** false disables TLS verification; a CA bundle (PEM) replaces the default ones. */
  sslVerify?: boolean | { caBundle: Buffer };
  sse?: string;
  sseKmsKeyId?: string;
  acl?: string;
  /** Seconds. */
  readTimeout?: number;
  connectTimeout?: number;
  /** Sockets to keep open (the transfer concurrency). */
  maxSockets: number;
  /** SDK attempts per multipart part (default 3); every other request is retried by GuardedBackend, not the SDK. */
  maxAttempts?: number;
  /** Bytes above which uploads are multipart (default MULTIPART_THRESHOLD). */
  multipartThreshold?: number;
  /** Multipart part size (default PART_SIZE; S3 needs at least 5 MiB). */
  partSize?: number;
  /** Unsigned requests (public buckets): no credentials are looked up, and the remote is read-only. */
  anonymous?: boolean;
}

export const ANONYMOUS_READ_ONLY = 'it is read anonymously (anonymous true): unsigned requests can only read public objects';

/** `s3://bucket/some/prefix` -> bucket and prefix. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/@]+)\/?(.*)$/i.exec(url);
  if (!m || m[1] === '') {
    throw configError('remote.bad-url', `not an s3://bucket/prefix URL: ${url.replace(/^(s3:\/\/).*@/i, '$1***@')}`, { hint: 'use s3://bucket/prefix (credentials do not belong in the URL)' });
  }
  return { bucket: m[1]!, prefix: m[2]!.replace(/^\/+|\/+$/g, '') };
}


import type { Readable } from 'node:stream';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { Backend, GetOptions, ListOptions, ObjectInfo, PutOptions, ReadSmallOptions, VersionedObject } from './backend.js';
import { ANONYMOUS_READ_ONLY, type S3Options } from './s3-config.js';
import type { S3Backend } from './s3.js';

/**
 * An S3 backend whose AWS SDK is loaded on first use. The SDK takes ~150 ms to import, which
 * every `reg status` and every git hook would otherwise pay even without touching S3.
 */
export class LazyS3Backend implements Backend {
  readonly traversePrefixLen = 3;
  readonly remote = true;
  readonly description: string;
  private real: Promise<S3Backend> | undefined;
  private loaded: S3Backend | undefined;

  constructor(private readonly options: S3Options, private readonly credentials?: S3ClientConfig['credentials']) {
    this.description = `s3://${options.bucket}${options.prefix ? '/' + options.prefix : ''}${options.endpointUrl ? ` (${options.endpointUrl})` : ''}`;
  }

  get readOnly(): string | undefined {
    return this.options.anonymous ? ANONYMOUS_READ_ONLY : undefined;
  }

  private backend(): Promise<S3Backend> {
    this.real ??= import('./s3.js').then((m) => (this.loaded = new m.S3Backend(this.options, this.credentials)));
    return this.real;
  }

  async exists(key: string, options?: GetOptions): Promise<boolean> {
    return (await this.backend()).exists(key, options);
  }
  async head(key: string, options?: GetOptions): Promise<ObjectInfo | undefined> {
    return (await this.backend()).head(key, options);
  }
  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo[]> {
    yield* (await this.backend()).list(prefix, options);
  }
  async get(key: string, options?: GetOptions): Promise<{ body: Readable; size?: number }> {
    return (await this.backend()).get(key, options);
  }
  async putFile(key: string, path: string, size: number, options?: PutOptions): Promise<void> {
    return (await this.backend()).putFile(key, path, size, options);
  }
  async putBytes(key: string, bytes: Buffer, options?: PutOptions): Promise<void> {
    return (await this.backend()).putBytes(key, bytes, options);
  }
  async delete(key: string): Promise<void> {
    return (await this.backend()).delete(key);
  }
  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return (await this.backend()).presignGet(key, expiresInSeconds);
  }
  async readVersioned(key: string, options: ReadSmallOptions): Promise<VersionedObject | undefined> {
    return (await this.backend()).readVersioned(key, options);
  }
  async putIfVersion(key: string, bytes: Buffer, expected: string | undefined, options?: PutOptions): Promise<string> {
    return (await this.backend()).putIfVersion(key, bytes, expected, options);
  }
  close(): void {
    this.loaded?.close();
  }
}

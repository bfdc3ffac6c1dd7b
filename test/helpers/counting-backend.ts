import type { Readable } from 'node:stream';
import type { Backend, GetOptions, ListOptions, ObjectInfo, PutOptions } from '../../dist/store/backend.js';

export interface BackendCall {
  op: 'exists' | 'head' | 'list' | 'get' | 'readSmall' | 'putFile' | 'putBytes' | 'delete';
  key: string;
}

/** Wraps a backend and records every request made through it (for request-count assertions). */
export class CountingBackend implements Backend {
  constructor(private readonly inner: Backend, readonly calls: BackendCall[]) {}
  get description() { return this.inner.description; }
  get traversePrefixLen() { return this.inner.traversePrefixLen; }
  get remote() { return this.inner.remote; }
  exists(key: string, o?: GetOptions) { this.calls.push({ op: 'exists', key }); return this.inner.exists(key, o); }
  head(key: string, o?: GetOptions) { this.calls.push({ op: 'head', key }); return this.inner.head(key, o); }
  async *list(prefix: string, o?: ListOptions): AsyncIterable<ObjectInfo[]> {
    for await (const page of this.inner.list(prefix, o)) {
      this.calls.push({ op: 'list', key: prefix });
      yield page;
    }
  }
  get(key: string, o?: GetOptions): Promise<{ body: Readable; size?: number }> { this.calls.push({ op: 'get', key }); return this.inner.get(key, o); }
  putFile(key: string, path: string, size: number, o?: PutOptions) { this.calls.push({ op: 'putFile', key }); return this.inner.putFile(key, path, size, o); }
  putBytes(key: string, bytes: Buffer, o?: PutOptions) { this.calls.push({ op: 'putBytes', key }); return this.inner.putBytes(key, bytes, o); }
  delete(key: string) { this.calls.push({ op: 'delete', key }); return this.inner.delete(key); }
  get readSmall(): Backend['readSmall'] {
    const inner = this.inner;
    if (!inner.readSmall) return undefined;
    return (key: string, max: number) => { this.calls.push({ op: 'readSmall', key }); return inner.readSmall!(key, max); };
  }
  close() { this.inner.close(); }
}

/** A wrapBackend option that counts into `calls`. */
export function counting(calls: BackendCall[]): (b: Backend) => Backend {
  return (b) => new CountingBackend(b, calls);
}

import { describe, expect, it } from 'vitest';
import type { Backend, ObjectInfo } from '../../dist/store/backend.js';
import { listRemote } from '../../dist/ops/history/gc.js';
import { RegError } from '../../dist/errors.js';

// gc --remote keeps every object key of its 257 listings (files/md5/ and the 256 DVC 2 prefixes)
// after each listing has ended, so GuardedBackend's count of the listings in progress does not
// bound it: gc checks its own total (MAX_LISTED_KEYS; lowered here).

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** 30 DVC 3 objects, one DVC 2 object under each of the 256 prefixes, and 50 keys that are not objects (not kept, not counted). */
function remote(): Backend {
  async function* list(prefix: string): AsyncIterable<ObjectInfo[]> {
    if (prefix === 'files/md5/') {
      yield Array.from({ length: 30 }, (_, i) => ({ key: `files/md5/${hex(i, 2)}/${hex(i, 30)}`, size: 1 }));
      yield Array.from({ length: 50 }, (_, i) => ({ key: `files/md5/synced/f${i}`, size: 1 }));
    } else {
      yield [{ key: `${prefix}${hex(7, 30)}`, size: 1 }];
    }
  }
  return { description: 's3://bucket', traversePrefixLen: 3, remote: true, list, close() {} } as unknown as Backend;
}

describe('gc --remote listing', () => {
  it('keeps every object key up to the limit, and names the remote past it (remote.bad-listing, exit 4)', async () => {
    const all = await listRemote(remote(), [], 8, undefined, 286);
    expect(all).toHaveLength(286);
    expect(all.filter((o) => o.legacy)).toHaveLength(256);
    const err = await listRemote(remote(), [], 8, undefined, 285).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegError);
    expect(err).toMatchObject({ code: 'remote.bad-listing', exitCode: 4, details: { limit: 285 } });
    expect((err as RegError).message).toContain('s3://bucket: the object keys gc keeps passed 285 keys');
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../dist/store/cache.js';
import { md5Hex } from '../../dist/data/manifest.js';
import { RegError } from '../../dist/errors.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'reg-quarantine-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('Cache.quarantine', () => {
  it('moves a DVC 3 object under quarantine/files/md5/ and keeps its bytes', () => {
    const cache = new Cache(root);
    const bytes = Buffer.from('some bytes\n');
    const oid = md5Hex(bytes);
    cache.insertBytes(oid, bytes);
    cache.markComplete('0'.repeat(32) + '.dir');
    const moved = cache.quarantine(oid, false);
    expect(cache.has(oid)).toBe(false);
    expect(relative(root, moved)).toMatch(new RegExp(`^quarantine/files/md5/${oid.slice(0, 2)}/${oid.slice(2)}\\.\\d{8}T\\d{6}Z\\.[0-9a-f]{6}$`));
    expect(readFileSync(moved)).toEqual(bytes);
    expect(statSync(moved).mode & 0o222).toBe(0);
    // completeness marks may vouch for a directory listing this object: they are dropped
    expect(existsSync(join(root, '.complete'))).toBe(false);
    // a second corrupt copy of the same oid gets its own name
    cache.insertBytes(oid, bytes);
    expect(cache.quarantine(oid, false)).not.toBe(moved);
  });

  it('moves a legacy object under quarantine/XX/ and refuses a missing object', () => {
    const cache = new Cache(root);
    const bytes = Buffer.from('legacy\r\n');
    const oid = 'ab' + 'c'.repeat(30);
    cache.insertBytes(oid, bytes, true);
    const moved = cache.quarantine(oid, true);
    expect(relative(root, moved).startsWith(`quarantine/ab/${'c'.repeat(30)}.`)).toBe(true);
    expect(cache.has(oid, true)).toBe(false);
    expect(() => cache.quarantine(oid, true)).toThrow(RegError);
  });
});

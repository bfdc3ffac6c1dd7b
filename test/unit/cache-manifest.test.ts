import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../dist/store/cache.js';
import { manifestOid, serializeManifest } from '../../dist/data/manifest.js';
import { RegError } from '../../dist/errors.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'reg-cache-manifest-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Every file under the cache root (temp files included: they start with a dot). */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('Cache.insertManifestOf', () => {
  // More entries than one slice of the writer, unsorted, with names that need escaping.
  const entries = Array.from({ length: 5000 }, (_, i) => ({ relpath: `dir ${i % 7}/ü "${4999 - i}".txt`, md5: (i % 16).toString(16).repeat(32) }));

  it('writes the same bytes as serializeManifest under their oid, read-only, without holding them whole', () => {
    const cache = new Cache(root);
    const bytes = serializeManifest(entries);
    const oid = manifestOid(bytes);
    expect(cache.insertManifestOf(oid, entries)).toBe(true);
    const path = join(root, 'files', 'md5', oid.slice(0, 2), oid.slice(2));
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(statSync(path).mode & 0o222).toBe(0);
    expect(cache.readManifest(oid)).toHaveLength(entries.length);
    expect(cache.insertManifestOf(oid, entries)).toBe(false);
  });

  it('refuses an oid its bytes do not hash to: exit 6, nothing stored, no temp file left', () => {
    const cache = new Cache(root);
    const wrong = 'f'.repeat(32) + '.dir';
    let caught: unknown;
    try {
      cache.insertManifestOf(wrong, entries);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RegError);
    expect((caught as RegError).exit).toBe('integrity');
    expect(cache.has(wrong)).toBe(false);
    expect(allFiles(root)).toEqual([]);
  });

  it('storeManifestOf names the bytes after their own hash, written once, and keeps an object already there', () => {
    const cache = new Cache(root);
    const bytes = serializeManifest(entries);
    const oid = manifestOid(bytes);
    expect(cache.storeManifestOf(entries)).toBe(oid);
    const path = join(root, 'files', 'md5', oid.slice(0, 2), oid.slice(2));
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(statSync(path).mode & 0o222).toBe(0);
    const before = statSync(path);
    expect(cache.storeManifestOf([...entries].reverse())).toBe(oid);
    // The same object, not a new file renamed over it (a hardlinked work tree keeps sharing it).
    expect(statSync(path).ino).toBe(before.ino);
    expect(allFiles(root)).toEqual([path]);
  });
});

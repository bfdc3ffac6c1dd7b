import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildManifest, compareCodePoints, manifestOidOf, parseManifest, serializeManifest } from '../../src/data/manifest.js';
import { md5OfBuffer } from '../../src/data/hash.js';
import type { RegError } from '../../src/errors.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8'));

type Tree = { files: Record<string, { content: string; md5: string; size: number }>; manifest: string; dir_md5: string; size: number; nfiles: number; object_keys: string[] };

describe('directory manifests match DVC byte for byte', () => {
  for (const [name, tree] of Object.entries(vectors.trees as Record<string, Tree>)) {
    it(`tree ${name}`, () => {
      const entries = Object.entries(tree.files).map(([relpath, f]) => {
        expect(md5OfBuffer(Buffer.from(f.content, 'utf8'))).toBe(f.md5);
        return { relpath, md5: f.md5 };
      });
      const built = buildManifest(entries.reverse());
      expect(built.bytes.toString('ascii')).toBe(tree.manifest);
      expect(built.oid).toBe(tree.dir_md5);
      expect(manifestOidOf(entries)).toBe(tree.dir_md5);
      const keys = [built.oid, ...entries.map((e) => e.md5)].map((oid) => `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`).sort();
      expect(keys).toEqual([...tree.object_keys].sort());
    });
  }

  it('reads the dvc-data raw fixture and reproduces its oid', () => {
    const raw = vectors.raw_dir_object;
    const entries = parseManifest(raw.bytes);
    expect(buildManifest(entries).oid).toBe(raw.oid);
    for (const e of entries) expect(md5OfBuffer(Buffer.from(raw.file_contents[e.relpath], 'utf8'))).toBe(e.md5);
  });

  it('escapes and orders by code point like Python json.dumps (spec §2.6 example)', () => {
    const bytes = serializeManifest([
      { relpath: 'sub/😀', md5: '009520053b00386d1173f3988c55d192' },
      { relpath: 'sub/café.txt', md5: '401b30e3b8b5d629635a5c613cdb7919' },
      { relpath: 'sub-a', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
      { relpath: 'Sub', md5: 'a8a78d0ff555c931f045b6f448129846' },
    ]);
    expect(bytes.toString()).toBe(
      '[{"md5": "a8a78d0ff555c931f045b6f448129846", "relpath": "Sub"}, {"md5": "d41d8cd98f00b204e9800998ecf8427e", "relpath": "sub-a"}, {"md5": "401b30e3b8b5d629635a5c613cdb7919", "relpath": "sub/caf\\u00e9.txt"}, {"md5": "009520053b00386d1173f3988c55d192", "relpath": "sub/\\ud83d\\ude00"}]',
    );
    expect(buildManifest(parseManifest(bytes)).oid).toBe('5b0b2dd4fddf1399250fe05c831f288a.dir');
  });

  it('sorts astral characters after BMP ones (code point, not UTF-16 order)', () => {
    const names = ['dir_b', 'dirA', 'dir0', 'dir/x', 'dir.txt', 'dir-a', 'alpha', 'Zeta', '😀', 'Ａ'];
    const sorted = [...names].sort(compareCodePoints);
    expect(sorted).toEqual(['Zeta', 'alpha', 'dir-a', 'dir.txt', 'dir/x', 'dir0', 'dirA', 'dir_b', 'Ａ', '😀']);
  });

  it('computes the same oid in slices as from the whole bytes, across slice boundaries', () => {
    const entries = Array.from({ length: 5000 }, (_, i) => ({ relpath: `d${i % 7}/f-${(i * 7919) % 5000}-é`, md5: md5OfBuffer(Buffer.from(String(i))) }));
    expect(manifestOidOf(entries)).toBe(buildManifest(entries).oid);
    expect(manifestOidOf([])).toBe('d751713988987e9331980363e24189ce.dir');
  });

  it('escapes control characters, quotes and backslashes', () => {
    expect(serializeManifest([{ relpath: 'a"b\\c\td\u007f', md5: 'x' }]).toString()).toBe('[{"md5": "x", "relpath": "a\\"b\\\\c\\td\\u007f"}]');
  });

  it('rejects malformed and unsafe manifests with a clear error', () => {
    expect(() => parseManifest('{')).toThrow(/not valid JSON/);
    expect(() => parseManifest('{}')).toThrow(/not a JSON list/);
    expect(() => parseManifest('[{"md5": "x"}]')).toThrow(/entry 0/);
    expect(() => parseManifest('[{"md5": "x", "relpath": "../etc/passwd"}]')).toThrow(/unsafe relpath/);
  });

  it('accepts whitespace variations and extra keys when reading', () => {
    const entries = parseManifest('[ {"relpath":"foo","md5":"acbd18db4cc2f85cedef654fccc4a4d8","size":3} ]');
    expect(entries).toEqual([{ relpath: 'foo', md5: 'acbd18db4cc2f85cedef654fccc4a4d8' }]);
  });

  it('validates every field: md5 form, safe relpaths, no duplicates, no path both file and directory', () => {
    const md5 = 'acbd18db4cc2f85cedef654fccc4a4d8';
    const code = (text: string) => {
      try {
        parseManifest(text, 'obj.dir');
      } catch (err) {
        expect((err as RegError).exitCode).toBe(3);
        expect((err as Error).message).toContain('obj.dir');
        return (err as RegError).code;
      }
      return 'accepted';
    };
    const m = (...entries: Array<[string, string]>) => JSON.stringify(entries.map(([relpath, h]) => ({ md5: h, relpath })));
    expect(code(m(['a', md5.toUpperCase()]))).toBe('manifest.bad-md5');
    expect(code(m(['a', '../../x']))).toBe('manifest.bad-md5');
    expect(code(m(['a', md5 + '.dir']))).toBe('manifest.bad-md5');
    for (const bad of ['/etc/passwd', 'a/../../b', 'a//b', './a', 'a/', '.git/config', 'sub/.GIT/hooks/x', 'a\u0000b']) {
      expect(code(m([bad, md5])), bad).toBe('manifest.unsafe-path');
    }
    expect(code(m(['a', md5], ['a', md5]))).toBe('manifest.duplicate');
    expect(code(m(['a', md5], ['a/b', md5]))).toBe('manifest.file-and-dir');
    expect(code(m(['x/y/z', md5], ['x/y', md5]))).toBe('manifest.file-and-dir');
    expect(code(m(['a b/c', md5], ['ab', md5], ['a', md5], ['a.txt', md5]))).toBe('accepted');
  });
});

describe('file hashes', () => {
  it('matches the single-file vectors', () => {
    for (const f of vectors.files) expect(md5OfBuffer(Buffer.from(f.content, 'utf8'))).toBe(f.md5);
  });
  it('implements the DVC 2 md5-dos2unix rule', () => {
    for (const v of vectors.legacy_md5_dos2unix) {
      const bytes = v.content_b64 ? Buffer.from(v.content_b64, 'base64') : Buffer.from(v.content, 'utf8');
      expect(md5OfBuffer(bytes)).toBe(v.md5);
      expect(md5OfBuffer(bytes, true)).toBe(v.md5_dos2unix);
    }
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CanonicalManifestCursor, buildManifest, compareCodePoints, diffCanonicalManifests, manifestMd5s, manifestOidOf, parseManifest, selectManifestEntries, serializeManifest } from '../../src/data/manifest.js';
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

describe('selectManifestEntries: the entries at or below one path, only those validated in full', () => {
  const md5 = 'acbd18db4cc2f85cedef654fccc4a4d8';
  const other = '37b51d194a7513e45b56f6524f2d51f2';
  const m = (...entries: Array<[string, string]>) => JSON.stringify(entries.map(([relpath, h]) => ({ md5: h, relpath })));
  const code = (text: string, subpath: string) => {
    try {
      return selectManifestEntries(text, subpath, 'obj.dir');
    } catch (err) {
      expect((err as RegError).exitCode).toBe(3);
      expect((err as Error).message).toContain('obj.dir');
      return (err as RegError).code;
    }
  };

  it('gives what parseManifest gives, filtered, for a valid manifest (exact file, sub-directory, absent path)', () => {
    const text = m(['a.txt', md5], ['sub/b.txt', other], ['sub/deep/c', md5], ['sub2/x', md5], ['sub.txt', other]);
    const all = parseManifest(text);
    expect(selectManifestEntries(text, 'a.txt')).toEqual([{ relpath: 'a.txt', md5 }]);
    expect(selectManifestEntries(text, 'sub')).toEqual(all.filter((e) => e.relpath.startsWith('sub/')));
    expect(selectManifestEntries(text, 'sub/deep')).toEqual([{ relpath: 'sub/deep/c', md5 }]);
    expect(selectManifestEntries(text, 'su')).toEqual([]);
    expect(selectManifestEntries(text, 'missing/x')).toEqual([]);
    // Extra keys and other spacing: only the two fields come back.
    expect(selectManifestEntries('[ {"relpath":"foo","md5":"' + md5 + '","size":3} ]', 'foo')).toEqual([{ relpath: 'foo', md5 }]);
  });

  it('ignores hostile entries outside the selection (they are never written)', () => {
    const text = m(['../x', md5], ['/etc/passwd', md5], ['.git/config', md5], ['b', 'not-an-md5'], ['b', md5], ['clean.txt', other]);
    expect(() => parseManifest(text)).toThrow();
    expect(selectManifestEntries(text, 'clean.txt')).toEqual([{ relpath: 'clean.txt', md5: other }]);
  });

  it('refuses a document that is not JSON, not a list, or has an entry without string fields, wherever it is', () => {
    expect(code('{', 'a')).toBe('manifest.invalid-json');
    expect(code('{}', 'a')).toBe('manifest.not-a-list');
    expect(code(`[{"md5": "${md5}", "relpath": "a"}, 7]`, 'a')).toBe('manifest.bad-entry');
    expect(code(`[{"md5": "${md5}", "relpath": "a"}, null]`, 'a')).toBe('manifest.bad-entry');
    expect(code(`[{"md5": "${md5}", "relpath": "a"}, {"md5": 1, "relpath": "z"}]`, 'a')).toBe('manifest.bad-entry');
  });

  it('validates the selected entries as parseManifest would', () => {
    expect(code(m(['a', md5.toUpperCase()]), 'a')).toBe('manifest.bad-md5');
    expect(code(m(['sub/ok', md5], ['sub/bad', 'x']), 'sub')).toBe('manifest.bad-md5');
    expect(code(m(['a', md5], ['a', other]), 'a')).toBe('manifest.duplicate');
    expect(code(m(['sub/x', md5], ['sub/x', md5]), 'sub')).toBe('manifest.duplicate');
    for (const bad of ['sub/../../b', 'sub//b', 'sub/./a', 'sub/', 'sub/.git/config', 'sub/.GIT/hooks/x', 'sub/a\u0000b']) {
      expect(code(m([bad, md5]), 'sub'), bad).toBe('manifest.unsafe-path');
    }
    // The target both a file and a directory, inside the selection or above it.
    expect(code(m(['sub', md5], ['sub/b', md5]), 'sub')).toBe('manifest.file-and-dir');
    expect(code(m(['sub/x', md5], ['sub/x/y', md5]), 'sub')).toBe('manifest.file-and-dir');
    expect(code(m(['a', md5], ['a/b/c', md5]), 'a/b/c')).toBe('manifest.file-and-dir');
    expect(code(m(['a/b', md5], ['a/b/c', md5]), 'a/b/c')).toBe('manifest.file-and-dir');
    // Nothing at or below the target: not there (a file above it is no clash by itself).
    expect(code(m(['a/b', md5]), 'a/b/c')).toEqual([]);
  });
});

describe('manifests in the exact form DVC writes are read without JSON.parse, by the same rules', () => {
  const md5 = (i: number) => md5OfBuffer(Buffer.from(`content ${i}`));
  /** What the general reader says about a document that is not canonical: the same bytes with the separators DVC does not write. */
  const outcome = (text: string) => {
    try {
      return { entries: parseManifest(text, 'obj.dir') };
    } catch (err) {
      return { code: (err as RegError).code, message: (err as Error).message };
    }
  };
  const relaxed = (text: string) => text.replace(/", "/g, '","').replace(/": "/g, '":"');
  /** How the canonical reader's walk over a document ends: 'end' (read it all) or 'other' (left it to the general reader). */
  const walk = (bytes: Buffer | string) => {
    const cursor = new CanonicalManifestCursor(bytes);
    let step = cursor.next();
    while (step === 'entry') step = cursor.next();
    return step;
  };

  it('gives the entries JSON.parse gives, for a large sorted manifest', () => {
    const entries = Array.from({ length: 3000 }, (_, i) => ({ relpath: `d${i % 13}/sub ${i % 3}/f-${i}.bin`, md5: md5(i) }));
    const bytes = serializeManifest(entries);
    const parsed = parseManifest(bytes);
    expect(parsed).toEqual(JSON.parse(bytes.toString()).map((e: { md5: string; relpath: string }) => ({ relpath: e.relpath, md5: e.md5 })));
    expect(parsed).toEqual(outcome(relaxed(bytes.toString())).entries);
    expect(walk(bytes)).toBe('end');
    expect(walk(relaxed(bytes.toString()))).toBe('other');
    expect(parseManifest(Buffer.from('[]'))).toEqual([]);
  });

  it('refuses every hostile entry in canonical form with the error the general reader gives', () => {
    const good = md5(1);
    const cases: Array<[string, Array<{ relpath: string; md5: string }>]> = [
      ['manifest.unsafe-path', [{ relpath: '../etc/passwd', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: '/etc/passwd', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: 'a//b', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: 'a/./b', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: 'a/', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: '', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: 'sub/.GiT/hooks/post-checkout', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: '.git', md5: good }]],
      ['manifest.unsafe-path', [{ relpath: 'a\u0000b', md5: good }]],
      ['manifest.bad-md5', [{ relpath: 'a', md5: good.toUpperCase() }]],
      ['manifest.bad-md5', [{ relpath: 'a', md5: '../../../../../../tmp/x/yyyyyyy' }]],
      ['manifest.bad-md5', [{ relpath: 'a', md5: good.slice(0, 31) + 'g' }]],
      ['manifest.file-and-dir', [{ relpath: 'a', md5: good }, { relpath: 'a/b', md5: good }]],
      ['manifest.file-and-dir', [{ relpath: 'a', md5: good }, { relpath: 'a b/c', md5: good }, { relpath: 'a-x', md5: good }, { relpath: 'a/b/c', md5: good }]],
      ['manifest.file-and-dir', [{ relpath: 'x/y', md5: good }, { relpath: 'x/y/z', md5: good }, { relpath: 'x/z', md5: good }]],
    ];
    for (const [code, entries] of cases) {
      // serializeManifest writes exactly DVC's form (sorted, escaped), as an attacker's tool would.
      const text = serializeManifest(entries).toString();
      const canonical = outcome(text);
      expect(canonical.code, text).toBe(code);
      expect(walk(text), text).toBe('other');
      expect(canonical).toEqual(outcome(relaxed(text)));
    }
    // Duplicates and unsorted lists are not in DVC's form; the general reader still judges them.
    const dup = `[{"md5": "${good}", "relpath": "a"}, {"md5": "${good}", "relpath": "a"}]`;
    expect(outcome(dup).code).toBe('manifest.duplicate');
    const unsorted = `[{"md5": "${good}", "relpath": "b"}, {"md5": "${good}", "relpath": "a"}]`;
    expect(outcome(unsorted).entries?.map((e) => e.relpath)).toEqual(['b', 'a']);
    expect(outcome(`[{"md5": "${good}", "relpath": "b"}, {"md5": "${good}", "relpath": "b/c"}]`).code).toBe('manifest.file-and-dir');
  });

  it('leaves escapes, non-ASCII names, extra keys and trailing bytes to the general reader', () => {
    const good = md5(2);
    const names = ['caf\u00e9.txt', 'a"b', 'back\\slash', '\u{1F600}', 'tab\there'];
    const entries = parseManifest(serializeManifest(names.map((relpath) => ({ relpath, md5: good }))));
    expect(entries.map((e) => e.relpath).sort()).toEqual([...names].sort());
    expect(parseManifest(`[{"md5": "${good}", "relpath": "a", "size": 3}]`)).toEqual([{ relpath: 'a', md5: good }]);
    expect(parseManifest(`[{"md5": "${good}", "relpath": "a"}] `)).toEqual([{ relpath: 'a', md5: good }]);
    expect(() => parseManifest(`[{"md5": "${good}", "relpath": "a"}]x`)).toThrow(/not valid JSON/);
    expect(() => parseManifest(`[{"md5": "${good}", "relpath": "a"}, `)).toThrow(/not valid JSON/);
    expect(() => parseManifest(`[{"md5": "${good}", "relpath": "a`)).toThrow(/not valid JSON/);
    // Raw UTF-8 (DVC escapes it) is read as UTF-8, not byte by byte.
    expect(parseManifest(Buffer.from(`[{"md5": "${good}", "relpath": "caf\u00e9"}]`, 'utf8'))).toEqual([{ relpath: 'caf\u00e9', md5: good }]);
  });
});

describe('manifestMd5s: the member md5s alone, by the rules of parseManifest', () => {
  const md5 = (i: number) => md5OfBuffer(Buffer.from(`member ${i}`));
  const verdict = (read: () => unknown) => {
    try {
      return { value: read() };
    } catch (err) {
      return { code: (err as RegError).code, message: (err as Error).message };
    }
  };

  it('gives the md5s parseManifest gives, in order, for canonical and other documents', () => {
    const entries = Array.from({ length: 2500 }, (_, i) => ({ relpath: `d${i % 5}/f-${i}`, md5: md5(i % 2000) }));
    const bytes = serializeManifest(entries);
    expect(manifestMd5s(bytes)).toEqual(parseManifest(bytes).map((e) => e.md5));
    const relaxed = bytes.toString().replace(/", "/g, '","');
    expect(manifestMd5s(relaxed)).toEqual(parseManifest(relaxed).map((e) => e.md5));
    const unsorted = `[{"md5": "${md5(1)}", "relpath": "b"}, {"md5": "${md5(2)}", "relpath": "a"}]`;
    expect(manifestMd5s(unsorted)).toEqual([md5(1), md5(2)]);
    expect(manifestMd5s(Buffer.from('[]'))).toEqual([]);
  });

  it('refuses hostile manifests with the error parseManifest gives (also after canonical entries)', () => {
    const good = md5(3);
    const docs = [
      serializeManifest([{ relpath: '../etc/passwd', md5: good }]).toString(),
      serializeManifest([{ relpath: 'a', md5: good }, { relpath: 'b', md5: good.toUpperCase() }]).toString(),
      serializeManifest([{ relpath: 'a', md5: good }, { relpath: 'a/b', md5: good }]).toString(),
      `[{"md5": "${good}", "relpath": "a"}, {"md5": "${good}", "relpath": "a"}]`,
      `[{"md5": "${good}", "relpath": "a"}, {"md5": "${good}", "relpath": ".git/hooks/x"}]`,
      `[{"md5": "${good}", "relpath": "a"}]x`,
    ];
    for (const doc of docs) {
      const expected = verdict(() => parseManifest(doc, 'obj.dir'));
      expect(expected.code, doc).toBeDefined();
      expect(verdict(() => manifestMd5s(doc, 'obj.dir')), doc).toEqual(expected);
    }
  });
});

describe('diffCanonicalManifests', () => {
  const md5 = (i: number) => md5OfBuffer(Buffer.from(`content ${i}`));
  const manifest = (entries: Array<[string, number]>) => serializeManifest(entries.map(([relpath, i]) => ({ relpath, md5: md5(i) })));

  it('lists added, deleted and modified files in order, in one merge', () => {
    const before = manifest([['a', 1], ['b/x', 2], ['b/y', 3], ['c', 4], ['e', 5]]);
    const after = manifest([['a', 1], ['b/x', 9], ['b/z', 3], ['d', 6], ['e', 5], ['f/g', 7]]);
    expect(diffCanonicalManifests(before, after)).toEqual({
      added: [{ relpath: 'b/z', md5: md5(3) }, { relpath: 'd', md5: md5(6) }, { relpath: 'f/g', md5: md5(7) }],
      deleted: [{ relpath: 'b/y', md5: md5(3) }, { relpath: 'c', md5: md5(4) }],
      modified: [{ relpath: 'b/x', md5: md5(9), oldMd5: md5(2) }],
    });
    expect(diffCanonicalManifests(before, before)).toEqual({ added: [], deleted: [], modified: [] });
    expect(diffCanonicalManifests(Buffer.from('[]'), before)?.added).toHaveLength(5);
  });

  it('gives up (undefined) when either side is not canonical or breaks a rule, so the general reader reports it', () => {
    const good = manifest([['a', 1]]);
    expect(diffCanonicalManifests(good, Buffer.from(`[{"md5":"${md5(1)}","relpath":"a"}]`))).toBeUndefined();
    expect(diffCanonicalManifests(manifest([['../x', 1]]), good)).toBeUndefined();
    expect(diffCanonicalManifests(good, manifest([['a', 1], ['a/b', 2]]))).toBeUndefined();
    expect(diffCanonicalManifests(good, serializeManifest([{ relpath: 'a', md5: 'not-an-md5' }]))).toBeUndefined();
  });
});

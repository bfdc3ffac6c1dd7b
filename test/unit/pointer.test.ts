import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gitignoreLine, addGitignoreLine } from '../../src/data/gitignore.js';
import { nameSurvivesPointer, parsePointer, serializePointer, updatePointerText } from '../../src/data/pointer.js';
import { renderScalar } from '../../src/data/yaml-scalar.js';
import { RegError } from '../../src/errors.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8'));

describe('.dvc pointer files', () => {
  it('writes the exact text dvc add writes (files, directories, empty dir)', () => {
    const t1 = vectors.trees.tree1;
    expect(serializePointer({ md5: t1.dir_md5, size: t1.size, nfiles: t1.nfiles, hash: 'md5', path: 'data' })).toBe(t1.dvc_file.text);
    const e = vectors.trees.empty_dir;
    expect(serializePointer({ md5: e.dir_md5, size: 0, nfiles: 0, hash: 'md5', path: 'empty_dir' })).toBe(e.dvc_file.text);
    const f = vectors.files[0];
    expect(serializePointer({ md5: f.md5, size: 3, hash: 'md5', path: 'foo' })).toBe(f.dvc_file.text);
  });

  it('quotes scalars exactly like ruamel.yaml', () => {
    for (const c of vectors.yaml_quoting.cases) {
      expect(serializePointer({ md5: c.md5, size: 3, hash: 'md5', path: c.path })).toBe(c.text);
      const back = parsePointer(c.text).outs[0]!;
      expect(back.path).toBe(c.path);
      expect(back.md5).toBe(c.md5);
    }
    expect(renderScalar("'single")).toBe(`"'single"`);
    expect(renderScalar('tab\there')).toBe('"tab\\there"');
    expect(renderScalar('- x')).toBe("'- x'");
    expect(renderScalar('a: b')).toBe("'a: b'");
    expect(renderScalar("it's")).toBe("it's");
    expect(renderScalar('10.txt')).toBe('10.txt');
    expect(renderScalar('1e5')).toBe("'1e5'");
    expect(renderScalar('')).toBe("''");
    expect(renderScalar('~')).toBe("'~'");
  });

  it('quotes signed binary/octal/hex ints and other YAML 1.2 look-alikes, as ruamel does', () => {
    for (const s of ['+0x1F', '-0b1', '+0o17', '1_000', '.5', '1e3', '1_', '._5', '-.inf']) expect(renderScalar(s)).toBe(`'${s}'`);
    for (const s of ['_1', '1:20', 'yes', '0xg', '1e', 'x:y']) expect(renderScalar(s)).toBe(s);
    expect(renderScalar("a: it's")).toBe(`"a: it's"`);
    expect(renderScalar('tab\t😀')).toBe('"tab\\t\\U0001F600"');
  });

  it('folds long values past column 80 as ruamel does (plain, single- and double-quoted)', () => {
    const words = Array.from({ length: 20 }, () => 'segment').join(' ');
    expect(serializePointer({ path: words })).toBe(
      'outs:\n- path: segment segment segment segment segment segment segment segment segment segment\n    segment segment segment segment segment segment segment segment segment segment\n',
    );
    const quoted = serializePointer({ path: `#${words}` }).split('\n');
    expect(quoted.slice(1)).toEqual([
      "- path: '#segment segment segment segment segment segment segment segment segment",
      '    segment segment segment segment segment segment segment segment segment segment',
      "    segment'",
      '',
    ]);
    const escaped = serializePointer({ path: `\t${words}` }).split('\n');
    expect(escaped[1]!.endsWith('\\')).toBe(true);
    expect(parsePointer(serializePointer({ path: `\t${words}` })).outs[0]!.path).toBe(`\t${words}`);
  });

  it('writes and reads U+2028/U+2029 the way DVC does, and refuses them outside quotes', () => {
    expect(serializePointer({ path: 'x\u2028y' })).toBe("outs:\n- path: 'x\u2028    y'\n");
    expect(parsePointer("outs:\n- path: 'x\u2028    y'\n").outs[0]!.path).toBe('x\u2028y');
    expect(parsePointer('outs:\n- path: "a\\Lb\u2029  c"\n').outs[0]!.path).toBe('a\u2028b\u2029c');
    expect(parsePointer("outs:\n- path: 'x\u0085    y'\n").outs[0]!.path).toBe('x y');
    expect(() => parsePointer('outs:\n- path: x\u2028    y\n', 'raw/x.dvc')).toThrow(/raw\/x\.dvc:2:10: a raw U\+2028 outside a quoted value/);
    expect(() => parsePointer('outs:\n- path: x # note\u2029md5: 1\n', 'raw/x.dvc')).toThrow(/U\+2029/);
    expect(nameSurvivesPointer('x\u2028y')).toBe(true);
    expect(nameSurvivesPointer('x\u0085y')).toBe(false);
    expect(nameSurvivesPointer('x \u0085y')).toBe(true);
  });

  it('keeps a folded path byte-identical when the pointer is updated', () => {
    const text = serializePointer({ md5: 'acbd18db4cc2f85cedef654fccc4a4d8', size: 3, hash: 'md5', path: 'seg '.repeat(30).trim() });
    expect(text.split('\n').length).toBe(7);
    expect(updatePointerText(text, { md5: '37b51d194a7513e45b56f6524f2d51f2', size: 3, hash: 'md5', path: 'x' })).toBe(
      text.replace('acbd18db4cc2f85cedef654fccc4a4d8', '37b51d194a7513e45b56f6524f2d51f2'),
    );
  });

  it('writes isexec after size', () => {
    expect(serializePointer({ md5: 'acbd18db4cc2f85cedef654fccc4a4d8', size: 3, isexec: true, hash: 'md5', path: 'foo' })).toBe(
      'outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n  size: 3\n  isexec: true\n  hash: md5\n  path: foo\n',
    );
  });

  it('reads every DVC text in the vectors, including annotations and meta', () => {
    for (const v of vectors.dvc_file_texts) {
      const p = parsePointer(v.text);
      expect(p.outs).toHaveLength(1);
      expect(p.outs[0]!.hash).toBe('md5');
    }
  });

  it('reads DVC 2 pointers (no hash key) as legacy, and CRLF files', () => {
    const p = parsePointer('outs:\r\n- md5: 22a1a2931c8370d3aeedd7183606fd7f\r\n  size: 14445097\r\n  path: data.xml\r\n');
    expect(p.outs[0]).toEqual({ md5: '22a1a2931c8370d3aeedd7183606fd7f', size: 14445097, path: 'data.xml' });
  });

  it('keeps comments, order and annotations when updating, appending new keys', () => {
    const text = vectors.dvc_file_texts[2].text as string;
    expect(updatePointerText(text, { md5: 'acbd18db4cc2f85cedef654fccc4a4d8', size: 3, hash: 'md5', path: 'foo' })).toBe(text);
    const changed = updatePointerText(text, { md5: '37b51d194a7513e45b56f6524f2d51f2', size: 4, hash: 'md5', path: 'foo' });
    expect(changed).toBe(text.replace('acbd18db4cc2f85cedef654fccc4a4d8', '37b51d194a7513e45b56f6524f2d51f2').replace('size: 3', 'size: 4'));
    const legacy = 'outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n  size: 3\n  path: foo # keep me\n';
    expect(updatePointerText(legacy, { md5: '12345678901234567890123456789012', size: 4, hash: 'md5', path: 'foo' })).toBe(
      "outs:\n- md5: '12345678901234567890123456789012'\n  size: 4\n  path: foo # keep me\n  hash: md5\n",
    );
  });

  it('reports malformed YAML with file:line', () => {
    try {
      parsePointer('outs:\n- md5: abc\n  size: [\n', 'raw/x.dvc');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RegError);
      expect((err as RegError).exitCode).toBe(3);
      expect((err as RegError).message).toMatch(/^raw\/x\.dvc:\d+:\d+: /);
    }
  });

  it.each([
    ['outs: []\n', /non-empty list/],
    ['foo: 1\nouts:\n- path: x\n', /raw\/x\.dvc:1:1: unknown top-level key "foo"/],
    ['outs:\n- path: x\n  bogus: 1\n', /raw\/x\.dvc:3:3: unknown output key "bogus"/],
    ['outs:\n- md5: nothex\n  path: x\n', /raw\/x\.dvc:2:8: "md5" must be 32 hex digits/],
    ['outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n  size: big\n  path: x\n', /"size" must be a non-negative integer/],
    ['outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n', /output has no "path"/],
    ['- just a list\n', /must be a YAML mapping/],
  ])('rejects %j', (text, message) => {
    expect(() => parsePointer(text, 'raw/x.dvc')).toThrow(message);
  });
});

describe('.gitignore lines', () => {
  it('escapes like DVC', () => {
    for (const [name, line] of Object.entries(vectors.gitignore_lines as Record<string, string>)) expect(gitignoreLine(name)).toBe(line);
  });
  it('appends once, adding a newline to an unterminated file', () => {
    expect(addGitignoreLine('', '/x')).toBe('/x\n');
    expect(addGitignoreLine('/a', '/x')).toBe('/a\n/x\n');
    expect(addGitignoreLine('/a\n/x\n', '/x')).toBe('/a\n/x\n');
  });
});

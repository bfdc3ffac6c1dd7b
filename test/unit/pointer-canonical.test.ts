import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCanonicalPointer, parsePointer, parsePointerViaYaml } from '../../src/data/pointer.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/dvc-vectors/expected.json', import.meta.url), 'utf8'));

const MD5 = 'acbd18db4cc2f85cedef654fccc4a4d8';

/** What the YAML path makes of a text, or its error code. */
function viaYaml(text: string): unknown {
  try {
    return parsePointerViaYaml(text, 'x.dvc');
  } catch (err) {
    return { error: (err as { code: string }).code };
  }
}

describe('the canonical pointer fast path', () => {
  const texts: string[] = [
    `outs:\n- md5: ${MD5}\n  size: 3\n  hash: md5\n  path: foo\n`,
    `outs:\n- md5: ${MD5}.dir\n  size: 300\n  nfiles: 12\n  hash: md5\n  path: data/images\n`,
    `outs:\n- md5: ${MD5}\n  size: 3\n  path: legacy.txt\n`,
    `outs:\r\n- md5: ${MD5}\r\n  size: 007\r\n  isexec: true\r\n  hash: md5\r\n  path: ./a-b_c.d+e=f@g\r\n`,
    `outs:\n- path: nothing-yet\n`,
    `outs:\n- md5: ${MD5}\n  size: 3\n  hash: md5\n  path: null\n  remote: backup\n  push: false\n  cache: false\n`,
    `outs:\n- md5: ${MD5}\n  path: 10.txt\n  size: 3`,
    `outs:\n- md5: ${MD5}\n  path: 1e5\n`,
  ];
  const fallbacks: string[] = [
    `outs:\n- md5: ${MD5.toUpperCase()}\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  path: 'quoted'\n`,
    `outs:\n- md5: ${MD5}\n  path: a b\n`,
    `outs:\n- md5: ${MD5}\n  path: foo # comment\n`,
    `outs:\n- md5: ${MD5}\n  path: foo\n  path: bar\n`,
    `outs:\n- md5: ${MD5}\n  path: foo\n- md5: ${MD5}\n  path: bar\n`,
    `outs:\n- md5: ${MD5}\n  hash: sha256\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  size: -3\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  isexec: True\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  constructor: x\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  __proto__: x\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  toString: x\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n   path: foo\n`,
    `outs:\n- md5: ${MD5}\n\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  size: 3\n`,
    `desc: hi\nouts:\n- md5: ${MD5}\n  path: foo\n`,
    `outs:\n- md5: ${MD5}\n  path: -foo\n`,
    `outs:\n- md5: ${MD5}\n  path: foo:\n`,
    `outs:\n- md5: ${MD5}\n  path: ~\n`,
    `outs:\n- md5: ${MD5}\n  path: *alias\n`,
    'outs:\n',
    '',
  ];

  it('accepts exactly the plain canonical texts and reads them as the YAML parser does', () => {
    for (const t of [...texts, ...vectors.dvc_file_texts.map((v: { text: string }) => v.text), ...vectors.yaml_quoting.cases.map((c: { text: string }) => c.text)]) {
      const fast = parseCanonicalPointer(t, 'x.dvc');
      if (texts.includes(t)) expect(fast, JSON.stringify(t)).toBeDefined();
      if (fast !== undefined) expect(fast, JSON.stringify(t)).toEqual(viaYaml(t));
    }
  });

  it('leaves everything else (quotes, comments, other keys, prototype names, odd spacing) to the YAML parser', () => {
    for (const t of fallbacks) {
      expect(parseCanonicalPointer(t), JSON.stringify(t)).toBeUndefined();
      let viaPublic: unknown;
      try {
        viaPublic = parsePointer(t, 'x.dvc');
      } catch (err) {
        viaPublic = { error: (err as { code: string }).code };
      }
      expect(viaPublic).toEqual(viaYaml(t));
    }
  });
});

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parsePointer, serializePointer, updatePointerText, type PointerOutput } from '../../src/data/pointer.js';

/**
 * Cross-checks reg's `.dvc` writer and reader against DVC's own YAML library (ruamel.yaml, with
 * DVC's settings; see test/helpers/ruamel-dvc.py). CI installs Debian's python3-ruamel.yaml.
 */
const HELPER = fileURLToPath(new URL('../helpers/ruamel-dvc.py', import.meta.url));

function findRuamelPython(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import ruamel.yaml'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

const python = findRuamelPython();
if (!python) {
  const reason = 'python3 with ruamel.yaml not found (apt-get install python3-ruamel.yaml): DVC YAML cross-check skipped';
  if (process.env.CI) throw new Error(reason);
  console.warn(reason);
}

interface RuamelAnswer {
  version: string;
  dumped: string[];
  loaded: Array<{ type: string; value: string }>;
  updated: string[];
}

function ruamel(request: { dump?: PointerOutput[]; load?: string[]; update?: Array<{ text: string; md5: string; size: number }> }): RuamelAnswer {
  // ASCII-only JSON: the child's stdin encoding then does not matter.
  const input = JSON.stringify(request).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const r = spawnSync(python!, [HELPER], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ruamel helper failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as RuamelAnswer;
}

/** A deterministic corpus of awkward names: YAML look-alikes, indicators, quotes, escapes, breaks, long runs. */
function corpus(): string[] {
  const named = [
    '+0x1F', '-0b1', '+0b1', '+12', '-12', '0o17', '-0o17', '+0o17', '0x1F', '0xg', '0b2', '0o8', '1_000', '1__0', '_1', '1_', '.5', '+.5',
    '._5', '1.', '1.e5', '1e3', '1e+3', '1.5e+3', '1e', 'e3', '0x', '1:20', '-1:20', '190:20:30', '1:20.5', '0777', '08', '007',
    '.inf', '-.inf', '+.inf', '.NaN', '.nan', 'yes', 'no', 'on', 'off', 'Yes', 'y', 'n', 'null', 'NULL', 'Null', '~', 'true', 'False',
    '2024-01-31', '2002-1-5', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '<<', '=', '!', '&', '*', '---', '...', '--- x',
    '-', '+', '?', ':', '- x', '? x', ': x', '-x', '?x', ':x', 'x:', 'x:y', 'a: b', 'a #b', 'a#b', 'a,b', '[x]', '{x}', 'x]', '#raw', '%x',
    '@x', '`x', '|x', '>x', '"x', "'x", "it's", "a: it's", 'back\\slash', ' lead', 'trail ', ' ', '  ', 'tab\there', 'del\x7fchar',
    'bell\x07', 'nul\0x', 'x\ny', 'x\r\ny', 'bom\ufeffx', 'nbsp\u00a0x', 'résumé.txt', '😀', 'tab\t😀', 'x\u2028y', 'x\u2029y', 'x\u0085y',
    '\u2028', 'a\u2028', '\u2028a', 'a\u2028\u2028b', 'a\u2028 b', 'a \u2028b', 'a\u2028\nb', '\ufffe', 'private\ue000use', 'my data',
  ];
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pieces = ['data', 'segment', 'x', '0', '12', 'e', '.', '_', ' ', ' ', ' ', '  ', '#', ':', "'", '"', '\\', '\t', '-', '?', ',', 'é', '😀', '\u2028', '\u00a0', 'ab cd', 'longer-name_with.parts'];
  const generated: string[] = [];
  for (let i = 0; i < 400; i++) {
    const target = 1 + rand(i % 4 === 0 ? 240 : 90);
    let name = '';
    while (name.length < target) name += pieces[rand(pieces.length)];
    generated.push(name);
  }
  // Space-separated words of every length around the fold column, for plain, quoted and escaped text.
  for (let n = 60; n <= 100; n++) {
    const words = (w: string) => Array.from({ length: n }, (_, k) => (k % 7 === 0 ? w : 'ab')).join(' ');
    generated.push(words('seg'), words("it's"), words('t\tb'), words('#1'), words('\u2028'), 'x'.repeat(n) + ' y', `${'y '.repeat(n)}z`);
  }
  return [...named, ...generated];
}

const MD5 = 'acbd18db4cc2f85cedef654fccc4a4d8';

describe.skipIf(!python)('.dvc text against DVC’s YAML library (ruamel.yaml)', () => {
  it('writes byte-identical pointers for every awkward name, and each side reads the other back', () => {
    const names = corpus();
    const outs: PointerOutput[] = names.map((path) => ({ md5: MD5, size: 3, hash: 'md5', path }));
    const regTexts = outs.map((o) => serializePointer(o));
    const answer = ruamel({ dump: outs, load: regTexts });
    const mismatches: string[] = [];
    names.forEach((name, i) => {
      const dvcText = answer.dumped[i]!;
      if (regTexts[i] !== dvcText) mismatches.push(`${JSON.stringify(name)}\n  reg: ${JSON.stringify(regTexts[i])}\n  dvc: ${JSON.stringify(dvcText)}`);
      const dvcRead = answer.loaded[i]!;
      const regRead = parsePointer(dvcText).outs[0]!.path;
      // DVC reads its own `'x\x85    y'` back as "x y": reg must read the same text the same way.
      if (dvcRead.type !== 'str' || regRead !== dvcRead.value) mismatches.push(`${JSON.stringify(name)}: DVC reads ${JSON.stringify(dvcRead)}, reg reads ${JSON.stringify(regRead)}`);
      if (!name.includes('\x85') && regRead !== name) mismatches.push(`${JSON.stringify(name)}: reads back as ${JSON.stringify(regRead)}`);
    });
    expect(mismatches.slice(0, 10).join('\n')).toBe('');
    expect(names.length).toBeGreaterThan(600);
  });

  it('quotes an md5 the way DVC does (all digits, digits-e-digits)', () => {
    const md5s = ['12345678901234567890123456789012', '00000000000000000000000000000000', '9e123456789012345678901234567890', '1e1234567890123456789012345678ab', MD5];
    const outs = md5s.map((md5) => ({ md5, size: 3, hash: 'md5', path: 'data' }));
    expect(outs.map((o) => serializePointer(o))).toEqual(ruamel({ dump: outs }).dumped);
  });

  it('updates a DVC-written pointer to the bytes DVC’s own update writes (folded and U+2028 names kept)', () => {
    const names = ['data', 'seg '.repeat(30).trim(), `${"it's ".repeat(25)}end`, 'x\u2028y', 'tab\tand '.repeat(12), '0012'];
    const dvcTexts = ruamel({ dump: names.map((path) => ({ md5: MD5, size: 3, hash: 'md5', path })) }).dumped;
    const updates = dvcTexts.map((text) => ({ text, md5: '12345678901234567890123456789012', size: 4 }));
    const expected = ruamel({ update: updates }).updated;
    const ours = dvcTexts.map((text, i) => updatePointerText(text, { md5: updates[i]!.md5, size: 4, hash: 'md5', path: names[i]! }));
    expect(ours).toEqual(expected);
  });
});

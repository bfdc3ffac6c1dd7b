import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import parseTorrent from 'parse-torrent';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md5OfBuffer } from '../../dist/data/hash.js';
import { serializeManifest } from '../../dist/data/manifest.js';
import { PROJECT_ROOT, filesUnder, git, tempFilesUnder, makeGitRepo, reg, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

// CommonJS packages: under NodeNext a default import is their module.exports, whose `default` is the class or plugin.
const Ajv = AjvModule.default;
const AjvDraft04 = AjvDraft04Module.default;
const addFormats = addFormatsModule.default;

/**
 * reg export end to end: a committed entry becomes a release directory that the real tools
 * accept (md5sum -c, sha256sum -c, tar, unzip), that is the same bytes on every export, whose
 * torrent an independent parser reads with piece hashes matching the files, and whose
 * CITATION.cff and datapackage.json validate against the published schemas.
 */
const sha = (alg: string, b: Buffer | string) => createHash(alg).update(b).digest('hex');

const ENTRY_FILES: Record<string, Buffer> = {
  'page-001.txt': Buffer.from('first page\n'),
  'page-002.txt': Buffer.from('second page\r\nwith a CRLF\r\n'),
  'scans/big.bin': randomBytes((2 << 20) + 12345),
  'scans/empty.bin': Buffer.alloc(0),
  'scans/deep/dup-a.txt': Buffer.from('same bytes\n'),
  'scans/deep/dup-b.txt': Buffer.from('same bytes\n'),
};

const CARD = `---
license: CC-BY-4.0
source: scanned at the lab
owner: Jane Doe
title: OCR pages
description: Scanned pages with their OCR text.
authors:
  - given-names: Jane
    family-names: Doe
    orcid: 0000-0002-1825-0097
  - The OCR Lab
keywords: [ocr, scans]
doi: 10.5281/zenodo.1234567
---
# Card: ocr-pages

## Purpose
Pages for OCR experiments.
`;

let repo: string;
let out: string;
const sentinel = tempDir('reg-export-sentinel-');

function hashTree(root: string): Record<string, string> {
  return Object.fromEntries(filesUnder(root).map((f) => [f, sha('sha256', readFileSync(join(root, f)))]));
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8' });
}

beforeAll(async () => {
  repo = makeGitRepo();
  out = tempDir('reg-export-out-');
  writeTree(sentinel, { 'keep.txt': 'outside\n' });
  await regOk(repo, ['init']);
  writeTree(join(repo, 'raw_datasets/ocr-pages'), ENTRY_FILES);
  writeTree(repo, { 'raw_datasets/ocr-pages.card.md': CARD });
  await regOk(repo, ['add', 'raw_datasets/ocr-pages']);
  // An entry whose card has no licence.
  writeTree(repo, { 'raw_datasets/no-licence/a.txt': 'a\n', 'raw_datasets/no-licence.card.md': '---\nsource: x\nowner: y\n---\n# Card: no-licence\n' });
  await regOk(repo, ['add', 'raw_datasets/no-licence']);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'v1');
  git(repo, 'tag', 'v1');
});

afterAll(() => {
  removeDir(repo);
  removeDir(out);
  removeDir(sentinel);
});

describe('reg export --archive none', () => {
  let bundle: string;
  beforeAll(async () => {
    const r = await regOk(repo, ['--json', 'export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'plain')]);
    bundle = (JSON.parse(r.stdout) as { bundle: string }).bundle;
  });

  it('writes the data and the metadata files into <name>-<version>/', () => {
    expect(bundle).toBe(join(out, 'plain', 'ocr-pages-v1'));
    expect(filesUnder(bundle)).toEqual(['CITATION.cff', 'LICENSE', 'MD5SUMS', 'README.md', 'SHA256SUMS', ...Object.keys(ENTRY_FILES).map((f) => `data/${f}`).sort(), 'datapackage.json'].sort());
    for (const [rel, bytes] of Object.entries(ENTRY_FILES)) expect(readFileSync(join(bundle, 'data', rel)).equals(bytes)).toBe(true);
  });

  it('passes the real md5sum -c and sha256sum -c', () => {
    expect(run('md5sum', ['-c', 'MD5SUMS'], bundle)).toContain('data/scans/big.bin: OK');
    const checked = run('sha256sum', ['-c', 'SHA256SUMS'], bundle);
    expect(checked.trim().split('\n')).toHaveLength(Object.keys(ENTRY_FILES).length + 5);
    expect(checked).not.toMatch(/FAILED/);
  });

  it('lists in MD5SUMS the md5s the registry knows (the objects of the manifest)', () => {
    const manifestOid = /md5: ([0-9a-f]{32})\.dir/.exec(readFileSync(join(repo, 'raw_datasets/ocr-pages.dvc'), 'utf8'))![1]!;
    const manifest = JSON.parse(readFileSync(join(repo, '.reg/cache/files/md5', manifestOid.slice(0, 2), manifestOid.slice(2) + '.dir'), 'utf8')) as Array<{ md5: string; relpath: string }>;
    const lines = readFileSync(join(bundle, 'MD5SUMS'), 'utf8').trim().split('\n');
    expect(lines).toEqual(manifest.map((e) => `${e.md5}  data/${e.relpath}`));
  });

  it('writes the full licence text, a README from the card, and a citation', () => {
    expect(readFileSync(join(bundle, 'LICENSE'), 'utf8')).toMatch(/^Creative Commons Attribution 4\.0 International/);
    const readme = readFileSync(join(bundle, 'README.md'), 'utf8');
    expect(readme).toMatch(/^# OCR pages\n/);
    expect(readme).toContain('Pages for OCR experiments.');
    expect(readme).toContain('sha256sum -c SHA256SUMS');
    const cff = parseYaml(readFileSync(join(bundle, 'CITATION.cff'), 'utf8')) as Record<string, unknown>;
    expect(cff).toMatchObject({ 'cff-version': '1.2.0', type: 'dataset', title: 'OCR pages', version: 'v1', license: 'CC-BY-4.0', doi: '10.5281/zenodo.1234567' });
    expect(cff.authors).toEqual([{ 'given-names': 'Jane', 'family-names': 'Doe', orcid: 'https://orcid.org/0000-0002-1825-0097' }, { name: 'The OCR Lab' }]);
  });

  it('CITATION.cff and datapackage.json validate against the published schemas', () => {
    const cffSchema = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures/schemas/citation-cff-1.2.0.schema.json'), 'utf8')) as object;
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validCff = ajv.compile(cffSchema);
    const cff = parseYaml(readFileSync(join(bundle, 'CITATION.cff'), 'utf8')) as unknown;
    expect(validCff(cff), JSON.stringify(validCff.errors)).toBe(true);
    // The validator does reject what breaks the schema.
    expect(validCff({ ...(cff as object), 'date-released': 'yesterday' })).toBe(false);

    const dpSchema = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures/schemas/data-package-1.0.schema.json'), 'utf8')) as object;
    const ajv04 = new AjvDraft04({ allErrors: true, strict: false });
    addFormats(ajv04);
    ajv04.addFormat('textarea', true); // an editor hint of the Frictionless profiles, not a format
    const validDp = ajv04.compile(dpSchema);
    const dp = JSON.parse(readFileSync(join(bundle, 'datapackage.json'), 'utf8')) as { name: string; resources: Array<{ path: string; bytes: number; hash: string }> };
    expect(validDp(dp), JSON.stringify(validDp.errors)).toBe(true);
    expect(validDp({ ...dp, name: 'Not A Valid Name' })).toBe(false);
    expect(dp.resources.map((r) => r.path)).toEqual(Object.keys(ENTRY_FILES).map((f) => `data/${f}`).sort());
    for (const r of dp.resources) {
      const bytes = readFileSync(join(bundle, r.path));
      expect(r.bytes).toBe(bytes.length);
      expect(r.hash).toBe(`sha256:${sha('sha256', bytes)}`);
    }
  });

  it('two exports of the same version are byte-identical', async () => {
    await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'plain2')]);
    expect(hashTree(join(out, 'plain2', 'ocr-pages-v1'))).toEqual(hashTree(bundle));
  });

  it('refuses to overwrite the release unless --force, and then replaces it', async () => {
    const r = await reg(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'plain')]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('already exists');
    expect(r.stderr).toContain('--force');
    writeFileSync(join(bundle, 'stray.txt'), 'left from before\n');
    await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'plain'), '--force']);
    expect(existsSync(join(bundle, 'stray.txt'))).toBe(false);
    expect(run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], bundle)).toBe('');
    expect(tempFilesUnder(join(out, 'plain'))).toEqual([]);
  });
});

describe('reg export with archives', () => {
  for (const kind of ['tar', 'tar.gz', 'zip'] as const) {
    it(`--archive ${kind}: the system ${kind === 'zip' ? 'unzip' : 'tar'} extracts the entry byte for byte; two exports are identical`, async () => {
      const a = join(out, `arch-${kind}-a`);
      const b = join(out, `arch-${kind}-b`);
      await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', a, '--archive', kind]);
      await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', b, '--archive', kind]);
      const bundle = join(a, 'ocr-pages-v1');
      expect(hashTree(join(b, 'ocr-pages-v1'))).toEqual(hashTree(bundle));
      const archive = `ocr-pages-v1.${kind}`;
      expect(filesUnder(bundle)).toEqual(['CITATION.cff', 'LICENSE', 'MD5SUMS', 'README.md', 'SHA256SUMS', 'datapackage.json', archive].sort());
      expect(run('sha256sum', ['-c', 'SHA256SUMS'], bundle)).toContain(`${archive}: OK`);
      if (kind === 'zip') run('unzip', ['-q', archive], bundle);
      else run('tar', [kind === 'tar' ? '-xf' : '-xzf', archive], bundle);
      for (const [rel, bytes] of Object.entries(ENTRY_FILES)) expect(readFileSync(join(bundle, 'ocr-pages', rel)).equals(bytes), rel).toBe(true);
      // MD5SUMS names the files as they land when unpacked.
      expect(run('md5sum', ['-c', 'MD5SUMS'], bundle)).toContain('ocr-pages/scans/big.bin: OK');
    });
  }

  it('tar members are sorted, owned by 0:0, with fixed modes and the commit time', async () => {
    const a = join(out, 'arch-tar-a', 'ocr-pages-v1');
    const listing = run('tar', ['--numeric-owner', '-tvf', 'ocr-pages-v1.tar'], a).trim().split('\n');
    const names = listing.map((l) => l.split(/\s+/).pop()!);
    expect(names.filter((n) => !n.endsWith('/'))).toEqual(Object.keys(ENTRY_FILES).map((f) => `ocr-pages/${f}`).sort());
    for (const l of listing) expect(l).toMatch(l.startsWith('d') ? /^drwxr-xr-x 0\/0 / : /^-rw-r--r-- 0\/0 /);
    const commitDay = git(repo, 'log', '-1', '--format=%cs', 'v1').trim();
    for (const l of listing) expect(l).toContain(commitDay);
  });

  it('--split cuts the archive into plain byte parts that cat joins (README says how)', async () => {
    await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'split'), '--archive', 'tar', '--split', '1MiB']);
    const bundle = join(out, 'split', 'ocr-pages-v1');
    const parts = readdirSync(bundle).filter((n) => n.includes('.part-')).sort();
    expect(parts).toEqual(['ocr-pages-v1.tar.part-000', 'ocr-pages-v1.tar.part-001', 'ocr-pages-v1.tar.part-002']);
    for (const p of parts.slice(0, -1)) expect(readFileSync(join(bundle, p)).length).toBe(1 << 20);
    expect(run('sha256sum', ['-c', 'SHA256SUMS'], bundle)).not.toMatch(/FAILED/);
    const readme = readFileSync(join(bundle, 'README.md'), 'utf8');
    expect(readme).toContain('cat ocr-pages-v1.tar.part-* > ocr-pages-v1.tar');
    execFileSync('sh', ['-c', 'cat ocr-pages-v1.tar.part-* > ocr-pages-v1.tar && tar -xf ocr-pages-v1.tar'], { cwd: bundle });
    // The joined archive is the unsplit one, byte for byte.
    expect(sha('sha256', readFileSync(join(bundle, 'ocr-pages-v1.tar')))).toBe(sha('sha256', readFileSync(join(out, 'arch-tar-a', 'ocr-pages-v1', 'ocr-pages-v1.tar'))));
    expect(run('md5sum', ['-c', 'MD5SUMS'], bundle)).not.toMatch(/FAILED/);
    const dp = JSON.parse(readFileSync(join(bundle, 'datapackage.json'), 'utf8')) as { resources: Array<{ path: string[]; hash: string }> };
    expect(dp.resources[0]!.path).toEqual(parts);
    expect(dp.resources[0]!.hash).toBe(`sha256:${sha('sha256', readFileSync(join(bundle, 'ocr-pages-v1.tar')))}`);
  });
});

describe('reg export --torrent', () => {
  it('a .torrent whose piece hashes an independent parser and our own SHA-1 confirm', async () => {
    await regOk(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', join(out, 'torrent'), '--archive', 'tar', '--torrent', '--web-seed', 'https://data.example.org/releases/']);
    const bundle = join(out, 'torrent', 'ocr-pages-v1');
    const t = (await parseTorrent(readFileSync(join(bundle, 'ocr-pages-v1.torrent')))) as unknown as {
      name: string;
      pieceLength: number;
      lastPieceLength: number;
      pieces: string[];
      files: Array<{ path: string; length: number }>;
      urlList: string[];
      announce: string[];
    };
    expect(t.name).toBe('ocr-pages-v1');
    expect(t.urlList).toEqual(['https://data.example.org/releases/']);
    expect(t.announce).toEqual([]);
    // Every file of the release but the torrent itself.
    expect(t.files.map((f) => f.path).sort()).toEqual(filesUnder(bundle).filter((f) => !f.endsWith('.torrent')).map((f) => `ocr-pages-v1/${f}`).sort());
    const all = Buffer.concat(t.files.map((f) => readFileSync(join(bundle, f.path.slice('ocr-pages-v1/'.length)))));
    expect(t.files.reduce((s, f) => s + f.length, 0)).toBe(all.length);
    const pieces: string[] = [];
    for (let off = 0; off < all.length; off += t.pieceLength) pieces.push(sha('sha1', all.subarray(off, off + t.pieceLength)));
    expect(pieces).toEqual(t.pieces);
    // Piece size from the total size (the library's rule): at least 16 KiB.
    expect(t.pieceLength).toBeGreaterThanOrEqual(16384);
  });
});

describe('reg export refuses what may not be published', () => {
  it('a card without a licence: exit 5 naming the card and the fix', async () => {
    const r = await reg(repo, ['export', 'raw_datasets/no-licence', '--rev', 'v1', '-o', join(out, 'nolic')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('raw_datasets/no-licence.card.md names no licence');
    expect(r.stderr).toContain('license: CC-BY-4.0');
    expect(existsSync(join(out, 'nolic', 'no-licence-v1'))).toBe(false);
  });

  it('names breaking the publishing rules: every problem with its fix; --keep-names and --name publish anyway', async () => {
    const r2 = makeGitRepo();
    try {
      await regOk(r2, ['init']);
      writeTree(join(r2, 'raw_datasets/My_Dataset'), { 'Page One.TXT': 'x\n', 'ok-name.txt': 'y\n' });
      writeTree(r2, { 'raw_datasets/My_Dataset.card.md': '---\nlicense: MIT\nsource: s\nowner: o\n---\n# Card: My_Dataset\n' });
      await regOk(r2, ['add', 'raw_datasets/My_Dataset']);
      git(r2, 'add', '-A');
      git(r2, 'commit', '-q', '-m', 'c');
      const r = await reg(r2, ['export', 'raw_datasets/My_Dataset', '-o', 'release']);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain('contains the word "dataset"');
      expect(r.stderr).toContain('"Page One.TXT"');
      expect(r.stderr).toContain('--keep-names');
      expect(existsSync(join(r2, 'release'))).toBe(false);
      const ok = await regOk(r2, ['--json', 'export', 'raw_datasets/My_Dataset', '-o', 'release', '--keep-names', '--name', 'my-pages']);
      const bundle = (JSON.parse(ok.stdout) as { bundle: string }).bundle;
      expect(existsSync(join(bundle, 'data', 'Page One.TXT'))).toBe(true);
      expect(run('md5sum', ['-c', 'MD5SUMS'], bundle)).toContain('data/Page One.TXT: OK');
    } finally {
      removeDir(r2);
    }
  });

  it('a hostile manifest naming ../ paths cannot write outside the output directory', async () => {
    const r2 = makeGitRepo();
    try {
      await regOk(r2, ['init']);
      writeTree(join(r2, 'raw_datasets/evil'), { 'a.txt': 'a\n' });
      writeTree(r2, { 'raw_datasets/evil.card.md': '---\nlicense: MIT\nsource: s\nowner: o\n---\n# Card: evil\n' });
      await regOk(r2, ['add', 'raw_datasets/evil']);
      // Replace the manifest by one whose relpath climbs out, under its true md5 (as a hostile remote could serve it).
      const aMd5 = sha('md5', 'a\n');
      const manifest = Buffer.from(JSON.stringify([{ md5: aMd5, relpath: `../../../../../../..${sentinel}/escaped.txt` }]));
      const oid = sha('md5', manifest);
      const p = join(r2, '.reg/cache/files/md5', oid.slice(0, 2), oid.slice(2) + '.dir');
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, manifest);
      writeFileSync(join(r2, 'raw_datasets/evil.dvc'), `outs:\n- md5: ${oid}.dir\n  size: 2\n  nfiles: 1\n  hash: md5\n  path: evil\n`);
      git(r2, 'add', '-A');
      git(r2, 'commit', '-q', '-m', 'c');
      const before = hashTree(sentinel);
      const r = await reg(r2, ['export', 'raw_datasets/evil', '-o', join(out, 'evil')]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/unsafe|relpath|not a plain/i);
      expect(hashTree(sentinel)).toEqual(before);
      expect(filesUnder(join(out, 'evil'))).toEqual([]);
    } finally {
      removeDir(r2);
    }
  });

  it('never writes through a symlink on the way to the output directory', async () => {
    const linkDir = join(repo, 'linked-out');
    symlinkSync(sentinel, linkDir);
    try {
      const before = hashTree(sentinel);
      const r = await reg(repo, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', 'linked-out/x']);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('symbolic link');
      expect(hashTree(sentinel)).toEqual(before);
    } finally {
      execFileSync('rm', [linkDir]);
    }
  });
});

describe('reg export of a version whose objects are not in the cache', () => {
  it('fetches them from the remote first (verified), then exports; a corrupt remote object is refused (exit 6)', async () => {
    const remoteDir = tempDir('reg-export-remote-');
    const clone = tempDir('reg-export-clone-');
    try {
      await regOk(repo, ['remote', 'add', 'store', remoteDir, '--default']);
      await regOk(repo, ['push', 'raw_datasets/ocr-pages']);
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'remote');
      execFileSync('git', ['clone', '-q', repo, clone]);
      await regOk(clone, ['remote', 'modify', 'store', 'url', remoteDir]);
      const r = await regOk(clone, ['--json', 'export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', 'rel']);
      const res = JSON.parse(r.stdout) as { fetched: number; bundle: string };
      expect(res.fetched).toBe(5); // six files, two share their bytes
      expect(run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], res.bundle)).toBe('');
      // Corrupt the big object on the remote, drop it from the clone's cache: the export refuses.
      const big = sha('md5', ENTRY_FILES['scans/big.bin']!);
      const onRemote = join(remoteDir, 'files/md5', big.slice(0, 2), big.slice(2));
      chmodSync(onRemote, 0o644);
      writeFileSync(onRemote, randomBytes(100));
      execFileSync('rm', ['-f', join(clone, '.reg/cache/files/md5', big.slice(0, 2), big.slice(2))]);
      const bad = await reg(clone, ['export', 'raw_datasets/ocr-pages', '--rev', 'v1', '-o', 'rel2']);
      expect(bad.code).toBe(6);
      expect(bad.stderr).toContain('corrupt');
      expect(existsSync(join(clone, 'rel2', 'ocr-pages-v1'))).toBe(false);
      expect(spawnSync('ls', [join(clone, '.reg/cache/files/md5', big.slice(0, 2), big.slice(2))]).status).not.toBe(0);
    } finally {
      removeDir(remoteDir);
      removeDir(clone);
    }
  });
});

describe('reg export checks every object it reads against its md5 (in the same pass)', () => {
  const cases: Array<[archive: string, file: string]> = [
    ['none', 'page-001.txt'], // read whole
    ['none', 'scans/big.bin'], // streamed
    ['tar', 'page-002.txt'],
    ['tar', 'scans/big.bin'],
    ['zip', 'scans/big.bin'],
  ];
  for (const [archive, file] of cases) {
    it(`--archive ${archive}: a corrupt cache object of ${file} (same size, verified stamp kept) fails with exit 6, publishes nothing, is quarantined`, async () => {
      const r2 = makeGitRepo();
      const dest = tempDir('reg-export-corrupt-');
      try {
        await regOk(r2, ['init']);
        writeTree(join(r2, 'raw_datasets/ocr-pages'), ENTRY_FILES);
        writeTree(r2, { 'raw_datasets/ocr-pages.card.md': CARD });
        await regOk(r2, ['add', 'raw_datasets/ocr-pages']);
        git(r2, 'add', '-A');
        git(r2, 'commit', '-q', '-m', 'v1');
        const md5 = sha('md5', ENTRY_FILES[file]!);
        const object = join(r2, '.reg/cache/files/md5', md5.slice(0, 2), md5.slice(2));
        const { mtime } = statSync(object);
        const bytes = readFileSync(object);
        bytes[bytes.length >> 1]! ^= 0x5a;
        chmodSync(object, 0o644);
        writeFileSync(object, bytes);
        chmodSync(object, 0o444);
        utimesSync(object, mtime, mtime); // still looks verified: the export must hash anyway
        const before = hashTree(sentinel);
        const r = await reg(r2, ['--json', 'export', 'raw_datasets/ocr-pages', '-o', dest, '--archive', archive]);
        expect(r.code).toBe(6);
        const err = JSON.parse(r.stdout) as { error: { code: string; message: string; details: { path: string; quarantined: string } } };
        expect(err.error.code).toBe('export.corrupt-cache-object');
        expect(err.error.message).toContain(file);
        expect(readdirSync(dest)).toEqual([]);
        expect(existsSync(object)).toBe(false);
        expect(readFileSync(err.error.details.quarantined).equals(bytes)).toBe(true);
        expect(hashTree(sentinel)).toEqual(before);
      } finally {
        removeDir(r2);
        removeDir(dest);
      }
    });
  }
});

describe('reg export of a DVC 2 entry (legacy pointer and objects)', () => {
  it('verifies each object by the md5-dos2unix rule, lists plain md5s in MD5SUMS (md5sum -c passes), and refuses a corrupt one', async () => {
    const r2 = makeGitRepo();
    const dest = tempDir('reg-export-legacy-');
    try {
      await regOk(r2, ['init']);
      const files: Record<string, Buffer> = { 'crlf.txt': Buffer.from('alpha\r\nline two\r\n'), 'plain.txt': Buffer.from('bravo\n') };
      const put = (oid: string, bytes: Buffer) => {
        const p = join(r2, '.reg/cache', oid.slice(0, 2), oid.slice(2));
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, bytes, { mode: 0o444 });
        return p;
      };
      const entries = Object.entries(files).map(([relpath, bytes]) => ({ relpath, md5: md5OfBuffer(bytes, true), path: put(md5OfBuffer(bytes, true), bytes) }));
      expect(entries[0]!.md5).not.toBe(sha('md5', files['crlf.txt']!)); // the dos2unix rule changes it
      const manifest = serializeManifest(entries.map(({ relpath, md5 }) => ({ relpath, md5 })));
      const oid = `${sha('md5', manifest)}.dir`;
      put(oid, manifest);
      writeTree(r2, {
        'raw_datasets/scans.dvc': `outs:\n- md5: ${oid}\n  size: 24\n  nfiles: 2\n  path: scans\n`,
        'raw_datasets/.gitignore': '/scans\n',
        'raw_datasets/scans.card.md': '---\nlicense: CC-BY-4.0\nsource: x\nowner: y\n---\n# Card: scans\n',
      });
      git(r2, 'add', '-A');
      git(r2, 'commit', '-q', '-m', 'dvc 2 entry');
      for (const archive of ['none', 'tar']) {
        const r = await regOk(r2, ['--json', 'export', 'raw_datasets/scans', '-o', join(dest, archive), '--archive', archive]);
        const bundle = (JSON.parse(r.stdout) as { bundle: string }).bundle;
        if (archive === 'tar') run('tar', ['-xf', readdirSync(bundle).find((f) => f.endsWith('.tar'))!], bundle);
        const prefix = archive === 'none' ? 'data' : 'scans';
        expect(readFileSync(join(bundle, 'MD5SUMS'), 'utf8')).toContain(`${sha('md5', files['crlf.txt']!)}  ${prefix}/crlf.txt`);
        expect(run('md5sum', ['-c', 'MD5SUMS'], bundle)).toContain(`${prefix}/crlf.txt: OK`);
      }
      // Same size, other bytes: caught by the dos2unix md5 too.
      chmodSync(entries[0]!.path, 0o644);
      writeFileSync(entries[0]!.path, 'alpha\r\nline tw0\r\n');
      const bad = await reg(r2, ['--json', 'export', 'raw_datasets/scans', '-o', join(dest, 'bad'), '--archive', 'tar']);
      expect(bad.code).toBe(6);
      expect((JSON.parse(bad.stdout) as { error: { code: string } }).error.code).toBe('export.corrupt-cache-object');
      expect(existsSync(entries[0]!.path)).toBe(false);
      expect(existsSync(join(dest, 'bad')) ? readdirSync(join(dest, 'bad')) : []).toEqual([]);
    } finally {
      removeDir(r2);
      removeDir(dest);
    }
  });
});

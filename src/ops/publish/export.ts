import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../../context.js';
import { RegError, integrityError, isRegError, usageError, withPath } from '../../errors.js';
import { md5OfBuffer } from '../../data/hash.js';
import { mapLimit, tempName } from '../../fsutil.js';
import { PACKAGE_NAME, VERSION } from '../../package-info.js';
import { validateCard, parseCard } from '../../policy/cards.js';
import { checkEntryName, ruleNameOf } from '../../policy/naming.js';
import { publishingProblems } from '../../policy/publishing.js';
import { ARCHIVE_EXTENSIONS, PartsWriter, writeArchive, type ArchiveKind, type ArchiveMember } from '../../publish/archive.js';
import { checksumLines, releaseFromCard, renderCitation, renderDataPackage, renderLicense, renderReadme, type PackageResource, type ReleaseLayout } from '../../publish/release.js';
import { createTorrentFile } from '../../publish/torrent.js';
import { openRepo, type Repo } from '../../repo.js';
import { contentMismatchError } from '../../store/backend.js';
import { readCacheFile } from '../../store/cache.js';
import { HashingTap } from '../../store/hashing-tap.js';
import { quarantineCorrupt } from '../remote/output-objects.js';
import { ObjectFacts, type RemoteAccessOptions } from '../history/manifests.js';
import { PointerReader } from '../history/pointers.js';
import { cardAt, entryVersion, type EntryVersion } from './entry-version.js';
import { outputTree, type SafeFs } from '../../workspace/safe-fs.js';
import { cacheVersionObjects, versionFiles, type PublishedFile } from './version-files.js';

/**
 * `reg export`: one committed version of an entry as a self-describing release directory,
 * `<out>/<name>-<version>/`, that can be published anywhere (a paper's data page, Zenodo,
 * Academic Torrents, a web server):
 *
 *   data/... or <name>-<version>.tar[.gz|.zip][.part-NNN]   the files, or archives of them
 *   MD5SUMS, SHA256SUMS     checksums for md5sum -c / sha256sum -c
 *   README.md               the card, plus what the release holds and how to check and unpack it
 *   LICENSE                 the full text of the card's SPDX licence
 *   CITATION.cff            Citation File Format 1.2.0
 *   datapackage.json        Frictionless Data Package: every payload file with size and SHA-256
 *   <name>-<version>.torrent  with --torrent
 *
 * Objects are read from the cache (missing ones are fetched first, verified); the work tree is
 * never read. Every byte is read once: each object's md5 is checked and SHA-256 computed while
 * the files are copied or archived (a corrupt object stops the export, exit 6, and is moved to
 * the cache's quarantine), and MD5SUMS uses the md5s the registry already knows. The release is built in a temp
 * directory beside its final place and renamed into place at the end, so an interrupted or
 * failed export leaves nothing half-written. Every path is written through the output gateway:
 * nothing lands outside `<out>` whatever names the manifest holds.
 */
export type ExportArchive = 'none' | ArchiveKind;
export const EXPORT_ARCHIVES: readonly ExportArchive[] = ['none', 'tar', 'tar.gz', 'zip'];

export interface ExportOptions extends RemoteAccessOptions {
  /** The entry to publish (its data path or `.dvc` file). */
  entry: string;
  /** The revision (default HEAD). */
  rev?: string;
  /** Directory the release directory is created in. */
  output: string;
  /** `none` (default): the files under data/; else one archive of them. */
  archive?: ExportArchive;
  /** Cut the archive into parts of at most this many bytes. */
  split?: number;
  torrent?: boolean;
  /** BitTorrent web seed: a URL the release directory is served under (BEP 19). */
  webSeed?: string;
  /** Publish file names as they are (skip the lowercase-hyphen rule for files). */
  keepNames?: boolean;
  /** The release name (default: the entry's name). */
  name?: string;
  /** Replace an existing release directory. */
  force?: boolean;
}

export interface ExportedFile {
  /** Path inside the release directory. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ExportResult {
  /** Absolute path of the release directory. */
  bundle: string;
  name: string;
  version: string;
  entry: string;
  rev: string | null;
  commit: string;
  oid: string;
  archive: ExportArchive;
  /** Data files and their total size. */
  files: number;
  bytes: number;
  /** Every file of the release directory (payload first, then the metadata files). */
  published: ExportedFile[];
  torrent?: string;
  /** Objects downloaded from the remote because the cache lacked them. */
  fetched: number;
  /** True when an existing release directory was replaced (--force). */
  replaced: boolean;
}

const DATA_DIR = 'data';
/** Files up to this size are copied through memory. */
const SMALL = 1 << 20;
const COPY_JOBS = 8;
export const MIN_SPLIT = 1 << 20;

export async function exportEntry(ctx: Context, options: ExportOptions): Promise<ExportResult> {
  const archive = options.archive ?? 'none';
  if (!EXPORT_ARCHIVES.includes(archive)) throw usageError('export.bad-archive', `--archive must be one of ${EXPORT_ARCHIVES.join(', ')}, got ${JSON.stringify(archive)}`);
  if (options.split !== undefined && archive === 'none') throw usageError('export.split-without-archive', '--split cuts an archive into parts', { hint: 'add --archive tar (or tar.gz, zip)' });
  if (options.split !== undefined && (!Number.isSafeInteger(options.split) || options.split < MIN_SPLIT)) throw usageError('export.bad-split', `--split must be at least 1 MiB, got ${options.split} bytes`, { hint: 'e.g. --split 4GiB' });
  if (options.webSeed !== undefined && !options.torrent) throw usageError('export.web-seed-without-torrent', '--web-seed is part of the .torrent file', { hint: 'add --torrent' });
  if (options.webSeed !== undefined && !/^https?:\/\/[^\s]+$/i.test(options.webSeed)) throw usageError('export.bad-web-seed', `--web-seed must be an http(s) URL, got ${JSON.stringify(options.webSeed)}`);

  const repo = openRepo(ctx);
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    const version = await entryVersion(repo, ctx, reader, options.entry, options.rev);
    const card = await cardAt(repo, reader, version);
    const files = await versionFiles(facts, version);
    const o = version.output;
    const name = options.name ?? ruleNameOf(version.entryName, !o.isDir);
    const dataPath = (f: PublishedFile) => (archive === 'none' ? `${DATA_DIR}/${f.relpath}` : o.isDir ? `${name}/${f.relpath}` : f.relpath);
    refuseUnpublishable(version, card, name, files, options.keepNames);
    if (archive === 'zip') refuseZipNames(o.dataRel, files);

    const bundleName = `${name}-${version.label}`;
    const outAbs = resolve(ctx.cwd, options.output);
    const { fs, prefix } = outputTree(repo, outAbs);
    const bundleRel = prefix + bundleName;
    const existing = fs.existing(bundleRel);
    const exists = existing !== undefined && lstatSync(existing, { throwIfNoEntry: false }) !== undefined;
    if (exists && !options.force) {
      throw new RegError('export.exists', 'conflict', `${existing} already exists`, { hint: 'export to another directory (-o), or replace it with --force' });
    }

    const { sizes, fetched } = await cacheVersionObjects(repo, ctx, facts, version, files);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    const release = releaseFromCard(card.text!, { name, version: version.label, entry: o.dataRel, card: card.rel, commit: version.commit, date: version.date, oid: o.out.md5!, files: files.length, bytes }, version.author);

    const tmpRel = `${prefix}${tempName()}`;
    fs.ensureDir(tmpRel);
    try {
      ctx.progress({ type: 'start', phase: 'export', label: `writing ${bundleName}`, total: files.length, totalBytes: bytes });
      let payload: { published: ExportedFile[]; md5s: Array<{ path: string; hash: string }>; resources: PackageResource[]; layout: ReleaseLayout };
      try {
        const job: Job = { repo, ctx, fs, tmpRel, version, files, sizes, dataPath };
        payload = archive === 'none' ? await copyFiles(job) : await archiveFiles(job, archive, bundleName, options.split);
      } catch (err) {
        throw corruptObjectError(repo, version, files, err) ?? err;
      } finally {
        ctx.progress({ type: 'end', phase: 'export' });
      }
      const published = [...payload.published];
      const writeText = (path: string, text: string) => {
        const buf = Buffer.from(text, 'utf8');
        writeFileSync(fs.prepareWrite(`${tmpRel}/${path}`), buf, { flag: 'wx', mode: 0o644 });
        published.push({ path, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') });
      };
      const torrentName = options.torrent ? `${bundleName}.torrent` : undefined;
      const layout: ReleaseLayout = { ...payload.layout, ...(torrentName ? { torrent: torrentName } : {}) };
      writeText('README.md', renderReadme(release, layout));
      writeText('LICENSE', renderLicense(release));
      writeText('CITATION.cff', renderCitation(release));
      writeText('datapackage.json', renderDataPackage(release, payload.resources));
      writeText('MD5SUMS', checksumLines(payload.md5s));
      writeText('SHA256SUMS', checksumLines(published.map((p) => ({ path: p.path, hash: p.sha256 }))));
      if (torrentName) {
        const sorted = [...published].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        const torrent = await createTorrentFile(sorted.map((p) => ({ path: p.path, abs: fs.abs(`${tmpRel}/${p.path}`) })), {
          name: bundleName,
          creationDate: new Date(version.date),
          createdBy: `${PACKAGE_NAME} ${VERSION}`,
          ...(options.webSeed ? { webSeed: options.webSeed } : {}),
          comment: `${release.title} ${version.label}`,
        });
        writeFileSync(fs.prepareWrite(`${tmpRel}/${torrentName}`), torrent, { flag: 'wx', mode: 0o644 });
      }
      ctx.signal?.throwIfAborted();
      // Into place: an existing release is moved aside first and removed once the new one is there.
      const final = fs.prepareWrite(bundleRel);
      let aside: string | undefined;
      if (exists) {
        aside = `${prefix}${tempName()}`;
        renameSync(final, fs.prepareWrite(aside));
      }
      renameSync(fs.abs(tmpRel), final);
      fs.forget(tmpRel);
      if (aside) fs.removeTree(aside);
      return {
        bundle: final,
        name,
        version: version.label,
        entry: o.dataRel,
        rev: version.rev ?? null,
        commit: version.commit,
        oid: o.out.md5!,
        archive,
        files: files.length,
        bytes,
        published,
        ...(torrentName ? { torrent: torrentName } : {}),
        fetched,
        replaced: exists,
      };
    } catch (err) {
      fs.removeTree(tmpRel);
      // Stream and descriptor writes carry no path: name the release being written.
      throw withPath(err, join(outAbs, bundleName));
    }
  } finally {
    reader.close();
    facts.close();
  }
}

/**
 * Zip tools on Windows (and the zip library itself) read a backslash as a directory separator, so
 * a POSIX name like `..\\..\\x` would climb out of the folder a recipient unpacks into.
 */
function refuseZipNames(entry: string, files: readonly PublishedFile[]): void {
  const bad = files.find((f) => f.relpath.includes('\\'));
  if (bad) {
    throw new RegError('export.zip-unsafe-name', 'config', `${entry}: the file name ${JSON.stringify(bad.relpath)} holds a backslash, which zip archives read as a directory separator`, {
      hint: 'publish it with --archive tar (or tar.gz, or none), or rename the file in the entry and reg add it again',
    });
  }
}

/** The registry's rules and the publishing rules, all problems at once (exit 5). */
function refuseUnpublishable(version: EntryVersion, card: { rel: string; text?: string }, name: string, files: readonly PublishedFile[], keepNames?: boolean): void {
  const problems: Array<{ message: string; fix: string }> = [];
  const o = version.output;
  const at = version.rev ?? version.commit.slice(0, 10);
  if (card.text === undefined) {
    problems.push({ message: `${card.rel} does not exist at ${at}: a release is described by the entry's card`, fix: `write the card (reg new creates one from the area's template) with a licence in its front matter, commit it, and export again` });
  } else {
    for (const p of validateCard(card.text, version.entryName, version.area?.rules.requiredFields ?? [])) {
      problems.push({ message: `${card.rel}${'line' in p && p.line ? `:${p.line}` : ''}: ${p.message}`, fix: 'fix the card (reg check lists the same problems), commit it, and export again' });
    }
  }
  if (version.area) {
    for (const p of checkEntryName(version.entryName, version.area.rules.naming, { isFile: !o.isDir })) {
      if (p.severity === 'error') problems.push({ message: `${o.dataRel}: ${p.message}`, fix: p.fix });
    }
  }
  const cardFields = card.text === undefined ? {} : parseCard(card.text).fields;
  for (const p of publishingProblems({ name, cardPath: card.rel, cardFields, files: files.map((f) => f.relpath), keepNames })) {
    // A missing card was reported above with its own fix.
    if (p.rule === 'license' && card.text === undefined) continue;
    problems.push(p);
  }
  if (problems.length === 0) return;
  throw new RegError('export.not-publishable', 'policy', `${o.dataRel} at ${at} cannot be published as it is:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`, {
    hint: problems.map((p) => p.fix).filter((f, i, all) => all.indexOf(f) === i).join('; '),
    details: problems,
  });
}

interface Job {
  repo: Repo;
  ctx: Context;
  fs: SafeFs;
  tmpRel: string;
  version: EntryVersion;
  files: readonly PublishedFile[];
  sizes: readonly number[];
  dataPath: (f: PublishedFile) => string;
}

/** Where the object is, and whether its bytes hash by DVC 2's md5-dos2unix rule (a legacy object in the legacy layout). */
function locateObject(repo: Repo, f: PublishedFile, legacy: boolean): { path: string; legacyHash: boolean } {
  const path = repo.cache.locate(f.md5, legacy);
  if (path === undefined) throw new RegError('cache.missing-object', 'failed', `object ${f.md5} of ${f.relpath} vanished from the cache during the export`, { hint: 'retry the export (and do not run reg gc at the same time)' });
  return { path, legacyHash: legacy && path === repo.cache.objectPath(f.md5, true) };
}

/** Where verify-on-read failures say the bytes were going. */
const RELEASE = 'the release';
/** Objects are read in chunks this big (and the archive written in chunks about as big). */
const READ_CHUNK = 1 << 20;

/**
 * A cache object's bytes, checked against its md5 in the same read pass that copies or archives
 * them: the last chunk is held back until the digest is known, so a mismatch fails the stream
 * (store.content-mismatch) before its consumer sees the whole body. `plainMd5` is the md5 of
 * the bytes once the stream has ended (what MD5SUMS lists; for DVC 2 text objects it differs
 * from their oid).
 */
function readVerified(repo: Repo, f: PublishedFile, legacy: boolean, size: number): HashingTap {
  const { path, legacyHash } = locateObject(repo, f, legacy);
  const tap = new HashingTap({ legacy: legacyHash, plain: true, expect: { md5: f.md5, key: f.md5, where: RELEASE }, limit: { maxBytes: size } });
  const source = createReadStream(path, { highWaterMark: READ_CHUNK });
  source.on('error', (err) => tap.destroy(err));
  return source.pipe(tap);
}

/** A verify-on-read mismatch as the export's own error (exit 6): names the file, quarantines the object. */
function corruptObjectError(repo: Repo, version: EntryVersion, files: readonly PublishedFile[], err: unknown): RegError | undefined {
  if (!isRegError(err) || err.code !== 'store.content-mismatch') return undefined;
  const { key, actual } = err.details as { key: string; actual: string };
  const file = files.find((f) => f.md5 === key);
  if (file === undefined) return undefined;
  const legacy = version.output.legacy;
  const q = quarantineCorrupt(repo, { oid: file.md5, legacy }, actual, 'export.corrupt-cache-object');
  return integrityError(q.code, `${version.output.dataRel}: ${file.relpath} (object ${file.md5}) is ${q.message}; nothing was published`, {
    hint: 'export again: the object is then fetched from the remote and verified (or run reg verify --repair where a good copy exists)',
    details: { ...(q.details as object), path: file.relpath },
  });
}

/**
 * `--archive none`: each object copied to `data/<relpath>`, read once: SHA-256 (and, for DVC 2
 * text objects whose md5 is not the md5 of their bytes, MD5) computed on the way.
 */
async function copyFiles(job: Job): Promise<{ published: ExportedFile[]; md5s: Array<{ path: string; hash: string }>; resources: PackageResource[]; layout: ReleaseLayout }> {
  const { repo, ctx, fs, tmpRel, version, files } = job;
  const legacy = version.output.legacy;
  const results = await mapLimit(files, COPY_JOBS, async (f, i) => {
    ctx.signal?.throwIfAborted();
    const path = job.dataPath(f);
    const dest = fs.prepareWrite(`${tmpRel}/${path}`);
    const sha = createHash('sha256');
    let md5: string;
    if (job.sizes[i]! <= SMALL) {
      const { path: src, legacyHash } = locateObject(repo, f, legacy);
      const bytes = readCacheFile(src, job.sizes[i]!);
      const actual = md5OfBuffer(bytes, legacyHash);
      if (actual !== f.md5) throw contentMismatchError(f.md5, RELEASE, f.md5, actual);
      sha.update(bytes);
      md5 = legacyHash ? md5OfBuffer(bytes) : f.md5;
      writeFileSync(dest, bytes, { flag: 'wx', mode: 0o644 });
      ctx.progress({ type: 'advance', phase: 'export', bytes: job.sizes[i]!, done: 1 });
    } else {
      const verified = readVerified(repo, f, legacy, job.sizes[i]!);
      const shaTap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sha.update(chunk);
          ctx.progress({ type: 'advance', phase: 'export', bytes: chunk.length });
          cb(null, chunk);
        },
      });
      await pipeline(verified, shaTap, createWriteStream(dest, { flags: 'wx', mode: 0o644 }), { signal: ctx.signal });
      md5 = verified.plainMd5!;
      ctx.progress({ type: 'advance', phase: 'export', done: 1 });
    }
    return { path, bytes: job.sizes[i]!, sha256: sha.digest('hex'), md5 };
  });
  return {
    published: results.map(({ path, bytes, sha256 }) => ({ path, bytes, sha256 })),
    md5s: results.map((r) => ({ path: r.path, hash: r.md5 })),
    resources: results.map((r) => ({ path: r.path, bytes: r.bytes, sha256: r.sha256, ...formatOf(r.path) })),
    layout: { archive: 'none', payload: results.map((r) => r.path), dataDir: DATA_DIR },
  };
}

function formatOf(path: string): { format?: string } {
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1];
  return ext ? { format: ext.toLowerCase() } : {};
}

/**
 * `--archive tar|tar.gz|zip`: one streamed archive of the files (members under `<name>/`),
 * hashed with SHA-256 as it is written, optionally cut into parts. MD5SUMS lists the members
 * as they land when unpacked, with the md5s the registry knows.
 */
async function archiveFiles(job: Job, kind: ArchiveKind, bundleName: string, split: number | undefined): Promise<{ published: ExportedFile[]; md5s: Array<{ path: string; hash: string }>; resources: PackageResource[]; layout: ReleaseLayout }> {
  const { repo, ctx, fs, tmpRel, version, files } = job;
  const legacy = version.output.legacy;
  const archiveName = `${bundleName}${ARCHIVE_EXTENSIONS[kind]}`;
  const md5s: Array<{ path: string; hash: string }> = files.map((f) => ({ path: job.dataPath(f), hash: f.md5 }));
  const members: ArchiveMember[] = files.map((f, i) => ({
    path: job.dataPath(f),
    size: job.sizes[i]!,
    open: () => {
      const stream = readVerified(repo, f, legacy, job.sizes[i]!);
      stream.on('end', () => {
        // DVC 2 text objects: their md5 is not the md5 of their bytes, which the tap computed too.
        md5s[i]!.hash = stream.plainMd5!;
        ctx.progress({ type: 'advance', phase: 'export', bytes: job.sizes[i]!, done: 1 });
      });
      return stream;
    },
  }));
  // Part numbers are zero-padded wide enough that `cat NAME.part-*` joins them in order (the
  // estimate bounds the archive from above: data, a header block per file, slack).
  const estimate = job.sizes.reduce((a, b) => a + b, 0) + files.length * 1536 + (1 << 20);
  const digits = split === undefined ? 0 : Math.max(3, String(Math.ceil(estimate / split)).length);
  const writer = new PartsWriter(split, (index) => {
    const rel = index < 0 ? archiveName : `${archiveName}.part-${String(index).padStart(digits, '0')}`;
    return { abs: fs.prepareWrite(`${tmpRel}/${rel}`), rel };
  });
  await writeArchive(kind, members, new Date(version.date), writer, ctx.signal);
  const published = writer.parts.map((p) => ({ path: p.path, bytes: p.bytes, sha256: p.sha256 }));
  const format = kind === 'tar.gz' ? 'tar.gz' : kind;
  const resources: PackageResource[] = [{ path: split === undefined ? archiveName : published.map((p) => p.path), bytes: writer.bytes, sha256: writer.wholeSha256!, format }];
  return {
    published,
    md5s,
    resources,
    layout: { archive: kind, payload: published.map((p) => p.path), ...(split !== undefined ? { joined: archiveName } : {}), dataDir: version.output.isDir ? job.dataPath({ relpath: '', md5: '' }).replace(/\/$/, '') : '.' },
  };
}

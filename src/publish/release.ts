import { stringify } from 'yaml';
import { CARD_HEADER_PREFIX, isFilled, parseCard } from '../policy/cards.js';
import { cardLicense } from '../policy/publishing.js';
import { licenseIdsOf, spdxLicense } from './licenses.js';

/**
 * What a published release says about itself, rendered from the entry's card and its version:
 * README.md, LICENSE, CITATION.cff (Citation File Format 1.2.0) and datapackage.json
 * (Frictionless Data Package). Pure: the texts depend on the card, the commit and the files
 * only, so two exports of one version are byte-identical.
 */
export interface ReleaseAuthor {
  /** A person (CFF given-names / family-names) or, with `name`, an organisation or a name as written. */
  'given-names'?: string;
  'family-names'?: string;
  'name-particle'?: string;
  name?: string;
  email?: string;
  orcid?: string;
  affiliation?: string;
}

export interface ReleaseInfo {
  /** Release name (`ocr-pages`) and version label (`v2`); the bundle is `<name>-<version>`. */
  name: string;
  version: string;
  /** Repo-relative path of the entry and of its card. */
  entry: string;
  card: string;
  commit: string;
  /** Committer date, ISO 8601. */
  date: string;
  /** The entry's content id (DVC md5, `.dir` for directories). */
  oid: string;
  title: string;
  description?: string;
  authors: ReleaseAuthor[];
  keywords: string[];
  doi?: string;
  url?: string;
  license: { expression: string; ids: string[]; unknown: string[] };
  /** The card's Markdown below its front matter, header line replaced by the title. */
  body: string;
  files: number;
  bytes: number;
}

export interface ReleaseLayout {
  archive: 'none' | 'tar' | 'tar.gz' | 'zip';
  /** Payload files of the bundle (data files, or the archive or its parts), bundle-relative. */
  payload: string[];
  /** The archive's name when it was split into parts (join them with cat). */
  joined?: string;
  /** Where the data lands when the archive is extracted (`ocr-pages/`), or the data directory. */
  dataDir: string;
  torrent?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && isFilled(v) ? v.trim() : typeof v === 'number' ? String(v) : undefined);

/** The card's front matter and body, turned into release metadata (the caller adds the version facts). */
export function releaseFromCard(cardText: string, base: Omit<ReleaseInfo, 'title' | 'description' | 'authors' | 'keywords' | 'doi' | 'url' | 'license' | 'body'>, fallbackAuthor: string): ReleaseInfo {
  const card = parseCard(cardText);
  const f = card.fields;
  const lines = cardText.replace(/^\uFEFF/, '').split(/\r?\n/);
  // The body: everything after the front matter, with the "# Card: x" header as the title.
  let start = 0;
  if (card.hasFrontMatter) {
    const end = lines.findIndex((l, k) => k > 0 && (l.trimEnd() === '---' || l.trimEnd() === '...'));
    start = end + 1;
  }
  const title = str(f.title) ?? base.name;
  const bodyLines = lines.slice(start);
  const header = card.headerLine !== undefined ? card.headerLine - 1 - start : -1;
  if (header >= 0 && bodyLines[header]!.startsWith(CARD_HEADER_PREFIX.trimEnd())) bodyLines[header] = `# ${title}`;
  else bodyLines.unshift(`# ${title}`, '');
  const authors = authorsOf(f);
  return {
    ...base,
    title,
    ...(str(f.description) ?? str(f.abstract) ? { description: (str(f.description) ?? str(f.abstract))! } : {}),
    authors: authors.length > 0 ? authors : [{ name: fallbackAuthor || 'unknown' }],
    keywords: listOf(f.keywords ?? f.tags),
    ...(str(f.doi) ? { doi: str(f.doi)!.replace(/^https?:\/\/(dx\.)?doi\.org\//i, '') } : {}),
    ...(str(f.url) ?? str(f.homepage) ? { url: (str(f.url) ?? str(f.homepage))! } : {}),
    license: licenseIdsOf(cardLicense(f)),
    body: bodyLines.join('\n').replace(/\s+$/, '') + '\n',
  };
}

function listOf(v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v)) return [...new Set(v.map((x) => str(x)).filter((x): x is string => x !== undefined))];
  return [];
}

const PERSON_KEYS = ['given-names', 'family-names', 'name-particle', 'email', 'orcid', 'affiliation'] as const;
const EMAIL = /^[\S]+@[\S]+\.[\S]{2,}$/;

/** Authors from `authors` / `author` / `creators` / `owner`: names as written, or CFF-style mappings. */
function authorsOf(f: Record<string, unknown>): ReleaseAuthor[] {
  const raw = f.authors ?? f.author ?? f.creators ?? f.owner;
  const items = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const out: ReleaseAuthor[] = [];
  for (const item of items) {
    if (typeof item === 'string') {
      for (const name of item.split(/\s*;\s*/)) if (isFilled(name)) out.push({ name: name.trim() });
      continue;
    }
    if (typeof item !== 'object' || item === null) continue;
    const m = item as Record<string, unknown>;
    const a: ReleaseAuthor = {};
    for (const k of PERSON_KEYS) if (str(m[k])) a[k] = str(m[k])!;
    if (a['given-names'] === undefined && a['family-names'] === undefined) {
      const name = str(m.name);
      if (name === undefined) continue;
      a.name = name;
      delete a.affiliation;
    }
    if (a.email !== undefined && !EMAIL.test(a.email)) delete a.email;
    if (a.orcid !== undefined) {
      const id = /([0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X])$/.exec(a.orcid)?.[1];
      if (id) a.orcid = `https://orcid.org/${id}`;
      else delete a.orcid;
    }
    out.push(a);
  }
  return out;
}

function authorName(a: ReleaseAuthor): string {
  return a.name ?? [a['given-names'], a['name-particle'], a['family-names']].filter(Boolean).join(' ');
}

/** CITATION.cff (CFF 1.2.0, type dataset). */
export function renderCitation(r: ReleaseInfo): string {
  const doc: Record<string, unknown> = {
    'cff-version': '1.2.0',
    message: 'If you use this dataset, please cite it using the metadata from this file.',
    type: 'dataset',
    title: r.title,
    version: r.version,
    'date-released': r.date.slice(0, 10),
    commit: r.commit,
    authors: r.authors,
  };
  if (r.license.ids.length === 1 && r.license.unknown.length === 0) doc.license = r.license.ids[0];
  else if (r.license.ids.length > 1 && r.license.unknown.length === 0 && !/\bAND\b/i.test(r.license.expression)) doc.license = r.license.ids;
  if (r.description) doc.abstract = r.description;
  if (r.keywords.length > 0) doc.keywords = r.keywords;
  if (r.doi) doc.doi = r.doi;
  if (r.url && /^(https|http|ftp|sftp):\/\/.+/.test(r.url)) doc.url = r.url;
  // Dates and versions stay strings (a YAML 1.1 reader would turn 2024-01-01 into a date).
  return stringify(doc, { defaultStringType: 'PLAIN', lineWidth: 0 }).replace(/^(date-released|version): (.*)$/gm, (_m, k: string, v: string) => `${k}: ${v.startsWith('"') ? v : JSON.stringify(v)}`);
}

/** One resource of the data package: a bundle file (data file, archive, or an archive split into parts). */
export interface PackageResource {
  path: string | string[];
  bytes: number;
  sha256: string;
  /** The resource's format (`tar`, `zip`, a file extension). */
  format?: string;
}

/** datapackage.json (Frictionless Data Package v1): the release and every payload file with its size and hash. */
export function renderDataPackage(r: ReleaseInfo, resources: readonly PackageResource[]): string {
  const names = new Set<string>();
  const resourceName = (path: string): string => {
    const base = path.toLowerCase().replace(/[^-a-z0-9._/]+/g, '-').replace(/^[-./]+/, '') || 'file';
    let name = base;
    for (let i = 2; names.has(name); i++) name = `${base}-${i}`;
    names.add(name);
    return name;
  };
  const licenses = r.license.ids.map((id) => {
    const l = spdxLicense(id);
    return { name: id, ...(l ? { path: l.url, title: l.name } : {}) };
  });
  const pkg: Record<string, unknown> = {
    profile: 'data-package',
    name: r.name,
    title: r.title,
    ...(r.description ? { description: r.description } : {}),
    version: r.version,
    created: r.date,
    ...(r.url ? { homepage: r.url } : {}),
    ...(r.keywords.length > 0 ? { keywords: r.keywords } : {}),
    ...(licenses.length > 0 ? { licenses } : {}),
    contributors: r.authors.map((a) => ({ title: authorName(a), role: 'author', ...(a.email ? { email: a.email } : {}) })),
    resources: resources.map((res) => ({
      name: resourceName(Array.isArray(res.path) ? res.path[0]!.replace(/\.part-\d+$/, '') : res.path),
      path: res.path,
      bytes: res.bytes,
      hash: `sha256:${res.sha256}`,
      ...(res.format ? { format: res.format } : {}),
    })),
  };
  return JSON.stringify(pkg, null, 2) + '\n';
}

/** LICENSE: the full SPDX text of each licence the card names, or its words when they are no SPDX id. */
export function renderLicense(r: ReleaseInfo): string {
  const texts = r.license.ids.map((id) => spdxLicense(id)).filter((l) => l !== undefined);
  const parts: string[] = [];
  if (texts.length > 1 || r.license.unknown.length > 0) parts.push(`This release is licensed under: ${r.license.expression}\n`);
  for (const l of texts) parts.push(texts.length > 1 ? `${'='.repeat(72)}\n${l.id}: ${l.name}\n${'='.repeat(72)}\n\n${l.text.trim()}\n` : `${l.text.trim()}\n`);
  if (r.license.unknown.length > 0) parts.push(`Not SPDX licence ids (see the dataset card for their terms): ${r.license.unknown.join(', ')}\n`);
  return parts.join('\n');
}

function formatSize(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]} (${n} bytes)`;
}

/** README.md: the card, then what this release holds and how to check and unpack it. */
export function renderReadme(r: ReleaseInfo, layout: ReleaseLayout): string {
  const bundle = `${r.name}-${r.version}`;
  const lines = [r.body.trimEnd(), '', '## This release', '', '| | |', '|---|---|'];
  lines.push(`| Release | ${bundle} |`);
  lines.push(`| Source | \`${r.entry}\` at commit ${r.commit.slice(0, 12)} (${r.date.slice(0, 10)}) |`);
  lines.push(`| Content id | \`${r.oid}\` |`);
  lines.push(`| Files | ${r.files} (${formatSize(r.bytes)}) |`);
  lines.push(`| Licence | ${r.license.expression} (full text in LICENSE) |`);
  lines.push(`| Cite as | CITATION.cff |`);
  lines.push('', '## Checking and unpacking', '');
  if (layout.archive === 'none') {
    lines.push(`The data is in \`${layout.dataDir}/\`. In this directory, check every file against the checksums:`, '', '```sh', 'sha256sum -c SHA256SUMS', 'md5sum -c MD5SUMS', '```');
  } else {
    const archive = layout.joined ?? layout.payload[0]!;
    const extract = layout.archive === 'zip' ? `unzip ${archive}` : layout.archive === 'tar.gz' ? `tar -xzf ${archive}` : `tar -xf ${archive}`;
    lines.push('In this directory, check the downloaded files:', '', '```sh', 'sha256sum -c SHA256SUMS', '```', '');
    if (layout.joined) {
      lines.push(`The archive is split into ${layout.payload.length} parts (plain byte splits). Join them in order, then unpack:`, '', '```sh', `cat ${layout.joined}.part-* > ${layout.joined}`, extract, '```');
    } else lines.push('Unpack it:', '', '```sh', extract, '```');
    lines.push('', `The files land in \`${layout.dataDir}/\`. MD5SUMS lists them with the content hashes the registry knows them by; after unpacking, check them with:`, '', '```sh', 'md5sum -c MD5SUMS', '```');
  }
  if (layout.torrent) lines.push('', `\`${layout.torrent}\` is a BitTorrent file for the whole release (every file of this directory but itself).`);
  lines.push('', `datapackage.json describes the release as a [Frictionless Data Package](https://specs.frictionlessdata.io/data-package/).`, '');
  return lines.join('\n');
}

/**
 * Lines of an MD5SUMS / SHA256SUMS file in the format `md5sum -c` reads: `<hex>  <path>`; a
 * path holding a backslash or a line break is escaped and its line starts with a backslash,
 * as GNU coreutils does.
 */
export function checksumLines(entries: ReadonlyArray<{ path: string; hash: string }>): string {
  return entries
    .map(({ path, hash }) => {
      if (!/[\\\n\r]/.test(path)) return `${hash}  ${path}\n`;
      return `\\${hash}  ${path.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}\n`;
    })
    .join('');
}

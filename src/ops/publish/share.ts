import { lstatSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context } from '../../context.js';
import { hashFile } from '../../data/hash.js';
import { RegError, usageError } from '../../errors.js';
import { mapLimit } from '../../fsutil.js';
import { openRepo } from '../../repo.js';
import { refKey } from '../../store/object-store.js';
import { ObjectFacts, type RemoteAccessOptions } from '../history/manifests.js';
import { PointerReader } from '../history/pointers.js';
import { redact } from '../remote/remote-config.js';
import { entryVersion } from './entry-version.js';
import { outputTree } from '../../workspace/safe-fs.js';
import { cacheVersionObjects, versionFiles } from './version-files.js';

/**
 * `reg share`: time-limited links to every file of one committed version on an S3 remote, for a
 * collaborator without bucket access and without reg. Writes `links.tsv` (path, md5, bytes,
 * presigned GET URL) and `download.sh`, a POSIX shell script that fetches each link with curl
 * into its relative path, checks its md5 and stops with an error on the first mismatch. URLs are
 * signed locally with SigV4 (the AWS SDK's presigner, custom endpoints included); no secret is
 * written: a URL carries the access key id and a signature (and, with temporary credentials, the
 * session token it needs to work).
 */
export interface ShareOptions extends RemoteAccessOptions {
  entry: string;
  rev?: string;
  /** Link lifetime in seconds (default and maximum: 7 days, what SigV4 allows). */
  expiresIn?: number;
  /** Directory links.tsv and download.sh are written to. */
  output: string;
  /** Replace an existing links.tsv / download.sh. */
  force?: boolean;
}

export interface ShareResult {
  /** Absolute path of the output directory. */
  dir: string;
  entry: string;
  rev: string | null;
  commit: string;
  oid: string;
  remote: string;
  files: number;
  bytes: number;
  expiresIn: number;
  /** When the links stop working (ISO 8601), at the latest. */
  expiresAt: string;
  links: string;
  script: string;
  warnings: string[];
}

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;
const LINKS = 'links.tsv';
const SCRIPT = 'download.sh';

export async function share(ctx: Context, options: ShareOptions): Promise<ShareResult> {
  const expiresIn = options.expiresIn ?? MAX_EXPIRY_SECONDS;
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1) throw usageError('share.bad-expiry', `--expires must be a positive duration, got ${options.expiresIn}`, { hint: 'e.g. --expires 7d, 12h or 30m' });
  if (expiresIn > MAX_EXPIRY_SECONDS) {
    throw usageError('share.expiry-too-long', `--expires ${describeDuration(expiresIn)} is longer than presigned S3 links can live (7 days, the SigV4 limit)`, {
      hint: 'use --expires 7d or less, and share again when the links expire (or publish a release: reg export)',
    });
  }
  const repo = openRepo(ctx);
  const reader = new PointerReader(repo);
  const facts = new ObjectFacts(repo, ctx, options);
  try {
    const version = await entryVersion(repo, ctx, reader, options.entry, options.rev);
    const o = version.output;
    const remoteName = facts.remoteNameFor(o.out.remote);
    const remote = facts.remote(remoteName);
    const where = redact(remote.store.description, remote.secrets);
    if (remote.readOnly !== undefined && remote.presignGet) {
      throw usageError('share.anonymous-remote', `remote "${remote.name}" (${where}) is read anonymously: its objects are public, there is nothing to sign`, { hint: 'give collaborators the bucket URL, or share from a remote with credentials' });
    }
    if (!remote.presignGet) {
      throw usageError('share.not-s3', `remote "${remote.name}" (${where}) is not an S3 remote: presigned links need S3`, {
        hint: 'share from an S3 remote (reg share -r NAME), or publish a release directory with reg export and put it on a web server',
      });
    }
    const files = await versionFiles(facts, version);
    const unsafe = files.find((f) => /[\x00-\x1f\x7f]/.test(f.relpath));
    if (unsafe) {
      throw new RegError('share.unsafe-name', 'config', `${o.dataRel}: the file name ${JSON.stringify(unsafe.relpath)} holds a control character (tab, line break, ...) that links.tsv and the download script cannot carry`, { hint: 'rename the file in the entry and reg add it again' });
    }
    const refs = files.map((f) => ({ oid: f.md5, legacy: o.legacy }));
    const present = await remote.store.present(refs, { jobs: remote.jobs, signal: ctx.signal });
    const missing = files.filter((f, i) => !present.has(refKey(refs[i]!)));
    if (missing.length > 0) {
      throw new RegError('share.not-on-remote', 'transfer', `${missing.length} of ${files.length} files of ${o.dataRel} at ${version.rev ?? version.commit.slice(0, 10)} are not on ${remote.name} (${where}), e.g. ${missing.slice(0, 3).map((f) => f.relpath).join(', ')}`, {
        hint: `push them first: reg push ${o.dataRel} -r ${remote.name} (from a clone that has this version)`,
      });
    }
    // DVC 2 text objects are named by the md5 of their dos2unix bytes: the script must check the md5 of the bytes served.
    let md5s = files.map((f) => f.md5);
    if (o.legacy) {
      await cacheVersionObjects(repo, ctx, facts, version, files);
      md5s = await mapLimit(files, 8, async (f) => (await hashFile(repo.cache.locate(f.md5, true)!, false)).md5);
    }
    const sizes = refs.map((r) => present.get(refKey(r))?.size ?? 0);
    const signedAt = Date.now();
    const urls = await mapLimit(refs, 32, (r) => remote.presignGet!(refKey(r), expiresIn));
    const rows = files.map((f, i) => `${f.relpath}\t${md5s[i]}\t${sizes[i]}\t${urls[i]}`);

    const outAbs = resolve(ctx.cwd, options.output);
    const { fs, prefix } = outputTree(repo, outAbs);
    if (!options.force) {
      const taken = [LINKS, SCRIPT].map((n) => fs.existing(prefix + n)).filter((p) => p !== undefined && lstatSync(p, { throwIfNoEntry: false }) !== undefined);
      if (taken.length > 0) throw new RegError('share.exists', 'conflict', `${taken.join(' and ')} already exist${taken.length === 1 ? 's' : ''}`, { hint: 'write to another directory (-o), or replace them with --force' });
    }
    const bytes = sizes.reduce((a, b) => a + b, 0);
    const expiresAt = new Date(signedAt + expiresIn * 1000).toISOString();
    fs.writeFile(prefix + LINKS, ['path\tmd5\tbytes\turl', ...rows].join('\n') + '\n', 0o644);
    try {
      fs.writeFile(prefix + SCRIPT, downloadScript({ entry: o.dataRel, at: version.rev ?? version.commit.slice(0, 10), files: files.length, bytes, expiresAt }), 0o755);
    } catch (err) {
      // A links.tsv without its script is no share, and would make the re-run refuse ("already exists").
      fs.remove(prefix + LINKS);
      throw err;
    }
    const warnings: string[] = [];
    if (urls.some((u) => /[?&]X-Amz-Security-Token=/i.test(u))) {
      warnings.push('the links were signed with temporary credentials: they stop working when those credentials expire, which may be before --expires');
    }
    return {
      dir: outAbs,
      entry: o.dataRel,
      rev: version.rev ?? null,
      commit: version.commit,
      oid: o.out.md5!,
      remote: remote.name,
      files: files.length,
      bytes,
      expiresIn,
      expiresAt,
      links: fs.abs(prefix + LINKS),
      script: fs.abs(prefix + SCRIPT),
      warnings,
    };
  } finally {
    reader.close();
    facts.close();
  }
}

function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds}s`;
}

/** The POSIX sh script that downloads links.tsv into relative paths and checks every md5. */
function downloadScript(info: { entry: string; at: string; files: number; bytes: number; expiresAt: string }): string {
  const comment = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
  return `#!/bin/sh
# Downloads ${comment(info.entry)} at ${comment(info.at)} (${info.files} files, ${info.bytes} bytes) from the
# presigned links in links.tsv, valid until ${info.expiresAt}. Written by reg share.
#
# Usage: sh download.sh [DIRECTORY]     (default: the current directory)
# Needs curl, and md5sum (or md5 on macOS). Every file is checked against its md5 before it is
# moved into place; the first failure stops the script with an error and a non-zero exit code.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
links="$here/${LINKS}"
dest=\${1:-.}
tab=$(printf '\\t')

fail() {
  printf 'download.sh: error: %s\\n' "$*" >&2
  exit 1
}

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then
    md5sum < "$1" | cut -d ' ' -f 1
  else
    md5 -q "$1"
  fi
}

command -v curl >/dev/null 2>&1 || fail "curl is not installed"
[ -f "$links" ] || fail "$links is missing: keep download.sh next to ${LINKS}"

count=0
{
  read -r header || fail "$links is empty"
  while IFS="$tab" read -r path md5 size url; do
    case "/$path/" in
      //|*/../*|*/./*) fail "refusing the unsafe path '$path' in ${LINKS}" ;;
    esac
    case "$path" in
      /*) fail "refusing the absolute path '$path' in ${LINKS}" ;;
    esac
    target="$dest/$path"
    mkdir -p -- "$(dirname -- "$target")"
    tmp="$target.download.$$"
    if ! curl --fail --silent --show-error --location --retry 5 --retry-delay 2 --output "$tmp" "$url"; then
      rm -f -- "$tmp"
      fail "downloading $path failed (the links expire at ${info.expiresAt})"
    fi
    got=$(md5_of "$tmp")
    if [ "$got" != "$md5" ]; then
      rm -f -- "$tmp"
      fail "$path is corrupt: its md5 is $got, expected $md5"
    fi
    mv -f -- "$tmp" "$target"
    count=$((count + 1))
    printf 'ok %s (%s bytes)\\n' "$path" "$size"
  done
} < "$links"
printf 'downloaded and checked %s files into %s\\n' "$count" "$dest"
`;
}

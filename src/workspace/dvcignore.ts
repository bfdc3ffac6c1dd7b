import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ignoreFileLimit, readTextRefusingLinks, refuseNonRegularFile } from '../fsutil.js';

/**
 * `.dvcignore` as DVC applies it to a tracked directory (dvc-compat.md §8.3): gitignore syntax,
 * patterns relative to the directory holding the file, files at the repository root and in every
 * directory above the output merged root first, so a deeper file (or a later line) wins. A
 * `.dvcignore` inside the output itself is refused by the walk, as DVC refuses it.
 */
interface IgnoreFile {
  /** The output's path relative to the directory holding this `.dvcignore`, with a trailing '/'. */
  outputPrefix: string;
  rules: Ignore;
}

const HAS_RULE = /^[ \t]*[^#\s]/m;

/**
 * The rules of `<root>/<dirRel>/.dvcignore`, if it has any. A symlink there is refused, never
 * followed (a committed link to `/dev/zero` would be read forever, one to a file outside would
 * decide what is tracked); anything else that is not a regular file (a directory, a FIFO) holds no
 * rules and is not opened for reading.
 */
function readRules(root: string, dirRel: string): Ignore | undefined {
  const rel = dirRel === '' ? '.dvcignore' : `${dirRel}/.dvcignore`;
  const abs = join(root, rel);
  const text = readTextRefusingLinks(
    abs,
    refuseNonRegularFile('dvcignore.symlink', rel, 'reads .dvcignore rules through it', `replace it with a regular file (git rm --cached ${rel} if it was committed), then run the command again`, abs),
    ignoreFileLimit('dvcignore.too-large', rel, abs),
  );
  // `dvc init` writes a .dvcignore with comments only: nothing to match, nothing to slow the walk.
  return text !== undefined && HAS_RULE.test(text) ? ignore().add(text) : undefined;
}

/**
 * The `.dvcignore` rules for the files inside the output at `dataRel` (repository-relative, '/'
 * separators): a predicate over paths relative to the output ('/'-terminated for directories), or
 * undefined when no rule applies; and whether the output itself is ignored.
 */
export function dvcIgnoreFor(root: string, dataRel: string): { ignored?: (relpath: string) => boolean; outputIgnored: (isDir: boolean) => boolean } {
  const parts = dataRel.split('/');
  const files: IgnoreFile[] = [];
  for (let depth = 0; depth < parts.length; depth++) {
    const rules = readRules(root, parts.slice(0, depth).join('/'));
    if (rules) files.push({ outputPrefix: parts.slice(depth).join('/') + '/', rules });
  }
  if (files.length === 0) return { outputIgnored: () => false };
  const decide = (relFromOutput: (f: IgnoreFile) => string): boolean => {
    let ignored = false;
    for (const f of files) {
      const r = f.rules.test(relFromOutput(f));
      if (r.ignored) ignored = true;
      else if (r.unignored) ignored = false;
    }
    return ignored;
  };
  return {
    ignored: (relpath) => decide((f) => f.outputPrefix + relpath),
    outputIgnored: (isDir) => decide((f) => (isDir ? f.outputPrefix : f.outputPrefix.slice(0, -1))),
  };
}

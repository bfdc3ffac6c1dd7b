import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { errnoCode } from '../errors.js';

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

function readRules(dir: string): Ignore | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, '.dvcignore'), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
  // `dvc init` writes a .dvcignore with comments only: nothing to match, nothing to slow the walk.
  return HAS_RULE.test(text) ? ignore().add(text) : undefined;
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
    const rules = readRules(join(root, ...parts.slice(0, depth)));
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

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Everything below `root` as `relpath -> description` (mode, md5, link target; links never followed). */
export function snapshotTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(abs)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const name of readdirSync(abs).sort()) visit(join(abs, name), rel === '' ? name : `${rel}/${name}`);
    } else out[rel] = `file ${mode} ${createHash('md5').update(readFileSync(abs)).digest('hex')}`;
  };
  visit(root, '');
  return out;
}

// `reg export --archive tar` of the small-file tree (a release directory: the archive, MD5SUMS,
// SHA256SUMS, README ...) against `tar -cf` of the same tree followed by md5sum and sha256sum of
// the archive.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRegAdded } from '../lib/repos.mjs';

export const name = 'export';
export const description = '`reg export --archive tar` of the small-file tree (20k files) vs `tar -cf` + `md5sum` + `sha256sum` of the archive';
export const needs = ['tar, md5sum, sha256sum'];

function findFiles(dir, re) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, re));
    else if (re.test(e.name)) out.push(p);
  }
  return out;
}

export async function run(h) {
  const { cfg } = h;
  const small = h.datasets.small();
  const help = h.run(process.execPath, [h.regBin, '--help'], { allowFail: true });
  const haveExport = /^\s+export\b/m.test(help.stdout);
  if (!haveExport) h.note('reg has no `export` command yet: only the tar + md5sum + sha256sum reference is measured');
  else {
    ensureRegAdded(h, small);
    // export publishes a committed version described by a card with a licence
    writeFileSync(join(small.repo, `${small.data}.card.md`), `---\ntitle: bench tree\nlicense: CC-BY-4.0\n---\n# Card: ${small.data}\n\nGenerated files for the export benchmark.\n`);
    h.git(small.repo, ['add', '-A']);
    h.git(small.repo, ['commit', '-q', '--allow-empty', '-m', 'small tree for export']);
  }
  const outDir = join(h.scratch, 'export-out');
  const tarFile = join(h.scratch, 'export-ref.tar');
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    if (haveExport) {
      rmSync(outDir, { recursive: true, force: true });
      h.syncDisk();
      h.sample('export-tar-small', `reg export --archive tar (${cfg.smallFiles} files)`, h.reg(small.repo, ['-q', 'export', small.data, '-o', outDir, '--archive', 'tar', '--force']));
      const tars = existsSync(outDir) ? findFiles(outDir, /\.tar$/) : [];
      const sums = existsSync(outDir) ? findFiles(outDir, /^(MD5SUMS|SHA256SUMS)$/) : [];
      if (tars.length !== 1 || sums.length !== 2) throw new Error(`reg export wrote ${tars.length} .tar file(s) and ${sums.length} checksum file(s) under ${outDir}, expected 1 and 2`);
      if (statSync(tars[0]).size < h.results.datasets.small.bytes) throw new Error(`${tars[0]} is smaller than the tree it archives`);
    }
    rmSync(tarFile, { force: true });
    h.syncDisk();
    h.sample('tar-sums-small', `tar -cf + md5sum + sha256sum (${cfg.smallFiles} files)`,
      h.sh(`tar -cf ${JSON.stringify(tarFile)} -C ${JSON.stringify(small.repo)} ${JSON.stringify(small.data)} && md5sum ${JSON.stringify(tarFile)} >/dev/null && sha256sum ${JSON.stringify(tarFile)} >/dev/null`));
  }
  rmSync(outDir, { recursive: true, force: true });
  rmSync(tarFile, { force: true });
  h.compare('export-tar-small', 'tar-sums-small');
}

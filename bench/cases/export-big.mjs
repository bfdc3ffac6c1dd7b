// `reg export --archive tar` of the big file (1 GiB) committed as an entry with a card, against
// `tar -cf` of the same file followed by `sha256sum` of the archive (what reg's SHA256SUMS holds;
// MD5SUMS needs no hashing: the md5s are the ones the registry already knows).
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRegAdded } from '../lib/repos.mjs';

export const name = 'export-big';
export const description = '`reg export --archive tar` of the big file (1 GiB, a committed entry with a card) vs `tar -cf` + `sha256sum` of the archive';
export const needs = ['tar, sha256sum'];

const TARGET = 1.3;

export async function run(h) {
  const { cfg } = h;
  const big = h.datasets.big();
  const help = h.run(process.execPath, [h.regBin, '--help'], { allowFail: true });
  if (!/^\s+export\b/m.test(help.stdout)) {
    h.note('reg has no `export` command: export-big skipped');
    return;
  }
  ensureRegAdded(h, big);
  // export publishes a committed version described by a card with a licence
  writeFileSync(join(big.repo, `${big.data}.card.md`), `---\ntitle: bench big file\nlicense: CC-BY-4.0\n---\n# Card: ${big.data}\n\nOne generated file for the export benchmark.\n`);
  if (h.git(big.repo, ['check-ignore', '-q', big.data], { allowFail: true }).code !== 0) throw new Error(`${big.data} is not git-ignored after reg add: refusing to commit it to Git`);
  h.git(big.repo, ['add', '-A']);
  h.git(big.repo, ['commit', '-q', '--allow-empty', '-m', 'big file for export']);
  h.sh('cat big.bin > /dev/null', { cwd: big.repo });

  const outDir = join(h.scratch, 'export-big-out');
  const tarFile = join(h.scratch, 'export-big-ref.tar');
  const label = `${cfg.bigMB} MiB`;
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    rmSync(outDir, { recursive: true, force: true });
    h.syncDisk();
    h.sample('export-tar-big', `reg export --archive tar (${label})`, h.reg(big.repo, ['-q', 'export', big.data, '-o', outDir, '--archive', 'tar']));
    checkRelease(outDir, h.results.datasets.big.bytes);
    rmSync(outDir, { recursive: true, force: true });
    rmSync(tarFile, { force: true });
    h.syncDisk();
    h.sample('tar-sha256-big', `tar -cf + sha256sum of the archive (${label})`,
      h.sh(`tar -cf ${JSON.stringify(tarFile)} -C ${JSON.stringify(big.repo)} ${JSON.stringify(big.data)} && sha256sum ${JSON.stringify(tarFile)} >/dev/null`));
    rmSync(tarFile, { force: true });
  }
  const c = h.compare('export-tar-big', 'tar-sha256-big');
  if (c) {
    const ratio = c.roundRatioMedian ?? c.ratio;
    h.target(`export of a ${label} entry with --archive tar <= ${TARGET}x tar -cf + sha256sum`, ratio <= TARGET,
      `${ratio}x per round (${c.roundRatioMin}-${c.roundRatioMax}); medians ${c.median.toFixed(2)} s vs ${c.refMedian.toFixed(2)} s`);
  }
}

/** The release holds one .tar at least as big as the file, and SHA256SUMS names it. */
function checkRelease(outDir, bytes) {
  const bundles = existsSync(outDir) ? readdirSync(outDir) : [];
  if (bundles.length !== 1) throw new Error(`reg export wrote ${bundles.length} release directories under ${outDir}, expected 1`);
  const bundle = join(outDir, bundles[0]);
  const tars = readdirSync(bundle).filter((f) => f.endsWith('.tar'));
  if (tars.length !== 1) throw new Error(`${bundle} holds ${tars.length} .tar files, expected 1`);
  if (statSync(join(bundle, tars[0])).size < bytes) throw new Error(`${tars[0]} is smaller than the file it archives`);
  const sums = readFileSync(join(bundle, 'SHA256SUMS'), 'utf8');
  if (!new RegExp(`^[0-9a-f]{64}  ${tars[0].replace(/[.]/g, '\\.')}$`, 'm').test(sums)) throw new Error(`SHA256SUMS does not list ${tars[0]}:\n${sums}`);
}

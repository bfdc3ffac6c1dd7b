// `reg add` of one big file against md5sum and cp, warm and (as root) with a cold page cache.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freshRegRepo } from '../lib/repos.mjs';

export const name = 'add-big';
export const description = '`reg add` of the big file (1 GiB) vs `md5sum`, `cp`, `cp` + fsync; cold page cache too when running as root';
export const needs = ['root (optional, for the cold-cache rows)'];

const BUDGET_FORMULA = 'reg add <= md5sum/0.8 + cp';

export async function run(h) {
  const { cfg } = h;
  const { repo: bigRepo, file: bigFile } = h.datasets.big();
  h.sh('cat big.bin > /dev/null', { cwd: bigRepo });
  const copy = join(h.scratch, 'big.copy');
  for (let r = 0; r < cfg.rounds; r++) {
    h.log(` round ${r + 1}/${cfg.rounds}`);
    freshRegRepo(h, bigRepo, ['big.bin']);
    h.syncDisk();
    h.sample('add-big', `reg add ${cfg.bigMB} MiB file`, h.reg(bigRepo, ['-q', 'add', 'big.bin']));
    h.syncDisk();
    h.sample('md5-big', 'md5sum', h.run('md5sum', [bigFile]));
    rmSync(copy, { force: true });
    h.syncDisk();
    h.sample('cp-big', 'cp (no fsync)', h.run('cp', [bigFile, copy]));
    rmSync(copy, { force: true });
    h.syncDisk();
    h.sample('cpsync-big', 'cp + fsync of the copy', h.sh(`cp "${bigFile}" "${copy}" && sync "${copy}"`));
    rmSync(copy, { force: true });
    h.syncDisk();
  }
  h.compare('add-big', 'md5-big');
  h.compare('add-big', 'cp-big');
  h.compare('add-big', 'cpsync-big');
  const m = h.results.measurements;
  const budget = m['md5-big'].median / 0.8 + m['cp-big'].median;
  h.target(`big-file add: ${BUDGET_FORMULA}`, m['add-big'].median <= budget,
    `reg add ${m['add-big'].median.toFixed(2)} s vs budget ${budget.toFixed(2)} s (md5sum ${m['md5-big'].median.toFixed(2)} s / 0.8 + cp ${m['cp-big'].median.toFixed(2)} s)`);

  const wantCold = process.env.BENCH_COLD === undefined ? h.canDropCaches() : process.env.BENCH_COLD === '1';
  if (wantCold && h.canDropCaches()) {
    h.log(' cold page cache (drop_caches before each run)');
    for (let r = 0; r < cfg.rounds; r++) {
      freshRegRepo(h, bigRepo, ['big.bin']);
      h.dropCaches();
      h.sample('add-big-cold', `reg add ${cfg.bigMB} MiB file, cold page cache`, h.reg(bigRepo, ['-q', 'add', 'big.bin']));
      h.dropCaches();
      h.sample('md5-big-cold', 'md5sum, cold page cache', h.run('md5sum', [bigFile]));
    }
    h.compare('add-big-cold', 'md5-big-cold');
    // Re-warm what later cases use.
    h.datasets.rewarm();
  } else {
    h.note('page cache could not be dropped (not root): big-file figures are warm-cache only');
  }
}

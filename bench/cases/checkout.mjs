// `reg checkout` of the small-file tree from a warm cache into an empty workspace, against the
// plain copy and the plain hard-link copy of the same tree.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRegAdded, expectUpToDate, regStatusJson } from '../lib/repos.mjs';

export const name = 'checkout';
export const description = '`reg checkout` of the small-file tree (20k files) from the cache into an empty workspace: copy vs `cp -a` (both writing to a tmpfs; BENCH_CHECKOUT_TARGET=disk for the disk), `cache.type: hardlink` vs `cp -al`';
export const needs = [];

/** Issue-12 targets, as ratios of medians against the reference in the same rounds. */
const COPY_TARGET = 1.0;
const HARDLINK_TARGET = 2.0;
const TMPFS_MAGIC = 0x01021994;

/**
 * Where copy-mode checkout and `cp -a` write: a fresh directory on the tmpfs at /dev/shm for both
 * (BENCH_CHECKOUT_TARGET=tmpfs, the default), or the run's temp dir on the disk (=disk). Both read
 * the same kind of source (files in the warm page cache) and create the same 20k files in fresh
 * directories of one filesystem, so the ratio is each tool's own per-file work. On the disk, file
 * creation cost followed the journal's state: `cp -a` alone took 1.0-10.6 s within one run (run F).
 * Hard links must stay on the cache's filesystem (as `cp -al` on the tree's): always the disk.
 */
function copyTarget(h) {
  const want = process.env.BENCH_CHECKOUT_TARGET ?? 'tmpfs';
  if (want !== 'tmpfs' && want !== 'disk') throw new Error(`BENCH_CHECKOUT_TARGET must be tmpfs or disk, got ${want}`);
  if (want === 'tmpfs') {
    let tmpfs = false;
    try {
      tmpfs = statfsSync('/dev/shm').type === TMPFS_MAGIC;
    } catch {
      // no /dev/shm
    }
    if (tmpfs) {
      const dir = mkdtempSync('/dev/shm/reg-bench-checkout-');
      h.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
      return { dir, kind: 'tmpfs' };
    }
    h.note('no tmpfs at /dev/shm: copy-mode checkout and `cp -a` write to the disk, where file creation cost varies several-fold');
  }
  return { dir: h.tmp, kind: 'disk' };
}

export async function run(h) {
  const small = h.datasets.small();
  ensureRegAdded(h, small);
  const cacheDir = join(small.repo, '.reg', 'cache');
  // One repository per link type, both reading the small repo's cache (cache.dir), so every
  // round restores the same 20k objects and nothing is fetched.
  const copyTo = copyTarget(h);
  // On a tmpfs the copy-mode ids get a suffix: figures of the two targets must not be compared.
  const suffix = copyTo.kind === 'tmpfs' ? '-tmpfs' : '';
  const modes = [
    { type: 'copy', id: `checkout-copy${suffix}`, refId: `cp-a${suffix}`, refArgs: ['-a'], target: COPY_TARGET, dir: copyTo.dir, where: copyTo.kind },
    { type: 'hardlink', id: 'checkout-hardlink', refId: 'cp-al', refArgs: ['-al'], target: HARDLINK_TARGET, dir: h.tmp, where: 'disk' },
  ];
  for (const m of modes) {
    m.repo = join(m.dir, `checkout-${m.type}`);
    rmSync(m.repo, { recursive: true, force: true });
    mkdirSync(m.repo, { recursive: true });
    h.git(m.repo, ['init', '-q', '-b', 'main']);
    h.reg(m.repo, ['-q', 'init']);
    writeFileSync(join(m.repo, '.reg', 'config.yaml'), `cache:\n  dir: ${JSON.stringify(cacheDir)}\n  type: ${m.type}\n`);
    cpSync(join(small.repo, `${small.data}.dvc`), join(m.repo, `${small.data}.dvc`));
    m.dst = m.where === 'tmpfs' ? join(m.dir, `cp-${m.type}`) : join(h.scratch, `cp-${m.type}`);
  }
  // An empty workspace as after a clone: no data and no stat cache.
  const resetWorkspace = (m) => {
    rmSync(join(m.repo, small.data), { recursive: true, force: true });
    rmSync(join(m.repo, '.reg', 'tmp'), { recursive: true, force: true });
    h.syncDisk();
  };
  const resetCopy = (m) => {
    rmSync(m.dst, { recursive: true, force: true });
    h.syncDisk();
  };
  const countFiles = (dir) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  for (const m of modes) {
    // Warm-up (untimed): the cache objects' pages and the stamp check.
    resetWorkspace(m);
    h.reg(m.repo, ['-q', 'checkout']);
  }
  for (let r = 0; r < h.cfg.rounds; r++) {
    h.log(` round ${r + 1}/${h.cfg.rounds}`);
    for (const m of modes) {
      resetWorkspace(m);
      h.sample(m.id, `reg checkout ${h.cfg.smallFiles} files, cache.type ${m.type} (to ${m.where})`, h.reg(m.repo, ['-q', 'checkout']));
      const n = countFiles(join(m.repo, small.data));
      if (n !== h.cfg.smallFiles) throw new Error(`reg checkout (${m.type}) wrote ${n} files, expected ${h.cfg.smallFiles}`);
      resetCopy(m);
      h.sample(m.refId, `cp ${m.refArgs.join(' ')} of the same tree (to ${m.where})`, h.run('cp', [...m.refArgs, small.tree, m.dst]));
    }
  }
  for (const m of modes) {
    // The checked-out workspace is what the pointer says, and status trusts what checkout wrote.
    const st = regStatusJson(h, m.repo);
    expectUpToDate(st, `reg status after checkout (${m.type})`);
    const hashed = st.json.outputs[0].hashedFiles;
    if (hashed !== 0) h.note(`status after a ${m.type} checkout re-hashed ${hashed} files`);
    const c = h.compare(m.id, m.refId);
    h.target(`reg checkout of ${h.cfg.smallFiles} files, ${m.type} (${m.where}): <= ${m.target}x cp ${m.refArgs.join(' ')}`, c.ratio <= m.target,
      `${c.ratio}x (per round ${c.roundRatioMin}-${c.roundRatioMax})`);
    rmSync(m.dst, { recursive: true, force: true });
  }
}

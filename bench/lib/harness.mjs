// The harness every case receives: process runners, the results document, datasets, repo helpers.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createDatasets } from './datasets.mjs';
import { canDropCaches, dropCaches } from './machine.mjs';
import { REG_BIN, ROOT, git, log, makeReg, regPlain, run, sh, syncDisk, which } from './proc.mjs';
import { createResults } from './results.mjs';

/**
 * @param {{ cfg: object, tmp: string }} options  settings (lib/config.mjs) and the run's temp dir
 * @returns the harness `h`:
 *   h.cfg, h.tmp, h.root, h.regBin, h.scratch (a scratch dir), h.gitDirs (where Git dirs kept outside the trees go)
 *   h.run(cmd, args, opts) / h.sh(script) / h.git(cwd, args) / h.reg(cwd, args) (with peak RSS) / h.regPlain(cwd, args)
 *     each returns { code, stdout, stderr, seconds[, rssMB] }; opts: { cwd, env, input, allowFail, capture }
 *   h.sample(id, label, r), h.compare(id, refId), h.target(name, met, detail), h.note(text), h.log(text)
 *   h.alternate(rounds, steps): ABAB — every round runs each step { id, label, run: (round) => r } in order
 *   h.section(name, async fn): a failing part records an error and the run goes on
 *   h.datasets.small() / .big() / .status(): generated on first use, page cache warmed
 *   h.have: { lfs, rclone }; h.syncDisk(), h.canDropCaches(), h.dropCaches()
 *   h.onCleanup(fn): runs at the end of the run, also on SIGINT/SIGTERM
 */
export function createHarness({ cfg, tmp }) {
  const r = createResults(cfg);
  const cleanups = [];
  const scratch = join(tmp, 'scratch');
  mkdirSync(scratch, { recursive: true });
  const h = {
    cfg,
    tmp,
    root: ROOT,
    regBin: REG_BIN,
    scratch,
    gitDirs: join(tmp, 'gitdirs'),
    results: r.results,
    log,
    run,
    sh,
    git,
    reg: makeReg(tmp),
    regPlain,
    syncDisk,
    canDropCaches,
    dropCaches,
    sample: r.sample,
    compare: r.compare,
    target: r.target,
    note: r.note,
    section: r.section,
    alternate(rounds, steps) {
      for (let round = 0; round < rounds; round++) {
        for (const step of steps) r.sample(step.id, step.label, step.run(round));
      }
    },
    have: {
      lfs: spawnSync('git', ['lfs', 'version']).status === 0,
      rclone: Boolean(which('rclone')),
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    runCleanups() {
      while (cleanups.length) {
        try {
          cleanups.pop()();
        } catch (err) {
          log(`cleanup failed: ${err.message}`);
        }
      }
    },
  };
  h.datasets = createDatasets({ tmp, cfg, results: r.results, log, note: r.note, sh, syncDisk });
  return h;
}

#!/usr/bin/env node
// reg benchmark: `npm run bench` (builds first) or `node bench/run.mjs [--quick]`.
//
// Every reg measurement is alternated with its reference in the same run (A B A B ...), and the
// medians are compared as ratios, because file-creation speed on shared machines drifts several
// fold within hours: absolute seconds from two different runs are not comparable, ratios are.
//
// Environment:
//   BENCH_SMALL_FILES   files in the small-file tree for add/push (default 20000; --quick 2000)
//   BENCH_BIG_MB        size of the big file in MiB (default 1024; --quick 64)
//   BENCH_STATUS_FILES  files in the tree for the status check (default 100000; --quick 5000)
//   BENCH_ROUNDS        rounds for add/md5/cp measurements (default 3)
//   BENCH_STATUS_ROUNDS rounds for status measurements (default 5)
//   BENCH_PUSH_ROUNDS   rounds for push/pull measurements (default 2; --quick 1)
//   BENCH_COLD=0|1      also time the big-file add with a dropped page cache (default: when
//                       /proc/sys/vm/drop_caches is writable, i.e. as root)
//   BENCH_PUSH=0        skip the push/pull section
//   BENCH_REMOTE_REFS=1 run the push/pull references (cp, rclone) even when reg has no push
//   BENCH_KEEP=1        keep the temp dir (printed) instead of deleting it
//   TMPDIR              where the datasets go (os.tmpdir())
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import { availableParallelism, cpus, freemem, hostname, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REG_BIN = join(ROOT, 'bin', 'reg.js');
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const QUICK = argv.includes('--quick');

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
  return Math.round(n);
}

const CFG = {
  quick: QUICK,
  smallFiles: envInt('BENCH_SMALL_FILES', QUICK ? 2000 : 20000),
  bigMB: envInt('BENCH_BIG_MB', QUICK ? 64 : 1024),
  statusFiles: envInt('BENCH_STATUS_FILES', QUICK ? 5000 : 100000),
  rounds: envInt('BENCH_ROUNDS', 3),
  statusRounds: envInt('BENCH_STATUS_ROUNDS', 5),
  pushRounds: envInt('BENCH_PUSH_ROUNDS', QUICK ? 1 : 2),
};

const TARGETS = {
  status100kSeconds: 1.0,
  rssMB: 300,
  bigAddFormula: 'reg add <= md5sum/0.8 + cp',
};

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'reg bench',
  GIT_AUTHOR_EMAIL: 'bench@example.org',
  GIT_COMMITTER_NAME: 'reg bench',
  GIT_COMMITTER_EMAIL: 'bench@example.org',
  GIT_CONFIG_NOSYSTEM: '1',
};
const BASE_ENV = { ...process.env, ...GIT_ENV, NO_COLOR: '1' };

// ---------------------------------------------------------------------------------------------
// process helpers

function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Runs a command synchronously and times it (wall clock, including process start). */
function run(cmd, args, { cwd = ROOT, env = {}, input, allowFail = false, capture = true } = {}) {
  const fullEnv = { ...BASE_ENV, ...env };
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k]; // `KEY: undefined` unsets KEY
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd,
    env: fullEnv,
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: capture ? ['pipe', 'pipe', 'pipe'] : ['ignore', 'ignore', 'pipe'],
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  const out = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds };
  if (!allowFail && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}: ${(r.stderr || r.stdout || '').trim().slice(0, 2000)}`);
  }
  return out;
}

function sh(script, opts = {}) {
  return run('sh', ['-c', script], opts);
}

function git(cwd, args, opts = {}) {
  return run('git', args, { cwd, ...opts });
}

function syncDisk() {
  spawnSync('sync');
}

const TIME_BIN = existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-v', 'true']).status === 0 ? '/usr/bin/time' : undefined;
let rssHookFile;

/**
 * Runs the reg CLI and measures wall time and peak RSS: via `/usr/bin/time -v` when present,
 * else via a `node --import` hook that writes process.resourceUsage().maxRSS at exit.
 */
function reg(cwd, args, opts = {}) {
  const rssFile = join(TMP, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  let r;
  if (TIME_BIN) {
    r = run(TIME_BIN, ['-v', '-o', rssFile, process.execPath, REG_BIN, ...args], { cwd, allowFail: true, ...opts });
  } else {
    if (!rssHookFile) {
      rssHookFile = join(TMP, 'rss-hook.mjs');
      writeFileSync(rssHookFile, "import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { if (process.env.BENCH_RSS_FILE) writeFileSync(process.env.BENCH_RSS_FILE, 'Maximum resident set size (kbytes): ' + process.resourceUsage().maxRSS + '\\n'); });\n");
    }
    r = run(process.execPath, ['--import', pathToFileURL(rssHookFile).href, REG_BIN, ...args], {
      cwd, allowFail: true, ...opts, env: { ...(opts.env ?? {}), BENCH_RSS_FILE: rssFile },
    });
  }
  let rssKB;
  try {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(rssFile, 'utf8'));
    if (m) rssKB = Number(m[1]);
    rmSync(rssFile, { force: true });
  } catch {
    // no RSS figure
  }
  r.rssMB = rssKB === undefined ? undefined : rssKB / 1024;
  if (!opts.allowFail && r.code !== 0) {
    throw new Error(`reg ${args.join(' ')} (in ${cwd}) exited ${r.code}: ${r.stderr.trim().slice(0, 2000)}`);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// results

const results = {
  date: new Date().toISOString(),
  config: CFG,
  machine: {},
  datasets: {},
  measurements: {},
  comparisons: [],
  targets: [],
  notes: [],
  errors: [],
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Adds one timed sample (seconds, and peak RSS in MB when known) to a named measurement. */
function sample(id, label, r) {
  const m = (results.measurements[id] ??= { label, samples: [], rssMB: [] });
  m.samples.push(Number(r.seconds.toFixed(4)));
  if (r.rssMB !== undefined) m.rssMB.push(Number(r.rssMB.toFixed(1)));
  m.median = Number(median(m.samples).toFixed(4));
  if (m.rssMB.length) m.peakRssMB = Math.max(...m.rssMB);
  log(`  ${label}: ${r.seconds.toFixed(3)} s${r.rssMB !== undefined ? `, peak RSS ${r.rssMB.toFixed(0)} MB` : ''}`);
  return r;
}

function compare(id, refId) {
  const a = results.measurements[id];
  const b = results.measurements[refId];
  if (!a || !b) return;
  results.comparisons.push({ id, refId, label: a.label, refLabel: b.label, median: a.median, refMedian: b.median, ratio: Number((a.median / b.median).toFixed(3)) });
}

function target(name, met, detail) {
  results.targets.push({ name, met, detail });
}

function note(text) {
  results.notes.push(text);
  log(`note: ${text}`);
}

function section(name, fn) {
  log(`== ${name}`);
  try {
    return fn();
  } catch (err) {
    const msg = `${name}: ${err.message}`;
    results.errors.push(msg);
    log(`ERROR ${msg}`);
    return undefined;
  }
}

async function asyncSection(name, fn) {
  log(`== ${name}`);
  try {
    return await fn();
  } catch (err) {
    const msg = `${name}: ${err.message}`;
    results.errors.push(msg);
    log(`ERROR ${msg}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// datasets

/** Small deterministic PRNG (sizes and offsets are reproducible; the bytes themselves are random). */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

let POOL;
function pool() {
  POOL ??= randomBytes(32 * 1024 * 1024);
  return POOL;
}

/** n files of 1-8 KiB of random bytes (each unique) in ~200-file subdirectories. */
function generateTree(dir, n, seed) {
  const rnd = prng(seed);
  const p = pool();
  const perDir = 200;
  const ndirs = Math.max(1, Math.ceil(n / perDir));
  for (let d = 0; d < ndirs; d++) mkdirSync(join(dir, `d${String(d).padStart(3, '0')}`), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const size = 1024 + Math.floor(rnd() * 7 * 1024);
    const off = Math.floor(rnd() * (p.length - size));
    const header = Buffer.from(`${seed}:${i}\n`);
    const body = Buffer.concat([header, p.subarray(off, off + size - header.length)]);
    writeFileSync(join(dir, `d${String(i % ndirs).padStart(3, '0')}`, `f${String(i).padStart(6, '0')}.bin`), body);
    bytes += body.length;
  }
  return { files: n, bytes, dirs: ndirs };
}

/** A big file of random-ish bytes: one 16 MiB random block, each copy stamped with its index. */
function generateBigFile(path, mb) {
  const block = randomBytes(16 * 1024 * 1024);
  const fd = openSync(path, 'w');
  let left = mb * 1024 * 1024;
  let k = 0;
  try {
    while (left > 0) {
      block.writeUInt32LE(k++, 0);
      block.writeUInt32LE(0x9e3779b9 * k >>> 0, 4096);
      const n = Math.min(left, block.length);
      let w = 0;
      while (w < n) w += writeSync(fd, block, w, n - w);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return { files: 1, bytes: mb * 1024 * 1024 };
}

// ---------------------------------------------------------------------------------------------
// repos

/** Makes `root` a brand-new Git + reg repository (empty cache, no stat cache), keeping data files. */
function freshRegRepo(root, dataNames) {
  for (const name of readdirSync(root)) {
    if (dataNames.includes(name)) continue;
    rmSync(join(root, name), { recursive: true, force: true });
  }
  git(root, ['init', '-q', '-b', 'main']);
  reg(root, ['-q', 'init']);
}

/** A Git repository whose .git lives at `gitDir` and whose work tree is `tree` (nothing written into the tree). */
function gitEnv(gitDir, tree) {
  return { GIT_DIR: gitDir, GIT_WORK_TREE: tree };
}

function freshGitDir(gitDir, tree) {
  rmSync(gitDir, { recursive: true, force: true });
  mkdirSync(dirname(gitDir), { recursive: true });
  git(tree, ['init', '-q', '-b', 'main'], { env: gitEnv(gitDir, tree) });
}

function regStatusJson(root) {
  const r = reg(root, ['-q', '--json', 'status']);
  try {
    r.json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`reg status --json printed no JSON: ${r.stdout.slice(0, 300)}`);
  }
  return r;
}

function expectUpToDate(r, what) {
  const outs = r.json.outputs ?? [];
  if (outs.length === 0 || outs.some((o) => o.state !== 'up-to-date')) {
    throw new Error(`${what}: expected every output up to date, got ${JSON.stringify(outs.map((o) => [o.path, o.state]))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// machine

function machineInfo(dir) {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const meminfo = existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '';
  const availKB = Number(/^MemAvailable:\s*(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const df = spawnSync('df', ['-T', '-P', dir], { encoding: 'utf8' });
  const fsType = df.status === 0 ? df.stdout.trim().split('\n').pop().split(/\s+/)[1] : 'unknown';
  const gitVersion = spawnSync('git', ['--version'], { encoding: 'utf8' }).stdout?.trim();
  return {
    hostname: hostname(),
    nproc: availableParallelism(),
    cpuModel: model,
    totalMemGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    freeMemGiB: Number(((Number.isFinite(availKB) ? availKB * 1024 : freemem()) / 2 ** 30).toFixed(1)),
    tmpDir: dir,
    tmpFsType: fsType,
    kernel: release(),
    node: process.version,
    git: gitVersion,
    gitLfs: which('git-lfs') ? spawnSync('git', ['lfs', 'version'], { encoding: 'utf8' }).stdout?.trim() : undefined,
    rclone: which('rclone') ? spawnSync('rclone', ['version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() : undefined,
    regCommit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim(),
    regTreeDirty: (spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout ?? '').trim() !== '',
    rssVia: TIME_BIN ? '/usr/bin/time -v' : 'node --import hook (process.resourceUsage().maxRSS)',
  };
}

function canDropCaches() {
  try {
    syncDisk();
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function dropCaches() {
  syncDisk();
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

// ---------------------------------------------------------------------------------------------
// main

const TMP = mkdtempSync(join(tmpdir(), 'reg-bench-'));
let s3rverChild;
function cleanup() {
  if (s3rverChild && s3rverChild.exitCode === null) s3rverChild.kill();
  if (process.env.BENCH_KEEP === '1') {
    log(`kept ${TMP}`);
    return;
  }
  try {
    // cache objects are read-only files in writable dirs: rm handles them
    rmSync(TMP, { recursive: true, force: true });
  } catch (err) {
    log(`could not remove ${TMP}: ${err.message}`);
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

const HAVE_LFS = spawnSync('git', ['lfs', 'version']).status === 0;
const HAVE_RCLONE = Boolean(which('rclone'));

async function main() {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (or use `npm run bench`)');
  results.machine = machineInfo(TMP);
  log(`temp dir ${TMP} (${results.machine.tmpFsType}); ${results.machine.nproc} cores, ${results.machine.cpuModel}; ${QUICK ? 'QUICK run' : 'full run'}`);
  log(`config ${JSON.stringify(CFG)}`);

  const smallRepo = join(TMP, 'small-repo');
  const smallTree = join(smallRepo, 'small');
  const bigRepo = join(TMP, 'big-repo');
  const bigFile = join(bigRepo, 'big.bin');
  const statusRepo = join(TMP, 'status-repo');
  const statusTree = join(statusRepo, 'data');
  const gitDirs = join(TMP, 'gitdirs');
  const scratch = join(TMP, 'scratch');
  mkdirSync(scratch, { recursive: true });

  // ---- datasets
  section('generate datasets', () => {
    let t0 = Date.now();
    results.datasets.small = generateTree(smallTree, CFG.smallFiles, 1);
    log(`  small tree: ${CFG.smallFiles} files, ${(results.datasets.small.bytes / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t0 = Date.now();
    mkdirSync(bigRepo, { recursive: true });
    results.datasets.big = generateBigFile(bigFile, CFG.bigMB);
    log(`  big file: ${CFG.bigMB} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t0 = Date.now();
    results.datasets.status = generateTree(statusTree, CFG.statusFiles, 2);
    log(`  status tree: ${CFG.statusFiles} files, ${(results.datasets.status.bytes / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    syncDisk();
    // Everything below runs with the data in the page cache (read once here): warm-cache timings.
    sh(`find . -type f -print0 | xargs -0 cat > /dev/null`, { cwd: smallTree });
    sh(`cat big.bin > /dev/null`, { cwd: bigRepo });
    sh(`find . -type f -print0 | xargs -0 cat > /dev/null`, { cwd: statusTree });
  });
  note('all timings are warm page cache: every dataset is read once before timing (24 GiB RAM holds them); see the cold-cache big-file rows for disk-bound figures where available');

  // ---- baseline: what any reg command costs just to start
  section('baseline: reg --version (node start-up + module load)', () => {
    for (let r = 0; r < CFG.statusRounds; r++) sample('reg-version', 'reg --version (start-up)', reg(ROOT, ['--version']));
  });

  // ---- cold add of the small tree
  section(`cold add of the ${CFG.smallFiles}-file tree`, () => {
    if (!HAVE_LFS) note('git lfs is not installed: the git-lfs reference is skipped');
    for (let r = 0; r < CFG.rounds; r++) {
      log(` round ${r + 1}/${CFG.rounds}`);
      freshRegRepo(smallRepo, ['small']);
      syncDisk();
      const a = sample('add-small', `reg add ${CFG.smallFiles} files (cold cache)`, reg(smallRepo, ['-q', 'add', 'small']));
      void a;
      syncDisk();

      const gd = join(gitDirs, 'small-git');
      freshGitDir(gd, smallTree);
      syncDisk();
      sample('git-add-small', 'git add (same tree, fresh repo)', git(smallTree, ['add', '-A', '.'], { env: gitEnv(gd, smallTree) }));
      syncDisk();

      if (HAVE_LFS) {
        const ld = join(gitDirs, 'small-lfs');
        freshGitDir(ld, smallTree);
        git(smallTree, ['lfs', 'install', '--local'], { env: gitEnv(ld, smallTree) });
        // what `git lfs track '*'` writes, kept out of the tree so that reg does not see it
        mkdirSync(join(ld, 'info'), { recursive: true });
        writeFileSync(join(ld, 'info', 'attributes'), '* filter=lfs diff=lfs merge=lfs -text\n');
        syncDisk();
        sample('lfs-add-small', "git lfs track '*' + git add", git(smallTree, ['add', '-A', '.'], { env: gitEnv(ld, smallTree) }));
        syncDisk();
      }

      sample('md5-small', 'md5sum all files (find | xargs md5sum)', sh('find . -type f -print0 | xargs -0 md5sum > /dev/null', { cwd: smallTree }));
    }
    const ptr = readFileSync(join(smallRepo, 'small.dvc'), 'utf8');
    if (!new RegExp(`nfiles: ${CFG.smallFiles}\\b`).test(ptr)) throw new Error(`small.dvc does not say nfiles: ${CFG.smallFiles}:\n${ptr}`);
    compare('add-small', 'git-add-small');
    compare('add-small', 'lfs-add-small');
    compare('add-small', 'md5-small');
    const lfsObjects = HAVE_LFS ? Number(sh(`find lfs/objects -type f | wc -l`, { cwd: join(gitDirs, 'small-lfs') }).stdout.trim()) : undefined;
    if (HAVE_LFS && lfsObjects !== CFG.smallFiles) note(`git lfs stored ${lfsObjects} objects for ${CFG.smallFiles} files`);
  });

  // ---- status on the small tree
  section(`status of the ${CFG.smallFiles}-file tree`, () => {
    const gd = join(gitDirs, 'small-git');
    git(smallTree, ['commit', '-q', '-m', 'small tree'], { env: gitEnv(gd, smallTree) });
    statusRounds({ repo: smallRepo, tree: smallTree, gd, key: 'small', n: CFG.smallFiles });
  });

  // ---- 100k tree: add (RSS), status
  section(`add + status of the ${CFG.statusFiles}-file tree`, () => {
    freshRegRepo(statusRepo, ['data']);
    const gd = join(gitDirs, 'status-git');
    freshGitDir(gd, statusTree);
    syncDisk();
    sample('add-status', `reg add ${CFG.statusFiles} files (cold cache)`, reg(statusRepo, ['-q', 'add', 'data']));
    syncDisk();
    sample('git-add-status', 'git add (same tree, fresh repo)', git(statusTree, ['add', '-A', '.'], { env: gitEnv(gd, statusTree) }));
    compare('add-status', 'git-add-status');
    git(statusTree, ['commit', '-q', '-m', 'status tree'], { env: gitEnv(gd, statusTree) });
    syncDisk();
    statusRounds({ repo: statusRepo, tree: statusTree, gd, key: 'status', n: CFG.statusFiles });
  });

  // ---- big file
  section(`add of the ${CFG.bigMB} MiB file`, () => {
    sh('cat big.bin > /dev/null', { cwd: bigRepo });
    const copy = join(scratch, 'big.copy');
    for (let r = 0; r < CFG.rounds; r++) {
      log(` round ${r + 1}/${CFG.rounds}`);
      freshRegRepo(bigRepo, ['big.bin']);
      syncDisk();
      sample('add-big', `reg add ${CFG.bigMB} MiB file`, reg(bigRepo, ['-q', 'add', 'big.bin']));
      syncDisk();
      sample('md5-big', 'md5sum', run('md5sum', [bigFile]));
      rmSync(copy, { force: true });
      syncDisk();
      sample('cp-big', 'cp (no fsync)', run('cp', [bigFile, copy]));
      rmSync(copy, { force: true });
      syncDisk();
      sample('cpsync-big', 'cp + fsync of the copy', sh(`cp "${bigFile}" "${copy}" && sync "${copy}"`));
      rmSync(copy, { force: true });
      syncDisk();
    }
    compare('add-big', 'md5-big');
    compare('add-big', 'cp-big');
    compare('add-big', 'cpsync-big');
    const m = results.measurements;
    const budget = m['md5-big'].median / 0.8 + m['cp-big'].median;
    target(`big-file add: ${TARGETS.bigAddFormula}`, m['add-big'].median <= budget,
      `reg add ${m['add-big'].median.toFixed(2)} s vs budget ${budget.toFixed(2)} s (md5sum ${m['md5-big'].median.toFixed(2)} s / 0.8 + cp ${m['cp-big'].median.toFixed(2)} s)`);

    const wantCold = process.env.BENCH_COLD === undefined ? canDropCaches() : process.env.BENCH_COLD === '1';
    if (wantCold && canDropCaches()) {
      log(' cold page cache (drop_caches before each run)');
      for (let r = 0; r < CFG.rounds; r++) {
        freshRegRepo(bigRepo, ['big.bin']);
        dropCaches();
        sample('add-big-cold', `reg add ${CFG.bigMB} MiB file, cold page cache`, reg(bigRepo, ['-q', 'add', 'big.bin']));
        dropCaches();
        sample('md5-big-cold', 'md5sum, cold page cache', run('md5sum', [bigFile]));
      }
      compare('add-big-cold', 'md5-big-cold');
      sh('cat big.bin > /dev/null', { cwd: bigRepo });
      // Re-warm the trees the later sections use.
      sh(`find . -type f -print0 | xargs -0 cat > /dev/null`, { cwd: smallTree });
    } else {
      note('page cache could not be dropped (not root): big-file figures are warm-cache only');
    }
  });

  // ---- push / pull
  if (process.env.BENCH_PUSH === '0') note('push/pull section skipped (BENCH_PUSH=0)');
  else await asyncSection('push / pull', () => pushPull({ smallRepo, bigRepo, scratch }));

  // ---- RSS target
  section('peak RSS', () => {
    const m = results.measurements;
    for (const id of ['add-status', 'status-nochange', 'status-modified']) {
      const x = m[id];
      if (!x) continue;
      if (x.peakRssMB === undefined) {
        target(`peak RSS < ${TARGETS.rssMB} MB: ${x.label}`, false, 'no RSS figure could be taken');
        continue;
      }
      target(`peak RSS < ${TARGETS.rssMB} MB: ${x.label}`, x.peakRssMB < TARGETS.rssMB, `${x.peakRssMB.toFixed(0)} MB`);
    }
  });
}

/** No-change status (ABAB against git status), then status after modifying one file. */
function statusRounds({ repo, tree, gd, key, n }) {
  const genv = gitEnv(gd, tree);
  // Warm-up: the first status after add/commit may refresh stat caches and the Git index.
  expectUpToDate(regStatusJson(repo), 'reg status after add');
  git(tree, ['status', '--porcelain'], { env: genv });
  expectUpToDate(regStatusJson(repo), 'reg status after add');
  for (let r = 0; r < CFG.statusRounds; r++) {
    const a = sample(`status-nochange${key === 'small' ? '-small' : ''}`, `reg status, no change (${n} files)`, regStatusJson(repo));
    expectUpToDate(a, 'reg status');
    sample(`git-status${key === 'small' ? '-small' : ''}`, `git status (${n} files committed)`, git(tree, ['status'], { env: genv }));
  }
  const sfx = key === 'small' ? '-small' : '';
  compare(`status-nochange${sfx}`, `git-status${sfx}`);
  compare(`status-nochange${sfx}`, 'reg-version');
  if (key === 'status') {
    const m = results.measurements['status-nochange'];
    target(`reg status, no change, ${n} files < ${TARGETS.status100kSeconds} s`, m.median < TARGETS.status100kSeconds, `median ${m.median.toFixed(3)} s`);
  }

  // One modified file: reg should re-hash that file only, so it should cost about a no-change status.
  const relpath = readdirSync(join(tree, 'd000')).sort()[0];
  const victim = join(tree, 'd000', relpath);
  const original = readFileSync(victim);
  const mode = statSync(victim).mode;
  try {
    for (let r = 0; r < CFG.statusRounds; r++) {
      writeFileSync(victim, Buffer.concat([Buffer.from(`modified ${r}\n`), randomBytes(4096)]));
      const a = sample(`status-modified${sfx}`, `reg status, 1 file modified (${n} files)`, regStatusJson(repo));
      const o = a.json.outputs?.[0];
      const changed = o?.changes?.modified ?? [];
      if (o?.state !== 'modified' || changed.length !== 1 || (o.changes.added?.length ?? 0) + (o.changes.deleted?.length ?? 0) !== 0) {
        throw new Error(`reg status after modifying ${victim}: expected 1 modified file, got ${JSON.stringify(o).slice(0, 500)}`);
      }
      sample(`git-status-modified${sfx}`, `git status, 1 file modified (${n} files)`, git(tree, ['status'], { env: genv }));
    }
  } finally {
    writeFileSync(victim, original, { mode });
  }
  compare(`status-modified${sfx}`, `git-status-modified${sfx}`);
  compare(`status-modified${sfx}`, `status-nochange${sfx}`);
  const mod = results.measurements[`status-modified${sfx}`].median;
  const base = results.measurements[`status-nochange${sfx}`].median;
  target(`reg status with 1 modified file (${n} files) costs about a no-change status (<= 1.25x + 50 ms; exactly 1 file reported modified)`, mod <= base * 1.25 + 0.05,
    `${mod.toFixed(3)} s vs no-change ${base.toFixed(3)} s`);
  // Bring the stat cache back to the restored file so later sections see an unchanged tree.
  regStatusJson(repo);
}

// ---------------------------------------------------------------------------------------------
// push / pull (only when reg has them)

function countFiles(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : e.isFile() ? 1 : 0;
  return n;
}

function expectSameCount(src, dst, what) {
  const a = countFiles(src);
  const b = existsSync(dst) ? countFiles(dst) : 0;
  if (a !== b) throw new Error(`${what}: ${b} files arrived, ${a} expected`);
}

async function startS3rver(dir) {
  const lib = join(ROOT, 'node_modules', 's3rver', 'lib', 's3rver.js');
  if (!existsSync(lib)) throw new Error('node_modules/s3rver is not installed (npm ci installs it as a dev dependency)');
  const script = `
    const S3rver = require(${JSON.stringify(lib)});
    new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)}, configureBuckets: [{ name: 'bench' }] })
      .run()
      .then((addr) => process.stdout.write(JSON.stringify(addr) + '\\n'), (err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --openssl-legacy-provider`.trim() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  s3rverChild = child;
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const addr = await new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 20 s: ${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolvePromise(JSON.parse(out.slice(0, nl)));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited ${code}: ${err}`));
    });
  });
  child.removeAllListeners('exit');
  return { endpoint: `http://127.0.0.1:${addr.port}`, child };
}

function helpHas(args, word) {
  const r = run(process.execPath, [REG_BIN, ...args, '--help'], { allowFail: true });
  return new RegExp(`^\\s+${word}\\b`, 'm').test(r.stdout);
}

/** Sets a remote option, with `reg remote modify` when it exists, else straight in .reg/config.local.yaml. */
async function setRemoteOption(repo, name, key, value) {
  const r = reg(repo, ['-q', 'remote', 'modify', '--local', name, key, String(value)], { allowFail: true });
  if (r.code === 0) return;
  const { parseDocument } = await import(pathToFileURL(join(ROOT, 'node_modules', 'yaml', 'dist', 'index.js')).href);
  const file = join(repo, '.reg', 'config.local.yaml');
  const doc = parseDocument(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (!doc.contents) doc.contents = doc.createNode({});
  doc.setIn(['remotes', name, key], value);
  writeFileSync(file, doc.toString());
}

async function pushPull({ smallRepo, bigRepo, scratch }) {
  const haveReg = helpHas([], 'push');
  if (!haveReg && process.env.BENCH_REMOTE_REFS !== '1') {
    note('reg has no `push` command yet: the push/pull section is skipped (it runs once `reg --help` lists push)');
    return;
  }
  if (!haveReg) note('reg has no `push` command yet: only the cp/rclone references are measured (BENCH_REMOTE_REFS=1)');
  if (!HAVE_RCLONE) note('rclone is not installed: the rclone references are skipped');
  const haveFetch = helpHas([], 'pull');
  if (haveReg && !haveFetch) note('reg has push but no pull: pulls are skipped');

  let s3;
  try {
    s3 = await startS3rver(join(TMP, 's3rver'));
    log(`  s3rver at ${s3.endpoint}`);
  } catch (err) {
    note(`s3rver could not be started (${err.message.split('\n')[0]}): S3 rows are skipped`);
  }
  const s3Env = s3
    ? {
        // a CA bundle from the environment breaks the SDKs' plain-HTTP client for the local s3rver
        AWS_CA_BUNDLE: undefined,
        AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: s3.endpoint, AWS_ENDPOINT_URL_S3: s3.endpoint,
      }
    : {};
  const rcloneConf = join(TMP, 'rclone.conf');
  writeFileSync(rcloneConf, '');
  const rcloneEnv = {
    RCLONE_CONFIG: rcloneConf,
    AWS_CA_BUNDLE: undefined,
    ...(s3
      ? {
          RCLONE_CONFIG_BENCHS3_TYPE: 's3', RCLONE_CONFIG_BENCHS3_PROVIDER: 'Other', RCLONE_CONFIG_BENCHS3_ENDPOINT: s3.endpoint,
          RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID: 'S3RVER', RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY: 'S3RVER', RCLONE_CONFIG_BENCHS3_REGION: 'us-east-1',
          RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE: 'true',
        }
      : {}),
  };
  // --fast-list: one recursive listing; s3rver 3.7.1 answers delimiter listings of a prefix whose
  // children are only deeper "directories" (bucket/x/ -> x/md5/ab/...) with nothing, so rclone's
  // default directory-by-directory walk would see an empty remote.
  const rclone = (args) => run('rclone', ['copy', '--transfers', '32', '--checkers', '32', '--fast-list', ...args], { env: rcloneEnv, capture: false });

  const datasets = [
    { key: 'small', repo: smallRepo, data: 'small', label: `${CFG.smallFiles}-file tree` },
    { key: 'big', repo: bigRepo, data: 'big.bin', label: `${CFG.bigMB} MiB file` },
  ];
  const kinds = [{ kind: 'dir' }, ...(s3 ? [{ kind: 's3' }] : [])];
  let remoteSeq = 0;
  for (const ds of datasets) {
    const cacheDir = join(ds.repo, '.reg', 'cache');
    if (!existsSync(join(ds.repo, `${ds.data}.dvc`))) {
      // the big-file section may have left a fresh repo behind: add again (untimed)
      freshRegRepo(ds.repo, [ds.data]);
      reg(ds.repo, ['-q', 'add', ds.data]);
    }
    for (const { kind } of kinds) {
      for (let r = 0; r < CFG.pushRounds; r++) {
        log(` ${ds.label} -> ${kind} remote, round ${r + 1}/${CFG.pushRounds}`);
        const id = `${ds.key}-${kind}`;
        const seq = ++remoteSeq;
        if (haveReg) {
          const name = `b${seq}`;
          const url = kind === 'dir' ? join(TMP, 'remotes', `reg-${seq}`) : `s3://bench/reg-${seq}`;
          if (kind === 'dir') mkdirSync(url, { recursive: true });
          reg(ds.repo, ['-q', 'remote', 'add', name, url, '--default']);
          if (kind === 's3') {
            await setRemoteOption(ds.repo, name, 'endpoint-url', s3.endpoint);
            await setRemoteOption(ds.repo, name, 'access-key-id', 'S3RVER');
            await setRemoteOption(ds.repo, name, 'secret-access-key', 'S3RVER');
          }
          const env = kind === 's3' ? s3Env : {};
          syncDisk();
          sample(`push-${id}`, `reg push ${ds.label} to ${kind} remote`, reg(ds.repo, ['-q', 'push'], { env }));
          sample(`push-noop-${id}`, `reg push (no-op) ${ds.label} to ${kind} remote`, reg(ds.repo, ['-q', 'push'], { env }));
          if (haveFetch) {
            // pull into an empty cache and an empty workspace; keep the old ones aside in case it fails
            const asideCache = join(scratch, `cache-aside-${seq}`);
            const asideData = join(scratch, `data-aside-${seq}`);
            renameSync(cacheDir, asideCache);
            renameSync(join(ds.repo, ds.data), asideData);
            rmSync(join(ds.repo, '.reg', 'tmp'), { recursive: true, force: true });
            syncDisk();
            const p = reg(ds.repo, ['-q', 'pull'], { env, allowFail: true });
            const ok = p.code === 0 && existsSync(join(ds.repo, ds.data));
            if (ok) {
              sample(`pull-${id}`, `reg pull ${ds.label} from ${kind} remote`, p);
              rmSync(asideCache, { recursive: true, force: true });
              rmSync(asideData, { recursive: true, force: true });
            } else {
              rmSync(cacheDir, { recursive: true, force: true });
              rmSync(join(ds.repo, ds.data), { recursive: true, force: true });
              renameSync(asideCache, cacheDir);
              renameSync(asideData, join(ds.repo, ds.data));
              throw new Error(`reg pull from ${kind} failed (exit ${p.code}): ${p.stderr.trim().slice(0, 1000)}`);
            }
          }
        }
        // references: the same bytes (the cache's object files) copied by cp -r and rclone
        const src = join(cacheDir, 'files');
        mkdirSync(join(TMP, 'remotes'), { recursive: true });
        if (kind === 'dir') {
          const dst = join(TMP, 'remotes', `cp-${seq}`);
          syncDisk();
          sample(`cp-push-${id}`, `cp -r ${ds.label} cache to dir`, run('cp', ['-r', src, dst]));
          const back = join(scratch, `cp-back-${seq}`);
          syncDisk();
          sample(`cp-pull-${id}`, `cp -r ${ds.label} back from dir`, run('cp', ['-r', dst, back]));
          expectSameCount(src, back, 'cp -r round trip');
          rmSync(back, { recursive: true, force: true });
          rmSync(dst, { recursive: true, force: true });
        }
        if (HAVE_RCLONE) {
          const dst = kind === 'dir' ? join(TMP, 'remotes', `rclone-${seq}`) : `benchs3:bench/rclone-${seq}`;
          syncDisk();
          sample(`rclone-push-${id}`, `rclone copy --transfers 32 ${ds.label} to ${kind}`, rclone([src, dst]));
          sample(`rclone-noop-${id}`, `rclone copy (no-op) ${ds.label} to ${kind}`, rclone([src, dst]));
          const back = join(scratch, `rclone-back-${seq}`);
          syncDisk();
          sample(`rclone-pull-${id}`, `rclone copy --transfers 32 ${ds.label} back from ${kind}`, rclone([dst, back]));
          expectSameCount(src, back, `rclone round trip via ${kind}`);
          rmSync(back, { recursive: true, force: true });
          if (kind === 'dir') rmSync(dst, { recursive: true, force: true });
        }
        if (kind === 'dir') rmSync(join(TMP, 'remotes'), { recursive: true, force: true });
      }
      const id = `${ds.key}-${kind}`;
      for (const [a, b] of [
        [`push-${id}`, `cp-push-${id}`], [`push-${id}`, `rclone-push-${id}`], [`push-noop-${id}`, `rclone-noop-${id}`],
        [`pull-${id}`, `cp-pull-${id}`], [`pull-${id}`, `rclone-pull-${id}`],
      ]) compare(a, b);
    }
  }
  if (s3) {
    s3.child.kill();
    s3rverChild = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// report

function fmtS(x) {
  return x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(3) : x.toFixed(2);
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lpad(s, n) {
  s = String(s);
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function report() {
  const m = results.machine;
  const lines = [];
  lines.push('');
  lines.push(`reg benchmark  ${results.date}  ${CFG.quick ? '(QUICK smoke run)' : ''}`);
  lines.push(`reg: commit ${m.regCommit}${m.regTreeDirty ? ' + uncommitted changes in src/' : ''}`);
  lines.push(`machine: ${m.nproc} cores, ${m.cpuModel}, ${m.totalMemGiB} GiB RAM (${m.freeMemGiB} GiB available), temp dir on ${m.tmpFsType}; node ${m.node}; ${m.git}${m.gitLfs ? '; ' + m.gitLfs : ''}${m.rclone ? '; ' + m.rclone : ''}`);
  const ds = results.datasets;
  const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (ds.small) lines.push(`datasets: small tree ${ds.small.files} files / ${ds.small.dirs} dirs / ${mib(ds.small.bytes)}; big file ${mib(ds.big?.bytes ?? 0)}; status tree ${ds.status?.files ?? '-'} files / ${ds.status?.dirs ?? '-'} dirs / ${mib(ds.status?.bytes ?? 0)}`);
  lines.push(`rounds: ${CFG.rounds} (add/md5/cp), ${CFG.statusRounds} (status), ${CFG.pushRounds} (push/pull); medians; reg and reference alternated in each round`);
  lines.push('');
  const W = 52;
  lines.push(`${pad('measurement', W)} ${lpad('median s', 9)} ${lpad('peak RSS', 9)}  samples`);
  for (const [, x] of Object.entries(results.measurements)) {
    lines.push(`${pad(x.label, W)} ${lpad(fmtS(x.median), 9)} ${lpad(x.peakRssMB === undefined ? '' : x.peakRssMB.toFixed(0) + ' MB', 9)}  ${x.samples.map(fmtS).join(' ')}`);
  }
  lines.push('');
  lines.push('ratios (reg median / reference median; < 1 means reg is faster):');
  for (const c of results.comparisons) {
    lines.push(`  ${pad(c.label, W)} / ${pad(c.refLabel, 44)} = ${lpad(c.ratio.toFixed(2), 6)}x   (${fmtS(c.median)} s vs ${fmtS(c.refMedian)} s)`);
  }
  lines.push('');
  lines.push('targets:');
  for (const t of results.targets) lines.push(`  [${t.met ? 'MET ' : 'MISS'}] ${t.name}: ${t.detail}`);
  if (results.notes.length) {
    lines.push('');
    lines.push('notes:');
    for (const n of results.notes) lines.push(`  - ${n}`);
  }
  if (results.errors.length) {
    lines.push('');
    lines.push('errors:');
    for (const e of results.errors) lines.push(`  - ${e}`);
  }
  return lines.join('\n') + '\n';
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  results.errors.push(`fatal: ${err.stack ?? err}`);
  log(`FATAL ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  cleanup();
}
const text = report();
process.stdout.write(text);
const outDir = join(ROOT, 'bench', 'out');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `results-${results.date.replace(/[:.]/g, '-')}${CFG.quick ? '-quick' : ''}.json`);
writeFileSync(outFile, JSON.stringify({ ...results, table: text }, null, 2) + '\n');
process.stdout.write(`results written to ${outFile}\n`);
if (results.errors.length && exitCode === 0) exitCode = 1;
process.exit(exitCode);

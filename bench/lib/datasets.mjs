// The generated datasets. Each is created the first time a case asks for it, read once so that
// every timing runs with a warm page cache, and described in results.datasets.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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
export function generateTree(dir, n, seed) {
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
export function generateBigFile(path, mb) {
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

/**
 * The datasets of one run under `tmp`, generated on first use:
 * - small(): `small-repo/small`, cfg.smallFiles small files (add, status, push/pull)
 * - big(): `big-repo/big.bin`, cfg.bigMB MiB (big-file add, push/pull)
 * - status(): `status-repo/data`, cfg.statusFiles small files (the large add and status)
 * - batchSources(): `batch-sources/subject-NNNN/`, cfg.batchJobs folders of cfg.batchJobFiles
 *   small files each, outside every repository (the folders a batch CSV imports)
 */
export function createDatasets({ tmp, cfg, results, log, note, sh, syncDisk }) {
  const made = new Set();
  let warmNoted = false;
  const once = (key, make) => () => {
    if (!made.has(key)) {
      const t0 = Date.now();
      results.datasets[key] = make();
      const d = results.datasets[key];
      log(`  generated ${key} dataset: ${d.files} file${d.files === 1 ? '' : 's'}, ${(d.bytes / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      syncDisk();
      made.add(key);
      if (!warmNoted) {
        warmNoted = true;
        note('all timings are warm page cache: every dataset is read once before timing (24 GiB RAM holds them); see the cold-cache big-file rows for disk-bound figures where available');
      }
    }
    return paths[key];
  };
  const smallRepo = join(tmp, 'small-repo');
  const bigRepo = join(tmp, 'big-repo');
  const statusRepo = join(tmp, 'status-repo');
  const batchSources = join(tmp, 'batch-sources');
  const paths = {
    small: { repo: smallRepo, data: 'small', tree: join(smallRepo, 'small') },
    big: { repo: bigRepo, data: 'big.bin', file: join(bigRepo, 'big.bin') },
    status: { repo: statusRepo, data: 'data', tree: join(statusRepo, 'data') },
    batchSources: { dir: batchSources, folders: Array.from({ length: cfg.batchJobs }, (_, i) => `subject-${String(i + 1).padStart(4, '0')}`) },
  };
  const warmTree = (tree) => sh(`find . -type f -print0 | xargs -0 cat > /dev/null`, { cwd: tree });
  return {
    small: once('small', () => {
      const d = generateTree(paths.small.tree, cfg.smallFiles, 1);
      warmTree(paths.small.tree);
      return d;
    }),
    big: once('big', () => {
      mkdirSync(bigRepo, { recursive: true });
      const d = generateBigFile(paths.big.file, cfg.bigMB);
      sh('cat big.bin > /dev/null', { cwd: bigRepo });
      return d;
    }),
    status: once('status', () => {
      const d = generateTree(paths.status.tree, cfg.statusFiles, 2);
      warmTree(paths.status.tree);
      return d;
    }),
    batchSources: once('batchSources', () => {
      const all = { files: 0, bytes: 0, dirs: 0 };
      paths.batchSources.folders.forEach((folder, i) => {
        const d = generateTree(join(batchSources, folder), cfg.batchJobFiles, 1000 + i);
        all.files += d.files;
        all.bytes += d.bytes;
        all.dirs += 1;
      });
      warmTree(batchSources);
      return all;
    }),
    /** Reads the datasets generated so far again (after a step that dropped the page cache). */
    rewarm() {
      if (made.has('small')) warmTree(paths.small.tree);
      if (made.has('big')) sh('cat big.bin > /dev/null', { cwd: bigRepo });
      if (made.has('status')) warmTree(paths.status.tree);
      if (made.has('batchSources')) warmTree(batchSources);
    },
  };
}

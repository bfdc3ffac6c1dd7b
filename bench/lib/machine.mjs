// What the benchmark ran on, and the page-cache controls (root only).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, freemem, hostname, release, totalmem } from 'node:os';
import { ROOT, RSS_VIA, syncDisk, which } from './proc.mjs';

export function machineInfo(dir) {
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
    loadAverage: existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : undefined,
    tmpDir: dir,
    tmpFsType: fsType,
    kernel: release(),
    node: process.version,
    git: gitVersion,
    gitLfs: which('git-lfs') ? spawnSync('git', ['lfs', 'version'], { encoding: 'utf8' }).stdout?.trim() : undefined,
    rclone: which('rclone') ? spawnSync('rclone', ['version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() : undefined,
    regCommit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim(),
    regTreeDirty: (spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout ?? '').trim() !== '',
    rssVia: RSS_VIA,
  };
}

export function canDropCaches() {
  try {
    syncDisk();
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

export function dropCaches() {
  syncDisk();
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

// Running and timing processes: the reference tools, git, and the reg CLI (with its peak RSS).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REG_BIN = join(ROOT, 'bin', 'reg.cjs');

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'reg bench',
  GIT_AUTHOR_EMAIL: 'bench@example.org',
  GIT_COMMITTER_NAME: 'reg bench',
  GIT_COMMITTER_EMAIL: 'bench@example.org',
  GIT_CONFIG_NOSYSTEM: '1',
  // No automatic gc: a commit of a 20k or 100k-file tree (the status references) leaves more loose
  // objects than gc.auto's 6,700, and git then packs them in a detached background process for
  // 30-60 s, on one of the machine's two cores, while the next rounds are timed: every status
  // round before run Z ran beside it (reg's 100k no-change status ~0.74 s during it, ~0.43 s after).
  GIT_CONFIG_COUNT: '2',
  GIT_CONFIG_KEY_0: 'gc.auto',
  GIT_CONFIG_VALUE_0: '0',
  GIT_CONFIG_KEY_1: 'maintenance.auto',
  GIT_CONFIG_VALUE_1: 'false',
};
const BASE_ENV = { ...process.env, ...GIT_ENV, NO_COLOR: '1' };

export function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Runs a command synchronously and times it (wall clock, including process start). */
export function run(cmd, args, { cwd = ROOT, env = {}, input, allowFail = false, capture = true } = {}) {
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

export function sh(script, opts = {}) {
  return run('sh', ['-c', script], opts);
}

export function git(cwd, args, opts = {}) {
  return run('git', args, { cwd, ...opts });
}

export function syncDisk() {
  spawnSync('sync');
}

export const TIME_BIN = existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-v', 'true']).status === 0 ? '/usr/bin/time' : undefined;
export const RSS_VIA = TIME_BIN ? '/usr/bin/time -v' : 'node --import hook (process.resourceUsage().maxRSS)';

/**
 * Returns `reg(cwd, args, opts)`: runs the reg CLI and measures wall time and peak RSS (`rssMB`), via
 * `/usr/bin/time -v` when present, else via a `node --import` hook that writes
 * process.resourceUsage().maxRSS at exit. `tmp` holds the RSS files.
 */
export function makeReg(tmp) {
  let rssHookFile;
  return function reg(cwd, args, opts = {}) {
    const rssFile = join(tmp, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
    let r;
    if (TIME_BIN) {
      r = run(TIME_BIN, ['-v', '-o', rssFile, process.execPath, REG_BIN, ...args], { cwd, allowFail: true, ...opts });
    } else {
      if (!rssHookFile) {
        rssHookFile = join(tmp, 'rss-hook.mjs');
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
  };
}

/** Runs the reg CLI without any wrapper (no RSS figure): for start-up timings, where a wrapper's own start would count. */
export function regPlain(cwd, args, opts = {}) {
  return run(process.execPath, [REG_BIN, ...args], { cwd, ...opts });
}

// Command line and settings of the benchmark driver.

/** Dataset sizes and round counts per `--size`; each can still be overridden from the environment. */
export const SIZES = {
  full: { smallFiles: 20000, bigMB: 1024, statusFiles: 100000, rounds: 3, statusRounds: 5, pushRounds: 2, startupRounds: 20, batchJobs: 1000, batchJobFiles: 100 },
  quick: { smallFiles: 2000, bigMB: 64, statusFiles: 5000, rounds: 3, statusRounds: 5, pushRounds: 1, startupRounds: 10, batchJobs: 200, batchJobFiles: 25 },
  // For the harness's own smoke test: exercises every step, measures nothing worth reading.
  tiny: { smallFiles: 200, bigMB: 4, statusFiles: 300, rounds: 1, statusRounds: 2, pushRounds: 1, startupRounds: 2, batchJobs: 10, batchJobFiles: 5 },
};

const ENV_NAMES = {
  smallFiles: 'BENCH_SMALL_FILES',
  bigMB: 'BENCH_BIG_MB',
  statusFiles: 'BENCH_STATUS_FILES',
  rounds: 'BENCH_ROUNDS',
  statusRounds: 'BENCH_STATUS_ROUNDS',
  pushRounds: 'BENCH_PUSH_ROUNDS',
  startupRounds: 'BENCH_STARTUP_ROUNDS',
  batchJobs: 'BENCH_BATCH_JOBS',
  batchJobFiles: 'BENCH_BATCH_JOB_FILES',
};

export class UsageError extends Error {}

function envInt(env, name, dflt) {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, got ${v}`);
  return Math.round(n);
}

/**
 * Parses the driver's arguments: `--only a,b`, `--size full|quick|tiny` (`--quick` = `--size quick`),
 * `--out <dir>`, `--list`, `--help`.
 */
export function parseArgs(argv, env = process.env) {
  const opts = { size: 'full', only: undefined, outDir: undefined, list: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--help': case '-h': opts.help = true; break;
      case '--list': opts.list = true; break;
      case '--quick': opts.size = 'quick'; break;
      case '--size': opts.size = value(); break;
      case '--only': opts.only = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--out': opts.outDir = value(); break;
      default: throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if (!Object.hasOwn(SIZES, opts.size)) throw new UsageError(`--size must be one of ${Object.keys(SIZES).join(', ')}, got ${opts.size}`);
  const preset = SIZES[opts.size];
  const cfg = { size: opts.size, quick: opts.size !== 'full' };
  for (const [key, name] of Object.entries(ENV_NAMES)) cfg[key] = envInt(env, name, preset[key]);
  return { ...opts, cfg };
}

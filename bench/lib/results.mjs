// The results document: measurements (samples, median, min-max, peak RSS), comparisons (ratio of
// the medians and the per-round ratios), targets, notes and errors.
import { log } from './proc.mjs';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function createResults(cfg) {
  const results = {
    date: new Date().toISOString(),
    config: cfg,
    cases: [],
    machine: {},
    datasets: {},
    measurements: {},
    comparisons: [],
    targets: [],
    notes: [],
    errors: [],
  };

  /** Adds one timed sample (seconds, and peak RSS in MB when known) to a named measurement. */
  function sample(id, label, r) {
    const m = (results.measurements[id] ??= { label, samples: [], rssMB: [] });
    m.samples.push(Number(r.seconds.toFixed(4)));
    if (r.rssMB !== undefined) m.rssMB.push(Number(r.rssMB.toFixed(1)));
    m.median = Number(median(m.samples).toFixed(4));
    m.min = Math.min(...m.samples);
    m.max = Math.max(...m.samples);
    if (m.rssMB.length) m.peakRssMB = Math.max(...m.rssMB);
    log(`  ${label}: ${r.seconds.toFixed(3)} s${r.rssMB !== undefined ? `, peak RSS ${r.rssMB.toFixed(0)} MB` : ''}`);
    return r;
  }

  /**
   * Compares two measurements: the ratio of their medians, and, when both were sampled in the same
   * rounds (alternated, same count), the ratio within each round with its median and min-max.
   * Returns the comparison (undefined when either measurement is missing).
   */
  function compare(id, refId) {
    const a = results.measurements[id];
    const b = results.measurements[refId];
    if (!a || !b) return;
    const c = { id, refId, label: a.label, refLabel: b.label, median: a.median, refMedian: b.median, ratio: Number((a.median / b.median).toFixed(3)) };
    if (a.samples.length === b.samples.length && a.samples.length > 0) {
      const perRound = a.samples.map((x, i) => Number((x / b.samples[i]).toFixed(3)));
      Object.assign(c, { roundRatios: perRound, roundRatioMedian: Number(median(perRound).toFixed(3)), roundRatioMin: Math.min(...perRound), roundRatioMax: Math.max(...perRound) });
    }
    results.comparisons.push(c);
    return c;
  }

  function target(name, met, detail) {
    results.targets.push({ name, met, detail });
  }

  function note(text) {
    results.notes.push(text);
    log(`note: ${text}`);
  }

  /** Runs one part of the benchmark; a failure is recorded as an error and the run goes on. */
  async function section(name, fn) {
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

  return { results, sample, compare, target, note, section };
}

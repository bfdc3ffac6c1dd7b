import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressSink } from '../context.js';
import { formatBytes } from './output.js';

/**
 * Renders operation progress events on stderr: a bar with files, bytes, rate and ETA on a TTY;
 * nothing otherwise (logs still go to stderr). Redraws at most every 100 ms.
 */
export function makeProgressSink(opts: { tty: boolean; quiet: boolean; json: boolean; verbose: boolean }, stderr: NodeJS.WriteStream): ProgressSink {
  const show = opts.tty && !opts.quiet && !opts.json;
  const bars = new Map<string, { bar: cliProgress.SingleBar; done: number; bytes: number; total: number; totalBytes: number; started: number }>();
  return (event: ProgressEvent) => {
    switch (event.type) {
      case 'log':
        if (event.level === 'debug' && !opts.verbose) return;
        if (opts.quiet && event.level !== 'warn') return;
        stderr.write(`${event.level === 'warn' ? 'warning: ' : ''}${event.message}\n`);
        return;
      case 'start': {
        if (!show) return;
        const bar = new cliProgress.SingleBar(
          {
            stream: stderr,
            format: `${event.label} [{bar}] {percentage}% | {files}/{filesTotal} | {bytesDone}/{bytesTotal} | {rate} | ETA {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
            fps: 10,
            etaBuffer: 50,
            barsize: 24,
          },
          cliProgress.Presets.shades_classic,
        );
        const total = event.total ?? 0;
        const totalBytes = event.totalBytes ?? 0;
        // The bar advances by bytes when sizes are known (one big file still moves), else by items.
        bar.start(totalBytes > 0 ? totalBytes : total, 0, { files: 0, filesTotal: total, bytesDone: formatBytes(0), bytesTotal: formatBytes(totalBytes), rate: '' });
        bars.set(event.phase, { bar, done: 0, bytes: 0, total, totalBytes, started: Date.now() });
        return;
      }
      case 'advance': {
        const b = bars.get(event.phase);
        if (!b) return;
        b.done += event.done ?? 0;
        b.bytes += event.bytes ?? 0;
        const secs = Math.max(0.001, (Date.now() - b.started) / 1000);
        b.bar.update(b.totalBytes > 0 ? b.bytes : b.done, { files: b.done, filesTotal: b.total, bytesDone: formatBytes(b.bytes), bytesTotal: formatBytes(b.totalBytes), rate: `${formatBytes(b.bytes / secs)}/s` });
        return;
      }
      case 'end': {
        const b = bars.get(event.phase);
        if (!b) return;
        b.bar.stop();
        bars.delete(event.phase);
        return;
      }
    }
  };
}

import type { ProgressEvent, ProgressSink } from '../context.js';
import { escapeTerminal, formatBytes } from './output.js';

/**
 * Progress on stderr, on a TTY only: one line per running phase, redrawn at most every 100 ms,
 * fitted to the terminal width (the bar goes first, then the label shrinks, then the totals;
 * percentage, rate and ETA stay). The rate is smoothed exponentially over about 5 s so the ETA
 * does not swing. A phase shorter than FIRST_DRAW_MS never draws (no flicker); one that did draw
 * leaves a one-line summary when it ends, like git's "done." lines, so the screen is never blank
 * between phases and the last phase stays visible. Written by hand: cli-progress cut the line at
 * a fixed width (rate and ETA fell off) and smoothed over a count of updates, not time.
 */

const REDRAW_MS = 100;
const FIRST_DRAW_MS = 250;
/** Time constant of the rate's exponential smoothing. */
const RATE_WINDOW_S = 5;
const MIN_SAMPLE_S = 0.2;
const MIN_LABEL = 12;
const MIN_BAR = 10;
const MAX_BAR = 30;

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** An exponentially smoothed rate (units per second) of a growing counter. */
export class RateMeter {
  private rate: number | undefined;
  private lastAt: number;
  private lastValue = 0;

  constructor(private readonly startedAt: number) {
    this.lastAt = startedAt;
  }

  sample(now: number, value: number): void {
    const dt = (now - this.lastAt) / 1000;
    if (dt < MIN_SAMPLE_S) return;
    const elapsed = (now - this.startedAt) / 1000;
    // Over the first window the average since the start is the steadiest estimate; after it,
    // each new stretch moves the estimate by its share of the window.
    if (this.rate === undefined || elapsed < RATE_WINDOW_S) this.rate = value / elapsed;
    else this.rate += (1 - Math.exp(-dt / RATE_WINDOW_S)) * ((value - this.lastValue) / dt - this.rate);
    this.lastAt = now;
    this.lastValue = value;
  }

  get perSecond(): number | undefined {
    return this.rate;
  }
}

/** What the display knows about a running phase. */
export interface PhaseState {
  label: string;
  total: number;
  totalBytes: number;
  done: number;
  bytes: number;
  startedAt: number;
  meter: RateMeter;
  drawn: boolean;
}

/** Terminal columns a string takes: wide East Asian characters and emoji count 2, controls 0 after sanitising. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if ((cp >= 0x300 && cp <= 0x36f) || cp === 0x200b || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  const wide =
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}

/** Control characters in names would move the cursor: shown as '?'. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?');
}

/** Cuts `s` to `width` columns, keeping its start and end around an ellipsis. */
export function shorten(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 1) return width === 1 ? '…' : '';
  const chars = Array.from(s);
  const keepEnd = Math.floor((width - 1) / 2);
  let head = '';
  let tail = '';
  let used = 1;
  for (let i = chars.length - 1, taken = 0; i >= 0 && taken + charWidth(chars[i]!.codePointAt(0)!) <= keepEnd; i--) {
    taken += charWidth(chars[i]!.codePointAt(0)!);
    tail = chars[i] + tail;
  }
  used += displayWidth(tail);
  for (const ch of chars) {
    const w = charWidth(ch.codePointAt(0)!);
    if (used + w > width) break;
    head += ch;
    used += w;
  }
  return head + '…' + tail;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function countText(n: number): string {
  return n >= 10000 ? `${(n / 1000).toFixed(n >= 100000 ? 0 : 1)}k` : String(n);
}

/** The progress line of a running phase, at most `width` columns. */
export function renderProgressLine(p: PhaseState, now: number, width: number): string {
  const byBytes = p.totalBytes > 0;
  const value = byBytes ? p.bytes : p.done;
  const total = byBytes ? p.totalBytes : p.total;
  const fraction = total > 0 ? Math.min(1, value / total) : undefined;
  const rate = p.meter.perSecond;
  const pct = fraction === undefined ? '' : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  // Numbers padded to their final width so the line (and the bar) does not jump between redraws.
  const totalCount = countText(p.total);
  const counts = p.total > 0 ? `${countText(p.done).padStart(totalCount.length)}/${totalCount}` : p.done > 0 ? countText(p.done) : '';
  const totalSize = formatBytes(p.totalBytes);
  const bytes = byBytes ? `${formatBytes(p.bytes).padStart(totalSize.length)}/${totalSize}` : '';
  const rateText = (rate === undefined ? '-- /s' : byBytes ? `${formatBytes(rate)}/s` : `${rate.toFixed(rate >= 10 ? 0 : 1)}/s`).padStart(byBytes ? 12 : 6);
  const eta = rate !== undefined && rate > 0 && total > 0 ? `ETA ${formatDuration((total - value) / rate)}` : total > 0 ? 'ETA --:--' : formatDuration((now - p.startedAt) / 1000);
  const label = printable(p.label);
  // Pieces that must stay, then optional ones in the order they are given up.
  const essential = [pct, rateText, eta].filter(Boolean);
  let optional = [counts, bytes].filter(Boolean);
  const join = (labelText: string, pieces: string[], bar: string) => [labelText, bar, ...pieces].filter(Boolean).join(' ');
  const arrange = (pieces: string[]) => [...(pct ? [pct] : []), ...pieces, ...essential.filter((e) => e !== pct)];
  for (;;) {
    const pieces = arrange(optional);
    const fixed = displayWidth(join('', pieces, ''));
    const labelRoom = width - fixed - 1;
    if (labelRoom >= MIN_LABEL || optional.length === 0) {
      const labelText = shorten(label, Math.max(0, Math.min(displayWidth(label), labelRoom)));
      const barRoom = width - displayWidth(join(labelText, pieces, '')) - 1;
      const bar = fraction !== undefined && barRoom >= MIN_BAR + 2 ? progressBar(fraction, Math.min(MAX_BAR, barRoom - 2)) : '';
      return shorten(join(labelText, pieces, bar), width);
    }
    optional = optional.slice(0, -1);
  }
}

function progressBar(fraction: number, inner: number): string {
  const filled = Math.round(fraction * inner);
  return `[${'#'.repeat(filled)}${'-'.repeat(inner - filled)}]`;
}

/** The line a phase that was shown leaves behind when it ends. */
export function renderSummaryLine(p: PhaseState, now: number, width: number): string {
  const secs = Math.max(0.001, (now - p.startedAt) / 1000);
  const complete = p.totalBytes > 0 ? p.bytes >= p.totalBytes : p.done >= p.total;
  const parts = [complete ? 'done' : 'stopped', p.total > 0 ? `${countText(p.done)}/${countText(p.total)}` : '', p.totalBytes > 0 ? formatBytes(p.bytes) : ''];
  const speed = p.totalBytes > 0 ? ` (${formatBytes(p.bytes / secs)}/s)` : '';
  const rest = `: ${parts.filter(Boolean).join(', ')} in ${formatDuration(secs)}${speed}`;
  const label = printable(p.label);
  return shorten(shorten(label, Math.max(MIN_LABEL, width - displayWidth(rest))) + rest, width);
}

const CLEAR_LINE = '\r\x1b[K';

/** Draws phases on a terminal stream; `now` is injectable so the rendering can be tested. */
export class ProgressDisplay {
  private readonly phases = new Map<string, PhaseState>();
  private current: string | undefined;
  private lastDraw = 0;
  private onScreen = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number = Date.now,
    private readonly useTimer = true,
  ) {}

  private width(): number {
    // One column short of the edge: some terminals wrap when the last column is written.
    return Math.max(20, (this.stream.columns ?? 80) - 1);
  }

  start(phase: string, label: string, total = 0, totalBytes = 0): void {
    const now = this.now();
    this.phases.set(phase, { label, total, totalBytes, done: 0, bytes: 0, startedAt: now, meter: new RateMeter(now), drawn: false });
    this.current = phase;
    if (this.useTimer && !this.timer) {
      this.timer = setInterval(() => this.tick(), REDRAW_MS);
      this.timer.unref();
    }
  }

  advance(phase: string, done = 0, bytes = 0): void {
    const p = this.phases.get(phase);
    if (!p) return;
    p.done += done;
    p.bytes += bytes;
    this.tick();
  }

  /** Redraws the current phase if it is due. */
  tick(): void {
    const p = this.current === undefined ? undefined : this.phases.get(this.current);
    if (!p) return;
    const now = this.now();
    p.meter.sample(now, p.totalBytes > 0 ? p.bytes : p.done);
    if (now - p.startedAt < FIRST_DRAW_MS || now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    p.drawn = true;
    this.onScreen = true;
    this.stream.write(CLEAR_LINE + renderProgressLine(p, now, this.width()));
  }

  end(phase: string): void {
    const p = this.phases.get(phase);
    if (!p) return;
    this.phases.delete(phase);
    if (phase === this.current) {
      if (p.drawn) {
        this.stream.write(CLEAR_LINE + renderSummaryLine(p, this.now(), this.width()) + '\n');
        this.onScreen = false;
      }
      this.current = [...this.phases.keys()].pop();
    }
    if (this.phases.size === 0) this.stopTimer();
  }

  /** Clears a partly drawn line before other text goes to the terminal. */
  clear(): void {
    if (this.onScreen) this.stream.write(CLEAR_LINE);
    this.onScreen = false;
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The sink ops report to: a progress display on a TTY (not with --quiet or --json), log lines on
 * stderr otherwise. With --quiet only errors are printed, so logs (warnings included) are not.
 */
export function makeProgressSink(opts: { tty: boolean; quiet: boolean; json: boolean; verbose: boolean }, stderr: ProgressStream): ProgressSink {
  const display = opts.tty && !opts.quiet && !opts.json ? new ProgressDisplay(stderr) : undefined;
  return (event: ProgressEvent) => {
    switch (event.type) {
      case 'log':
        if (opts.quiet || (event.level === 'debug' && !opts.verbose)) return;
        display?.clear();
        stderr.write(`${event.level === 'warn' ? 'warning: ' : ''}${escapeTerminal(event.message)}\n`);
        return;
      case 'start':
        display?.start(event.phase, event.label, event.total, event.totalBytes);
        return;
      case 'advance':
        display?.advance(event.phase, event.done, event.bytes);
        return;
      case 'end':
        display?.end(event.phase);
        return;
    }
  };
}

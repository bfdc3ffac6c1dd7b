import { describe, expect, it } from 'vitest';
import { displayWidth, makeProgressSink, ProgressDisplay } from '../../src/cli/progress.js';

/** A fake terminal: an object with isTTY, columns and a write that records what it got. */
function fakeTty(columns: number) {
  const chunks: string[] = [];
  return {
    stream: { isTTY: true, columns, write: (s: string) => chunks.push(s) },
    text: () => chunks.join(''),
    /** Every line as the terminal shows it: split at \r and \n, escape sequences removed. */
    lines: () => chunks.join('').split(/[\r\n]/).map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')).filter((l) => l !== ''),
  };
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const RATE = /\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)\/s/;
const ETA = /ETA \d+:\d\d/;

describe('progress line', () => {
  it('fits 80 columns with rate and ETA, even with a long label and big totals', () => {
    const tty = fakeTty(80);
    let now = 0;
    const display = new ProgressDisplay(tty.stream, () => now, false);
    display.start('hash', `adding raw_datasets/${'very-long-directory-name/'.repeat(6)}images`, 123456, 1500 * GiB);
    for (let i = 0; i < 600; i++) {
      now += 100;
      display.advance('hash', 3, 40 * MiB);
    }
    const lines = tty.lines();
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) {
      expect(displayWidth(line)).toBeLessThanOrEqual(80);
      expect(line).toMatch(RATE);
      expect(line).toMatch(ETA);
    }
  });

  it('drops the bar before the numbers and keeps the label whole when there is room', () => {
    const wide = fakeTty(160);
    const narrow = fakeTty(80);
    for (const tty of [wide, narrow]) {
      let now = 0;
      const display = new ProgressDisplay(tty.stream, () => now, false);
      display.start('push', 'uploading raw_datasets/mnist to origin', 40, 10 * GiB);
      now += 1000;
      display.advance('push', 10, 2 * GiB);
    }
    const [wideLine] = wide.lines();
    const [narrowLine] = narrow.lines();
    expect(wideLine).toMatch(/^uploading raw_datasets\/mnist to origin \[#+-+\] +20% +10\/40 +2\.0 GiB\/10\.0 GiB +2\.0 GiB\/s ETA 0:04$/);
    expect(narrowLine).not.toContain('[');
    // no room for everything: the bar goes first, then the label is shortened in the middle
    expect(narrowLine).toMatch(/^uploading raw_.*….*to origin +20% +10\/40 +2\.0 GiB\/10\.0 GiB +2\.0 GiB\/s ETA 0:04$/);
    expect(displayWidth(narrowLine!)).toBeLessThanOrEqual(80);
  });

  it('smooths the rate over time: bursty progress does not make the ETA swing', () => {
    const tty = fakeTty(100);
    let now = 0;
    const display = new ProgressDisplay(tty.stream, () => now, false);
    const total = 60 * 100 * MiB; // 60 s at 100 MiB/s on average
    display.start('fetch', 'fetching', 600, total);
    const predictedTotals: number[] = [];
    for (let tick = 1; tick <= 400; tick++) {
      // a 100 MiB object lands every 2 s, small ones in between (ten reports per 100 ms): 100 MiB/s on average
      const big = tick % 20 === 0;
      for (let k = 1; k <= 10; k++) {
        now = tick * 100 - 100 + k * 10;
        display.advance('fetch', big && k === 10 ? 1 : 0, big ? (k === 10 ? 100 * MiB : 0) : (100 * MiB) / 190);
      }
      const last = tty.lines().at(-1)!;
      const eta = /ETA (\d+):(\d\d)/.exec(last);
      if (eta && now >= 8000) predictedTotals.push(now / 1000 + Number(eta[1]) * 60 + Number(eta[2]));
    }
    expect(predictedTotals.length).toBeGreaterThan(100);
    expect(Math.max(...predictedTotals) / Math.min(...predictedTotals)).toBeLessThan(1.25);
  });

  it('keeps the last phase visible: a shown phase leaves a summary line, short phases draw nothing', () => {
    const tty = fakeTty(80);
    let now = 0;
    const display = new ProgressDisplay(tty.stream, () => now, false);
    display.start('hash', 'hashing raw_datasets/x', 10, 10 * MiB);
    now += 50;
    display.advance('hash', 10, 10 * MiB);
    display.end('hash');
    expect(tty.text()).toBe('');
    display.start('push', 'uploading raw_datasets/x', 4, 8 * MiB);
    for (let i = 0; i < 10; i++) {
      now += 200;
      display.advance('push', i % 3 === 0 ? 1 : 0, MiB);
    }
    display.end('push');
    const summary = tty.text().split('\n').at(-2)!.split('\r').at(-1)!.replace(/\x1b\[K/g, '');
    expect(summary).toMatch(/^uploading raw_datasets\/x: done, 4\/4, 10\.0 MiB in 0:02 \(5\.0 MiB\/s\)$/);
    // the next phase draws on the line below; the summary stays
    display.start('checkout', 'checking out raw_datasets/x', 100);
    now += 400;
    display.advance('checkout', 50);
    expect(tty.text().split('\n').at(-1)).toMatch(/checking out raw_datasets\/x (\[[#-]+\] +)?50% +50\/100/);
  });

  it('counts wide characters as two columns and never prints control characters from a name', () => {
    const tty = fakeTty(40);
    let now = 0;
    const display = new ProgressDisplay(tty.stream, () => now, false);
    display.start('hash', 'adding 数据集/画像/\x1b]0;pwned\x07/データ', 10, 10 * MiB);
    now += 1000;
    display.advance('hash', 1, MiB);
    const line = tty.lines()[0]!;
    expect(displayWidth(line)).toBeLessThanOrEqual(40);
    expect(line).not.toMatch(/[\x00-\x1f]/);
  });
});

describe('progress sink', () => {
  const phase = (sink: ReturnType<typeof makeProgressSink>) => {
    sink({ type: 'start', phase: 'p', label: 'x', total: 1 });
    sink({ type: 'log', level: 'warn', message: 'careful' });
    sink({ type: 'log', level: 'info', message: 'note' });
    sink({ type: 'end', phase: 'p' });
  };
  it('logs without drawing when stderr is not a terminal', () => {
    const tty = fakeTty(80);
    phase(makeProgressSink({ tty: false, quiet: false, json: false, verbose: false }, tty.stream));
    expect(tty.text()).toBe('warning: careful\nnote\n');
  });
  it('prints nothing with --quiet (only errors, which the CLI prints itself)', () => {
    const tty = fakeTty(80);
    phase(makeProgressSink({ tty: true, quiet: true, json: false, verbose: false }, tty.stream));
    expect(tty.text()).toBe('');
  });
});

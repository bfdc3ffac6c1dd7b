import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { BodyCounter, readBody } from '../../dist/store/body.js';
import { HashingTap } from '../../dist/store/hashing-tap.js';
import { PositionedFileWriter } from '../../dist/store/follow-hash.js';
import { RegError } from '../../dist/errors.js';
import { removeDir, tempDir } from '../helpers/repo.js';

// Every reader of a remote body stops one that runs past its limit with the limit's own error.
const MAX = 10_000;
class TooBig extends Error {}
const limit = { maxBytes: MAX, tooBig: () => new TooBig(`more than ${MAX} bytes`) };
/** A body of `n` bytes in chunks of 1,000. */
const body = (n: number) => Readable.from(Array.from({ length: Math.ceil(n / 1000) }, (_, i) => Buffer.alloc(Math.min(1000, n - i * 1000), 0x61)));
const sink = () => {
  let got = 0;
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got += chunk.length;
      cb();
    },
  });
  return { w, got: () => got };
};

describe('body limits', () => {
  it('BodyCounter: exactly maxBytes is fine, one byte more is the limit error; no limit counts only', () => {
    const c = new BodyCounter(limit);
    expect(c.take(MAX)).toBeUndefined();
    expect(c.take(1)).toBeInstanceOf(TooBig);
    const free = new BodyCounter(undefined);
    expect(free.take(10 * MAX)).toBeUndefined();
    expect(free.received).toBe(10 * MAX);
  });

  it('HashingTap: a body at the limit passes; one past it fails with tooBig, or without one (expecting an md5) as a content mismatch naming the limit', async () => {
    const ok = sink();
    await pipeline(body(MAX), new HashingTap({ legacy: false, limit }), ok.w);
    expect(ok.got()).toBe(MAX);
    await expect(pipeline(body(MAX + 1), new HashingTap({ legacy: false, limit }), sink().w)).rejects.toBeInstanceOf(TooBig);
    const tap = new HashingTap({ legacy: false, expect: { md5: 'a'.repeat(32), key: 'k', where: 'here' }, limit: { maxBytes: MAX } });
    const held = sink();
    const err = await pipeline(body(MAX + 5000), tap, held.w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).exit).toBe('integrity');
    expect((err as RegError).message).toContain(`more than the ${MAX} bytes expected`);
    expect(held.got()).toBeLessThan(MAX);
  });

  it('PositionedFileWriter: bytes past the limit are never written; the error is the limit error', async () => {
    const dir = tempDir('reg-body-limit-');
    const path = join(dir, 'body');
    const fd = openSync(path, 'wx');
    const writer = new PositionedFileWriter(fd, () => undefined, undefined, limit);
    try {
      await expect(pipeline(body(MAX + 2500), writer)).rejects.toBeInstanceOf(TooBig);
    } finally {
      await writer.settled();
      closeSync(fd);
    }
    expect(readFileSync(path).length).toBeLessThanOrEqual(MAX);
    const okPath = join(dir, 'ok');
    const okFd = openSync(okPath, 'wx');
    const ok = new PositionedFileWriter(okFd, () => undefined, undefined, limit);
    await pipeline(body(MAX), ok);
    await ok.settled();
    closeSync(okFd);
    expect(readFileSync(okPath).length).toBe(MAX);
    removeDir(dir);
  });

  it('readBody: a body at the limit is read whole; one past it is the limit error', async () => {
    expect((await readBody(body(MAX), undefined, undefined, limit)).length).toBe(MAX);
    await expect(readBody(body(MAX + 1), undefined, undefined, limit)).rejects.toBeInstanceOf(TooBig);
  });
});

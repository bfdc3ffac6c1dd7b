import { expect } from 'vitest';
import { RegError } from '../../dist/errors.js';

/** Awaits `p` and asserts it rejects with a RegError of this code (and exit code, when given). */
export async function expectRegError(p: Promise<unknown>, code: string, exit?: number): Promise<RegError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegError);
    expect((err as RegError).code, (err as Error).message).toBe(code);
    if (exit !== undefined) expect((err as RegError).exitCode).toBe(exit);
    return err as RegError;
  }
  throw new Error(`expected RegError ${code}, but the operation succeeded`);
}

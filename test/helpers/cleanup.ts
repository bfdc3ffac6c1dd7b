import { afterEach } from 'vitest';

/**
 * For tests that make things needing an async cleanup (a World, a server): returns a function
 * that registers one, and cleans every one registered after each test, a failed one too — no
 * try/finally in every test.
 */
export function cleanedAfterEach<T extends { cleanup(): Promise<void> }>(): (made: T) => T {
  const made: T[] = [];
  afterEach(async () => {
    for (const t of made.splice(0)) await t.cleanup();
  });
  return (t) => {
    made.push(t);
    return t;
  };
}

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder, makeGitRepo, tempFilesUnder, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { interruptWhen, sparseFile, STOPS_WITHIN_MS } from '../helpers/interrupt.js';

/**
 * Ctrl-C (SIGINT to the reg process) while it works: it stops (without hanging), removes its temp
 * files, and exits 130.
 */

function hasTemp(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return tempFilesUnder(dir).length > 0;
}

describe('Ctrl-C', () => {
  it('during reg add of one large file: exit 130, no temp file left', async () => {
    const repo = makeGitRepo();
    try {
      await regOk(repo, ['init']);
      sparseFile(join(repo, 'huge.bin'), 8 * 2 ** 30);
      const r = await interruptWhen(repo, ['add', 'huge.bin'], () => hasTemp(join(repo, '.reg', 'cache')));
      expect(r.code, r.stderr).toBe(130);
      expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
      expect(r.stderr).toContain('interrupted');
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(existsSync(join(repo, 'huge.bin.dvc'))).toBe(false);
    } finally {
      removeDir(repo);
    }
  }, 120_000);

  it('during reg add of many small files: exit 130, no temp file left', async () => {
    const repo = makeGitRepo();
    try {
      await regOk(repo, ['init']);
      const files: Record<string, string> = {};
      for (let i = 0; i < 40_000; i++) files[`many/d${i % 100}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 50));
      writeTree(repo, files);
      const objects = join(repo, '.reg', 'cache', 'files', 'md5');
      const r = await interruptWhen(repo, ['add', 'many'], () => existsSync(objects) && readdirSync(objects).length > 2);
      expect(r.code, r.stderr).toBe(130);
      expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(existsSync(join(repo, 'many.dvc'))).toBe(false);
    } finally {
      removeDir(repo);
    }
  }, 180_000);

  it('during reg push to a directory remote: exit 130, no temp file on the remote, no manifest', async () => {
    const repo = makeGitRepo();
    const remote = tempDir('reg-int-remote-');
    try {
      await regOk(repo, ['init']);
      sparseFile(join(repo, 'big.bin'), 1.5 * 2 ** 30);
      writeTree(repo, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`dir/f${i}.txt`, `f${i}\n`])));
      await regOk(repo, ['add', 'big.bin', 'dir']);
      await regOk(repo, ['remote', 'add', 'nas', remote, '--default']);
      const r = await interruptWhen(repo, ['push', 'big.bin', 'dir', '-j', '2'], () => hasTemp(remote));
      expect(r.code, r.stderr).toBe(130);
      expect(r.afterSignalMs).toBeLessThan(STOPS_WITHIN_MS);
      expect(tempFilesUnder(remote)).toEqual([]);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(filesUnder(remote).filter((f) => f.endsWith('.dir'))).toEqual([]);
    } finally {
      removeDir(repo);
      removeDir(remote);
    }
  }, 180_000);
});

import { spawn } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REG_BIN, filesUnder, makeGitRepo, tempFilesUnder, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';

/**
 * Ctrl-C (SIGINT to the reg process) while it works: it stops within a second, removes its temp
 * files, and exits 130.
 */
interface Interrupted {
  code: number | null;
  /** Milliseconds from the signal to the exit. */
  afterSignalMs: number;
  stderr: string;
}

/** Runs reg, sends SIGINT as soon as `ready()` holds (polled), and waits for the exit. */
function interruptWhen(cwd: string, args: string[], ready: () => boolean): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REG_BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let signalledAt: number | undefined;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const poll = setInterval(() => {
      if (signalledAt === undefined && ready()) {
        signalledAt = Date.now();
        child.kill('SIGINT');
      }
    }, 5);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (signalledAt === undefined) reject(new Error(`reg ${args.join(' ')} finished (exit ${code}) before it could be interrupted:\n${stderr}`));
      else resolve({ code, afterSignalMs: Date.now() - signalledAt, stderr });
    });
  });
}

/** A file of `bytes` zeros that takes no disk space (reading and hashing it still takes time). */
function sparseFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}


function hasTemp(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return tempFilesUnder(dir).length > 0;
}

describe('Ctrl-C', () => {
  it('during reg add of one large file: exit 130 within a second, no temp file left', async () => {
    const repo = makeGitRepo();
    try {
      await regOk(repo, ['init']);
      sparseFile(join(repo, 'huge.bin'), 8 * 2 ** 30);
      const r = await interruptWhen(repo, ['add', 'huge.bin'], () => hasTemp(join(repo, '.reg', 'cache')));
      expect(r.code, r.stderr).toBe(130);
      expect(r.afterSignalMs).toBeLessThan(1000);
      expect(r.stderr).toContain('interrupted');
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(existsSync(join(repo, 'huge.bin.dvc'))).toBe(false);
    } finally {
      removeDir(repo);
    }
  }, 120_000);

  it('during reg add of many small files: exit 130 within a second, no temp file left', async () => {
    const repo = makeGitRepo();
    try {
      await regOk(repo, ['init']);
      const files: Record<string, string> = {};
      for (let i = 0; i < 40_000; i++) files[`many/d${i % 100}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 50));
      writeTree(repo, files);
      const objects = join(repo, '.reg', 'cache', 'files', 'md5');
      const r = await interruptWhen(repo, ['add', 'many'], () => existsSync(objects) && readdirSync(objects).length > 2);
      expect(r.code, r.stderr).toBe(130);
      expect(r.afterSignalMs).toBeLessThan(1000);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(existsSync(join(repo, 'many.dvc'))).toBe(false);
    } finally {
      removeDir(repo);
    }
  }, 180_000);

  it('during reg push to a directory remote: exit 130 within a second, no temp file on the remote, no manifest', async () => {
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
      expect(r.afterSignalMs).toBeLessThan(1000);
      expect(tempFilesUnder(remote)).toEqual([]);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(filesUnder(remote).filter((f) => f.endsWith('.dir'))).toEqual([]);
    } finally {
      removeDir(repo);
      removeDir(remote);
    }
  }, 180_000);
});

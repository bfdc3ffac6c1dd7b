import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, removeDir, tempDir } from '../helpers/repo.js';

// Keeps the benchmark harness from rotting: runs the driver at its smallest size on two cheap cases
// and checks the shape of what it reports. Never asserts a timing.
const work = tempDir('reg-bench-smoke-');
afterAll(() => removeDir(work));

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bench', 'run.mjs'), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, TMPDIR: work, BENCH_COLD: '0', BENCH_KEEP: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

describe('bench/run.mjs', () => {
  it('runs the selected cases at --size tiny and writes the JSON and Markdown results', async () => {
    const out = join(work, 'out');
    const r = await bench(['--size', 'tiny', '--only', 'add,startup', '--out', out]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const files = readdirSync(out);
    const json = files.find((f) => /^results-.*-tiny\.json$/.test(f));
    expect(json).toBeDefined();
    expect(files).toContain(json!.replace(/\.json$/, '.md'));
    const doc = JSON.parse(readFileSync(join(out, json!), 'utf8'));
    expect(doc.errors).toEqual([]);
    expect(doc.cases).toEqual(['startup', 'add']); // the table's order, not the order asked for
    expect(doc.config).toMatchObject({ size: 'tiny', smallFiles: 200 });
    expect(doc.datasets.small).toMatchObject({ files: 200 });
    expect(doc.datasets.status).toBeUndefined(); // generated only for the cases that need it
    const ids = Object.keys(doc.measurements);
    expect(ids).toEqual(expect.arrayContaining(['node-startup', 'reg-version', 'reg-hook-pre-commit', 'reg-hook-post-checkout', 'reg-hook-post-merge', 'add-small', 'git-add-small', 'md5-small']));
    expect(ids.some((id) => id.startsWith('status'))).toBe(false);
    expect(doc.measurements['reg-version'].samples).toHaveLength(doc.config.startupRounds);
    expect(doc.measurements['add-small'].samples).toHaveLength(doc.config.rounds);
    const c = doc.comparisons.find((x: { id: string; refId: string }) => x.id === 'reg-version' && x.refId === 'node-startup');
    expect(c.roundRatios).toHaveLength(doc.config.startupRounds);
    expect(c.ratio).toBeGreaterThan(0);
    expect(r.stdout).toContain('reg --version (start-up)');
    expect(readFileSync(join(out, json!.replace(/\.json$/, '.md')), 'utf8')).toContain('| reg --version (start-up) |');
    // the run's datasets and repos are deleted afterwards
    expect(readdirSync(work).filter((f) => f.startsWith('reg-bench-'))).toEqual([]);
  }, 600_000);

  it('refuses an unknown case or size with exit 2 and names the choices', async () => {
    const r = await bench(['--only', 'nonesuch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('startup, add, status');
    const s = await bench(['--size', 'huge']);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('full, quick, tiny');
  });
});

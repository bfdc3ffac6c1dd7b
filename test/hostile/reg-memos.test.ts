import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, reg, regOk, removeDir, tempFilesUnder } from '../helpers/repo.js';
import { isRoot, registryOnSmallDisk } from '../helpers/tmpfs.js';
import { keepingGit, makeSentinel, snapshotTree } from './tree.js';
import { makeWorld, runGuarded, type World } from './world.js';

/**
 * reg remembers the verdicts of card checks in `.reg/tmp/card-checks.json`, keyed by a hash of
 * the card's text. A forged memo that calls a broken card fine must never make `reg check` pass:
 * not when a commit put it there (`git add -f`; CI checks out such a commit), not through a link
 * to a file outside, and a FIFO there must not hang the check. Nothing outside the repository
 * and nothing in `.git` changes (runGuarded compares both around every run).
 */

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

const MEMO = '.reg/tmp/card-checks.json';
const BROKEN_CARD = '# Card: scans\n\nNo front matter at all.\n';

interface Check {
  code: number;
  rules: string[];
}

async function check(w: World, staged = false): Promise<Check> {
  const r = await runGuarded(w, ['check', ...(staged ? ['--staged'] : [])]);
  const findings = (r.json as { findings: Array<{ rule: string; file: string }> }).findings;
  return { code: r.code, rules: findings.map((f) => `${f.rule} ${f.file}`).sort() };
}

/**
 * A versioned entry raw_datasets/scans with a broken card, committed, and the memo of a check of
 * it forged to say the card has no problems (what an attacker would commit).
 */
async function brokenCardAndForgedMemo(w: World): Promise<{ honest: Check; forged: string }> {
  mkdirSync(join(w.repo, 'raw_datasets/scans'), { recursive: true });
  writeFileSync(join(w.repo, 'raw_datasets/scans/p1.txt'), 'page\n');
  writeFileSync(join(w.repo, 'raw_datasets/scans.card.md'), BROKEN_CARD);
  await regOk(w.repo, ['add', 'raw_datasets/scans'], { env: w.env });
  git(w.repo, 'add', '-A');
  git(w.repo, 'commit', '-qm', 'scans, card broken');
  const honest = await check(w);
  expect(honest.code).toBe(5);
  expect(honest.rules, JSON.stringify(honest.rules)).toContain('card-field raw_datasets/scans.card.md');
  const stored = JSON.parse(readFileSync(join(w.repo, MEMO), 'utf8')) as { v: number; results: Record<string, unknown[]> };
  expect(Object.values(stored.results).some((found) => found.length > 0)).toBe(true);
  for (const key of Object.keys(stored.results)) stored.results[key] = [];
  return { honest, forged: JSON.stringify(stored) };
}

describe('a forged card-check memo never lets a broken card pass', () => {
  it('one a commit put there is not used, and is reported as reg state in Git (check and --staged); the same memo untracked would be believed', async () => {
    const w = (world = await makeWorld('none'));
    const { honest, forged } = await brokenCardAndForgedMemo(w);
    // The forgery works on a memo reg wrote itself: this is what the guard must keep out.
    writeFileSync(join(w.repo, MEMO), forged);
    expect(await check(w)).toEqual({ code: 0, rules: [] });

    writeFileSync(join(w.repo, MEMO), forged);
    git(w.repo, 'add', '-f', MEMO);
    const staged = await check(w, true);
    expect(staged.code).toBe(5);
    expect(staged.rules).toContain(`reg-state-tracked ${MEMO}`);
    git(w.repo, 'commit', '-qm', 'planted memo', '--no-verify');

    const after = await check(w);
    expect(after.code).toBe(5);
    expect(after.rules).toEqual([...honest.rules, `reg-state-tracked ${MEMO}`].sort());
    // Not rewritten either: the tracked file stays as the commit has it.
    expect(readFileSync(join(w.repo, MEMO), 'utf8')).toBe(forged);
    expect(git(w.repo, 'status', '--porcelain', '--', MEMO)).toBe('');
    // The pre-commit hook's check of a later commit, with the memo tracked but not staged: the
    // card is still judged, and the memo (not part of this commit) is not flagged.
    writeFileSync(join(w.repo, 'notes.txt'), 'unrelated\n');
    git(w.repo, 'add', 'notes.txt');
    const hook = await check(w, true);
    expect(hook.rules).not.toContain(`reg-state-tracked ${MEMO}`);

    const status = await runGuarded(w, ['status']);
    expect(status.code, status.stderr).toBe(0);
    const registry = (status.json as { registry: { areas: Array<{ entries: Array<{ card: { ok: boolean } }> }>; problems: Array<{ rule: string }> } }).registry;
    expect(registry.areas.flatMap((a) => a.entries).map((e) => e.card.ok)).toEqual([false]);
    expect(registry.problems.map((p) => p.rule)).toContain('reg-state-tracked');
    expect(readFileSync(join(w.repo, MEMO), 'utf8')).toBe(forged);
  }, 60_000);

  it('a memo that is a link to a forged file outside is neither read nor written through', async () => {
    const w = (world = await makeWorld('none'));
    const { honest, forged } = await brokenCardAndForgedMemo(w);
    const outsideMemo = join(w.outside, 'docs', 'card-checks.json');
    writeFileSync(outsideMemo, forged);
    rmSync(join(w.repo, MEMO));
    symlinkSync(outsideMemo, join(w.repo, MEMO));
    const r = await runGuarded(w, ['check'], [join(w.outside, 'docs')]);
    expect(r.code, r.stderr).toBe(5);
    expect((r.json as { findings: Array<{ rule: string; file: string }> }).findings.map((f) => `${f.rule} ${f.file}`).sort()).toEqual(honest.rules);
    expect(readFileSync(outsideMemo, 'utf8')).toBe(forged);
    // The link was replaced by reg's own memo (temp + rename), never followed.
    expect(lstatSync(join(w.repo, MEMO)).isFile()).toBe(true);
  }, 60_000);

  it('a FIFO in place of the memo does not hang the check', async () => {
    const w = (world = await makeWorld('none'));
    const { honest } = await brokenCardAndForgedMemo(w);
    rmSync(join(w.repo, MEMO));
    execFileSync('mkfifo', [join(w.repo, MEMO)]);
    expect(await check(w)).toEqual(honest);
    expect(lstatSync(join(w.repo, MEMO)).isFile()).toBe(true);
  }, 60_000);
});

describe('the remembered sizes of a version\'s files (reg ls)', () => {
  it('a memo that is a link to /dev/zero, or to lies outside, is not read: ls answers the true sizes, quickly, and writes nothing through it', async () => {
    const w = (world = await makeWorld('none'));
    mkdirSync(join(w.repo, 'raw_datasets/d'), { recursive: true });
    writeFileSync(join(w.repo, 'raw_datasets/d/a.txt'), 'alpha\n');
    writeFileSync(join(w.repo, 'raw_datasets/d/b.txt'), 'bravo bravo\n');
    await regOk(w.repo, ['add', 'raw_datasets/d'], { env: w.env });
    const sizesOf = (r: { json?: Record<string, unknown> }) => (r.json as { entries: Array<{ size?: number }> }).entries.map((e) => e.size);
    const first = await runGuarded(w, ['ls', 'raw_datasets/d']);
    expect(first.code, first.stderr).toBe(0);
    expect(sizesOf(first)).toEqual([6, 12]);
    const sizesDir = join(w.repo, '.reg/tmp/sizes');
    const [memo] = readdirSync(sizesDir);
    expect(readFileSync(join(sizesDir, memo!), 'utf8')).toBe('[6,12]');

    const lies = join(w.outside, 'docs', 'sizes-lie.json');
    writeFileSync(lies, '[1,1]');
    for (const target of ['/dev/zero', lies]) {
      rmSync(join(sizesDir, memo!));
      symlinkSync(target, join(sizesDir, memo!));
      const r = await runGuarded(w, ['ls', 'raw_datasets/d'], [join(w.outside, 'docs')]);
      expect(r.code, r.stderr).toBe(0);
      expect(sizesOf(r)).toEqual([6, 12]);
    }
    expect(readFileSync(lies, 'utf8')).toBe('[1,1]');
  }, 60_000);
});

describe.skipIf(!isRoot)('the card-check memo on a full disk (tmpfs; mounting needs root)', () => {
  it('reg check still judges the broken card (exit 5, as without the memo), leaves no temp file and no memo, and saves it once there is space', async () => {
    const small = await registryOnSmallDisk('8m');
    const outside = makeSentinel();
    try {
      const repo = small.repo;
      mkdirSync(join(repo, 'raw_datasets/scans'), { recursive: true });
      writeFileSync(join(repo, 'raw_datasets/scans/p1.txt'), 'page\n');
      writeFileSync(join(repo, 'raw_datasets/scans.card.md'), BROKEN_CARD);
      await regOk(repo, ['add', 'raw_datasets/scans']);
      const memo = join(repo, MEMO);
      rmSync(memo, { force: true });
      const sentinel = snapshotTree(outside);
      small.fill(0);
      const full = await keepingGit(repo, () => reg(repo, ['--json', 'check']));
      expect(full.code, full.stderr).toBe(5);
      expect(full.stderr).not.toContain('internal error');
      expect((JSON.parse(full.stdout) as { findings: Array<{ rule: string }> }).findings.map((f) => f.rule)).toContain('card-field');
      expect(existsSync(memo)).toBe(false);
      expect(tempFilesUnder(repo)).toEqual([]);
      small.unfill();
      const again = await keepingGit(repo, () => reg(repo, ['--json', 'check']));
      expect(again.code, again.stderr).toBe(5);
      expect(again.stdout).toBe(full.stdout);
      expect(existsSync(memo)).toBe(true);
      expect(tempFilesUnder(repo)).toEqual([]);
      expect(snapshotTree(outside)).toEqual(sentinel);
    } finally {
      small.cleanup();
      removeDir(outside);
    }
  }, 120_000);
});

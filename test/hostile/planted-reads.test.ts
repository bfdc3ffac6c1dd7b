import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, regOk } from '../helpers/repo.js';
import { makeWorld, md5, runGuarded, type Outcome, type World } from './world.js';

/**
 * Files reg reads that a commit (`git add -f` past `.reg/.gitignore`, or any tracked path) or a
 * hand can plant: a symlink to `/dev/zero` (read forever), to a file outside the repository (read
 * and acted on), or a FIFO (open blocks). Each run is the real CLI, killed if it does not end in
 * time, and the sentinel tree outside and `.git` stay byte-identical (runGuarded).
 */

let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Long enough for a loaded machine, far shorter than the test's timeout: a hang fails the expectation, not the test runner. */
const HANG_MS = 20_000;

const DS = 'raw_datasets/d';

/** A committed directory entry with two files, added (its stat cache written). */
async function addedEntry(w: World): Promise<void> {
  mkdirSync(join(w.repo, DS), { recursive: true });
  writeFileSync(join(w.repo, DS, 'a.txt'), 'alpha\n');
  writeFileSync(join(w.repo, DS, 'b.txt'), 'bravo bravo\n');
  await regOk(w.repo, ['add', DS], { env: w.env });
}

function plant(abs: string, kind: string, outsideCopy?: string): void {
  rmSync(abs, { force: true });
  if (kind === 'fifo') execFileSync('mkfifo', [abs]);
  else if (kind === 'huge') {
    // 3 GiB of zeros that take no disk (git would store them in a few MiB).
    writeFileSync(abs, '');
    truncateSync(abs, 3 * 1024 ** 3);
  }
  else symlinkSync(kind === 'zero' ? '/dev/zero' : outsideCopy!, abs);
}

async function status(w: World): Promise<Outcome & { state?: string; hashedFiles?: number }> {
  const r = await runGuarded(w, ['status', DS], [], { timeoutMs: HANG_MS });
  const o = (r.json?.outputs as Array<{ state: string; hashedFiles: number }> | undefined)?.[0];
  return { ...r, ...(o ? { state: o.state, hashedFiles: o.hashedFiles } : {}) };
}

describe('the stat cache under .reg/tmp/stat', () => {
  it('its JSON, .bin or append log a link to /dev/zero, a FIFO or 3 GiB of zeros: status answers (every file hashed again), never reads forever or blocks', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    const statDir = join(w.repo, '.reg/tmp/stat');
    const json = readdirSync(statDir).find((n) => n.endsWith('.json'))!;
    const saved = join(w.outside, 'saved');
    mkdirSync(saved);
    for (const n of readdirSync(statDir)) if (n.startsWith(json)) copyFileSync(join(statDir, n), join(saved, n));
    const seen: Record<string, string> = {};
    for (const suffix of ['', '.bin', '.log']) {
      for (const kind of ['zero', 'fifo', 'huge']) {
        for (const n of readdirSync(statDir)) rmSync(join(statDir, n));
        for (const n of readdirSync(saved)) copyFileSync(join(saved, n), join(statDir, n));
        plant(join(statDir, json + suffix), kind);
        const r = await status(w);
        seen[`${json}${suffix} ${kind}`] = `${r.code} ${r.state}${r.code === 0 ? '' : ` ${r.stderr.trim()}`}`;
      }
    }
    // The log is planted where none was: it is read whenever the JSON and the .bin are of one generation.
    expect(readdirSync(saved).map((n) => n.slice(json.length)).sort()).toEqual(['', '.bin']);
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, '0 up-to-date'])));
  }, 240_000);

  it('its JSON a link to a copy outside: not read (every file hashed again), the copy unchanged', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    const statDir = join(w.repo, '.reg/tmp/stat');
    const json = readdirSync(statDir).find((n) => n.endsWith('.json'))!;
    const first = await status(w);
    expect(first.hashedFiles).toBe(0);
    const copy = join(w.outside, 'stat-copy.json');
    copyFileSync(join(statDir, json), copy);
    plant(join(statDir, json), 'link', copy);
    const r = await status(w);
    expect(r.code, r.stderr).toBe(0);
    expect(r.state).toBe('up-to-date');
    expect(r.hashedFiles).toBe(2);
  }, 60_000);
});

describe('a .dvcignore at the root or above an entry', () => {
  it('a committed link to /dev/zero or to rules outside is refused by name (exit 3), a FIFO holds no rules: never read through, never blocking', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    const rules = join(w.outside, 'docs', 'ignore-rules');
    writeFileSync(rules, 'b.txt\n');
    for (const [at, kind] of [['.dvcignore', 'zero'], ['raw_datasets/.dvcignore', 'link']] as const) {
      plant(join(w.repo, at), kind, rules);
      git(w.repo, 'add', '-f', at);
      git(w.repo, 'commit', '-qm', 'teammate: a .dvcignore link');
      for (const args of [['status', DS], ['add', DS]]) {
        const r = await runGuarded(w, args, [], { timeoutMs: HANG_MS });
        expect(r.code, `${at} ${args[0]}: ${r.stderr}`).toBe(3);
        expect(r.errorCode).toBe('dvcignore.symlink');
        expect(r.stderr).toContain(`${at} is a symbolic link`);
      }
      git(w.repo, 'rm', '-q', at);
      git(w.repo, 'commit', '-qm', 'removed');
    }
    plant(join(w.repo, '.dvcignore'), 'fifo');
    const r = await status(w);
    expect(r.code, r.stderr).toBe(0);
    expect(r.state).toBe('up-to-date');
  }, 120_000);
});

describe('hooks reg looks into (the "hooks not installed" note before every command, hooks status/install)', () => {
  const NOTE = /hooks are not installed/;

  it('a committed hook under core.hooksPath a link to /dev/zero, or a FIFO: every command still runs and notes the missing hooks; hooks status calls it foreign and install chains it', async () => {
    const w = (world = await makeWorld('none'));
    git(w.repo, 'config', 'core.hooksPath', '.githooks');
    mkdirSync(join(w.repo, '.githooks'));
    plant(join(w.repo, '.githooks/pre-commit'), 'zero');
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'team hooks');
    plant(join(w.repo, '.githooks/pre-push'), 'fifo');
    const r = await runGuarded(w, ['status'], [], { timeoutMs: HANG_MS, env: { CI: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(NOTE);
    const st = await runGuarded(w, ['hooks', 'status'], [], { timeoutMs: HANG_MS });
    expect(st.code, st.stderr).toBe(0);
    expect((st.json?.hooks as Array<{ name: string; state: string }>).filter((h) => h.name.startsWith('pre-'))).toEqual([
      { name: 'pre-commit', path: '.githooks/pre-commit', state: 'foreign', chained: false },
      { name: 'pre-push', path: '.githooks/pre-push', state: 'foreign', chained: false },
    ]);
    const inst = await runGuarded(w, ['hooks', 'install'], [], { timeoutMs: HANG_MS });
    expect(inst.code, inst.stderr).toBe(0);
    expect(lstatSync(join(w.repo, '.githooks/pre-commit.local')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(w.repo, '.githooks/pre-push.local')).isFIFO()).toBe(true);
  }, 120_000);

  it("the pre-commit framework's hook with a committed .pre-commit-config.yaml that is a link to /dev/zero, or to a config outside naming reg's hooks: the note is still given", async () => {
    const w = (world = await makeWorld('none'));
    writeFileSync(join(w.repo, '.git/hooks/pre-commit'), '#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\nexec pre-commit hook-impl "$@"\n', { mode: 0o755 });
    writeFileSync(join(w.repo, '.git/hooks/pre-push'), '#!/bin/sh\nreg hook pre-push "$@"\n', { mode: 0o755 });
    const outsideConfig = join(w.outside, 'docs', 'pre-commit-config.yaml');
    writeFileSync(outsideConfig, 'repos:\n- repo: local\n  hooks:\n  - id: reg-check\n');
    for (const kind of ['zero', 'link']) {
      plant(join(w.repo, '.pre-commit-config.yaml'), kind, outsideConfig);
      git(w.repo, 'add', '-A');
      git(w.repo, 'commit', '-qm', 'teammate: pre-commit config', '--no-verify');
      const r = await runGuarded(w, ['status'], [], { timeoutMs: HANG_MS, env: { CI: '' } });
      expect(r.code, `${kind}: ${r.stderr}`).toBe(0);
      expect(r.stderr, kind).toMatch(/the pre-commit hook is not installed/);
    }
  }, 120_000);
});

describe('stash records under .reg/stash', () => {
  it('a committed record that is a link to /dev/zero or to a record outside, or a FIFO: stash list, stash apply and gc refuse it by name (exit 3), never read it', async () => {
    const w = (world = await makeWorld('none'));
    const dir = join(w.repo, '.reg/stash');
    mkdirSync(dir, { recursive: true });
    const id = '20260101-000000-abcd';
    const outsideRecord = join(w.outside, 'docs', 'record.json');
    writeFileSync(outsideRecord, JSON.stringify({ id, createdAt: '2026-01-01T00:00:00.000Z', reason: 'checkout', oid: `${'0'.repeat(32)}.dir`, files: [], restoreCommand: `reg stash apply ${id}` }));
    const seen: Record<string, string> = {};
    for (const kind of ['zero', 'link', 'fifo']) {
      plant(join(dir, `${id}.json`), kind, outsideRecord);
      if (kind !== 'fifo') {
        git(w.repo, 'add', '-f', '.reg/stash');
        git(w.repo, 'commit', '-qm', 'teammate: a stash record');
      }
      for (const args of [['stash', 'list'], ['stash', 'apply', id], ['gc']]) {
        const r = await runGuarded(w, args, [], { timeoutMs: HANG_MS });
        seen[`${kind} ${args.join(' ')}`] = `${r.code} ${r.errorCode} ${r.stderr.includes(`.reg/stash/${id}.json`)}`;
      }
    }
    const want = (cmd: string) => (cmd === 'gc' ? '3 gc.bad-stash true' : '3 stash.bad-record true');
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, want(k.split(' ').slice(1).join(' '))])));
  }, 300_000);
});

describe("reg's sync state and pull's link probe under .reg/tmp", () => {
  const ENTRY = 'processed_datasets/tokenized';

  it('a sync state or pending list that is a link to /dev/zero or a FIFO: sync push, sync pull and status take it as absent, never read it', async () => {
    const w = (world = await makeWorld('dir'));
    mkdirSync(join(w.repo, ENTRY), { recursive: true });
    writeFileSync(join(w.repo, ENTRY, 'a.txt'), 'alpha\n');
    await regOk(w.repo, ['sync', 'push', ENTRY], { env: w.env });
    const state = join(w.repo, '.reg/tmp/sync/team', `${ENTRY}.json`);
    // Never pushed: its pending list is read by the first push.
    const fresh = 'processed_datasets/fresh';
    mkdirSync(join(w.repo, fresh), { recursive: true });
    writeFileSync(join(w.repo, fresh, 'b.txt'), 'bravo\n');
    const pending = join(w.repo, '.reg/tmp/sync-pending/team', `${fresh}.json`);
    mkdirSync(join(pending, '..'), { recursive: true });
    const seen: Record<string, string> = {};
    for (const kind of ['zero', 'fifo']) {
      plant(state, kind);
      plant(pending, kind);
      for (const args of [['sync', 'push', ENTRY], ['sync', 'pull', ENTRY], ['status'], ['sync', 'push', fresh, '--dry-run']]) {
        const r = await runGuarded(w, args, [w.remoteDir!], { timeoutMs: HANG_MS });
        seen[`${kind} ${args.join(' ')}`] = `${r.code}${r.code === 0 ? '' : ` ${r.stderr.trim()}`}`;
      }
    }
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, '0'])));
  }, 400_000);

  it("pull's link probe (.reg/tmp/link-probe.json) a link to /dev/zero or a FIFO: pull completes", async () => {
    const w = (world = await makeWorld('dir'));
    await addedEntry(w);
    await regOk(w.repo, ['push', '--no-check'], { env: w.env });
    const seen: Record<string, string> = {};
    for (const kind of ['zero', 'fifo']) {
      rmSync(join(w.repo, '.reg/cache'), { recursive: true, force: true });
      rmSync(join(w.repo, DS), { recursive: true, force: true });
      plant(join(w.repo, '.reg/tmp/link-probe.json'), kind);
      const r = await runGuarded(w, ['pull'], [w.remoteDir!], { timeoutMs: HANG_MS });
      seen[kind] = `${r.code}${r.code === 0 ? '' : ` ${r.stderr.trim()}`}`;
      expect(readFileSync(join(w.repo, DS, 'a.txt'), 'utf8'), kind).toBe('alpha\n');
    }
    expect(seen).toEqual({ zero: '0', fifo: '0' });
  }, 120_000);
});

describe('reg check (CI, the pre-commit hook) and doctor', () => {
  it('a committed .dvc/config that is a link to /dev/zero or to a file outside: refused by name (exit 3 config.not-a-file; doctor: a failed check), never read', async () => {
    const w = (world = await makeWorld('none'));
    mkdirSync(join(w.repo, '.dvc'));
    const outsideConfig = join(w.outside, 'docs', 'dvc-config');
    writeFileSync(outsideConfig, "['remote \"s3\"']\n    url = s3://b/p\n    secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n");
    const seen: Record<string, string> = {};
    for (const kind of ['zero', 'link']) {
      plant(join(w.repo, '.dvc/config'), kind, outsideConfig);
      git(w.repo, 'add', '-A');
      git(w.repo, 'commit', '-qm', 'teammate: dvc config', '--no-verify');
      for (const args of [['check'], ['check', '--ci'], ['doctor']]) {
        const r = await runGuarded(w, args, [], { timeoutMs: HANG_MS });
        seen[`${kind} ${args.join(' ')}`] = `${r.code} ${r.errorCode} ${(r.stdout + r.stderr).includes('.dvc/config is a symbolic link')}`;
      }
    }
    // doctor reports it as its failed secrets check (exit 1) and goes on with the others.
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, k.endsWith('doctor') ? '1 undefined true' : '3 config.not-a-file true'])));
  }, 300_000);

  it('check --staged with a committed card that is a link to /dev/zero: it answers', async () => {
    const w = (world = await makeWorld('none'));
    await addedEntry(w);
    plant(join(w.repo, `${DS}.card.md`), 'zero');
    git(w.repo, 'add', '-A');
    git(w.repo, 'commit', '-qm', 'teammate: card link', '--no-verify');
    writeFileSync(join(w.repo, 'notes.txt'), 'x\n');
    git(w.repo, 'add', 'notes.txt');
    const r = await runGuarded(w, ['check', '--staged'], [], { timeoutMs: HANG_MS });
    expect(r.stderr).not.toMatch(/killed after|internal error/);
    expect([0, 3, 5], r.stderr).toContain(r.code);
  }, 60_000);
});

describe('a FIFO on a shared directory remote', () => {
  it('at the key of an object pull needs: that object fails by name (exit 4 pull.incomplete), the FIFO never opened, nothing written', async () => {
    const w = (world = await makeWorld('dir'));
    await addedEntry(w);
    await regOk(w.repo, ['push', '--no-check'], { env: w.env });
    rmSync(join(w.repo, '.reg/cache'), { recursive: true, force: true });
    rmSync(join(w.repo, DS), { recursive: true, force: true });
    const oid = md5('alpha\n');
    plant(join(w.remoteDir!, 'files/md5', oid.slice(0, 2), oid.slice(2)), 'fifo');
    const r = await runGuarded(w, ['pull'], [], { timeoutMs: HANG_MS });
    expect(r.stderr).not.toMatch(/killed after|internal error/);
    expect(`${r.code} ${r.errorCode}`, r.stderr).toBe('4 pull.incomplete');
    expect(r.stderr).toContain(`files/md5/${oid.slice(0, 2)}/${oid.slice(2)} is not a regular file`);
    expect(readdirSync(join(w.repo, 'raw_datasets'))).not.toContain('d');
  }, 60_000);
});

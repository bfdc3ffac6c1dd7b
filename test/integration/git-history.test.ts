import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobReader, blobsAt, commitsChanging, listRefs, parseRawLog, resolveCommits, treeFiles } from '../../dist/git/history.js';
import { git, makeGitRepo, removeDir } from '../helpers/repo.js';

let repo: string;
const commits: string[] = [];
let clock = 0;

/** Git with distinct, increasing dates, so date order is the order commits were made in. */
function gitDated(...args: string[]): void {
  const date = `2024-02-01T10:${String(clock++).padStart(2, '0')}:00+00:00`;
  execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x', GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
}

function commitFile(path: string, content: string | Buffer, message: string): string {
  writeFileSync(join(repo, path), content);
  git(repo, 'add', '-A');
  gitDated('commit', '-q', '-m', message);
  const sha = git(repo, 'rev-parse', 'HEAD').trim();
  commits.push(sha);
  return sha;
}

beforeAll(() => {
  repo = makeGitRepo();
  commitFile('a.dvc', 'one\n', 'first');
  // A subject holding the record separator and a NUL-free oddity must not confuse the parser.
  commitFile('a.dvc', 'two\n', 'second \x01 with a control character');
  commitFile('other.txt', 'x\n', 'unrelated');
  commitFile('big.dvc', Buffer.alloc(3 << 20, 0x61), 'a 3 MiB blob');
  git(repo, 'checkout', '-q', '-b', 'side', commits[1]!);
  commitFile('a.dvc', 'side\n', 'side change');
  git(repo, 'checkout', '-q', 'main');
  // A merge whose result differs from both parents is a version of its own.
  gitDated('merge', '-q', '--no-ff', '-m', 'merge side', 'side');
  git(repo, 'tag', '-a', 'annotated', '-m', 'annotated tag', commits[0]!);
  // A conflicting branch, merged with a resolution that is neither side's text.
  git(repo, 'checkout', '-q', '-b', 'conflict', commits[1]!);
  commitFile('a.dvc', 'conflicting\n', 'conflicting change');
  git(repo, 'checkout', '-q', 'main');
  try {
    gitDated('merge', '-q', '-m', 'merge conflict', 'conflict');
  } catch {
    // expected: a conflict
  }
  writeFileSync(join(repo, 'a.dvc'), 'resolved\n');
  git(repo, 'add', 'a.dvc');
  gitDated('commit', '-q', '--no-edit');
  commits.push(git(repo, 'rev-parse', 'HEAD').trim());
}, 60_000);
afterAll(() => removeDir(repo));

describe('commitsChanging', () => {
  it('lists every commit that changed a path across branches, with the blob it left there', async () => {
    const rows = await commitsChanging(repo, { branches: true, tags: true, head: true, pathspecs: [':(literal)a.dvc'] });
    const blob = (rev: string) => git(repo, 'rev-parse', `${rev}:a.dvc`).trim();
    // commits: 0 first, 1 second, 2 unrelated, 3 big, 4 side, 5 conflicting, 6 the resolved merge.
    // The merge of side took side's text (identical to one parent): not a version of its own.
    expect(rows.map((r) => [r.commit, r.changes.map((c) => [c.path, c.blob])])).toEqual(
      [6, 5, 4, 1, 0].map((i) => [commits[i], [['a.dvc', blob(commits[i]!)]]]),
    );
    expect(rows[0]!.parents).toHaveLength(2);
    expect(rows[0]!.changes[0]!.status).toBe('MM');
    expect(rows[3]!.subject).toBe('second \x01 with a control character');
    expect(rows[4]!.changes[0]!.status).toBe('A');
  });

  it('parses merges with combined raw records (::) and deletions', () => {
    const zero = '0'.repeat(40);
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const c = 'c'.repeat(40);
    const text =
      `\x01${c}\0${a} ${b}\x002024-01-01T00:00:00+00:00\0Ann\0ann@x\0merge\0\0::100644 100644 100644 ${a} ${b} ${c} MM\0x.dvc\0` +
      `\x01${b}\0${a}\x002024-01-01T00:00:00+00:00\0Ann\0ann@x\0gone\0\n:100644 000000 ${a} ${zero} D\0y.dvc\0`;
    expect(parseRawLog(Buffer.from(text))).toEqual([
      { commit: c, parents: [a, b], date: '2024-01-01T00:00:00+00:00', author: 'Ann', email: 'ann@x', subject: 'merge', changes: [{ path: 'x.dvc', status: 'MM', mode: '100644', blob: c }] },
      { commit: b, parents: [a], date: '2024-01-01T00:00:00+00:00', author: 'Ann', email: 'ann@x', subject: 'gone', changes: [{ path: 'y.dvc', status: 'D', mode: '000000', blob: undefined }] },
    ]);
  });
});

describe('revisions and refs', () => {
  it('resolves names, short ids and HEAD~n in one process; a rev starting with "-" is only a name', async () => {
    const r = await resolveCommits(repo, ['main', commits[0]!.slice(0, 8), 'HEAD~1', 'annotated', `${commits[1]}^{commit}`, '--all', 'nope']);
    expect(r.map((x) => x.commit ?? x.problem)).toEqual([
      git(repo, 'rev-parse', 'main').trim(),
      commits[0],
      git(repo, 'rev-parse', 'HEAD~1').trim(),
      commits[0],
      commits[1],
      'missing',
      'missing',
    ]);
  });

  it('lists refs with annotated tags peeled', async () => {
    const refs = await listRefs(repo, { branches: true, tags: true });
    expect(refs).toContainEqual({ name: 'annotated', kind: 'tag', commit: commits[0] });
    expect(refs).toContainEqual({ name: 'side', kind: 'branch', commit: commits[4] });
  });

  it('reads blobs at (commit, path) pairs and whole trees', async () => {
    const [one, missing] = await blobsAt(repo, [{ commit: commits[0]!, path: 'a.dvc' }, { commit: commits[0]!, path: 'big.dvc' }]);
    expect(one).toBe(git(repo, 'rev-parse', `${commits[0]}:a.dvc`).trim());
    expect(missing).toBeUndefined();
    expect((await treeFiles(repo, commits[3]!, (p) => p.endsWith('.dvc'))).map((e) => e.path)).toEqual(['a.dvc', 'big.dvc']);
  });
});

describe('BlobReader', () => {
  it('answers many requests from one process, skips oversized blobs without keeping them, reports missing ones', async () => {
    const reader = new BlobReader(repo, 1 << 20);
    try {
      const small = git(repo, 'rev-parse', `${commits[1]}:a.dvc`).trim();
      const big = git(repo, 'rev-parse', `${commits[3]}:big.dvc`).trim();
      const results = await Promise.all([reader.read(small), reader.read(big), reader.read('f'.repeat(40)), reader.read(small), reader.read(git(repo, 'rev-parse', `${commits[0]}:a.dvc`).trim())]);
      expect(results.map((r) => (Buffer.isBuffer(r) ? r.toString() : r))).toEqual(['two\n', 'too-large', 'missing', 'two\n', 'one\n']);
      const many = await reader.readMany([small, big]);
      expect([...many.keys()]).toEqual([small]);
    } finally {
      reader.close();
    }
  });
});

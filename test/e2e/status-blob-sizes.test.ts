import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeGitRepo, regOk, removeDir, tempDir, writeTree } from '../helpers/repo.js';
import { guardSentinelTree, keepingGit, snapshotTree } from '../hostile/tree.js';

/**
 * `reg status` (no targets) shows registry-wide problems, such as a big file committed to Git,
 * from the sizes of the index's blobs. A blob's size never changes, so reg remembers them in
 * `.reg/tmp/blob-sizes` and asks `git cat-file` only for blobs it has not seen. The file is reg's
 * own state: a planted one (committed, linked, or junk) must never hide a problem or be written
 * through. Nothing outside the repository changes (sentinel tree), nor `.git` around reg's runs.
 */
guardSentinelTree();
let repo: string;
let traceDir: string;
const sizesFile = () => join(repo, '.reg', 'tmp', 'blob-sizes');

/** `reg status --json` with GIT_TRACE: the registry-wide problems and whether git cat-file ran. */
async function tracedStatus() {
  const trace = join(traceDir, `trace-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const r = await keepingGit(repo, () => regOk(repo, ['status', '--json'], { env: { GIT_TRACE: trace } }));
  const commands = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('trace: built-in: git ')) : [];
  const problems = (JSON.parse(r.stdout).registry.problems as Array<{ rule: string; file?: string }>).map((p) => `${p.rule} ${p.file ?? ''}`);
  return { problems, catFiles: commands.filter((l) => l.includes('built-in: git cat-file')).length };
}

beforeEach(async () => {
  repo = makeGitRepo();
  traceDir = tempDir('reg-trace-');
  await regOk(repo, ['init']);
  writeFileSync(join(repo, '.reg', 'config.local.yaml'), 'rules:\n  large-file-threshold: 4KB\n');
  // Committed past the hooks (none installed): a 5000-byte file outside the areas.
  writeTree(repo, { 'docs/figure.png': Buffer.alloc(5000, 1), 'notes.txt': 'small\n' });
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'a big file in git');
});
afterEach(() => {
  removeDir(repo);
  removeDir(traceDir);
});

describe('the index blob sizes behind status\'s registry problems', () => {
  it('asks git once, then remembers: the next status runs no cat-file and shows the same problem; a new blob is asked for, a gone one forgotten', async () => {
    const first = await tracedStatus();
    expect(first.problems).toContain('large-file docs/figure.png');
    expect(first.catFiles).toBe(1);
    const bigOid = git(repo, 'rev-parse', 'HEAD:docs/figure.png').trim();
    expect(readFileSync(sizesFile(), 'utf8')).toContain(`${bigOid} 5000\n`);

    const second = await tracedStatus();
    expect(second).toEqual({ problems: first.problems, catFiles: 0 });

    writeTree(repo, { 'docs/other.bin': Buffer.alloc(6000, 2) });
    git(repo, 'rm', '-q', '--cached', 'docs/figure.png');
    git(repo, 'add', 'docs/other.bin');
    git(repo, 'commit', '-q', '-m', 'another big file');
    const third = await tracedStatus();
    expect(third.catFiles).toBe(1);
    expect(third.problems).toContain('large-file docs/other.bin');
    expect(third.problems).not.toContain('large-file docs/figure.png');
    const remembered = readFileSync(sizesFile(), 'utf8');
    expect(remembered).toContain(`${git(repo, 'rev-parse', 'HEAD:docs/other.bin').trim()} 6000\n`);
    expect(remembered).not.toContain(bigOid);
  });

  it('a sizes file that lies is not used when a commit put it there (git tracks it): the big file is still reported, and the file is left alone', async () => {
    const bigOid = git(repo, 'rev-parse', 'HEAD:docs/figure.png').trim();
    const lie = `${bigOid} 1\n`;
    writeTree(repo, { '.reg/tmp/blob-sizes': lie });
    git(repo, 'add', '-f', '.reg/tmp/blob-sizes');
    git(repo, 'commit', '-q', '-m', 'planted sizes');
    const s = await tracedStatus();
    expect(s.problems).toContain('large-file docs/figure.png');
    expect(s.catFiles).toBe(1);
    expect(readFileSync(sizesFile(), 'utf8')).toBe(lie);
  });

  it('junk in the sizes file is not trusted: the lines after it are asked again and the file rewritten', async () => {
    await tracedStatus();
    const bigOid = git(repo, 'rev-parse', 'HEAD:docs/figure.png').trim();
    writeFileSync(sizesFile(), `not a size line\n${bigOid} 1\n`);
    const s = await tracedStatus();
    expect(s.problems).toContain('large-file docs/figure.png');
    expect(s.catFiles).toBe(1);
    expect(readFileSync(sizesFile(), 'utf8')).toContain(`${bigOid} 5000\n`);
  });

  it('a sizes file that is a link to a file outside is neither read nor written through: the copy outside is byte-identical', async () => {
    await tracedStatus();
    const outsideDir = tempDir('reg-outside-');
    try {
      const outside = join(outsideDir, 'blob-sizes');
      const bigOid = git(repo, 'rev-parse', 'HEAD:docs/figure.png').trim();
      writeFileSync(outside, `${bigOid} 1\n`);
      const before = snapshotTree(outsideDir);
      rmSync(sizesFile());
      symlinkSync(outside, sizesFile());
      const s = await tracedStatus();
      expect(s.problems).toContain('large-file docs/figure.png');
      expect(s.catFiles).toBe(1);
      expect(snapshotTree(outsideDir)).toEqual(before);
    } finally {
      removeDir(outsideDir);
    }
  });
});

import { gitRun, gitText } from './read.js';

/** The working-tree Git operations reg needs, run with the real git binary (execFile, no shell). */
export class GitPort {
  constructor(readonly root: string) {}

  /** Runs git in the work tree and returns its stdout; a non-zero exit is a `git.failed` RegError. */
  raw(args: string[]): Promise<string> {
    return gitText(this.root, args);
  }

  /** Paths (relative to the root) among `paths` that Git tracks, at or below each path. */
  async trackedUnder(paths: readonly string[]): Promise<string[]> {
    if (paths.length === 0) return [];
    const out = await this.raw(['ls-files', '-z', '--', ...paths.map((p) => `:(literal)${p}`)]);
    return out.split('\0').filter(Boolean);
  }

  /** Tracked plus untracked-but-not-ignored files matching a pathspec glob. */
  async listFiles(glob: string): Promise<string[]> {
    const out = await this.raw(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', glob]);
    return [...new Set(out.split('\0').filter(Boolean))];
  }

  async configGet(key: string): Promise<string | undefined> {
    const r = await gitRun(this.root, ['config', '--get', key], undefined, { allowFail: true });
    const v = r.code === 0 ? r.stdout.toString('utf8').trim() : '';
    return v === '' ? undefined : v;
  }
}

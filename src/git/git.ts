import { simpleGit, type SimpleGit } from 'simple-git';
import { RegError } from '../errors.js';

/** The working-tree Git operations reg needs (simple-git spawns the real git binary). */
export class GitPort {
  private readonly git: SimpleGit;

  constructor(readonly root: string) {
    this.git = simpleGit({ baseDir: root, maxConcurrentProcesses: 4 });
  }

  async raw(args: string[]): Promise<string> {
    try {
      return await this.git.raw(args);
    } catch (err) {
      throw new RegError('git.failed', 'failed', `git ${args.join(' ')} failed: ${(err as Error).message.trim()}`);
    }
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
    try {
      const v = (await this.git.raw(['config', '--get', key])).trim();
      return v === '' ? undefined : v;
    } catch {
      return undefined;
    }
  }
}

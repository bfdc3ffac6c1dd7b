import { InvalidArgumentError, type Command } from 'commander';
import { search } from '../../ops/publish/search.js';
import type { CommandModule } from '../command.js';
import { plural } from '../output.js';

const FIELD_LABELS: Record<string, string> = { name: 'name', area: 'area', description: 'description', fields: 'card fields', text: 'card text', paths: 'file paths' };

function parseLimit(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export const searchCommand: CommandModule = {
  register(program, run) {
    program
      .command('search')
      .description('search the registry: names, card text, front-matter fields and file paths (the catalog\'s index)')
      .argument('<query...>', 'words to find (every word must match; a word matches the start of a word)')
      .option('--area <area>', 'only entries of this area')
      .option('--license <license>', 'only entries with this licence (case-insensitive)')
      .option('--owner <owner>', 'only entries with this owner (case-insensitive)')
      .option('--rev <rev>', 'search this commit (default HEAD)')
      .option('--worktree', 'search the work tree, uncommitted cards included')
      .option('-n, --limit <n>', 'show at most n results', parseLimit)
      .action(async (words: string[], opts: { area?: string; license?: string; owner?: string; rev?: string; worktree?: boolean; limit?: number }, cmd: Command) =>
        run(
          cmd,
          (ctx) => search(ctx, { query: words.join(' '), area: opts.area, license: opts.license, owner: opts.owner, rev: opts.rev, worktree: opts.worktree, limit: opts.limit }),
          (r, out) => {
            for (const h of r.results) {
              const facts = [h.license, h.owner, h.status.ok ? '' : plural(h.status.problems.length, 'card problem')].filter(Boolean).join(', ');
              out.line(`${h.path}${facts ? `  (${facts})` : ''}`);
              if (h.description) out.line(`    ${h.description}`);
              const where = Object.keys(h.matches).map((f) => FIELD_LABELS[f] ?? f);
              if (where.length > 0 && out.verbose) out.line(`    matches: ${where.join(', ')}  score ${h.score}`);
              else if (where.length > 0) out.line(`    matches: ${where.join(', ')}`);
            }
            if (r.total === 0) out.note(`no entry matches ${JSON.stringify(r.query)}`);
            else if (r.results.length < r.total) out.note(`${r.results.length} of ${r.total} results shown (--limit)`);
          },
        ),
      );
  },
};

import { InvalidArgumentError, type Command } from 'commander';
import { catalogBuild } from '../../ops/publish/catalog-build.js';
import { catalogPublish } from '../../ops/publish/catalog-publish.js';
import { catalogServe } from '../../ops/publish/catalog-serve.js';
import { PREVIEW_MODES, type CatalogSourceOptions, type PreviewMode } from '../../ops/publish/catalog-source.js';
import type { CommandModule } from '../command.js';
import { parseJobs } from '../jobs.js';
import { formatBytes, plural } from '../output.js';

interface SourceFlags {
  rev?: string;
  worktree?: boolean;
  previews?: PreviewMode;
  remoteStatus?: boolean;
  jobs?: number;
}

function parsePreviews(value: string): PreviewMode {
  if (!(PREVIEW_MODES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${PREVIEW_MODES.join(', ')}`);
  return value as PreviewMode;
}

function parsePort(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('must be a port number (0-65535; 0 picks a free one)');
  return Number(value);
}

/** The options every catalog verb shares: what to show, and how much to look up. */
function sourceOptions(cmd: Command): Command {
  return cmd
    .option('--rev <rev>', 'the commit to show (default HEAD)')
    .option('--worktree', 'show the work tree, uncommitted cards and pointers included')
    .option('--previews <mode>', `previews of small files: none, cache (default: local cache only) or fetch (download small objects and missing manifests from the remote, verified)`, parsePreviews)
    .option('--remote-status', 'ask the remote whether each entry\'s current version is pushed (one request per entry)')
    .option('-j, --jobs <n>', 'parallel requests', parseJobs);
}

function source(opts: SourceFlags): CatalogSourceOptions {
  return { rev: opts.rev, worktree: opts.worktree, previews: opts.previews, remoteStatus: opts.remoteStatus, jobs: opts.jobs };
}

export const catalogCommand: CommandModule = {
  register(program, run) {
    const catalog = program.command('catalog').description('a static, searchable HTML catalog of the registry, built from the cards in Git');
    sourceOptions(
      catalog
        .command('build')
        .description('write the site: index.html, one page per entry, catalog.json (opens from file://, no network)')
        .requiredOption('-o, --output <dir>', 'output directory: new, empty, or a catalog built before (only its files are replaced)'),
    ).action(async (opts: SourceFlags & { output: string }, cmd: Command) =>
      run(
        cmd,
        (ctx) => catalogBuild(ctx, { ...source(opts), output: opts.output }),
        (r, out) => {
          out.line(`${r.output}: ${plural(r.entries, 'entry', 'entries')}, ${plural(r.files, 'file')} (${formatBytes(r.bytes)}); ${r.written} written, ${r.unchanged} unchanged${r.removed ? `, ${r.removed} removed` : ''}`);
          out.line(`open ${r.output}/index.html`);
        },
      ),
    );
    sourceOptions(
      catalog
        .command('serve')
        .description('build the site in memory and serve it on 127.0.0.1, rebuilding on a new commit (Ctrl-C stops)')
        .option('--port <n>', 'port (default 8080; 0 picks a free one)', parsePort),
    ).action(async (opts: SourceFlags & { port?: number }, cmd: Command) =>
      run(
        cmd,
        (ctx) =>
          catalogServe(ctx, {
            ...source(opts),
            port: opts.port,
            onReady: (url) => process.stderr.write(`serving the catalog at ${url} (Ctrl-C stops)\n`),
            onRebuild: (info) => process.stderr.write(`rebuilt${info.commit ? ` for ${info.commit.slice(0, 10)}` : ''}\n`),
          }),
        (r, out) => out.line(`stopped serving ${r.url} after ${plural(r.builds, 'build')}`),
      ),
    );
    sourceOptions(
      catalog
        .command('publish')
        .description('build the site and upload it under a prefix of a remote: only changed files are sent')
        .option('-r, --remote <name>', 'the remote (default: the default remote)')
        .option('--prefix <prefix>', 'key prefix on the remote', 'catalog/')
        .option('-n, --dry-run', 'show what would be uploaded and deleted, change nothing'),
    ).action(async (opts: SourceFlags & { remote?: string; prefix: string; dryRun?: boolean }, cmd: Command) =>
      run(
        cmd,
        (ctx) => catalogPublish(ctx, { ...source(opts), remote: opts.remote, prefix: opts.prefix, dryRun: opts.dryRun }),
        (r, out) => {
          const verb = r.dryRun ? 'would upload' : 'uploaded';
          out.line(`${r.location}: ${verb} ${plural(r.uploaded.length, 'file')} (${formatBytes(r.bytes)}), ${r.unchanged} unchanged${r.deleted.length ? `, ${r.dryRun ? 'would delete' : 'deleted'} ${r.deleted.length}` : ''}`);
          if (out.verbose || r.dryRun) {
            for (const f of r.uploaded) out.line(`  + ${f}`);
            for (const f of r.deleted) out.line(`  - ${f}`);
          }
        },
      ),
    );
  },
};

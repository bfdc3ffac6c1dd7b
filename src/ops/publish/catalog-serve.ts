import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { RegError, isRegError } from '../../errors.js';
import { headCommit, resolveCommitsOrThrow } from '../../git/history.js';
import { registryPolicy } from '../../policy/areas.js';
import { openRepo, type Repo } from '../../repo.js';
import { CSP } from '../../catalog/html.js';
import { contentTypeOf, type SiteFile } from '../../catalog/site.js';
import { catalogSite } from './catalog-build.js';
import type { CatalogSourceOptions } from './catalog-source.js';

export interface CatalogServeOptions extends CatalogSourceOptions {
  /** Port on 127.0.0.1 (default 8080; 0 picks a free one). */
  port?: number;
  /** How often to look for a new commit (or, with worktree, changed cards and pointers), in ms. Default 1000. */
  pollMs?: number;
  /** Called once the server listens (the CLI prints the URL). */
  onReady?: (url: string) => void;
  /** Called after each rebuild caused by a change. */
  onRebuild?: (info: { commit?: string; files: number }) => void;
}

export interface CatalogServeResult {
  url: string;
  /** Builds made (the first one included). */
  builds: number;
}

/**
 * `reg catalog serve`: builds the site in memory and serves it on 127.0.0.1 only, rebuilding when
 * the revision moves (a new commit) or, with `worktree`, when cards and pointers change. Runs
 * until `ctx.signal` aborts (Ctrl-C), then closes the server and returns.
 */
export async function catalogServe(ctx: Context, options: CatalogServeOptions): Promise<CatalogServeResult> {
  const repo = openRepo(ctx);
  let site = new Map<string, SiteFile>();
  let builds = 0;
  const build = async () => {
    const s = await catalogSite(ctx, options);
    site = new Map(s.files.map((f) => [f.path, f]));
    builds++;
    return s;
  };
  let signature = await changeSignature(repo, options);
  await build();

  const server = createServer((req, res) => answer(site, req, res));
  const port = options.port ?? 8080;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new RegError('catalog.port-in-use', 'failed', `port ${port} on 127.0.0.1 is in use`, { hint: 'pick another with --port N (0 picks a free one)' })
          : new RegError('catalog.serve-failed', 'failed', `cannot listen on 127.0.0.1:${port}: ${err.message}`),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`;
  options.onReady?.(url);

  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        const now = await changeSignature(repo, options);
        if (now === signature) return;
        signature = now;
        const s = await build();
        options.onRebuild?.({ ...(s.commit ? { commit: s.commit } : {}), files: s.files.length });
      } catch (err) {
        // Keep serving the last good build; say why the new one failed.
        ctx.progress({ type: 'log', level: 'warn', message: `rebuild failed: ${isRegError(err) ? err.message : (err as Error).message}` });
      } finally {
        busy = false;
      }
    })();
  }, options.pollMs ?? 1000);

  await new Promise<void>((resolve) => {
    if (ctx.signal === undefined) return; // a library caller without a signal serves forever
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(timer);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return { url, builds };
}

function answer(site: ReadonlyMap<string, SiteFile>, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname).replace(/^\/+/, '');
  } catch {
    res.writeHead(400).end();
    return;
  }
  if (path === '' || path.endsWith('/')) path += 'index.html';
  const file = site.get(path);
  if (!file) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': contentTypeOf(path),
    'Content-Length': String(file.data.length),
    'Cache-Control': 'no-cache',
    ETag: `"${file.md5}"`,
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
  });
  res.end(req.method === 'HEAD' ? undefined : file.data);
}

/** What a rebuild depends on: the commit shown, and with worktree the cards and pointers on disk. */
async function changeSignature(repo: Repo, options: CatalogSourceOptions): Promise<string> {
  const commit = options.worktree ? await headCommit(repo.root) : (await resolveCommitsOrThrow(repo.root, [options.rev ?? 'HEAD']))[0];
  if (!options.worktree) return commit ?? '';
  const parts: string[] = [commit ?? ''];
  let areas: string[] = [];
  try {
    areas = registryPolicy(openRepo({ cwd: repo.root, env: {}, progress: () => {} }).config.data).areas.map((a) => a.name);
  } catch {
    areas = [];
  }
  for (const area of areas) {
    const dir = join(repo.root, ...area.split('/'));
    let names: string[] = [];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.endsWith('.card.md') && !n.endsWith('.dvc')) continue;
      const st = lstatSync(join(dir, n), { throwIfNoEntry: false });
      parts.push(`${area}/${n}:${st?.size}:${st?.mtimeMs}`);
    }
  }
  return parts.join('\n');
}

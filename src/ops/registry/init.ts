import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, LOCAL_CONFIG_FILE, loadConfig, setConfigValue } from '../../config.js';
import { registryPolicy, type AreaMode } from '../../policy/areas.js';
import { ensureAreaLayout, ensureRegistryConfig } from '../../policy/layout.js';
import type { Context } from '../../context.js';
import { configError, isRegError } from '../../errors.js';
import { hooksInstall, type HooksResult } from '../hooks/hooks.js';
import { readGitignoreText, writeFileAtomicSync } from '../../fsutil.js';
import { REG_DIR, assertRegDirIsDirectory, requireGitRoot } from '../../repo.js';
import { forbiddenInRepo, SafeFs } from '../../workspace/safe-fs.js';
import { importDvcCache, importDvcRemotes, readDvcConfigs, type DvcConfigFile, type ImportedCache, type ImportedRemote } from './dvc-config.js';
import { makeDirsSync } from '../../make-dirs.js';

export interface InitOptions {
  fromDvc?: boolean;
  /** Write the default registry layout (areas config, area dirs, card templates, .gitignores). Default true. */
  areas?: boolean;
}

export interface InitResult {
  root: string;
  regDir: string;
  created: string[];
  alreadyInitialized: boolean;
  importedRemotes: ImportedRemote[];
  /** `[cache] dir`/`type` taken from `.dvc/config` with --from-dvc. */
  importedCache: ImportedCache;
  /** The registry areas configured after init (empty with `areas: false` and no `areas:` config). */
  areas: Array<{ name: string; mode: AreaMode }>;
  /** An existing registry (a fresh clone): the git hooks installed (unless hooks.install is false). */
  hooks?: HooksResult;
  /** Why the hooks were not installed on an existing registry. */
  hooksSkipped?: string;
}

const DEFAULT_CONFIG = `# reg configuration, tracked in Git and shared by the team.
# Per-user settings and secrets go in config.local.yaml (gitignored): reg remote modify --local ...
core: {}
cache:
  # Link types tried in order when filling the workspace from the cache: reflink, hardlink, symlink, copy.
  type: reflink,copy
remotes: {}
`;

const REG_GITIGNORE = '/cache\n/tmp\n/config.local.yaml\n/stash\n';

/** Creates `.reg/` (config, .gitignore). Idempotent: existing files are left alone. */
export async function init(ctx: Context, options: InitOptions = {}): Promise<InitResult> {
  const root = requireGitRoot(ctx);
  const regDir = join(root, REG_DIR);
  assertRegDirIsDirectory(regDir);
  const alreadyInitialized = existsSync(join(regDir, CONFIG_FILE));
  let dvcConfigs: DvcConfigFile[] = [];
  if (options.fromDvc) {
    if (!existsSync(join(root, '.dvc'))) {
      throw configError('init.no-dvc', `--from-dvc: ${root} has no .dvc/ directory`, { hint: 'run it at the top of a DVC repository, or drop --from-dvc' });
    }
    dvcConfigs = readDvcConfigs(root);
  }
  const created: string[] = [];
  makeDirsSync(regDir);
  if (!alreadyInitialized) {
    writeFileAtomicSync(join(regDir, CONFIG_FILE), DEFAULT_CONFIG);
    created.push(`${REG_DIR}/${CONFIG_FILE}`);
  }
  const gitignore = join(regDir, '.gitignore');
  const current = readGitignoreText(gitignore, `${REG_DIR}/.gitignore`);
  const missing = REG_GITIGNORE.split('\n').filter((l) => l && !current.split(/\r?\n/).includes(l));
  if (missing.length > 0) {
    // Temp file + rename: a link swapped in after the read is replaced, never written through.
    writeFileAtomicSync(gitignore, current + (current && !current.endsWith('\n') ? '\n' : '') + missing.join('\n') + '\n');
    created.push(`${REG_DIR}/.gitignore`);
  }
  let importedRemotes: ImportedRemote[] = [];
  let importedCache: ImportedCache = {};
  if (options.fromDvc) {
    importedRemotes = importDvcRemotes(dvcConfigs, join(regDir, CONFIG_FILE), join(regDir, LOCAL_CONFIG_FILE));
    importedCache = importDvcCache(dvcConfigs, join(regDir, CONFIG_FILE), join(regDir, LOCAL_CONFIG_FILE));
    if (importedCache.dir === undefined && existsSync(join(root, '.dvc', 'cache'))) {
      // Reuse DVC's cache in place: same layout, nothing to copy.
      setConfigValue(join(regDir, LOCAL_CONFIG_FILE), ['cache', 'dir'], '../.dvc/cache');
    }
  }
  let areas: InitResult['areas'] = [];
  if (options.areas !== false) {
    const configPath = join(regDir, CONFIG_FILE);
    if (ensureRegistryConfig(configPath) && alreadyInitialized) created.push(`${REG_DIR}/${CONFIG_FILE} (areas)`);
    const config = loadConfig(regDir).data;
    created.push(...ensureAreaLayout(new SafeFs(root, forbiddenInRepo(root, join(regDir, 'cache'))), config));
    areas = registryPolicy(config).areas.map((a) => ({ name: a.name, mode: a.mode }));
  }
  const result: InitResult = { root, regDir, created, alreadyInitialized, importedRemotes, importedCache, areas };
  if (alreadyInitialized) await installHooksOfClone(ctx, regDir, result);
  return result;
}

/**
 * `reg init` in a repository whose `.reg/config.yaml` came with the clone: install the hooks,
 * the one per-clone step a newcomer would otherwise miss. Never fails the init.
 */
async function installHooksOfClone(ctx: Context, regDir: string, result: InitResult): Promise<void> {
  if (!registryPolicy(loadConfig(regDir).data).installHooks) {
    result.hooksSkipped = 'hooks.install is false in the config';
    return;
  }
  try {
    result.hooks = await hooksInstall(ctx);
  } catch (err) {
    if (!isRegError(err)) throw err;
    result.hooksSkipped = `${err.message}${err.hint ? ` (${err.hint})` : ''}`;
  }
}

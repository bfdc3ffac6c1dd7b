import { isAbsolute, join } from 'node:path';
import { configFileLimit, setConfigValue, setConfigValues } from '../../config.js';
import { configError } from '../../errors.js';
import { readFdUpTo, refuseNonRegularFile, withRegularFileIfAny } from '../../fsutil.js';
import { parseLinkTypes } from '../../store/cache.js';

/** `.dvc/config` option names -> reg remote option names. */
const OPTION_MAP: Record<string, string> = {
  url: 'url',
  endpointurl: 'endpoint-url',
  region: 'region',
  profile: 'profile',
  credentialpath: 'credential-path',
  configpath: 'config-path',
  jobs: 'jobs',
  ssl_verify: 'ssl-verify',
  use_ssl: 'use-ssl',
  sse: 'sse',
  sse_kms_key_id: 'sse-kms-key-id',
  acl: 'acl',
  access_key_id: 'access-key-id',
  secret_access_key: 'secret-access-key',
  session_token: 'session-token',
};
export const SECRET_OPTIONS = new Set(['access-key-id', 'secret-access-key', 'session-token', 'sse-customer-key']);

export interface ImportedRemote {
  name: string;
  url: string;
  options: string[];
  /** Options that went to config.local.yaml (secrets, or settings DVC kept local). */
  localOptions: string[];
  skipped: string[];
}

/** Parses ConfigObj INI as DVC writes it: sections, `key = value`, quoted values, comments. */
export function parseDvcConfig(text: string, file: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[\s*'?(.*?)'?\s*\]$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase().replace(/\s+/g, ' ');
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      return;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv || !current) {
      throw configError('dvc-config.syntax', `${file}:${i + 1}: cannot parse ${JSON.stringify(raw)}`, { hint: 'fix .dvc/config (ConfigObj INI syntax)' });
    }
    let value = kv[2]!;
    const quoted = /^"(.*)"$|^'(.*)'$/.exec(value);
    if (quoted) value = quoted[1] ?? quoted[2] ?? '';
    else value = value.replace(/\s+#.*$/, '');
    current.set(kv[1]!.toLowerCase(), value);
  });
  return sections;
}

/** One of a DVC repository's config files, parsed. */
export interface DvcConfigFile {
  file: string;
  isLocal: boolean;
  sections: Map<string, Map<string, string>>;
}

/**
 * `.dvc/config` then `.dvc/config.local` (the later wins key by key, as in DVC), parsed. Read
 * before reg writes anything, so that a config reg refuses leaves no half-made `.reg/`.
 */
export function readDvcConfigs(root: string): DvcConfigFile[] {
  const read: DvcConfigFile[] = [];
  for (const [file, isLocal] of [[join(root, '.dvc', 'config'), false], [join(root, '.dvc', 'config.local'), true]] as const) {
    // Never through a symlink: what .dvc/config says is copied into the tracked .reg/config.yaml.
    const refuse = refuseNonRegularFile(
      'init.dvc-config-not-a-file',
      file,
      'imports a DVC config through it',
      `replace it with a regular file (git rm --cached .dvc/${isLocal ? 'config.local' : 'config'} if it was committed), or run reg init without --from-dvc`,
    );
    const text = withRegularFileIfAny(file, refuse, (fd, st) => readFdUpTo(fd, configFileLimit(file, file), st.size).toString('utf8'));
    if (text !== undefined) read.push({ file, isLocal, sections: parseDvcConfig(text, file) });
  }
  return read;
}

/** A path in `.dvc/config` is relative to `.dvc/`; reg's cache.dir is relative to `.reg/`. */
function fromDvcDir(path: string): string {
  return isAbsolute(path) ? path : join('..', '.dvc', path);
}

export interface ImportedCache {
  /** The cache directory as written to reg's config (relative to .reg/ or absolute). */
  dir?: string;
  type?: string;
}

/**
 * Copies `[cache] dir` and `[cache] type`: a shared DVC cache is then used in place. Settings from
 * `.dvc/config` go to the tracked config (the team shares them), from config.local to the local one.
 */
export function importDvcCache(configs: readonly DvcConfigFile[], repoConfig: string, localConfig: string): ImportedCache {
  const imported: ImportedCache = {};
  for (const { file, isLocal, sections } of configs) {
    const cache = sections.get('cache');
    if (!cache) continue;
    const target = isLocal ? localConfig : repoConfig;
    const dir = cache.get('dir');
    if (dir !== undefined && dir !== '') {
      imported.dir = fromDvcDir(dir);
      setConfigValue(target, ['cache', 'dir'], imported.dir);
    }
    const type = cache.get('type');
    if (type !== undefined && type !== '') {
      imported.type = parseLinkTypes(type, `${file}: [cache] type`).join(',');
      setConfigValue(target, ['cache', 'type'], imported.type);
    }
  }
  return imported;
}

/** Copies `.dvc/config` remotes into reg's config; anything from config.local (and every secret) goes local. */
export function importDvcRemotes(configs: readonly DvcConfigFile[], repoConfig: string, localConfig: string): ImportedRemote[] {
  const byName = new Map<string, ImportedRemote>();
  // Each config file is rewritten once with every imported value: a failed write leaves it as it was.
  const edits = new Map<string, Array<[string[], unknown]>>([[repoConfig, []], [localConfig, []]]);
  const setLater = (path: string, keyPath: string[], value: unknown) => edits.get(path)!.push([keyPath, value]);
  for (const { isLocal, sections } of configs) {
    for (const [section, values] of sections) {
      const m = /^remote "(.+)"$/.exec(section);
      if (m) {
        const name = m[1]!;
        const entry = byName.get(name) ?? { name, url: '', options: [], localOptions: [], skipped: [] };
        byName.set(name, entry);
        for (const [key, value] of values) {
          const mapped = OPTION_MAP[key];
          if (!mapped) {
            entry.skipped.push(key);
            continue;
          }
          let v = value;
          if (mapped === 'url' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) v = fromDvcDir(v);
          const toLocal = isLocal || SECRET_OPTIONS.has(mapped);
          setLater(toLocal ? localConfig : repoConfig, ['remotes', name, mapped], coerce(v));
          if (mapped === 'url') entry.url = v;
          (toLocal ? entry.localOptions : entry.options).push(mapped);
        }
      } else if (section === 'core' && values.has('remote')) {
        setLater(isLocal ? localConfig : repoConfig, ['core', 'remote'], values.get('remote')!.toLowerCase());
      }
    }
  }
  for (const [path, list] of edits) if (list.length > 0) setConfigValues(path, list);
  return [...byName.values()];
}

function coerce(v: string): string | boolean | number {
  if (/^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  if (/^[0-9]+$/.test(v)) return Number(v);
  return v;
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setConfigValue } from '../../config.js';
import { configError } from '../../errors.js';

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

/** Copies `.dvc/config` remotes into reg's config; anything from config.local (and every secret) goes local. */
export function importDvcRemotes(root: string, repoConfig: string, localConfig: string): ImportedRemote[] {
  const byName = new Map<string, ImportedRemote>();
  for (const [file, isLocal] of [[join(root, '.dvc', 'config'), false], [join(root, '.dvc', 'config.local'), true]] as const) {
    if (!existsSync(file)) continue;
    const sections = parseDvcConfig(readFileSync(file, 'utf8'), file);
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
          if (mapped === 'url' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !v.startsWith('/')) v = join('..', '.dvc', v); // DVC paths are relative to .dvc/
          const toLocal = isLocal || SECRET_OPTIONS.has(mapped);
          setConfigValue(toLocal ? localConfig : repoConfig, ['remotes', name, mapped], coerce(v));
          if (mapped === 'url') entry.url = v;
          (toLocal ? entry.localOptions : entry.options).push(mapped);
        }
      } else if (section === 'core' && values.has('remote')) {
        setConfigValue(isLocal ? localConfig : repoConfig, ['core', 'remote'], values.get('remote')!.toLowerCase());
      }
    }
  }
  return [...byName.values()];
}

function coerce(v: string): string | boolean | number {
  if (/^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  if (/^[0-9]+$/.test(v)) return Number(v);
  return v;
}

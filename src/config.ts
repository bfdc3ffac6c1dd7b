import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { configError } from './errors.js';
import { readFdUpTo, refuseNonRegularFile, withRegularFileIfAny, writeFileAtomicSync, type ReadLimit } from './fsutil.js';
import { rememberedForText } from './user-cache.js';

/**
 * `.reg/config.yaml` (tracked, shared by the team) and `.reg/config.local.yaml` (gitignored:
 * per-user settings and secrets). The local file wins key by key.
 */
export type ConfigData = Record<string, unknown>;

export const CONFIG_FILE = 'config.yaml';
export const LOCAL_CONFIG_FILE = 'config.local.yaml';

export interface LoadedConfig {
  /** The merged view (repo config overlaid with local config). */
  data: ConfigData;
  repo: ConfigData;
  local: ConfigData;
}

/**
 * Aliases a config may expand. A config has no need for many; a few nested ones can otherwise
 * expand into billions of nodes (the "billion laughs" attack).
 */
export const MAX_CONFIG_ALIASES = 50;

/**
 * Parsed config files by path, with the stat they were parsed at: one command opens the repo
 * several times (status, its registry overview, check...), and each YAML parse costs more than
 * the rest of opening it. Writers replace the file (temp + rename), which changes the inode. A file
 * changed in the last RACY_CONFIG_MS is not remembered: an in-place edit of the same size within
 * one timestamp tick would keep its stat (git's "racy clean" problem).
 */
const parsedConfigs = new Map<string, { stamp: string; data: ConfigData }>();
const RACY_CONFIG_MS = 2000;

/**
 * The config file at `path` as data ({} when there is none). With `env`, the parse of its text is
 * remembered in the user's cache (rememberedForText), so a command in a fresh process does not
 * run the YAML parser for a config it saw before: the shared config only, never the local one,
 * which may hold credentials.
 */
export function readConfigFile(path: string, env?: NodeJS.ProcessEnv): ConfigData {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return {};
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const known = parsedConfigs.get(path);
  // A copy: callers may change what they get.
  if (known?.stamp === stamp) return structuredClone(known.data);
  const data = parseConfigFile(path, env);
  if (Date.now() - Math.max(st.mtimeMs, st.ctimeMs) > RACY_CONFIG_MS) parsedConfigs.set(path, { stamp, data });
  else parsedConfigs.delete(path);
  return structuredClone(data);
}

/** The data of the config file at `path`; with `env`, remembered by its text (readConfigFile). */
export function parseConfigFile(path: string, env?: NodeJS.ProcessEnv): ConfigData {
  const text = readConfigText(path);
  if (env === undefined) return configDataOf(path, text);
  return rememberedForText(env, 'config', text, () => configDataOf(path, text), isPlainObject);
}

function configDataOf(path: string, text: string): ConfigData {
  const doc = parseConfigText(path, text);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_CONFIG_ALIASES });
  } catch (err) {
    if (!(err instanceof ReferenceError) && !(err instanceof RangeError)) throw err;
    throw configError('config.yaml-aliases', `${path}: the YAML expands more than ${MAX_CONFIG_ALIASES} aliases (*name references) or refers to itself: ${err.message}`, {
      hint: 'write the values out instead of using YAML anchors and aliases, or restore the file with git',
    });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw configError('config.shape', `${path}:1: the config must be a YAML mapping`, { hint: 'see the README section "Configuration"' });
  }
  return value as ConfigData;
}

/**
 * A config file's text ('' when there is none). A symlink (or anything but a regular file) is
 * refused, never read: `config.yaml` is tracked, so a committed `config.yaml -> ~/secret` would
 * otherwise be parsed and, on the next `reg config` / `reg remote add`, written back as a regular
 * file holding the secret, ready to be committed.
 */
export function readConfigText(path: string): string {
  const rel = path.slice(path.lastIndexOf('/.reg/') + 1);
  return readConfigTextIfAny(path, { shownAs: path, use: 'reads or writes its config through it', hint: `replace it with a regular file (git rm --cached ${rel} if it was committed; reg init writes a fresh config.yaml)` }) ?? '';
}

/**
 * The text of a config file at `abs`, undefined when there is none; a symlink, FIFO or anything
 * but a regular file is refused (exit 3 `config.not-a-file`, naming it as `shownAs`, what reg
 * never does through it, and the hint).
 */
export function readConfigTextIfAny(abs: string, refusal: { shownAs: string; use: string; hint: string }): string | undefined {
  const refuse = refuseNonRegularFile('config.not-a-file', refusal.shownAs, refusal.use, refusal.hint, abs);
  return withRegularFileIfAny(abs, refuse, (fd, st) => readFdUpTo(fd, configFileLimit(refusal.shownAs, abs), st.size).toString('utf8'));
}

/** A config (reg's or DVC's) holds a few remotes and settings; a bigger file is not read. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** The ReadLimit of a config file shown as `shownAs`: over 1 MiB is exit 3 `config.too-large`. */
export function configFileLimit(shownAs: string, abs: string): ReadLimit {
  return {
    maxBytes: MAX_CONFIG_BYTES,
    tooBig: () =>
      configError('config.too-large', `${shownAs} is larger than 1 MiB: reg reads no config that large`, {
        hint: 'a config holds a few settings; this one is corrupt or hostile: restore it with git (git checkout -- <file>) or write it again',
        details: { path: abs },
      }),
  };
}

export function parseConfigDocument(path: string): Document.Parsed {
  return parseConfigText(path, readConfigText(path));
}

function parseConfigText(path: string, text: string): Document.Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw configError('config.yaml', `${path}:${pos.line}:${pos.col}: invalid YAML: ${e.message.split('\n')[0]}`, {
      hint: 'fix the file by hand (it is YAML) or restore it with git',
    });
  }
  return doc;
}

/** `env`: remember the shared config's parse in the user's cache (readConfigFile). */
export function loadConfig(regDir: string, env?: NodeJS.ProcessEnv): LoadedConfig {
  const repo = readConfigFile(join(regDir, CONFIG_FILE), env);
  const local = readConfigFile(join(regDir, LOCAL_CONFIG_FILE));
  return { repo, local, data: deepMerge(repo, local) };
}

export function deepMerge(base: ConfigData, over: ConfigData): ConfigData {
  const out: ConfigData = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `a.b.c` from a config object. */
export function getPath(data: ConfigData, path: readonly string[]): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/**
 * Sets (or with `undefined` deletes) a value in a config file, keeping comments and key order.
 */
export function setConfigValue(path: string, keyPath: readonly string[], value: unknown): void {
  setConfigValues(path, [[keyPath, value]]);
}

/** setConfigValue of several values in one rewrite: a failed write (a full disk) leaves the file as it was, not half the values set. */
export function setConfigValues(path: string, edits: ReadonlyArray<readonly [readonly string[], unknown]>): void {
  const doc = parseConfigDocument(path);
  if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as never;
  for (const [keyPath, value] of edits) {
    if (value === undefined) doc.deleteIn(keyPath);
    else doc.setIn(keyPath, value);
  }
  writeFileAtomicSync(path, doc.toString({ indentSeq: false, lineWidth: 0 }));
}

export function configString(data: ConfigData, path: readonly string[], file: string): string | undefined {
  const v = getPath(data, path);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw configError('config.type', `${file}: ${path.join('.')} must be a string`, { hint: `set it with: reg config ${path.join('.')} VALUE` });
}

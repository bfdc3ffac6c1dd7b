import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * Finds secrets in config text meant to be committed. Pure: returns 1-based line numbers.
 * Walks the YAML (block or flow style); falls back to a line scan when the YAML does not parse.
 */
export interface SecretHit {
  line: number;
  what: string;
}

/** Whether `v` has the shape findSecrets returns (for a remembered scan). */
export function isSecretHitList(v: unknown): v is SecretHit[] {
  return Array.isArray(v) && v.every((h: unknown) => {
    const x = h as Partial<Record<keyof SecretHit, unknown>> | null;
    return typeof x === 'object' && x !== null && Number.isInteger(x.line) && (x.line as number) >= 1 && typeof x.what === 'string';
  });
}

const SECRET_KEY_RE = /^(?:aws[_-])?(?:secret[_-]access[_-]key|session[_-]token|access[_-]key[_-]id|secret[_-]key|password|token)$/i;
const AWS_KEY_ID_RE = /\b(AKIA|ASIA)[0-9A-Z]{16}\b/;
const AWS_SECRET_RE = /^[A-Za-z0-9/+]{40}$/;

function isSecretValue(value: string): boolean {
  const v = value.trim();
  return v !== '' && v !== 'null' && v !== '~' && !/^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v);
}

/** `scheme://user:password@host` (the password may hold an unescaped "/"), or `scheme://user@host`, inside text. */
const USERINFO_IN_TEXT_RE = /\b[a-z][a-z0-9+.-]*:\/\/([^\s/?#"'@:]*:[^\s"'@]*?|[^\s/?#"'@]+)@/i;
const TOKEN_LIKE_RE = /^(?:AKIA|ASIA|ghp_|gho_|ghs_|github_pat_|glpat-|xox[bap]-)|^[A-Za-z0-9_\-+/=]{32,}$/;

function urlCredentials(value: string): string | undefined {
  const m = USERINFO_IN_TEXT_RE.exec(value);
  if (!m) return undefined;
  const info = m[1]!;
  if (info.includes(':') && info.slice(info.indexOf(':') + 1) !== '') return 'a URL with a user name and password in it (user:password@)';
  return TOKEN_LIKE_RE.test(info) ? 'a URL with a key or token in it (token@)' : undefined;
}

function looksLikeKey(value: string): string | undefined {
  const inUrl = urlCredentials(value);
  if (inUrl) return inUrl;
  if (AWS_KEY_ID_RE.test(value)) return 'a value that looks like an AWS access key id';
  if (AWS_SECRET_RE.test(value.trim()) && /[A-Z]/.test(value) && /[a-z]/.test(value) && /[0-9/+]/.test(value)) return 'a value that looks like an AWS secret access key';
  return undefined;
}

export function findSecrets(text: string): SecretHit[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) return findSecretsByLine(text);
  const hits: SecretHit[] = [];
  const lineOf = (n: Node | null | undefined) => (n?.range ? lines.linePos(n.range[0]).line : 1);
  const visit = (node: unknown) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        const value = pair.value as Node | null;
        if (SECRET_KEY_RE.test(key) && isScalar(value) && value.value !== null && isSecretValue(String(value.value))) {
          hits.push({ line: lineOf(value), what: `"${key}" has a value` });
        } else visit(value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(item);
    } else if (isScalar(node) && typeof node.value === 'string') {
      const what = looksLikeKey(node.value);
      if (what) hits.push({ line: lineOf(node), what });
    }
  };
  visit(doc.contents);
  return hits.sort((a, b) => a.line - b.line);
}

/** Line by line, for text that is not YAML (broken YAML, or INI files such as .dvc/config). */
export function findSecretsByLine(text: string): SecretHit[] {
  const hits: SecretHit[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*[#;]/.test(raw)) return;
    const m = /["']?([A-Za-z_-]+)["']?\s*[:=]\s*["']?([^"',}\s#;]*)/.exec(raw);
    if (m && SECRET_KEY_RE.test(m[1]!) && isSecretValue(m[2]!)) hits.push({ line: i + 1, what: `"${m[1]}" has a value` });
    else {
      const what = urlCredentials(raw) ?? raw.split(/[\s"':,{}=]+/).map(looksLikeKey).find(Boolean);
      if (what) hits.push({ line: i + 1, what });
    }
  });
  return hits;
}

/** The credentials a URL carries in its user-info part (`s3://KEY:SECRET@bucket/p`, `https://user:pass@host`). */
export interface UrlCredentials {
  /** The URL without them. */
  url: string;
  user?: string;
  password?: string;
}

const S3_USERINFO_RE = /^(s3:\/\/)([^/:@]+:.+?)@([a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:\/.*)?)$/i;
// user:password (the password may hold an unescaped "/") or a user alone, then "@" and the host.
const URL_USERINFO_RE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@:]*:[^@]*?|[^/?#@]*)@([^/?#@\s]+(?:[/?#].*)?)$/i;

/**
 * Splits user-info off a remote or endpoint URL. S3 secret keys may contain "/" and "+" unescaped,
 * so an s3:// URL's user-info runs up to the "@" before a valid bucket name.
 */
export function splitUrlCredentials(url: string): UrlCredentials {
  const m = S3_USERINFO_RE.exec(url) ?? URL_USERINFO_RE.exec(url);
  if (!m) return { url };
  const info = m[2]!;
  const cut = info.indexOf(':');
  const decode = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  const user = decode(cut === -1 ? info : info.slice(0, cut));
  const password = cut === -1 ? undefined : decode(info.slice(cut + 1));
  return { url: m[1]! + m[3]!, ...(user !== '' ? { user } : {}), ...(password !== undefined && password !== '' ? { password } : {}) };
}


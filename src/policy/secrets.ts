import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * Finds secrets in config text meant to be committed. Pure: returns 1-based line numbers.
 * Walks the YAML (block or flow style); falls back to a line scan when the YAML does not parse.
 */
export interface SecretHit {
  line: number;
  what: string;
}

const SECRET_KEY_RE = /^(?:aws[_-])?(?:secret[_-]access[_-]key|session[_-]token|access[_-]key[_-]id|secret[_-]key|password|token)$/i;
const AWS_KEY_ID_RE = /\b(AKIA|ASIA)[0-9A-Z]{16}\b/;
const AWS_SECRET_RE = /^[A-Za-z0-9/+]{40}$/;

function isSecretValue(value: string): boolean {
  const v = value.trim();
  return v !== '' && v !== 'null' && v !== '~' && !/^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v);
}

function looksLikeKey(value: string): string | undefined {
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

function findSecretsByLine(text: string): SecretHit[] {
  const hits: SecretHit[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*#/.test(raw)) return;
    const m = /["']?([A-Za-z_-]+)["']?\s*:\s*["']?([^"',}\s#]*)/.exec(raw);
    if (m && SECRET_KEY_RE.test(m[1]!) && isSecretValue(m[2]!)) hits.push({ line: i + 1, what: `"${m[1]}" has a value` });
    else {
      const what = raw.split(/[\s"':,{}]+/).map(looksLikeKey).find(Boolean);
      if (what) hits.push({ line: i + 1, what });
    }
  });
  return hits;
}

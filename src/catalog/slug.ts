import { createHash } from 'node:crypto';

/**
 * The file-name stem of an entry's page and data directory. Entry names come from the registry
 * and may be hostile (`..`, slashes are impossible but quotes, `<`, control characters, very long
 * names are not): only `[A-Za-z0-9._-]` survive, the stem never starts with a dot, and a short
 * hash of the real path keeps two names that clean up alike apart.
 */
export function entrySlug(area: string, name: string): string {
  const clean = (s: string, max: number) => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, max);
  const hash = createHash('md5').update(`${area}/${name}`).digest('hex').slice(0, 8);
  return `${clean(area.replace(/\//g, '-'), 40) || 'area'}--${clean(name, 60) || 'entry'}-${hash}`;
}

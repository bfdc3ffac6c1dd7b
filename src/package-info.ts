import { fileURLToPath } from 'node:url';

/** reg's version, and the npm package that installs the `reg` command (the npm name "reg" belongs to an unrelated tool). */
export const VERSION = '0.1.0';
export const PACKAGE_NAME = 'git-data-registry';

/**
 * A path inside the installed package (`templates/`, `hooks/`, `dist/...`). Resolved from this
 * module, which sits one level below the package root both as `dist/package-info.js` (tsc) and
 * inside the CLI bundle `dist/reg-cli.cjs` (scripts/build-cli.mjs), so the answer does not depend
 * on which of the two layouts is running.
 */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

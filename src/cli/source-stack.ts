import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { normalize } from 'node:path';

/**
 * A stack frame's position in the program bundle: `(<path>/dist/reg-cli.cjs:LINE:COLUMN)` after a
 * function's name (the path may hold spaces), or `at <path>/dist/reg-cli.cjs:LINE:COLUMN`.
 */
const BUNDLE_FRAME = /(?<=\()([^()\n]*reg-cli\.cjs):(\d+):(\d+)(?=\))|(?<=^\s*at )([^()\n]*reg-cli\.cjs):(\d+):(\d+)$/gm;

/**
 * An internal error's stack with each position in the program bundle (`dist/reg-cli.cjs`,
 * whitespace-minified by scripts/build-cli.mjs: one long line per few thousand statements) given as
 * the source file and line it came from, read from the source map beside the bundle. Read only when reg is about to
 * report a bug, so no command pays for the map. A frame that cannot be mapped (no map, a position
 * outside it, the first line, where the loader's wrapper shifts the columns) is left as it was.
 */
export function sourceStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(BUNDLE_FRAME, (frame, inParens?: string, l1?: string, c1?: string, bare?: string, l2?: string, c2?: string) => {
    const [file, line, column] = inParens !== undefined ? [inParens, l1!, c1!] : [bare!, l2!, c2!];
    if (!maps.has(file)) maps.set(file, readMap(`${file}.map`));
    const map = maps.get(file);
    if (!map || line === '1') return frame;
    const origin = map.findOrigin(Number(line), Number(column)) as { fileName?: string; lineNumber?: number; columnNumber?: number };
    if (origin.fileName === undefined || origin.lineNumber === undefined) return frame;
    // esbuild names sources relative to the map (../src/cli/main.ts): the package's own paths.
    const source = normalize(origin.fileName).replace(/^(\.\.[\\/])+/, '');
    return `${source}:${origin.lineNumber}:${origin.columnNumber ?? 0}`;
  });
}

function readMap(path: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

/**
 * reg as a library: the same operations the CLI runs, returning plain result objects.
 *
 *   import { add, status, checkout, makeContext } from 'reg';
 *   const ctx = makeContext({ cwd: '/path/to/repo' });
 *   const result = await status(ctx, { targets: [] });
 */
export { makeContext, silentProgress, type Context, type ProgressEvent, type ProgressSink } from './context.js';
export { RegError, ExitCode, EXIT_CODE_TABLE, isRegError } from './errors.js';
export { init, type InitOptions, type InitResult } from './ops/init.js';
export { add, type AddOptions, type AddResult, type AddedOutput } from './ops/add.js';
export { status, type StatusOptions, type StatusResult, type OutputStatus, type OutputState, type FileChanges } from './ops/status.js';
export { checkout, type CheckoutOptions, type CheckoutResult, type CheckoutOutput } from './ops/checkout.js';
export { stashList, stashApply, type StashRecord } from './ops/stash.js';
export { parsePointer, serializePointer, updatePointerText, type Pointer, type PointerOutput } from './data/pointer.js';
export { serializeManifest, parseManifest, buildManifest, type ManifestEntry } from './data/manifest.js';
export { hashFile } from './data/hash.js';

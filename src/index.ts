/**
 * reg as a library: the same operations the CLI runs, returning plain result objects.
 *
 *   import { add, status, checkout, makeContext } from 'git-data-registry';
 *   const ctx = makeContext({ cwd: '/path/to/repo' });
 *   const result = await status(ctx, { targets: [] });
 */
export { makeContext, silentProgress, type Context, type ProgressEvent, type ProgressSink } from './context.js';
export { RegError, ExitCode, EXIT_CODE_TABLE, isRegError } from './errors.js';
export { init, type InitOptions, type InitResult } from './ops/registry/init.js';
export { add, type AddOptions, type AddResult, type AddedOutput } from './ops/data/add.js';
export { status, type StatusOptions, type StatusResult, type OutputStatus, type OutputState, type FileChanges } from './ops/data/status.js';
export { checkout, type CheckoutOptions, type CheckoutResult, type CheckoutOutput } from './ops/data/checkout.js';
export { stashList, stashApply, type StashRecord, type StashApplyOptions, type StashApplyResult } from './ops/data/stash.js';
export { parsePointer, serializePointer, updatePointerText, type Pointer, type PointerOutput } from './data/pointer.js';
export { serializeManifest, parseManifest, buildManifest, type ManifestEntry } from './data/manifest.js';
export { hashFile } from './data/hash.js';
export { statusReport, type StatusReport, type StatusReportOptions } from './ops/data/status-report.js';
export { remoteAdd, remoteModify, remoteList, remoteRemove, remoteDefault, type RemoteListResult } from './ops/remote/remote.js';
export { push, type PushOptions, type PushResult } from './ops/remote/push.js';
export { fetch, type FetchOptions, type FetchResult } from './ops/remote/fetch.js';
export { verify, verifyOutputs, type VerifyOptions, type VerifyOutputsOptions, type VerifyResult, type VerifiedOutput, type VerifyProblem } from './ops/remote/verify.js';
export { pull, type PullOptions, type PullResult } from './ops/remote/pull.js';
export { remoteStatus, type RemoteStatusOptions, type RemoteStatusResult } from './ops/remote/remote-status.js';
export { check, type CheckOptions, type CheckResult, type CiDataCheck, type Finding } from './ops/registry/check.js';
export { newEntry, type NewEntryOptions, type NewEntryResult } from './ops/registry/new.js';
export { sync, type SyncOptions, type SyncResult } from './ops/registry/sync.js';
export { hooksInstall, hooksUninstall, hooksStatus, type HooksResult } from './ops/hooks/hooks.js';
export { prePushHook } from './ops/hooks/hook-pre-push.js';
export { preCommitHook } from './ops/hooks/hook-pre-commit.js';
export { postCheckoutHook, postMergeHook } from './ops/hooks/hook-post-checkout.js';
export { registryOverview, type RegistryOverview, type OverviewOptions } from './ops/registry/overview.js';
export { registryPolicy, type RegistryPolicy } from './policy/areas.js';
export { doctor, type DoctorOptions, type DoctorResult, type DoctorCheck, type DoctorStatus } from './ops/registry/doctor.js';
export { hooksNotice } from './ops/hooks/hooks-notice.js';
export { VERSION, PACKAGE_NAME } from './package-info.js';
export { log, type LogOptions, type LogResult, type LogVersion, type VersionRefs } from './ops/history/log.js';
export { diff, type DiffOptions, type DiffResult, type OutputDiff, type DiffFile, type DiffModifiedFile, type DiffRenamedFile, type DiffTotals, type DiffVersion } from './ops/history/diff.js';
export { ls, type LsOptions, type LsResult, type LsEntry } from './ops/history/ls.js';
export { exportEntry, EXPORT_ARCHIVES, type ExportOptions, type ExportResult, type ExportArchive, type ExportedFile } from './ops/publish/export.js';
export { share, MAX_EXPIRY_SECONDS, type ShareOptions, type ShareResult } from './ops/publish/share.js';
export { batch, BATCH_ACTIONS, BATCH_COLUMNS, type BatchOptions, type BatchResult, type BatchJob, type BatchAction, type JobPlan, type JobOutcome, type JobStatus, type TransferPlan } from './ops/publish/batch.js';
export { HttpBackend, type HttpOptions } from './store/http.js';
export { publishingProblems, type PublishingProblem } from './policy/publishing.js';
export { get, type GetOptions, type GetResult } from './ops/history/get.js';
export { restore, type RestoreOptions, type RestoreResult, type RestoredOutput } from './ops/history/restore.js';
export { gc, Deleter, parseGrace, type GcOptions, type GcResult, type GcObject, type GcUse, type GcVersion } from './ops/history/gc.js';
export { type HistorySelection } from './ops/history/versions.js';

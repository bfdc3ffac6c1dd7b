import type { Context } from '../../context.js';
import { openRepo } from '../../repo.js';
import type { Backend } from '../../store/backend.js';
import { resolveOutputs, type TrackedOutput } from '../data/outputs.js';
import { groupByRemote, planPush, plannedSize } from './push.js';
import { openRemote } from './open-remote.js';

export interface RemoteStatusOptions {
  targets: string[];
  /** Remote name (default: each output's `remote:` field, else core.remote). */
  remote?: string;
  jobs?: number;
  wrapBackend?: (backend: Backend) => Backend;
}

export type RemoteState = 'pushed' | 'not-pushed' | 'not-committed' | 'not-pushed-by-config';

export interface RemoteOutputStatus {
  path: string;
  pointer: string;
  remote: string;
  state: RemoteState;
  /** Objects the remote lacks (0 when pushed). */
  missingObjects: number;
  /** Bytes of those objects, as far as the local cache knows them. */
  missingBytes: number;
  /**
   * False when the counts are a lower bound: the directory manifest is neither on the remote
   * nor in the local cache, so its files could not be counted.
   */
  complete: boolean;
}

export interface RemoteStatusResult {
  remotes: string[];
  outputs: RemoteOutputStatus[];
  summary: { pushed: number; notPushed: number; missingObjects: number; missingBytes: number };
  query: { strategy: string; requests: number };
}

/**
 * For each output: is its version on the remote? Asks the remote the same cheap way push does
 * (a `.dir` on the remote proves the whole directory), transfers nothing.
 */
export async function remoteStatus(ctx: Context, options: RemoteStatusOptions): Promise<RemoteStatusResult> {
  const repo = openRepo(ctx);
  const outputs = await resolveOutputs(repo, ctx, options.targets);
  const rows: RemoteOutputStatus[] = [];
  const remotes: string[] = [];
  const query = { strategy: 'none', requests: 0 };
  const base = (o: TrackedOutput, remote: string) => ({ path: o.dataRel, pointer: o.pointerRel, remote, missingObjects: 0, missingBytes: 0, complete: true });
  for (const o of outputs) {
    if (o.out.md5 === undefined) rows.push({ ...base(o, ''), state: 'not-committed' });
    else if (o.out.push === false) rows.push({ ...base(o, ''), state: 'not-pushed-by-config' });
  }
  for (const [name, group] of groupByRemote(repo, outputs, options.remote)) {
    const remote = openRemote(repo, ctx, { remote: name, jobs: options.jobs, wrapBackend: options.wrapBackend });
    remotes.push(remote.name);
    try {
      const plan = await planPush(repo, ctx, group, remote);
      if (plan.query.strategy !== 'none') query.strategy = plan.query.strategy;
      query.requests += plan.query.requests;
      for (const p of plan.outputs) {
        const missingBytes = p.missingKeys.reduce((s, k) => s + plannedSize(plan, k), 0);
        rows.push({
          ...base(p.output, remote.name),
          state: p.missingKeys.length === 0 ? 'pushed' : 'not-pushed',
          missingObjects: p.missingKeys.length,
          missingBytes,
          complete: !p.manifestUnavailable,
        });
      }
    } finally {
      remote.close();
    }
  }
  const summary = { pushed: 0, notPushed: 0, missingObjects: 0, missingBytes: 0 };
  for (const r of rows) {
    if (r.state === 'pushed') summary.pushed++;
    if (r.state === 'not-pushed') summary.notPushed++;
    summary.missingObjects += r.missingObjects;
    summary.missingBytes += r.missingBytes;
  }
  return { remotes, outputs: rows, summary, query };
}

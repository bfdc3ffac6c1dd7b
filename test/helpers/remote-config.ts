import { makeContext } from '../../dist/context.js';
import { remoteAdd, remoteModify } from '../../dist/ops/remote/remote.js';

/**
 * Test setup: adds remote `name` at `url` to `repo` and sets `options` on it, through the same
 * code `reg remote add` and `reg remote modify` run (validation, coercion, the config file they
 * write), in-process: one CLI spawn per option costs a test about half a second each and checks
 * nothing the remote-cli tests do not. `local` writes `.reg/config.local.yaml` (gitignored), as
 * `--local` does; `isDefault` makes it the default remote, as `--default` does.
 */
export async function configureRemote(repo: string, name: string, url: string, options: Record<string, string>, how: { local?: boolean; isDefault?: boolean } = {}): Promise<void> {
  const ctx = makeContext({ cwd: repo });
  await remoteAdd(ctx, { name, url, default: Boolean(how.isDefault), local: Boolean(how.local) });
  for (const [option, value] of Object.entries(options)) await remoteModify(ctx, { name, option, value, local: Boolean(how.local) });
}

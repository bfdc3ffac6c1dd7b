import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../dist/context.js';
import { doctor } from '../../dist/ops/registry/doctor.js';
import { makeRegistry, removeDir } from '../helpers/repo.js';

// reg doctor's Node.js check uses the floor package.json's engines states (htmlparser2 12, through
// sanitize-html, needs 20.19).
let repo: string;
beforeAll(async () => {
  repo = await makeRegistry();
}, 60_000);
afterAll(() => removeDir(repo));

describe('reg doctor: the Node.js version', () => {
  it('fails below 20.19 naming the version to install, passes from it', async () => {
    const check = async (nodeVersion: string) => (await doctor(makeContext({ cwd: repo }), { nodeVersion, offline: true })).checks.find((c) => c.id === 'node')!;
    expect(await check('20.18.3')).toMatchObject({ status: 'fail', summary: 'Node.js 20.18.3 is older than 20.19.0', fix: 'install Node.js 20.19 or later' });
    expect(await check('18.20.0')).toMatchObject({ status: 'fail' });
    expect(await check('20.19.0')).toMatchObject({ status: 'ok' });
    expect(await check('22.12.0')).toMatchObject({ status: 'ok' });
  });
});

// `reg verify` re-hashes every cache object of the small-file tree (on all cores) against md5sum of
// the same cache objects (one core).
import { ensureRegAdded } from '../lib/repos.mjs';

export const name = 'verify';
export const description = '`reg verify` of the small-file tree (20k cache objects) vs `find | xargs md5sum` of the same objects';
export const needs = [];

export async function run(h) {
  const small = h.datasets.small();
  ensureRegAdded(h, small);
  h.alternate(h.cfg.rounds, [
    {
      id: 'verify-small',
      label: `reg verify (${h.cfg.smallFiles} cache objects)`,
      run: () => {
        const r = h.reg(small.repo, ['-q', '--json', 'verify', small.data]);
        const report = JSON.parse(r.stdout);
        const row = report.outputs?.[0];
        if (!report.ok || !row || row.cache.checked !== row.objects) throw new Error(`reg verify did not re-hash every object: ${r.stdout.slice(0, 300)}`);
        return r;
      },
    },
    { id: 'md5-cache-small', label: 'md5sum of the same cache objects', run: () => h.sh('find .reg/cache/files -type f -print0 | xargs -0 md5sum > /dev/null', { cwd: small.repo }) },
  ]);
  h.compare('verify-small', 'md5-cache-small');
}

// Versions across Git history (issues 9-11): `reg log` of a pointer changed in every one of 1,000
// commits against `git log --oneline -- <pointer>`; `reg diff` of two versions of the large tree;
// `reg ls -R` of one version; `reg get` of one file of a version from s3rver with its request
// count; `reg gc` (dry run) over the 1,000 commits.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { freshRegRepo } from '../lib/repos.mjs';
import { startS3rver } from './push-pull.mjs';

export const name = 'history';
export const description = '`reg log` over 1,000 commits of a pointer vs `git log --oneline -- path`; `reg diff` of two versions of the large tree; `reg ls -R` of one; `reg get` of one file from s3rver (request count); `reg gc` dry run over the 1,000 commits';
export const needs = ['s3rver (dev dependency) for the get row'];

/** s3rver's log line for one answered request: `info: /bucket/key 200 3ms 5.1kb` (colour codes around the level). */
const REQUEST_LINE = /info\S*: \/\S* \d{3} /;

const md5 = (b) => createHash('md5').update(b).digest('hex');

/** Issue 9's time targets (seconds, medians), which apply at full size: 1,000 commits, 100k files. */
const TIME_TARGETS = { 'history-log': 1, 'history-diff': 1, 'history-ls': 1, 'history-gc': 5, 'history-get': 1 };

/** One target line per figure (at full size only: smaller runs measure nothing the targets speak of). */
function timeTarget(h, id, fullSize) {
  const m = h.results.measurements[id];
  if (!fullSize || m === undefined) return;
  h.target(`${m.label}: < ${TIME_TARGETS[id]} s`, m.median < TIME_TARGETS[id], `median ${m.median.toFixed(3)} s (min-max ${m.min.toFixed(3)}-${m.max.toFixed(3)} s)`);
}

function commitCount(h) {
  const v = process.env.BENCH_HISTORY_COMMITS;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 2) throw new Error(`BENCH_HISTORY_COMMITS must be an integer >= 2, got ${v}`);
    return n;
  }
  return h.cfg.size === 'full' ? 1000 : h.cfg.size === 'quick' ? 200 : 20;
}

/** `n` commits on top of HEAD, each a new version of model.bin (its pointer; the objects go straight into the cache), via git fast-import. */
function pointerHistory(h, repo, n) {
  const cacheFiles = join(repo, '.reg', 'cache', 'files', 'md5');
  const parts = [];
  let mark = 0;
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(`model version ${i}\n${'w'.repeat(64 + (i % 32))}\n`);
    const oid = md5(bytes);
    const dir = join(cacheFiles, oid.slice(0, 2));
    mkdirSync(dir, { recursive: true });
    const obj = join(dir, oid.slice(2));
    if (!existsSync(obj)) {
      writeFileSync(obj, bytes);
      chmodSync(obj, 0o444);
    }
    const pointer = `outs:\n- md5: ${oid}\n  size: ${bytes.length}\n  hash: md5\n  path: model.bin\n`;
    const when = 1_700_000_000 + i * 60;
    const msg = `model version ${i}\n`;
    parts.push(
      `commit refs/heads/main\nmark :${++mark}\ncommitter reg bench <bench@example.org> ${when} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}` +
        (i === 0 ? 'from refs/heads/main^0\n' : '') +
        `M 100644 inline model.bin.dvc\ndata ${Buffer.byteLength(pointer)}\n${pointer}\n`,
    );
    if (i === n - 1) writeFileSync(join(repo, 'model.bin'), bytes);
  }
  h.git(repo, ['fast-import', '--quiet', '--force'], { input: parts.join('') });
  h.git(repo, ['reset', '-q', '--hard', 'main']);
}

async function putObjects(h, endpoint, prefix, files) {
  const require = createRequire(join(h.root, 'package.json'));
  const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  try {
    for (const [key, body] of files) await client.send(new PutObjectCommand({ Bucket: 'bench', Key: `${prefix}/${key}`, Body: body }));
  } finally {
    client.destroy();
  }
}

export async function run(h) {
  const { cfg } = h;
  const commits = commitCount(h);
  const { repo, tree } = h.datasets.status();
  const n = cfg.statusFiles;
  freshRegRepo(h, repo, ['data']);
  const reg = (args, opts) => h.reg(repo, args, opts);
  const json = (args) => {
    const r = reg(['--json', ...args]);
    try {
      r.json = JSON.parse(r.stdout);
    } catch {
      throw new Error(`reg ${args.join(' ')} printed no JSON: ${r.stdout.slice(0, 300)}`);
    }
    return r;
  };

  // Two versions of the large tree: v1, then v2 with 1% of its files modified (restored at the end).
  reg(['-q', 'add', 'data']);
  h.git(repo, ['add', '-A']);
  h.git(repo, ['commit', '-q', '-m', 'data v1']);
  const v1 = h.git(repo, ['rev-parse', 'HEAD']).stdout.trim();
  const v1Pointer = readFileSync(join(repo, 'data.dvc'), 'utf8');
  const changed = [];
  const ndirs = h.results.datasets.status.dirs;
  for (let i = 0; i < n; i += 100) {
    const file = join(tree, `d${String(i % ndirs).padStart(3, '0')}`, `f${String(i).padStart(6, '0')}.bin`);
    changed.push([file, readFileSync(file)]);
    writeFileSync(file, Buffer.concat([Buffer.from(`changed in v2 ${i}\n`), changed.at(-1)[1]]));
  }
  try {
    reg(['-q', 'add', 'data']);
    h.git(repo, ['add', '-A']);
    h.git(repo, ['commit', '-q', '-m', 'data v2']);
  } finally {
    for (const [file, bytes] of changed) writeFileSync(file, bytes);
  }
  const v2 = h.git(repo, ['rev-parse', 'HEAD']).stdout.trim();
  pointerHistory(h, repo, commits);
  h.syncDisk();

  for (let r = 0; r < cfg.rounds; r++) {
    const log = h.sample('history-log', `reg log model.bin (${commits} commits, each a new version)`, json(['log', 'model.bin']));
    const versions = log.json.versions ?? log.json.entries?.[0]?.versions ?? [];
    if (versions.length !== commits) throw new Error(`reg log model.bin listed ${versions.length} versions, ${commits} expected: ${log.stdout.slice(0, 300)}`);
    const g = h.sample('history-git-log', `git log --oneline -- model.bin.dvc (${commits} commits)`, h.git(repo, ['log', '--oneline', '--', 'model.bin.dvc']));
    if (g.stdout.trim().split('\n').length !== commits) throw new Error('git log listed the wrong number of commits');
  }
  h.compare('history-log', 'history-git-log');
  const fullSize = commits >= 1000 && n >= 100_000;
  timeTarget(h, 'history-log', fullSize);

  for (let r = 0; r < cfg.rounds; r++) {
    const d = h.sample('history-diff', `reg diff of two versions of ${n} files (1% modified)`, json(['diff', v1, v2, 'data']));
    const text = JSON.stringify(d.json);
    const modified = (text.match(/"modified"/g) ?? []).length;
    if (modified === 0) throw new Error(`reg diff ${v1} ${v2} reported no modified file: ${d.stdout.slice(0, 300)}`);
    const ls = h.sample('history-ls', `reg ls -R of a ${n}-file version`, reg(['ls', '-R', '--rev', v1, 'data']));
    const lines = ls.stdout.trim().split('\n').length;
    if (lines < n) throw new Error(`reg ls -R printed ${lines} lines for ${n} files`);
  }

  for (let r = 0; r < cfg.rounds; r++) {
    h.sample('history-gc', `reg gc (dry run) over ${commits + 2} commits`, reg(['-q', 'gc']));
  }
  for (const id of ['history-diff', 'history-ls', 'history-gc']) timeTarget(h, id, fullSize);

  // reg get of one file of v1 from s3rver: only its manifest and its object are on the remote.
  let requests = 0;
  let s3;
  try {
    s3 = await startS3rver(h, join(h.tmp, 's3rver-history'), { onLog: (line) => (requests += REQUEST_LINE.test(line) ? 1 : 0) });
  } catch (err) {
    h.note(`history: s3rver could not be started (${err.message.split('\n')[0]}): the get row is skipped`);
    return;
  }
  const dirOid = /md5: ([0-9a-f]{32})\.dir/.exec(v1Pointer)[1];
  const cacheRoot = join(repo, '.reg', 'cache');
  const manifestBytes = readFileSync(join(cacheRoot, 'files', 'md5', dirOid.slice(0, 2), `${dirOid.slice(2)}.dir`));
  const first = JSON.parse(manifestBytes.toString('utf8'))[0];
  const fileBytes = readFileSync(join(cacheRoot, 'files', 'md5', first.md5.slice(0, 2), first.md5.slice(2)));
  await putObjects(h, s3.endpoint, 'history', [
    [`files/md5/${dirOid.slice(0, 2)}/${dirOid.slice(2)}.dir`, manifestBytes],
    [`files/md5/${first.md5.slice(0, 2)}/${first.md5.slice(2)}`, fileBytes],
  ]);
  reg(['-q', 'remote', 'add', 'hs3', 's3://bench/history', '--default']);
  for (const [k, v] of [['endpoint-url', s3.endpoint], ['access-key-id', 'S3RVER'], ['secret-access-key', 'S3RVER']]) reg(['-q', 'remote', 'modify', '--local', 'hs3', k, v]);
  const aside = join(h.scratch, 'history-cache-aside');
  renameSync(cacheRoot, aside);
  try {
    for (let r = 0; r < cfg.rounds; r++) {
      rmSync(cacheRoot, { recursive: true, force: true });
      const out = join(h.scratch, `history-get-${r}`);
      await new Promise((resolve) => setTimeout(resolve, 200)); // let s3rver's log lines of earlier requests arrive
      const before = requests;
      const g = h.sample('history-get', `reg get of 1 file of a ${n}-file version from s3rver (empty cache)`, reg(['-q', 'get', `data/${first.relpath}`, '--rev', v1, '-o', out], { env: { AWS_CA_BUNDLE: undefined } }));
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (!readFileSync(out).equals(fileBytes)) throw new Error('reg get wrote other bytes than the file of v1');
      rmSync(out, { force: true });
      h.log(`  reg get: ${requests - before} requests to s3rver`);
      (h.results.measurements['history-get'].requests ??= []).push(requests - before);
      void g;
    }
  } finally {
    rmSync(cacheRoot, { recursive: true, force: true });
    renameSync(aside, cacheRoot);
    s3.child.kill();
  }
  timeTarget(h, 'history-get', fullSize);
  const reqs = h.results.measurements['history-get'].requests;
  h.target('reg get of one file of a version asks the remote for its manifest and its object only (<= 3 requests)', Math.max(...reqs) <= 3, `${reqs.join(', ')} requests per get`);
}

// push / pull of the small tree and the big file to a directory remote and an S3 server (s3rver),
// against cp -r and rclone copy on the same bytes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureRegAdded } from '../lib/repos.mjs';

export const name = 'push-pull';
export const description = '`reg push` / no-op push / `reg pull` (from s3rver also with `cache.type: hardlink`) of both datasets to a directory remote and s3rver vs `cp -r`, `rclone copy --transfers 32` and (pull from s3rver) `rclone copy` + `cp -a`; the big file also vs rclone in one stream';
export const needs = ['s3rver (dev dependency)', 'rclone (optional)'];

function countFiles(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : e.isFile() ? 1 : 0;
  return n;
}

function expectSameCount(src, dst, what) {
  const a = countFiles(src);
  const b = existsSync(dst) ? countFiles(dst) : 0;
  if (a !== b) throw new Error(`${what}: ${b} files arrived, ${a} expected`);
}

/**
 * Starts s3rver (bucket `bench`) in a child process; stopped at the end of the run. With
 * `onLog`, s3rver logs one line per request and each line is passed on (request counts).
 */
export async function startS3rver(h, dir, { onLog } = {}) {
  const lib = join(h.root, 'node_modules', 's3rver', 'lib', 's3rver.js');
  if (!existsSync(lib)) throw new Error('node_modules/s3rver is not installed (npm ci installs it as a dev dependency)');
  const script = `
    const S3rver = require(${JSON.stringify(lib)});
    new S3rver({ port: 0, address: '127.0.0.1', silent: ${onLog ? 'false' : 'true'}, directory: ${JSON.stringify(dir)}, configureBuckets: [{ name: 'bench' }] })
      .run()
      .then((addr) => process.stdout.write('S3RVER-ADDRESS ' + JSON.stringify(addr) + '\\n'), (err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --openssl-legacy-provider`.trim() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  h.onCleanup(() => {
    if (child.exitCode === null) child.kill();
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const addr = await new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 20 s: ${err}`)), 20000);
    let started = false;
    child.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!started && line.startsWith('S3RVER-ADDRESS ')) {
          started = true;
          clearTimeout(timer);
          resolvePromise(JSON.parse(line.slice('S3RVER-ADDRESS '.length)));
        } else if (started) onLog?.(line);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited ${code}: ${err}`));
    });
  });
  child.removeAllListeners('exit');
  return { endpoint: `http://127.0.0.1:${addr.port}`, child };
}

function helpHas(h, args, word) {
  const r = h.run(process.execPath, [h.regBin, ...args, '--help'], { allowFail: true });
  return new RegExp(`^\\s+${word}\\b`, 'm').test(r.stdout);
}

/** Sets a remote option, with `reg remote modify` when it exists, else straight in .reg/config.local.yaml. */
async function setRemoteOption(h, repo, remoteName, key, value) {
  const r = h.reg(repo, ['-q', 'remote', 'modify', '--local', remoteName, key, String(value)], { allowFail: true });
  if (r.code === 0) return;
  await setLocalConfig(h, repo, ['remotes', remoteName, key], value);
}

/** Sets (or, with `undefined`, deletes) one setting in .reg/config.local.yaml. */
async function setLocalConfig(h, repo, path, value) {
  const { parseDocument } = await import(pathToFileURL(join(h.root, 'node_modules', 'yaml', 'dist', 'index.js')).href);
  const file = join(repo, '.reg', 'config.local.yaml');
  const doc = parseDocument(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (!doc.contents) doc.contents = doc.createNode({});
  if (value === undefined) doc.deleteIn(path);
  else doc.setIn(path, value);
  writeFileSync(file, doc.toString());
}

export async function run(h) {
  if (process.env.BENCH_PUSH === '0') {
    h.note('push/pull section skipped (BENCH_PUSH=0)');
    return;
  }
  const { cfg, tmp, scratch } = h;
  const haveReg = helpHas(h, [], 'push');
  if (!haveReg && process.env.BENCH_REMOTE_REFS !== '1') {
    h.note('reg has no `push` command yet: the push/pull section is skipped (it runs once `reg --help` lists push)');
    return;
  }
  if (!haveReg) h.note('reg has no `push` command yet: only the cp/rclone references are measured (BENCH_REMOTE_REFS=1)');
  if (!h.have.rclone) h.note('rclone is not installed: the rclone references are skipped');
  const haveFetch = helpHas(h, [], 'pull');
  if (haveReg && !haveFetch) h.note('reg has push but no pull: pulls are skipped');

  const small = h.datasets.small();
  const big = h.datasets.big();

  let s3;
  try {
    s3 = await startS3rver(h, join(tmp, 's3rver'));
    h.log(`  s3rver at ${s3.endpoint}`);
  } catch (err) {
    h.note(`s3rver could not be started (${err.message.split('\n')[0]}): S3 rows are skipped`);
  }
  const s3Env = s3
    ? {
        // a CA bundle from the environment breaks the SDKs' plain-HTTP client for the local s3rver
        AWS_CA_BUNDLE: undefined,
        AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: s3.endpoint, AWS_ENDPOINT_URL_S3: s3.endpoint,
      }
    : {};
  const rcloneConf = join(tmp, 'rclone.conf');
  writeFileSync(rcloneConf, '');
  const rcloneEnv = {
    RCLONE_CONFIG: rcloneConf,
    AWS_CA_BUNDLE: undefined,
    ...(s3
      ? {
          RCLONE_CONFIG_BENCHS3_TYPE: 's3', RCLONE_CONFIG_BENCHS3_PROVIDER: 'Other', RCLONE_CONFIG_BENCHS3_ENDPOINT: s3.endpoint,
          RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID: 'S3RVER', RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY: 'S3RVER', RCLONE_CONFIG_BENCHS3_REGION: 'us-east-1',
          RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE: 'true',
        }
      : {}),
  };
  // --fast-list: one recursive listing; s3rver 3.7.1 answers delimiter listings of a prefix whose
  // children are only deeper "directories" (bucket/x/ -> x/md5/ab/...) with nothing, so rclone's
  // default directory-by-directory walk would see an empty remote.
  const rclone = (args) => h.run('rclone', ['copy', '--transfers', '32', '--checkers', '32', '--fast-list', ...args], { env: rcloneEnv, capture: false });

  const datasets = [
    { key: 'small', ...small, label: `${cfg.smallFiles}-file tree` },
    { key: 'big', ...big, label: `${cfg.bigMB} MiB file` },
  ];
  const kinds = [{ kind: 'dir' }, ...(s3 ? [{ kind: 's3' }] : [])];
  let remoteSeq = 0;
  for (const ds of datasets) {
    const cacheDir = join(ds.repo, '.reg', 'cache');
    // an earlier case may have left a fresh repo behind: add again (untimed)
    ensureRegAdded(h, ds);
    for (const { kind } of kinds) {
      for (let r = 0; r < cfg.pushRounds; r++) {
        h.log(` ${ds.label} -> ${kind} remote, round ${r + 1}/${cfg.pushRounds}`);
        const id = `${ds.key}-${kind}`;
        const seq = ++remoteSeq;
        if (haveReg) {
          const remoteName = `b${seq}`;
          const url = kind === 'dir' ? join(tmp, 'remotes', `reg-${seq}`) : `s3://bench/reg-${seq}`;
          if (kind === 'dir') mkdirSync(url, { recursive: true });
          h.reg(ds.repo, ['-q', 'remote', 'add', remoteName, url, '--default']);
          if (kind === 's3') {
            await setRemoteOption(h, ds.repo, remoteName, 'endpoint-url', s3.endpoint);
            await setRemoteOption(h, ds.repo, remoteName, 'access-key-id', 'S3RVER');
            await setRemoteOption(h, ds.repo, remoteName, 'secret-access-key', 'S3RVER');
          }
          const env = kind === 's3' ? s3Env : {};
          h.syncDisk();
          h.sample(`push-${id}`, `reg push ${ds.label} to ${kind} remote`, h.reg(ds.repo, ['-q', 'push'], { env }));
          h.sample(`push-noop-${id}`, `reg push (no-op) ${ds.label} to ${kind} remote`, h.reg(ds.repo, ['-q', 'push'], { env }));
          if (haveFetch) {
            // pull into an empty cache and an empty workspace; keep the old ones aside in case it fails
            const asideCache = join(scratch, `cache-aside-${seq}`);
            const asideData = join(scratch, `data-aside-${seq}`);
            renameSync(cacheDir, asideCache);
            renameSync(join(ds.repo, ds.data), asideData);
            const emptyRepo = () => {
              rmSync(cacheDir, { recursive: true, force: true });
              rmSync(join(ds.repo, ds.data), { recursive: true, force: true });
              rmSync(join(ds.repo, '.reg', 'tmp'), { recursive: true, force: true });
              h.syncDisk();
            };
            // The default cache.type (reflink,copy: a copy on ext4), then cache.type hardlink (S3
            // only: the pull-from-S3 target with links is against rclone alone).
            const modes = [{ suffix: '', what: '' }, ...(kind === 's3' ? [{ suffix: '-hardlink', what: ', cache.type hardlink', type: 'hardlink' }] : [])];
            for (const mode of modes) {
              emptyRepo();
              if (mode.type) await setLocalConfig(h, ds.repo, ['cache', 'type'], mode.type);
              const p = h.reg(ds.repo, ['-q', 'pull'], { env, allowFail: true });
              if (mode.type) await setLocalConfig(h, ds.repo, ['cache', 'type'], undefined);
              const ok = p.code === 0 && existsSync(join(ds.repo, ds.data));
              if (!ok) {
                emptyRepo();
                renameSync(asideCache, cacheDir);
                renameSync(asideData, join(ds.repo, ds.data));
                throw new Error(`reg pull${mode.what} from ${kind} failed (exit ${p.code}): ${p.stderr.trim().slice(0, 1000)}`);
              }
              h.sample(`pull${mode.suffix}-${id}`, `reg pull ${ds.label} from ${kind} remote${mode.what}`, p);
            }
            // The last pull's workspace holds links into the cache: the copy-mode one goes back in place.
            emptyRepo();
            renameSync(asideCache, cacheDir);
            renameSync(asideData, join(ds.repo, ds.data));
          }
        }
        // references: the same bytes (the cache's object files) copied by cp -r and rclone
        const src = join(cacheDir, 'files');
        mkdirSync(join(tmp, 'remotes'), { recursive: true });
        if (kind === 'dir') {
          const dst = join(tmp, 'remotes', `cp-${seq}`);
          h.syncDisk();
          h.sample(`cp-push-${id}`, `cp -r ${ds.label} cache to dir`, h.run('cp', ['-r', src, dst]));
          const back = join(scratch, `cp-back-${seq}`);
          h.syncDisk();
          h.sample(`cp-pull-${id}`, `cp -r ${ds.label} back from dir`, h.run('cp', ['-r', dst, back]));
          expectSameCount(src, back, 'cp -r round trip');
          rmSync(back, { recursive: true, force: true });
          rmSync(dst, { recursive: true, force: true });
        }
        if (h.have.rclone) {
          const dst = kind === 'dir' ? join(tmp, 'remotes', `rclone-${seq}`) : `benchs3:bench/rclone-${seq}`;
          h.syncDisk();
          h.sample(`rclone-push-${id}`, `rclone copy --transfers 32 ${ds.label} to ${kind}`, rclone([src, dst]));
          h.sample(`rclone-noop-${id}`, `rclone copy (no-op) ${ds.label} to ${kind}`, rclone([src, dst]));
          const back = join(scratch, `rclone-back-${seq}`);
          h.syncDisk();
          const down = h.sample(`rclone-pull-${id}`, `rclone copy --transfers 32 ${ds.label} back from ${kind}`, rclone([dst, back]));
          expectSameCount(src, back, `rclone round trip via ${kind}`);
          if (kind === 's3') {
            // What a copy-mode pull does with rclone: download into a cache, then copy into the workspace.
            const work = join(scratch, `rclone-back-work-${seq}`);
            h.syncDisk();
            const cp = h.sample(`rclone-pull-cp-${id}`, `cp -a of the ${ds.label} rclone downloaded`, h.run('cp', ['-a', back, work]));
            h.sample(`rclone-pull-cp-a-${id}`, `rclone copy --transfers 32 ${ds.label} back from ${kind} + cp -a`, { seconds: down.seconds + cp.seconds });
            rmSync(work, { recursive: true, force: true });
          }
          rmSync(back, { recursive: true, force: true });
          if (kind === 's3' && ds.key === 'big') {
            // rclone's default downloads a file over 256 MiB in 4 ranged streams; on this machine
            // (2 cores, s3rver on them too) one stream is faster (by hand: 2.5-2.9 s against
            // 3.5-5.0 s for 1 GiB), so the big pull is also compared with rclone at its fastest.
            const single = join(scratch, `rclone-back-single-${seq}`);
            h.syncDisk();
            h.sample(`rclone-pull-single-${id}`, `rclone copy --multi-thread-streams 0 ${ds.label} back from ${kind}`, rclone(['--multi-thread-streams', '0', dst, single]));
            expectSameCount(src, single, `rclone single-stream round trip via ${kind}`);
            rmSync(single, { recursive: true, force: true });
          }
          if (kind === 'dir') rmSync(dst, { recursive: true, force: true });
        }
        if (kind === 'dir') rmSync(join(tmp, 'remotes'), { recursive: true, force: true });
      }
      const id = `${ds.key}-${kind}`;
      for (const [a, b] of [
        [`push-${id}`, `cp-push-${id}`], [`push-${id}`, `rclone-push-${id}`], [`push-noop-${id}`, `rclone-noop-${id}`],
        [`pull-${id}`, `cp-pull-${id}`], [`pull-${id}`, `rclone-pull-${id}`],
        // issue 12's pull targets: copy mode <= 1.0x rclone + cp -a, hardlink <= 1.1x rclone alone
        [`pull-${id}`, `rclone-pull-cp-a-${id}`], [`pull-hardlink-${id}`, `rclone-pull-${id}`],
        [`pull-hardlink-${id}`, `rclone-pull-single-${id}`],
      ]) h.compare(a, b);
    }
  }
  if (s3) s3.child.kill();
}

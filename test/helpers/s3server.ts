import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface S3Server {
  endpoint: string;
  bucket: string;
  /** The directory s3rver stores objects in (tests may corrupt files there). */
  directory: string;
  /** Credentials s3rver accepts, as environment variables for the SDK / the CLI. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 on a free port, with a temp directory and one bucket, in a child
 * process started with --openssl-legacy-provider (its paginated ListObjectsV2 answers 500 on
 * Node 17+ without it). `putDelayMs` makes the server wait that long before it starts storing
 * each upload (a loaded server that creates an object after its client gave up on it).
 */
export async function startS3Server(bucket = 'test-bucket', options: { extraKey?: { id: string; secret: string }; putDelayMs?: number } = {}): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'reg-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(HERE, 's3rver-child.cjs'), directory, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(options.extraKey ? { S3RVER_EXTRA_KEY: `${options.extraKey.id}:${options.extraKey.secret}` } : {}),
      ...(options.putDelayMs !== undefined ? { S3RVER_PUT_DELAY_MS: String(options.putDelayMs) } : {}),
    },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`s3rver did not start in 15 s: ${stderr}`)), 15_000).unref();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    directory,
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(directory, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(directory, 'no-aws-credentials'),
    },
    async stop() {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Makes `s3` the default remote `name` of the registry `ctx` works in: a fresh random prefix of the
 * test bucket, the server's endpoint, path-style addressing (what s3rver needs).
 */
export async function addS3Remote(ctx: import('../../dist/context.js').Context, s3: S3Server, name = 's3'): Promise<void> {
  const { remoteAdd, remoteModify } = await import('../../dist/ops/remote/remote.js');
  await remoteAdd(ctx, { name, url: `s3://${s3.bucket}/reg-${randomBytes(4).toString('hex')}`, default: true });
  await remoteModify(ctx, { name, option: 'endpoint-url', value: s3.endpoint });
  await remoteModify(ctx, { name, option: 'path-style', value: 'true' });
}

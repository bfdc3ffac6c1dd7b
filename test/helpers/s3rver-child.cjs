// Runs s3rver in its own process (started with --openssl-legacy-provider, which its
// paginated listings need on Node 17+). Prints {"port": N} on stdout once listening;
// exits when stdin closes (so the server dies with the test process).
'use strict';
const S3rver = require('s3rver');

const [directory, ...buckets] = process.argv.slice(2);
// An extra key pair whose id and secret differ (S3RVER_EXTRA_KEY=id:secret), for tests that
// check a secret never appears in what reg writes.
if (process.env.S3RVER_EXTRA_KEY) {
  const [id, secret] = process.env.S3RVER_EXTRA_KEY.split(':');
  require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(id, secret);
}
// A server slow to start storing an upload (S3RVER_PUT_DELAY_MS): it gets to the object only after
// a client that gave up on the request has looked for it.
if (process.env.S3RVER_PUT_DELAY_MS) {
  const FilesystemStore = require('s3rver/lib/stores/filesystem');
  const putObject = FilesystemStore.prototype.putObject;
  const ms = Number(process.env.S3RVER_PUT_DELAY_MS);
  FilesystemStore.prototype.putObject = async function (object) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return putObject.call(this, object);
  };
}
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(
  (addr) => process.stdout.write(JSON.stringify({ port: addr.port }) + '\n'),
  (err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
    process.exit(1);
  },
);
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();

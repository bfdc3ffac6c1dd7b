#!/usr/bin/env node
// The AWS SDK warns that it will drop Node 20 in a future release; reg pins a release that supports it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { runCli } = await import('../dist/cli/entry.js');
process.exitCode = await runCli(process.argv.slice(2));

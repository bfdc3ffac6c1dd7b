#!/usr/bin/env node
// The AWS SDK warns that it will drop Node 20 in a future release; reg pins a release that supports it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));

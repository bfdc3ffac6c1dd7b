#!/usr/bin/env node
'use strict';
// CommonJS on purpose: an ES module here would start Node's ES module loader (~15 ms) on every
// command and Git hook, although the program itself is CommonJS (dist/reg-entry.cjs, then the
// bundle dist/reg-cli.cjs); the loader now starts only for commands that import an ES module.
// The AWS SDK warns that it will drop Node 20 in a future release; reg pins a release that supports it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundledEntry = join(__dirname, '..', 'dist', 'reg-entry.cjs');
// Without scripts/build-cli.mjs's output (tsc alone): tsc's ES module of the same entry.
const entry = existsSync(bundledEntry) ? Promise.resolve(require(bundledEntry)) : import('../dist/cli/entry.js');
entry
  .then(({ runCli }) => runCli(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });

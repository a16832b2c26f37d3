#!/usr/bin/env node
// Starts the bundled CLI. `npm ci` builds it (the "prepare" script); so does `npm run build:node`.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const cli = join(__dirname, '..', 'out', 'node', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write('blockvault: the CLI is not built yet; run "npm run build:node" in the Blockvault folder\n');
  process.exit(1);
}
require(cli);

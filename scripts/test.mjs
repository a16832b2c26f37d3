// `npm test`: builds the Node bundle, then runs every test file under tests/ with Node's
// test runner (TypeScript through tsx). Extra arguments filter files by substring. The fault
// suite (tests/faults) runs on its own: `npm run test:faults` (scripts/test-faults.mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'fixtures' || path === join('tests', 'faults') ? [] : find(path);
    return entry.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = find('tests').sort().filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const build = spawnSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// The browser tests serve out/renderer: build it once here, before test files run two at a
// time, so no two of them rebuild it at the same moment.
if (files.some((file) => file.includes(`e2e`))) {
  const web = spawnSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
  if (web.status !== 0) process.exit(web.status ?? 1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);

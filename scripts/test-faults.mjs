// `npm run test:faults`: builds the Node bundle, runs the fault suite (tests/faults/*.test.ts)
// with Node's test runner, then prints ONE table of the figures its parts measured. Each test
// file appends its figures as JSON lines to a file in BLOCKVAULT_FAULT_FIGURES (see
// tests/faults/figures.ts). Extra arguments filter files by substring.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const filters = process.argv.slice(2);
const files = readdirSync('tests/faults').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('tests/faults', f))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (files.length === 0) {
  console.error('no fault test files matched');
  process.exit(1);
}
const build = spawnSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const figures = mkdtempSync(join(tmpdir(), 'bv-fault-figures-'));
const started = Date.now();
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env, BLOCKVAULT_FAULT_FIGURES: figures },
});
const rows = [];
for (const file of readdirSync(figures).sort()) {
  for (const line of readFileSync(join(figures, file), 'utf8').split('\n')) if (line) rows.push(JSON.parse(line));
}
rmSync(figures, { recursive: true, force: true });
const header = ['part', 'figure', 'value', 'target'];
const cells = rows.map((r) => [r.part, r.figure, String(r.value), r.target ?? '']);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c) => c.map((v, i) => v.padEnd(widths[i])).join('  ');
console.log(`\nFault suite figures (${Math.round((Date.now() - started) / 1000)} s, exit ${result.status})`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const c of cells) console.log(line(c));
process.exit(result.status ?? 1);

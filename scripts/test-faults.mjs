// `npm run test:faults`: builds the Node bundle, runs the fault suite (tests/faults/*.test.ts)
// with Node's test runner, two files at a time (the longest parts first, so the kill part runs
// beside the others from the start; each file's report is printed when it ends), then prints
// ONE table of the figures its parts measured and the time each part took: wall time, and CPU
// seconds of the part's process and the CLI processes it ran. Each test file appends its
// figures as JSON lines to a file in BLOCKVAULT_FAULT_FIGURES (see tests/faults/figures.ts).
// Extra arguments filter files by substring.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** CPU seconds of this process and the children it waited for (utime, stime, cutime, cstime). */
function cpuSeconds(pid = 'self') {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
  } catch {
    return 0; // the process is gone
  }
}

/** CPU seconds used so far by the Ceph daemons (the S3 part's RGW work), by pid. */
function cephCpu() {
  const used = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let name = '';
    try { name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { continue; }
    if (/^(radosgw|ceph-osd|ceph-mon|ceph-mgr)$/.test(name)) used.set(pid, cpuSeconds(pid));
  }
  return used;
}

const filters = process.argv.slice(2);
const FIRST = ['kill', 'corruption', 'bad-input', 'concurrency'];
const rank = (file) => { const i = FIRST.findIndex((part) => file.startsWith(`${part}.`)); return i < 0 ? FIRST.length : i; };
const files = readdirSync('tests/faults').filter((f) => f.endsWith('.test.ts')).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1))
  .map((f) => join('tests/faults', f))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (files.length === 0) {
  console.error('no fault test files matched');
  process.exit(1);
}
const build = spawnSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const figures = mkdtempSync(join(tmpdir(), 'bv-fault-figures-'));
const started = Date.now();
const cpuBefore = cpuSeconds();
const cephBefore = cephCpu();
/** Runs one test file; its report is printed whole when it ends. Resolves with its exit status. */
function runFile(file) {
  process.stdout.write(`fault suite: ${file} started\n`);
  const began = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BLOCKVAULT_FAULT_FIGURES: figures },
  });
  const output = [];
  child.stdout.on('data', (d) => output.push(d));
  child.stderr.on('data', (d) => output.push(d));
  return new Promise((resolve) => child.on('close', (code, signal) => {
    process.stdout.write(Buffer.concat(output));
    process.stdout.write(`fault suite: ${file} ended (${code === 0 ? 'ok' : `exit ${code ?? signal}`}) after ${Math.round((Date.now() - began) / 1000)} s\n`);
    resolve(code ?? 1);
  }));
}
const queue = [...files];
const lane = async () => {
  let status = 0;
  for (let file = queue.shift(); file; file = queue.shift()) status = (await runFile(file)) || status;
  return status;
};
const statuses = await Promise.all([lane(), lane()]);
const result = { status: statuses.find((s) => s !== 0) ?? 0 };
const wall = Math.round((Date.now() - started) / 1000);
const cpu = Math.round(cpuSeconds() - cpuBefore);
let ceph = 0;
for (const [pid, after] of cephCpu()) ceph += after - (cephBefore.get(pid) ?? 0);
const rows = [];
for (const file of readdirSync(figures).sort()) {
  for (const line of readFileSync(join(figures, file), 'utf8').split('\n')) if (line) rows.push(JSON.parse(line));
}
rmSync(figures, { recursive: true, force: true });

function table(header, cells) {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => c.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));
}

const timing = (r) => r.figure === 'wall time' || r.figure.startsWith('CPU time');
console.log(`\nFault suite figures (${wall} s, exit ${result.status})`);
table(['part', 'figure', 'value', 'target'], rows.filter((r) => !timing(r)).map((r) => [r.part, r.figure, String(r.value), r.target ?? '']));
const parts = [...new Set(rows.filter(timing).map((r) => r.part))];
const of = (part, test) => rows.find((r) => r.part === part && test(r))?.value ?? '';
console.log(`\nTime per part (two parts at a time; the whole suite: ${wall} s wall, ${cpu} s CPU, Ceph daemons ${Math.round(ceph)} s CPU; bound 900 s on 2 cores)`);
table(['part', 'wall', 'CPU (own + CLI processes)'], parts.map((part) => [part, String(of(part, (r) => r.figure === 'wall time')), String(of(part, (r) => r.figure.startsWith('CPU time')))]));
process.exit(result.status ?? 1);

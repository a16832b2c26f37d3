// Figures of the fault suite: each part records what it measured; scripts/test-faults.mjs
// prints them all in one table at the end. Outside that runner (BLOCKVAULT_FAULT_FIGURES
// unset) figures go to stderr.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';

export function recordFigure(part: string, figure: string, value: string | number, target?: string): void {
  const row = { part, figure, value, target };
  const dir = process.env.BLOCKVAULT_FAULT_FIGURES;
  if (dir) appendFileSync(join(dir, `${part}.jsonl`), `${JSON.stringify(row)}\n`);
  else process.stderr.write(`figure: ${part}: ${figure} = ${value}${target ? ` (target ${target})` : ''}\n`);
}

/**
 * CPU seconds used so far by this process and by every child it has waited for (the CLI
 * processes a part starts, and what they waited for): utime, stime, cutime and cstime of
 * /proc/self/stat. Work done by other processes for them (RGW for S3) is not included.
 */
export function cpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // fields after the command name (which may hold spaces) start at field 3
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * Measures a part (one test file, run in its own process by the test runner): its wall time
 * and CPU seconds (see cpuSeconds) from before its first test to after its last, recorded as
 * the part's figures. Call at the top of the part's describe().
 */
export function timePart(part: string): void {
  let wall = 0;
  let cpu = 0;
  before(() => { wall = Date.now(); cpu = cpuSeconds(); });
  after(() => {
    recordFigure(part, 'wall time', `${Math.round((Date.now() - wall) / 1000)} s`);
    recordFigure(part, 'CPU time (own + CLI processes)', `${Math.round(cpuSeconds() - cpu)} s`);
  });
}

/** A small deterministic random generator (mulberry32), so a failing trial can be replayed by seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: BLOCKVAULT_FAULT_SEED or the time; printed so a failure can be replayed. */
export function runSeed(part: string): number {
  const seed = Number(process.env.BLOCKVAULT_FAULT_SEED ?? Date.now() % 1_000_000);
  process.stderr.write(`${part}: seed ${seed} (BLOCKVAULT_FAULT_SEED=${seed} replays it)\n`);
  return seed;
}

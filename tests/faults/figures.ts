// Figures of the fault suite: each part records what it measured; scripts/test-faults.mjs
// prints them all in one table at the end. Outside that runner (BLOCKVAULT_FAULT_FIGURES
// unset) figures go to stderr.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

export function recordFigure(part: string, figure: string, value: string | number, target?: string): void {
  const row = { part, figure, value, target };
  const dir = process.env.BLOCKVAULT_FAULT_FIGURES;
  if (dir) appendFileSync(join(dir, `${part}.jsonl`), `${JSON.stringify(row)}\n`);
  else process.stderr.write(`figure: ${part}: ${figure} = ${value}${target ? ` (target ${target})` : ''}\n`);
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

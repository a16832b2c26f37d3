// Colours and labels of block states, shared by the block map, scrub pictures and compare.
import type { LegendEntry } from './BlockMap';

/** BlockMap.states codes: 0 sparse, 1 new, 2 dedup, 3 unchanged from base, 4 invalid. */
export const VERSION_LEGEND: LegendEntry[] = [
  { code: 0, label: 'sparse (zero)', color: '#e5e7eb' },
  { code: 1, label: 'new in this version', color: '#2563eb' },
  { code: 2, label: 'deduplicated', color: '#14b8a6' },
  { code: 3, label: 'unchanged from base', color: '#94a3b8' },
  { code: 4, label: 'invalid', color: '#dc2626' },
];

/** Comparison codes: 0 same, 1 differs, 2 only left, 3 only right. */
export const COMPARE_LEGEND: LegendEntry[] = [
  { code: 0, label: 'same', color: '#e5e7eb' },
  { code: 1, label: 'differs', color: '#f97316' },
  { code: 2, label: 'only in this version', color: '#2563eb' },
  { code: 3, label: 'only in the other', color: '#7c3aed' },
];

/** Scrub pictures: 0 sparse (nothing to check), 1 data found ok, 2 invalid, 3 missing, 4 differs from source. */
export const SCRUB_CODES = { sparse: 0, ok: 1, invalid: 2, missing: 3, mismatch: 4 } as const;
export const SCRUB_LEGEND: LegendEntry[] = [
  { code: 0, label: 'sparse', color: '#e5e7eb' },
  { code: 1, label: 'data, no problem found', color: '#22c55e' },
  { code: 2, label: 'invalid (corrupt)', color: '#dc2626' },
  { code: 3, label: 'missing object', color: '#a21caf' },
  { code: 4, label: 'differs from source', color: '#f59e0b' },
];

export const STATE_NAMES = ['sparse', 'new', 'deduplicated', 'unchanged from base', 'invalid'];

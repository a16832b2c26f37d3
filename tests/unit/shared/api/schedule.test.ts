// Schedules as pure functions of time: cron and interval slots, time zones, DST edges.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextSlot, parseEvery, previousSlot, scheduleProblem } from '../../../../src-shared/api/schedule';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function slots(schedule: Parameters<typeof nextSlot>[0], from: string, n: number): string[] {
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    t = nextSlot(schedule, t)!;
    out.push(iso(t)!);
  }
  return out;
}

test('cron slots: steps, lists, ranges, weekdays, macros', () => {
  assert.deepEqual(slots({ cron: '*/20 * * * *' }, '2025-01-01T10:05:00Z', 4), ['2025-01-01T10:20:00.000Z', '2025-01-01T10:40:00.000Z', '2025-01-01T11:00:00.000Z', '2025-01-01T11:20:00.000Z']);
  // Mon-Fri at 02:30: from Friday 2025-01-03 03:00 the next are Monday and Tuesday.
  assert.deepEqual(slots({ cron: '30 2 * * 1-5' }, '2025-01-03T03:00:00Z', 2), ['2025-01-06T02:30:00.000Z', '2025-01-07T02:30:00.000Z']);
  assert.deepEqual(slots({ cron: '@monthly' }, '2025-01-15T00:00:00Z', 2), ['2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z']);
  // Both day fields restricted: the 13th or any Friday.
  assert.deepEqual(slots({ cron: '0 0 13 * 5' }, '2025-06-01T00:00:00Z', 3), ['2025-06-06T00:00:00.000Z', '2025-06-13T00:00:00.000Z', '2025-06-20T00:00:00.000Z']);
  assert.equal(iso(nextSlot({ cron: '0 0 29 2 *' }, at('2025-03-01T00:00:00Z'))), '2028-02-29T00:00:00.000Z');
  assert.equal(iso(previousSlot({ cron: '0 3 * * *' }, at('2025-01-10T02:59:00Z'))), '2025-01-09T03:00:00.000Z');
  assert.equal(iso(previousSlot({ cron: '0 3 * * *' }, at('2025-01-10T03:00:00Z'))), '2025-01-10T03:00:00.000Z', 'a slot at the instant counts');
});

test('cron in a time zone, across both DST changes (Europe/Berlin 2025: Mar 30, Oct 26)', () => {
  const zone = 'Europe/Berlin';
  // 02:30 does not exist on March 30: that day it runs at 03:30 CEST (01:30 UTC).
  assert.deepEqual(slots({ cron: '30 2 * * *', timeZone: zone }, '2025-03-28T12:00:00Z', 3), ['2025-03-29T01:30:00.000Z', '2025-03-30T01:30:00.000Z', '2025-03-31T00:30:00.000Z']);
  // 02:30 happens twice on October 26: it runs once, the first time (00:30 UTC, CEST).
  assert.deepEqual(slots({ cron: '30 2 * * *', timeZone: zone }, '2025-10-25T12:00:00Z', 2), ['2025-10-26T00:30:00.000Z', '2025-10-27T01:30:00.000Z']);
  // Hourly through the fall-back night: 02:00 once, then 03:00 two hours of real time later.
  assert.deepEqual(slots({ cron: '0 * * * *', timeZone: zone }, '2025-10-25T23:30:00Z', 4), ['2025-10-26T00:00:00.000Z', '2025-10-26T02:00:00.000Z', '2025-10-26T03:00:00.000Z', '2025-10-26T04:00:00.000Z']);
  assert.equal(iso(nextSlot({ cron: '0 9 * * *', timeZone: 'America/New_York' }, at('2025-07-01T00:00:00Z'))), '2025-07-01T13:00:00.000Z');
});

test('interval slots: elapsed time from local midnight of 2000-01-01', () => {
  assert.deepEqual(slots({ everyMinutes: 360 }, '2025-01-01T07:00:00Z', 3), ['2025-01-01T12:00:00.000Z', '2025-01-01T18:00:00.000Z', '2025-01-02T00:00:00.000Z']);
  assert.deepEqual(slots({ everyMinutes: 1440, timeZone: 'Europe/Berlin' }, '2025-01-01T12:00:00Z', 1), ['2025-01-01T23:00:00.000Z'], 'local midnight in winter');
  assert.equal(iso(previousSlot({ everyMinutes: 30 }, at('2025-01-01T07:29:59Z'))), '2025-01-01T07:00:00.000Z');
});

test('bad schedules are refused with a reason', () => {
  assert.equal(scheduleProblem({ cron: '0 2 * * *' }), null);
  assert.match(scheduleProblem({ cron: '0 2 * *' })!, /five fields/);
  assert.match(scheduleProblem({ cron: '61 * * * *' })!, /minute/);
  assert.match(scheduleProblem({ cron: '0 2 * * *', timeZone: 'Mars/Olympus' })!, /time zone/);
  assert.match(scheduleProblem({})!, /either/);
  assert.match(scheduleProblem({ cron: '* * * * *', everyMinutes: 5 })!, /either/);
  assert.equal(parseEvery('6h'), 360);
  assert.equal(parseEvery('1d'), 1440);
  assert.equal(parseEvery('soon'), null);
});

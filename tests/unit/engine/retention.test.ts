// Retention tables checked against expectations computed by hand (PBS's counting), over two
// years of daily backups and three days of six-hourly ones; protected, tagged, invalid and
// too-young versions are never removed, whatever the rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Version } from '../../../src-shared/model';
import { planRetention } from '../../../src-main/engine/retention';

function version(date: string, extra: Partial<Version> = {}, name = 'disk'): Version {
  return { uid: `v-${date}`, name, snapshot: '', date, size: 1, blockSize: 1, blocks: 1, valid: true, status: 'valid', protected: false, tags: [], baseUid: null, source: '/x', ...extra };
}

function daily(from: string, to: string, hour = 2): Version[] {
  const list: Version[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    list.push(version(new Date(t + hour * 3_600_000).toISOString()));
  }
  return list;
}

const day = (iso: string): string => iso.slice(0, 10);

test('two years of daily backups: keep-daily 7, keep-weekly 4, keep-monthly 6, keep-yearly 2', () => {
  const versions = daily('2024-01-01', '2025-12-31');
  assert.equal(versions.length, 731);
  const plan = planRetention(versions, { keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepYearly: 2 }, { now: Date.parse('2025-12-31T12:00:00Z'), minAgeDays: 0 });
  const kept = plan.filter((d) => d.keep).map((d) => [day(d.date), d.reason]);
  assert.deepEqual(kept, [
    ['2025-12-31', 'kept: daily #1'],
    ['2025-12-30', 'kept: daily #2'],
    ['2025-12-29', 'kept: daily #3'],
    ['2025-12-28', 'kept: daily #4'],
    ['2025-12-27', 'kept: daily #5'],
    ['2025-12-26', 'kept: daily #6'],
    ['2025-12-25', 'kept: daily #7'],
    // ISO week 52 (Dec 22-28) already holds kept dailies: the weeklies start at week 51.
    ['2025-12-21', 'kept: weekly #1'],
    ['2025-12-14', 'kept: weekly #2'],
    ['2025-12-07', 'kept: weekly #3'],
    ['2025-11-30', 'kept: weekly #4'],
    // December and November are held: the monthlies start at October.
    ['2025-10-31', 'kept: monthly #1'],
    ['2025-09-30', 'kept: monthly #2'],
    ['2025-08-31', 'kept: monthly #3'],
    ['2025-07-31', 'kept: monthly #4'],
    ['2025-06-30', 'kept: monthly #5'],
    ['2025-05-31', 'kept: monthly #6'],
    // 2025 is held: the one yearly is the last of 2024; a second year does not exist.
    ['2024-12-31', 'kept: yearly #1'],
  ]);
  const reason = (date: string): string => plan.find((d) => day(d.date) === date)!.reason;
  assert.equal(reason('2025-12-24'), 'removed: beyond keep-daily 7');
  assert.equal(reason('2025-12-20'), 'removed: a newer version is the keep-weekly of its week');
  assert.equal(reason('2025-11-23'), 'removed: beyond keep-weekly 4');
  assert.equal(reason('2025-10-30'), 'removed: a newer version is the keep-monthly of its month');
  assert.equal(reason('2025-04-30'), 'removed: beyond keep-monthly 6');
  assert.equal(reason('2024-06-01'), 'removed: a newer version is the keep-yearly of its year');
  assert.equal(plan.filter((d) => !d.keep).length, 731 - 18);
});

test('six-hourly backups over three days: keep-last 2, keep-hourly 3, keep-daily 2', () => {
  const versions: Version[] = [];
  for (const d of ['01', '02', '03']) for (const h of ['00', '06', '12', '18']) versions.push(version(`2025-03-${d}T${h}:00:00.000Z`));
  const plan = planRetention(versions, { keepLast: 2, keepHourly: 3, keepDaily: 2 }, { now: Date.parse('2025-03-04T00:00:00Z'), minAgeDays: 0 });
  assert.deepEqual(plan.map((d) => [d.date.slice(8, 13), d.keep, d.reason]), [
    ['03T18', true, 'kept: last #1'],
    ['03T12', true, 'kept: last #2'],
    ['03T06', true, 'kept: hourly #1'],
    ['03T00', true, 'kept: hourly #2'],
    ['02T18', true, 'kept: hourly #3'],
    ['02T12', false, 'removed: beyond keep-hourly 3'],
    ['02T06', false, 'removed: beyond keep-hourly 3'],
    ['02T00', false, 'removed: beyond keep-hourly 3'],
    ['01T18', true, 'kept: daily #1'],
    ['01T12', false, 'removed: a newer version is the keep-daily of its day'],
    ['01T06', false, 'removed: a newer version is the keep-daily of its day'],
    ['01T00', false, 'removed: a newer version is the keep-daily of its day'],
  ]);
});

test('periods follow the time zone\'s wall clock: 23:30 UTC is the next day in Berlin', () => {
  const versions = [version('2025-06-10T23:30:00.000Z'), version('2025-06-10T20:00:00.000Z'), version('2025-06-09T20:00:00.000Z')];
  const utc = planRetention(versions, { keepDaily: 5 }, { now: Date.parse('2025-06-12T00:00:00Z'), minAgeDays: 0 });
  assert.deepEqual(utc.map((d) => d.keep), [true, false, true], 'UTC: the two of June 10 share a day');
  const berlin = planRetention(versions, { keepDaily: 5 }, { now: Date.parse('2025-06-12T00:00:00Z'), minAgeDays: 0, timeZone: 'Europe/Berlin' });
  assert.deepEqual(berlin.map((d) => d.keep), [true, true, true], 'Berlin: 01:30 on June 11 and 22:00 on June 10');
});

test('each name is counted on its own; monthly and yearly over two years keep the newest of each', () => {
  const versions = [...daily('2024-01-01', '2025-12-31'), ...daily('2025-01-01', '2025-12-31', 3).map((v) => ({ ...v, uid: `${v.uid}-db`, name: 'db' }))];
  const plan = planRetention(versions, { keepMonthly: 24, keepYearly: 5 }, { now: Date.parse('2026-01-01T00:00:00Z'), minAgeDays: 0 });
  const keptDisk = plan.filter((d) => d.keep && d.name === 'disk').map((d) => day(d.date));
  assert.equal(keptDisk.length, 24, 'one per month of two years; the yearlies find every year held');
  assert.deepEqual(keptDisk.slice(-3), ['2024-03-31', '2024-02-29', '2024-01-31']);
  const keptDb = plan.filter((d) => d.keep && d.name === 'db').map((d) => day(d.date));
  assert.equal(keptDb.length, 12);
  assert.equal(keptDb[0], '2025-12-31');
});

test('protected, tagged, invalid, incomplete and too-young versions are never removed, and not counted', () => {
  const now = Date.parse('2025-12-31T12:00:00Z');
  let seed = 7;
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let round = 0; round < 40; round++) {
    const versions = daily('2024-06-01', '2025-12-31').map((v) => {
      const r = random();
      return r < 0.05 ? { ...v, protected: true } : r < 0.08 ? { ...v, tags: ['keep'] } : r < 0.1 ? { ...v, status: 'invalid' as const, valid: false } : r < 0.11 ? { ...v, status: 'incomplete' as const, valid: false } : v;
    });
    const rules = { keepLast: Math.floor(random() * 3), keepDaily: Math.floor(random() * 10), keepWeekly: Math.floor(random() * 5), keepMonthly: Math.floor(random() * 4) };
    const minAgeDays = Math.floor(random() * 20);
    const plan = planRetention(versions, { ...rules, keepTagged: ['keep'] }, { now, minAgeDays });
    for (const v of versions) {
      const d = plan.find((x) => x.uid === v.uid)!;
      const young = now - Date.parse(v.date) < minAgeDays * 86_400_000;
      if (v.protected || v.tags.includes('keep') || v.status !== 'valid' || young) assert.equal(d.keep, true, `${v.date} ${d.reason} (round ${round})`);
    }
    const counted = plan.filter((d) => /#\d+$/.test(d.reason));
    const total = rules.keepLast + rules.keepDaily + rules.keepWeekly + rules.keepMonthly;
    assert.ok(counted.length <= total, 'no rule keeps more than its count');
    for (const d of counted) assert.equal(versions.find((v) => v.uid === d.uid)!.status, 'valid');
  }
});

// What the GUI says must be true (issue 12): a scrub job that found problems is not a plain
// "succeeded" and links to the report that holds them; scrub headlines match the counts;
// progress without a total does not read "of 0 B"; plurals; the scrub picture's OK count
// leaves out sparse blocks; Settings fields are checked with the contract's schema; chart
// labels are distinct; times are local with their zone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localTime, plural } from '../../../src-shared/api/format';
import type { Job, ScrubSummary } from '../../../src-shared/api/types';
import type { Progress, ScrubReport } from '../../../src-shared/model';
import { chartLabels, jobOutcome, pictureCounts, progressLine, scrubHeadline, settingsForm } from '../../../src-renderer/store/truth';
import { parseRoute, routeHash } from '../../../src-renderer/store/routes';

function summary(uid: string, extra: Partial<ScrubSummary> = {}): ScrubSummary {
  return { id: 1, uid, date: '2026-01-01T00:00:00.000Z', mode: 'deep', percent: 100, ok: true, blocksChecked: 64, blocksInvalid: 0, blocksMissing: 0, blocksMismatch: 0, ...extra };
}

function scrubJob(reports: ScrubSummary[], invalidated: string[] = []): Job {
  return {
    id: 'aaaaaaaa-1111', kind: 'scrub', state: 'succeeded', title: 'Scrub', params: {}, progress: null, created: '2026-01-01T00:00:00.000Z',
    started: null, ended: null, result: { kind: 'scrub', value: { reports, invalidatedVersions: invalidated } }, error: null, logs: [], foreign: false,
  };
}

test('a scrub job that found problems is red with the count and links to the report that holds them', () => {
  const clean = jobOutcome(scrubJob([summary('v-clean'), summary('v-clean2')]));
  assert.equal(clean.tone, 'good');
  assert.equal(clean.label, 'all good');
  const bad = jobOutcome(scrubJob([summary('v-clean'), summary('v-bad', { ok: false, blocksInvalid: 2 })], ['v-clean', 'v-bad']));
  assert.equal(bad.tone, 'bad');
  assert.equal(bad.label, 'found problems: 2 invalid blocks in 1 version');
  assert.equal(bad.href, '#/scrub?report=v-bad', 'links to the report with problems, not reports[0]');
  const several = jobOutcome(scrubJob([summary('a', { ok: false, blocksMissing: 1 }), summary('b'), summary('c', { ok: false, blocksInvalid: 3 })]));
  assert.equal(several.label, 'found problems: 4 invalid or missing blocks in 2 versions');
  assert.equal(several.href, '#/scrub?job=aaaaaaaa-1111', 'several reports with problems: the job summary');
  const source = jobOutcome(scrubJob([summary('s', { ok: false, mode: 'source', blocksMismatch: 7 })]));
  assert.equal(source.tone, 'warn');
  assert.equal(source.label, 'found problems: 7 blocks differ from the source');
  assert.deepEqual(parseRoute('#/scrub?job=aaaaaaaa-1111'), { view: 'scrub', uids: undefined, report: undefined, job: 'aaaaaaaa-1111' });
  assert.equal(routeHash({ view: 'scrub', job: 'aaaaaaaa-1111' }), '#/scrub?job=aaaaaaaa-1111');
});

function report(extra: Partial<ScrubReport>): ScrubReport {
  return { id: 1, uid: 'u', date: '2026-01-01T00:00:00.000Z', durationMs: 5, mode: 'deep', percent: 100, blocksTotal: 10, blocksChecked: 10, blocksOk: 10, blocksInvalid: 0, blocksMissing: 0, blocksMismatch: 0, invalidatedVersions: [], revalidated: false, problems: [], ...extra };
}

test('scrub headlines say what the counts say', () => {
  assert.equal(scrubHeadline(report({})), 'No problems found');
  const mismatch = Array.from({ length: 7 }, (_, idx) => ({ idx, offset: 0, object: null, kind: 'mismatch' as const, detail: '' }));
  assert.equal(scrubHeadline(report({ mode: 'source', blocksMismatch: 7, problems: mismatch })), '7 blocks differ from the source');
  const one = [{ idx: 1, offset: 0, object: 'ab', kind: 'invalid' as const, detail: '' }];
  assert.equal(scrubHeadline(report({ blocksInvalid: 1, problems: one })), '1 invalid block found');
  const mixed = [...one, { idx: 2, offset: 0, object: 'cd', kind: 'missing' as const, detail: '' }, { idx: 3, offset: 0, object: 'ef', kind: 'missing' as const, detail: '' }];
  assert.equal(scrubHeadline(report({ blocksInvalid: 1, blocksMissing: 2, problems: mixed })), '1 invalid block and 2 missing blocks found');
});

test('the scrub picture counts OK data blocks apart from sparse ones', () => {
  // codes of SCRUB_CODES: 0 sparse, 1 ok, 2 invalid, 3 missing, 4 mismatch
  assert.deepEqual(pictureCounts([0, 0, 1, 1, 1, 2, 3, 4, 0]), { sparse: 3, ok: 3, invalid: 1, missing: 1, mismatch: 1 });
});

test('progress without a total reads as bytes done, not "of 0 B"; plurals agree', () => {
  const p: Progress = { phase: 'cleanup', bytesDone: 1_960_000, bytesTotal: 0, blocksDone: 3, blocksTotal: 7, blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFromBase: 0, blocksInvalid: 0, bytesWritten: 0, rate: 0, eta: null, elapsedMs: 10 };
  const line = progressLine(p);
  assert.doesNotMatch(line, /of 0 B/);
  assert.match(line, /1\.87 MiB/);
  const running = progressLine({ ...p, bytesTotal: 10 * 1_960_000, rate: 1_960_000, eta: 9 });
  assert.match(running, /1\.87 MiB\/s/);
  assert.match(running, /0:09 left/);
  assert.equal(plural(1, 'problem'), '1 problem');
  assert.equal(plural(2, 'problem'), '2 problems');
  assert.equal(plural(0, 'version'), '0 versions');
  assert.equal(plural(1234, 'block'), '1,234 blocks');
});

test('Settings fields: an empty field is an error beside it, not a silent 0; the schema bounds hold', () => {
  const empty = settingsForm({ minAgeDays: '', cleanupGraceSeconds: '3600', maxConcurrentJobs: '2' });
  assert.equal(empty.values, null);
  assert.match(empty.errors.minAgeDays ?? '', /enter a number/);
  const tooMany = settingsForm({ minAgeDays: '6', cleanupGraceSeconds: '3600', maxConcurrentJobs: '9' });
  assert.equal(tooMany.errors.maxConcurrentJobs, 'must be at most 8');
  const fraction = settingsForm({ minAgeDays: '1.5', cleanupGraceSeconds: '-1', maxConcurrentJobs: '3' });
  assert.match(fraction.errors.minAgeDays ?? '', /whole number/);
  assert.equal(fraction.errors.cleanupGraceSeconds, 'must be at least 0');
  const good = settingsForm({ minAgeDays: '0', cleanupGraceSeconds: ' 60 ', maxConcurrentJobs: '3' });
  assert.deepEqual(good.errors, {});
  assert.deepEqual(good.values, { minAgeDays: 0, cleanupGraceSeconds: 60, maxConcurrentJobs: 3 });
});

test('chart labels are distinct even for backups on the same day or minute', () => {
  const days = chartLabels(['2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z', '2026-01-03T10:00:00Z']);
  assert.equal(new Set(days).size, 3);
  const sameMinute = chartLabels(['2026-01-01T10:00:01Z', '2026-01-01T10:00:02Z', '2026-01-01T10:00:02Z', '2026-01-01T11:00:00Z']);
  assert.equal(new Set(sameMinute).size, 4, sameMinute.join(' | '));
});

test('times are local with their zone', () => {
  const saved = process.env.TZ;
  try {
    process.env.TZ = 'Europe/Berlin';
    assert.equal(localTime('2026-01-15T10:20:30.000Z'), '2026-01-15 11:20:30 UTC+01:00');
    assert.equal(localTime('2026-07-15T10:20:30.000Z', 'minutes'), '2026-07-15 12:20 UTC+02:00');
    process.env.TZ = 'America/New_York';
    assert.equal(localTime('2026-01-15T10:20:30.000Z'), '2026-01-15 05:20:30 UTC-05:00');
    process.env.TZ = 'UTC';
    assert.equal(localTime('2026-01-15T10:20:30.000Z'), '2026-01-15 10:20:30 UTC');
    assert.equal(localTime(null), '—');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

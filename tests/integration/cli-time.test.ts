// The command line prints local time with its zone (TZ is honoured); --json stays ISO 8601 UTC.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCli, initRepo, lsJson, ok, tempDir, writeBlocks } from '../helpers';

test('ls and scrub-report print local time with the zone; --json is ISO', async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  writeBlocks(image, [1, 2, 3]);
  const uid = await backupCli(repo, image, 'disk');
  const [version] = await lsJson(repo);
  assert.match(version.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '--json keeps ISO');
  const date = new Date(version.date);
  const tokyo = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(date).replace(',', '');
  const expected = `${tokyo} UTC+09:00`;
  const ls = await ok(['--repo', repo, 'ls'], { TZ: 'Asia/Tokyo' });
  assert.ok(ls.includes(expected), `ls shows ${expected}:\n${ls}`);
  const utc = await ok(['--repo', repo, 'ls'], { TZ: 'UTC' });
  assert.ok(utc.includes(`${version.date.slice(0, 10)} ${version.date.slice(11, 19)} UTC`), utc);
  await ok(['--repo', repo, 'scrub', uid]);
  const report = await ok(['--repo', repo, 'scrub-report', uid], { TZ: 'America/New_York' });
  assert.match(report, /on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC-0[45]:00 \(/, report);
});

// The CLI's backy2 layer without processes: rewriting backy2's spellings, machine lines,
// the process title and the log lines of progress.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupStats, Progress, Version } from '../../../../src-shared/model';
import { backy2Argv, fromBacky2Url, localDate, processTitle, statsLine, versionLine } from '../../../../src-main/cli/backy2';
import { COMMANDS } from '../../../../src-main/cli/commands';
import { ProgressBar } from '../../../../src-main/cli/format';

const rewrite = (args: string[]): string[] => backy2Argv(args, COMMANDS);

describe('backy2Argv', () => {
  it('rewrites backy2\'s spellings into Blockvault\'s', () => {
    assert.deepEqual(rewrite(['-m', 'ls']), ['-m', 'ls']);
    assert.deepEqual(rewrite(['--machine-output', '-s', 'ls', 'vm1']), ['-m', 'ls', 'vm1']);
    assert.deepEqual(rewrite(['-ms', 'stats', '-l', '3']), ['-m', 'stats', '-l', '3']);
    assert.deepEqual(rewrite(['cleanup', '-f']), ['cleanup', '--full']);
    assert.deepEqual(rewrite(['cleanup', '--dangerous-force']), ['cleanup', '--grace-seconds', '0']);
    assert.deepEqual(rewrite(['--repo', 'r', 'export', 'U', 'out.csv']), ['--repo', 'r', 'export', 'U', '-f', 'out.csv']);
    assert.deepEqual(rewrite(['export', 'U', '-']), ['export', 'U', '-f', '-']);
    assert.deepEqual(rewrite(['export', 'U', 'V', '-f', 'x']), ['export', 'U', 'V', '-f', 'x'], 'Blockvault\'s own spelling stays');
    assert.deepEqual(rewrite(['import', 'in.csv']), ['import', '-f', 'in.csv']);
    assert.deepEqual(rewrite(['import', '-']), ['import', '-f', '-']);
    assert.deepEqual(rewrite(['backup', '-r', 'h.json', '-f', 'BASE', '-t', 'a,b', 'file:///dev/vg/x', 'x']), ['backup', '-r', 'h.json', '-f', 'BASE', '-t', 'a', '-t', 'b', '/dev/vg/x', 'x']);
    assert.deepEqual(rewrite(['backup', 'rbd://pool/img@snap', 'img']), ['backup', 'rbd:pool/img@snap', 'img']);
    assert.deepEqual(rewrite(['restore', '-s', 'U', 'file:///tmp/x.img']), ['restore', '-s', 'U', '/tmp/x.img']);
    assert.deepEqual(rewrite(['scrub', 'U', '-p', '50', '-s', 'file:///img']), ['scrub', 'U', '-p', '50', '-s', '/img']);
    assert.deepEqual(rewrite(['backup', '--help']), ['backup', '--help']);
    assert.deepEqual(rewrite(['frobnicate', '-f']), ['frobnicate', '-f']);
  });

  it('maps file:// and rbd:// and leaves other text alone', () => {
    assert.equal(fromBacky2Url('file:///var/lib/x.img'), '/var/lib/x.img');
    assert.equal(fromBacky2Url('rbd://rbd/vm1@backup1'), 'rbd:rbd/vm1@backup1');
    assert.equal(fromBacky2Url('/dev/sda'), '/dev/sda');
  });
});

describe('machine lines', () => {
  const version: Version = {
    uid: 'c94299f2-2450-11e7-bde0-003048d74f6c', name: 'vm1', snapshot: '2017-04-19T11:12:13', date: new Date(2017, 3, 18, 18, 5, 4, 174).toISOString(),
    size: 107374182400, blockSize: 4194304, blocks: 25600, valid: true, status: 'valid', protected: false, tags: ['b_weekly', 'b_daily', 'b_monthly'], baseUid: null, source: '',
  };
  it('version| as in backy2\'s admin guide', () => {
    assert.equal(versionLine(version), 'version|2017-04-18 18:05:04.174000|vm1|2017-04-19T11:12:13|25600|107374182400|c94299f2-2450-11e7-bde0-003048d74f6c|1|0|b_daily,b_monthly,b_weekly');
    const odd = versionLine({ ...version, name: 'a|b\nc', snapshot: '', valid: false, status: 'invalid', protected: true, tags: [] });
    assert.equal(odd.split('|').length, 10);
    assert.ok(!odd.includes('\n'));
    assert.match(odd, /^version\|[^|]+\|a\\x7cb\\x0ac\|\|25600\|107374182400\|c94299f2-2450-11e7-bde0-003048d74f6c\|0\|1\|$/);
  });

  it('statistics| as in backy2\'s admin guide', () => {
    const stats: BackupStats = {
      date: new Date(2017, 4, 2, 10, 27, 48, 900).toISOString(), uid: 'd91be794-2f21-11e7-b961-a44e314f9270', name: 'test', sizeBytes: 104857600, sizeBlocks: 25600,
      bytesRead: 104857600, blocksRead: 25600, bytesWritten: 323584, blocksWritten: 79, bytesStored: 1, bytesDedup: 104534016, blocksDedup: 25521, bytesSparse: 0, blocksSparse: 0, blocksFromBase: 0, durationMs: 60_400,
    };
    assert.equal(statsLine(stats), 'statistics|2017-05-02 10:27:48|d91be794-2f21-11e7-b961-a44e314f9270|test|104857600|25600|104857600|25600|323584|79|104534016|25521|0|0|60');
  });

  it('local dates with and without microseconds', () => {
    assert.equal(localDate(new Date(2020, 0, 2, 3, 4, 5, 6), true), '2020-01-02 03:04:05.006000');
    assert.equal(localDate(new Date(2020, 0, 2, 3, 4, 5, 6), false), '2020-01-02 03:04:05');
  });
});

describe('ProgressBar (process title and log)', () => {
  const progress = (done: number, phase = 'backup'): Progress => ({
    phase, bytesDone: done, bytesTotal: 1000, blocksDone: 0, blocksTotal: 0, blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFromBase: 0, blocksInvalid: 0, bytesWritten: 0, rate: 100, eta: 1, elapsedMs: 1,
  });
  it('sets backy2\'s title and logs every 5 percent and the end', () => {
    const lines: string[] = [];
    const stream = { isTTY: false } as NodeJS.WriteStream;
    const bar = new ProgressBar(stream, 'backup', { title: 'Backup c94299f2', log: (text) => lines.push(text) });
    const saved = process.title;
    try {
      bar.update(progress(123));
      assert.equal(process.title, 'blockvault [Backup c94299f2 12.3%]');
      for (const done of [130, 149, 150, 160, 420, 1000]) bar.update(progress(done));
      bar.update(progress(1000, 'done'));
      bar.update(progress(1000, 'done'));
    } finally {
      process.title = saved;
    }
    assert.deepEqual(lines.map((line) => line.split(' ').slice(0, 3).join(' ')), [
      'Backup c94299f2 12.3%', 'Backup c94299f2 15.0%', 'Backup c94299f2 42.0%', 'Backup c94299f2 100.0%', 'Backup c94299f2 100.0%',
    ]);
    assert.match(lines[lines.length - 1], / done$/);
  });

  it('names the job\'s version in the title as backy2 does', () => {
    assert.equal(processTitle('backup', { params: { uid: 'c94299f2-2450-11e7-bde0-003048d74f6c', source: '/dev/x' } }), 'Backup c94299f2-2450-11e7-bde0-003048d74f6c');
    assert.equal(processTitle('restore', { params: { uid: 'U1' } }), 'Restore U1');
    assert.equal(processTitle('scrub', { params: { uids: ['U2'] } }), 'Scrub U2');
    assert.equal(processTitle('scrub', { params: { uids: ['U2', 'U3'] } }), 'Scrub 2 versions');
    assert.equal(processTitle('cleanup', { params: { full: true } }), 'Cleanup');
  });
});

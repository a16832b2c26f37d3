// Desktop notifications: only a job that ended badly is announced, once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job } from '../../../src-shared/api/types';
import { NoticeBoard, noticeFor } from '../../../src-main/notify';

function job(fields: Partial<Job>): Job {
  return {
    id: 'j1', kind: 'scrub', state: 'succeeded', title: 'Deep scrub of disk', params: {}, progress: null,
    created: '2026-12-01T10:00:00Z', started: '2026-12-01T10:00:01Z', ended: '2026-12-01T10:00:05Z',
    result: null, error: null, logs: [], ...fields,
  } as Job;
}

const scrubResult = (ok: boolean) => ({
  kind: 'scrub',
  value: { reports: [{ uid: 'u1', ok, blocksInvalid: ok ? 0 : 2, blocksMissing: 0, blocksMismatch: 0 }] },
}) as unknown as Job['result'];

describe('desktop notices', () => {
  it('announce a failed job and a scrub that found problems, in the GUI\'s words', () => {
    const failed = noticeFor(job({ kind: 'backup', state: 'failed', title: 'Back up /dev/sdb as web', error: { code: 'NO_SPACE', message: 'the repository disk is full' } }));
    assert.deepEqual(failed, { title: 'Blockvault: backup failed', body: 'Back up /dev/sdb as web\nthe repository disk is full' });
    const problems = noticeFor(job({ result: scrubResult(false) }));
    assert.equal(problems?.title, 'Blockvault: scrub found problems');
    assert.match(problems?.body ?? '', /2 invalid blocks/);
  });

  it('stay silent for running, clean and canceled jobs', () => {
    assert.equal(noticeFor(job({ state: 'running', ended: null })), null);
    assert.equal(noticeFor(job({ result: scrubResult(true) })), null);
    assert.equal(noticeFor(job({ state: 'canceled' })), null);
  });

  it('announce each job once, however often its final state arrives', () => {
    const board = new NoticeBoard();
    const bad = job({ state: 'failed', error: { code: 'IO_ERROR', message: 'read error' } });
    assert.ok(board.next(bad));
    assert.equal(board.next(bad), null);
    assert.ok(board.next({ ...bad, id: 'j2' }));
  });
});

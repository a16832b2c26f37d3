// Version ids are never reused (issue 9, found by the fault suite): SQLite gives the highest
// rowid again once that row is deleted, so a job still holding a removed version's id (a scrub
// about to mark it, a backup reading its base's rows) would act on the next new version.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Repository } from '../../../../src-main/engine/repository';
import { tempDir } from '../../../unit/fixtures';

describe('version ids', () => {
  it('a new version never gets the id of a removed one, also after the repository is reopened', () => {
    const path = join(tempDir(), 'repo');
    const repo = Repository.init(path, { blockSize: 64 * 1024 });
    const make = (uid: string): number => repo.meta.createVersion({ uid, name: 'disk', snapshot: '', date: Date.now(), size: 0, blockSize: 64 * 1024, baseUid: null, source: 'test' });
    const first = make('a');
    const second = make('b');
    assert.equal(second, first + 1);
    repo.meta.deleteVersion(second, Date.now());
    const third = make('c');
    assert.equal(third, second + 1, 'the removed version\'s id is not given again');
    repo.meta.deleteVersion(third, Date.now());
    repo.close();

    const reopened = Repository.open(path);
    try {
      const fourth = reopened.meta.createVersion({ uid: 'd', name: 'disk', snapshot: '', date: Date.now(), size: 0, blockSize: 64 * 1024, baseUid: null, source: 'test' });
      assert.equal(fourth, third + 1, 'the highest id ever given survives a reopen');
      // Inside a caller's transaction too (backup and copy create their version in one).
      const fifth = reopened.meta.transaction(() => reopened.meta.createVersion({ uid: 'e', name: 'disk', snapshot: '', date: Date.now(), size: 0, blockSize: 64 * 1024, baseUid: null, source: 'test' }));
      assert.equal(fifth, fourth + 1);
    } finally {
      reopened.close();
    }
  });
});

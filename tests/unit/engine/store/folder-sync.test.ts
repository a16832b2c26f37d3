// The folder store's syncer: one small shell per store that runs `sync --file-system` for each
// barrier. Several barriers at once are each answered; a failing sync rejects with sync's own
// message; a shell that dies is replaced at the next barrier; close ends it and it is reaped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { Syncer } from '../../../../src-main/engine/store/folder-sync';
import { FolderStore } from '../../../../src-main/engine/store/folder';
import { tempDir } from '../../../helpers';

function syncShells(): number[] {
  return spawnSync('pgrep', ['-P', String(process.pid), '-f', 'blockvault-sync']).stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), what);
}

test('syncer: concurrent syncs all answered by one shell; a dead shell is replaced; close ends and reaps it', async () => {
  const syncer = new Syncer(tempDir());
  await Promise.all(Array.from({ length: 5 }, () => syncer.sync()));
  const shells = syncShells();
  assert.equal(shells.length, 1, 'one shell for all of them');
  await syncer.sync();
  assert.deepEqual(syncShells(), shells, 'the same shell serves later syncs');
  process.kill(shells[0], 'SIGKILL');
  await until(() => syncShells().length === 0, 'the killed shell was reaped');
  await syncer.sync();
  assert.equal(syncShells().length, 1, 'a new shell after the old one died');
  syncer.close();
  await until(() => syncShells().length === 0, 'close ends the shell and it is reaped');
});

test('syncer: a sync that fails rejects with sync\'s message; the store\'s barrier says which store', async () => {
  const missing = join(tempDir(), 'gone');
  await assert.rejects(new Syncer(missing).sync(), (error: Error) => error.message.includes(missing));
  const store = new FolderStore({ kind: 'folder', root: missing, direct: false });
  await assert.rejects(store.barrier(), (error: Error & { code?: string }) => error.code === 'IO_ERROR' && error.message.includes(`cannot sync object store ${missing}`));
  await store.close();
  const good = new FolderStore({ kind: 'folder', root: tempDir(), direct: false });
  await good.barrier();
  await good.close();
});

test('syncer: an awaited sync keeps the process alive until it is answered; an idle shell does not', () => {
  const module = JSON.stringify(join(__dirname, '../../../../src-main/engine/store/folder-sync.ts'));
  const code = `const { Syncer } = require(${module}); const s = new Syncer(${JSON.stringify(tempDir())}); s.sync().then(() => console.log('synced'));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--eval', code], { encoding: 'utf8', timeout: 60000 });
  assert.equal(result.stdout.trim(), 'synced', result.stderr);
  assert.equal(result.status, 0, 'the process ended by itself once the sync was answered');
});

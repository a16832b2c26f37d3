// `-` (stdin as a source, stdout as a target) is a command-line spelling: the GUI and web
// mode, whose renderer is untrusted, must not make the process read its stdin or write an
// image to its stdout. The services refuse it there and start no job.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Job } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir, writeImage } from '../../fixtures';
import { caller } from './caller';

const BLOCK = 64 * 1024;
const dir = tempDir();
let services: Services;
const { call, refusedWith } = caller(() => services);

before(() => {
  services = createServices({ mode: 'web', configDir: join(dir, 'config') });
});
after(() => services.close());

test('web mode refuses "-" as a backup source and as a restore target', async () => {
  await call('createRepository', { path: join(dir, 'repo'), blockSize: BLOCK });
  const image = join(dir, 'disk.raw');
  writeImage(image, 4, BLOCK);
  const job = await call<Job>('startBackup', { source: image, name: 'disk' });
  const done = await services.context.jobs.wait(job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const uid = (done.result as unknown as { value: { uid: string } }).value.uid;
  const before = await call<Job[]>('listJobs', {});

  assert.match(await refusedWith('INVALID_ARGUMENT', 'startBackup', { source: '-', name: 'piped' }), /command line/);
  assert.match(await refusedWith('INVALID_ARGUMENT', 'startRestore', { uid, target: '-' }), /command line/);
  await refusedWith('INVALID_ARGUMENT', 'startBackup', { source: '--', name: 'piped' });
  assert.deepEqual(await call<Job[]>('listJobs', {}), before, 'refused calls started no job');
});

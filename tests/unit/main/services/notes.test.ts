// Per-version notes: set, read back in listings and detail, cleared by an empty note, carried
// by metadata export and import; an export without notes (as older releases wrote) still
// imports; a deleted version's note does not come back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Job, VersionDetail } from '../../../../src-shared/api/types';
import type { Version } from '../../../../src-shared/model';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir } from '../../fixtures';
import { caller } from './caller';

const BLOCK = 64 * 1024;
const dir = tempDir();
let services: Services;
const { call, refusedWith } = caller(() => services);
let uid = '';

before(async () => {
  services = createServices({ mode: 'cli', configDir: join(dir, 'config') });
  await call('createRepository', { path: join(dir, 'repo'), blockSize: BLOCK });
  writeFileSync(join(dir, 'a.raw'), randomBytes(4 * BLOCK));
  const job = await services.context.jobs.wait((await call<Job>('startBackup', { source: join(dir, 'a.raw'), name: 'disk' })).id);
  uid = job.result!.kind === 'backup' ? job.result!.value.uid : '';
});
after(() => services.close());

test('a note is saved, listed, shown in the detail and removed by an empty note', async () => {
  const note = 'before the kernel upgrade\nticket OPS-1234';
  assert.equal((await call<Version>('setVersionNote', { uid, note })).note, note);
  assert.equal((await call<Version[]>('listVersions', {}))[0].note, note);
  assert.equal((await call<VersionDetail>('getVersionDetail', { uid })).version.note, note);
  await refusedWith('INVALID_ARGUMENT', 'setVersionNote', { uid, note: 'x'.repeat(4097) });
  await refusedWith('INVALID_ARGUMENT', 'setVersionNote', { uid, note: 'bell\u0007' });
  await refusedWith('NOT_FOUND', 'setVersionNote', { uid: 'no-such-version', note: 'x' });
  assert.equal((await call<Version[]>('listVersions', {}))[0].note, note, 'refused calls changed nothing');
  await call('setVersionNote', { uid, note: '' });
  assert.equal('note' in (await call<Version[]>('listVersions', {}))[0], false);
});

test('export carries the note; import restores it; an export without notes still imports', async () => {
  await call('setVersionNote', { uid, note: 'golden image' });
  const file = join(dir, 'export.jsonl');
  const exported = await services.context.jobs.wait((await call<Job>('startExport', { uids: [uid], file })).id);
  assert.equal(exported.state, 'succeeded', JSON.stringify(exported.error));
  const text = readFileSync(file, 'utf8');
  assert.match(text, /"note":"golden image"/);

  // Into a second repository (same block size, same store contents are not needed: data is marked missing).
  await call('createRepository', { path: join(dir, 'repo2'), blockSize: BLOCK });
  const imported = await services.context.jobs.wait((await call<Job>('startImport', { file })).id);
  assert.equal(imported.state, 'succeeded', JSON.stringify(imported.error));
  assert.equal((await call<Version[]>('listVersions', {}))[0].note, 'golden image');

  // The same export as an older release wrote it: no "note" key (the checksum line is recomputed).
  const { createHash } = await import('node:crypto');
  const lines = text.trimEnd().split('\n');
  const body = `${lines.slice(0, -1).map((line) => line.replace(/,"note":"golden image"/, '')).join('\n')}\n`;
  const end = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  const old = `${body}${JSON.stringify({ ...end, sha256: createHash('sha256').update(body).digest('hex') })}\n`;
  assert.doesNotMatch(old, /note/);
  const oldFile = join(dir, 'old-export.jsonl');
  writeFileSync(oldFile, old);
  await call('createRepository', { path: join(dir, 'repo3'), blockSize: BLOCK });
  const again = await services.context.jobs.wait((await call<Job>('startImport', { file: oldFile })).id);
  assert.equal(again.state, 'succeeded', JSON.stringify(again.error));
  const [version] = await call<Version[]>('listVersions', {});
  assert.equal(version.uid, uid);
  assert.equal('note' in version, false);

  // A deleted version's note does not come back with a later import of the same UID.
  await call('setVersionNote', { uid, note: 'stale' });
  await call('removeVersions', { uids: [uid], force: true });
  const third = await services.context.jobs.wait((await call<Job>('startImport', { file: oldFile })).id);
  assert.equal(third.state, 'succeeded', JSON.stringify(third.error));
  assert.equal('note' in (await call<Version[]>('listVersions', {}))[0], false);
});

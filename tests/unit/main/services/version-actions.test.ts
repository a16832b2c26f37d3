// The services behind the GUI's "Copy to…" and "Serve over NBD…": a copy of an invalid version
// is refused at once (no job, nothing in the destination); a copy job's outcome says what it
// sent and what was already there, in the words the jobs list and the CLI show (and the
// version's note travels with it); an encrypted
// destination is refused without its passphrase (WRONG_KEY) and copied into with it, and an
// encrypted source is refused into a plain destination; the attach
// commands of a serving work when pasted into a shell as they are, for a socket path with a
// space and a quote in it and for a TCP port (qemu-img info and convert, nbdinfo --map); while
// a version is served, a removal of it with others removes none of them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { humanBytes } from '../../../../src-shared/api/format';
import { jobOutcome } from '../../../../src-shared/api/outcome';
import type { Job, NbdServing } from '../../../../src-shared/api/types';
import type { Version } from '../../../../src-shared/model';
import { createServices, type Services } from '../../../../src-main/services';
import { blockDigests, objectPath, sha256 } from '../../../helpers';
import { tempDir } from '../../fixtures';
import { caller } from './caller';

const execFileAsync = promisify(execFile);
const BLOCK = 64 * 1024;
const dir = tempDir();
let services: Services;
const { call, refusedWith } = caller(() => services);
const image = join(dir, 'disk.raw');
const repoA = join(dir, 'a');
const repoB = join(dir, 'b');
let good = '';
let damaged = '';

async function backup(source: string, name: string): Promise<string> {
  const job = await services.context.jobs.wait((await call<Job>('startBackup', { source, name })).id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  return job.result!.kind === 'backup' ? job.result!.value.uid : '';
}

before(async () => {
  services = createServices({ mode: 'cli', configDir: join(dir, 'config') });
  const data = randomBytes(8 * BLOCK);
  data.fill(0, 2 * BLOCK, 3 * BLOCK);
  writeFileSync(image, data);
  writeFileSync(join(dir, 'other.raw'), randomBytes(4 * BLOCK));
  await call('createRepository', { path: repoB, blockSize: BLOCK });
  await call('createRepository', { path: repoA, blockSize: BLOCK });
  good = await backup(image, 'disk');
  damaged = await backup(join(dir, 'other.raw'), 'other');
  // One object of `damaged` flipped on disk; a deep scrub marks the version invalid.
  const path = objectPath(repoA, blockDigests(repoA, damaged).find((d) => d !== null)!);
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(path, bytes);
  await services.context.jobs.wait((await call<Job>('startScrub', { uids: [damaged], mode: 'deep' })).id);
  assert.equal((await call<Version[]>('listVersions', {})).find((v) => v.uid === damaged)!.status, 'invalid');
});
after(() => services.close());

test('a copy that names an invalid version is refused at once: no job, the destination unchanged', async () => {
  const jobs = (await call<Job[]>('listJobs', {})).length;
  const message = await refusedWith('INVALID_ARGUMENT', 'startCopy', { uids: [good, damaged], to: repoB });
  assert.match(message, new RegExp(`version ${damaged} is invalid; only valid versions are copied`));
  assert.equal((await call<Job[]>('listJobs', {})).length, jobs, 'no job was started');
  await refusedWith('NOT_A_REPOSITORY', 'startCopy', { uids: [good], to: join(dir, 'nothing-here') });
  await refusedWith('INVALID_ARGUMENT', 'startCopy', { uids: [good], to: 'relative/path' });
});

test('a copy job\'s outcome says what it sent, and a repeat that the version is already there; the note travels', async () => {
  await call('setVersionNote', { uid: good, note: 'golden image\nticket OPS-7' });
  const first = await services.context.jobs.wait((await call<Job>('startCopy', { uids: [good], to: repoB })).id);
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
  // 8 blocks, one of them zero: 7 objects.
  const sent = first.result!.kind === 'copy' ? first.result!.value.bytesTransferred : 0;
  assert.ok(sent >= 7 * BLOCK, `bytes sent: ${sent}`);
  assert.deepEqual(jobOutcome(first), { tone: 'good', label: `copied 1 version: 7 objects sent (${humanBytes(sent)}), none already there` });
  const again = await services.context.jobs.wait((await call<Job>('startCopy', { uids: [good], to: repoB })).id);
  assert.equal(jobOutcome(again).label, 'nothing to copy: the version is already in the destination');
  await call('openRepository', { path: repoB });
  assert.equal((await call<Version[]>('listVersions', {})).find((v) => v.uid === good)?.note, 'golden image\nticket OPS-7');
  await call('openRepository', { path: repoA });
});

test('an encrypted destination needs its passphrase; an encrypted source is refused into a plain one', async () => {
  const encrypted = join(dir, 'encrypted');
  await call('createRepository', { path: encrypted, blockSize: BLOCK, encrypt: true, passphrase: 'correct horse battery' });
  await call('openRepository', { path: repoA });
  assert.match(await refusedWith('WRONG_KEY', 'startCopy', { uids: [good], to: encrypted }), /encrypted/);
  await refusedWith('WRONG_KEY', 'startCopy', { uids: [good], to: encrypted, toPassphrase: 'wrong horse battery' });
  const job = await services.context.jobs.wait((await call<Job>('startCopy', { uids: [good], to: encrypted, toPassphrase: 'correct horse battery' })).id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  assert.match(jobOutcome(job).label, /^copied 1 version: 7 objects sent/);

  await call('openRepository', { path: encrypted, passphrase: 'correct horse battery' });
  const message = await refusedWith('INVALID_ARGUMENT', 'startCopy', { uids: [good], to: repoB });
  assert.match(message, /the source is encrypted and the destination is not/);
  await call('openRepository', { path: repoA });
});

/** Runs a command line in a shell, asynchronously: the NBD server it talks to runs in this process. */
async function sh(command: string, cwd: string): Promise<string> {
  try {
    return (await execFileAsync('/bin/sh', ['-c', command], { cwd, encoding: 'utf8', timeout: 60_000 })).stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command}\n${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

for (const listen of ['socket', 'port'] as const) {
  test(`the attach commands work as shown (${listen === 'socket' ? 'a socket path with a space and a quote' : 'a TCP port'})`, async () => {
    const work = join(dir, `attach-${listen}`);
    mkdirSync(work);
    const args = listen === 'socket' ? { uid: good, socket: join(work, "it's served.sock") } : { uid: good, port: 0 };
    const serving = await call<NbdServing>('startServingNbd', args);
    try {
      const command = (start: string): string => serving.attach.find((c) => c.startsWith(start))!;
      assert.match(await sh(command('qemu-img info'), work), /virtual size: 512 KiB \(524288 bytes\)/);
      assert.match(await sh(command('nbdinfo --map'), work), /131072\s+65536\s+3\s+hole,zero/);
      await sh(command('qemu-img convert'), work);
      assert.equal(sha256(readFileSync(join(work, `${good}.raw`))), sha256(readFileSync(image)));
      assert.ok((await call<NbdServing[]>('listServingsNbd', {})).find((s) => s.id === serving.id)!.blocksVerified > 0);
    } finally {
      await call('stopServingNbd', { id: serving.id });
    }
    assert.equal((await call<NbdServing[]>('listServingsNbd', {})).length, 0);
  });
}

test('removeVersions is all or nothing also when a job uses one of them: a served version stops the whole removal', async () => {
  const other = await backup(join(dir, 'other.raw'), 'other-2');
  const serving = await call<NbdServing>('startServingNbd', { uid: good, port: 0 });
  try {
    assert.match(await refusedWith('LOCKED', 'removeVersions', { uids: [other, good], force: true }), new RegExp(`version ${good} is in use: serving over NBD`));
    const uids = (await call<Version[]>('listVersions', {})).map((v) => v.uid);
    assert.ok(uids.includes(other) && uids.includes(good), 'neither was removed');
  } finally {
    await call('stopServingNbd', { id: serving.id });
  }
  assert.deepEqual(await call('removeVersions', { uids: [other], force: true }), { removed: [other] });
});

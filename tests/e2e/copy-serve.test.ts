// End to end in Chromium: "Copy to…" and "Serve over NBD…" on versions. A copy to a folder that
// is not a repository and to a repository of another block size is refused in the dialog with
// its reason (nothing changes); a copy to a second folder repository runs as a job with
// progress, says what it sent, and the destination (checked through the CLI) holds the version
// valid, deep-scrubs clean and restores it bit-exact (sha256). A copy of a selection reports
// the version already there; one into a repository where the version is invalid fails as a
// job that says why; one to an encrypted repository is refused until its passphrase
// is given, and one to an S3 repository on the local RGW (the shared S3 fields) restores
// bit-exact from the bucket. Serving a version from the GUI shows its address and attach
// commands; qemu-img compare and the commands as shown (run by sh) read the original bytes;
// Stop in the servings list ends it and the socket no longer answers. Screenshots of both
// dialogs and their running states go to test-output/screenshots/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Version } from '../../src-shared/model';
import { createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { axeCheck, CLI, ensureRendererBuilt, openApp, screenshot, type Served } from './harness';

const KIB = 1024;
const MIB = 1024 * KIB;

let dir: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const repoA = (): string => join(dir, 'a');
const repoB = (): string => join(dir, 'b');
const image = (name: string): string => join(dir, `${name}.raw`);
const uids: Record<string, string> = {};

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function cli(args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function sh(command: string, cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('/bin/sh', ['-c', command], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function go(hash: string): Promise<void> {
  await page.goto(`${server.origin}/${hash}`);
  await page.locator('.conn-open').waitFor();
}

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-copy-'));
  // 3 MiB: random data with a zero run (sparse blocks) in the middle.
  const small = randomBytes(3 * MIB);
  small.fill(0, MIB, MIB + 256 * KIB);
  writeFileSync(image('web'), small);
  // 96 MiB of random data: long enough to see the copy job running.
  writeFileSync(image('db'), randomBytes(96 * MIB));
  cli(['init', repoA(), '--block-size', '64K']);
  uids.web = cli(['--repo', repoA(), 'backup', image('web'), 'web']).trim().split('\n').pop()!;
  uids.db = cli(['--repo', repoA(), 'backup', image('db'), 'db']).trim().split('\n').pop()!;
  cli(['init', repoB(), '--block-size', '64K']);
  cli(['init', join(dir, 'big-blocks'), '--block-size', '4M']);
  mkdirSync(join(dir, 'empty'));
  ({ server, context, page } = await openApp(['--repo', repoA()], { XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state') }, join(dir, 'profile'), { viewport: { width: 1280, height: 900 } }));
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Copy to…: refusals say why; a copy to a second repository restores bit-exact there', async () => {
  await go(`#/version/${uids.web}`);
  await page.getByRole('button', { name: 'Copy to…' }).click();
  const dialog = page.locator('dialog.copy-dialog');
  await dialog.getByText('What will be copied').waitFor();
  assert.match(await dialog.locator('.copy-what').innerText(), /1 version, 3\.00 MiB of disk/);
  assert.equal(await dialog.locator('.copy-what tbody tr').count(), 1);
  const destination = dialog.getByLabel('Destination repository (a folder)');

  await destination.fill(join(dir, 'empty'));
  await dialog.getByText(/Not a Blockvault repository: create one there first/).waitFor();
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'NOT_A_REPOSITORY' }).waitFor();
  await screenshot(page, 'copy-refused-not-a-repository');

  await destination.fill(join(dir, 'big-blocks'));
  await dialog.getByText('a Blockvault repository', { exact: true }).waitFor();
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  const refusal = dialog.getByRole('alert').filter({ hasText: 'block sizes differ' });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /Refused:\s*INVALID_ARGUMENT\s*block sizes differ: the source has 65536 bytes, the destination 4194304.*Nothing was copied/s);
  assert.equal(cli(['--repo', join(dir, 'big-blocks'), 'ls', '--json']).trim(), '[]', 'the refused destination is unchanged');

  await destination.fill(repoB());
  await dialog.getByText('a Blockvault repository', { exact: true }).waitFor();
  await screenshot(page, 'copy-dialog');
  assert.deepEqual(await axeCheck(page, 'copy-dialog'), [], 'no serious or critical accessibility violation');
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  await dialog.locator('.job-progress[data-job-state="succeeded"]').waitFor({ timeout: 60_000 });
  const result = await dialog.locator('.copy-result').innerText();
  // 48 blocks, 4 of them zero: 44 objects sent, none there before.
  assert.match(result, /Done: copied 1 version: 44 objects sent \(2\.\d\d MiB\), none already there\./);
  assert.match(result, /No store request needed a retry/);
  await screenshot(page, 'copy-done');
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();

  // The destination, through the CLI: the version valid, a clean deep scrub, a bit-exact restore.
  const inB = JSON.parse(cli(['--repo', repoB(), 'ls', '--json'])) as Array<Version & { valid?: boolean }>;
  assert.deepEqual(inB.map((v) => [v.uid, v.name, v.status]), [[uids.web, 'web', 'valid']]);
  cli(['--repo', repoB(), 'scrub', '--deep', uids.web]);
  const restored = join(dir, 'restored-web.raw');
  cli(['--repo', repoB(), 'restore', uids.web, restored]);
  assert.equal(sha256(restored), sha256(image('web')), 'restored from the copy: identical bytes');

  // The job list says the same.
  await go('#/jobs');
  await page.locator('.jobs-history').getByText(/copied 1 version: 44 objects sent/).waitFor();
  await screenshot(page, 'copy-in-jobs');
});

test('Copy to… on a selection: progress while it runs, the version already there is said so', async () => {
  await go('#/versions');
  // (the selection of an earlier test may still stand)
  const checked = page.locator('input[type="checkbox"][aria-label^="Select version "]:checked');
  while (await checked.count()) await checked.first().uncheck();
  await page.getByLabel(`Select version ${uids.web}`).check();
  await page.getByLabel(`Select version ${uids.db}`).check();
  await page.getByRole('button', { name: 'Copy to…' }).click();
  const dialog = page.locator('dialog.copy-dialog');
  assert.equal(await dialog.locator('.copy-what tbody tr').count(), 2);
  assert.match(await dialog.locator('.copy-what').innerText(), /2 versions, 99\.0 MiB of disk/);
  await dialog.getByLabel('Destination repository (a folder)').fill(repoB());
  await dialog.getByText('a Blockvault repository', { exact: true }).waitFor();
  await dialog.getByRole('button', { name: 'Copy 2 versions' }).click();
  await dialog.locator('.job-progress').waitFor();
  await screenshot(page, 'copy-running');
  await dialog.locator('.job-progress[data-job-state="succeeded"]').waitFor({ timeout: 180_000 });
  const result = await dialog.locator('.copy-result').innerText();
  assert.match(result, /copied 1 version: 1,536 objects sent \(96\.\d MiB\), none already there; 1 version already in the destination/);
  assert.match(result, /already there/);
  const inB = JSON.parse(cli(['--repo', repoB(), 'ls', '--json'])) as Version[];
  assert.deepEqual(inB.map((v) => v.status).sort(), ['valid', 'valid']);
  const restored = join(dir, 'restored-db.raw');
  cli(['--repo', repoB(), 'restore', uids.db, restored]);
  assert.equal(sha256(restored), sha256(image('db')));
  rmSync(restored);
});

test('Copy to… a repository where the version is invalid: the job fails and says why', async () => {
  const damaged = join(dir, 'damaged');
  cli(['init', damaged, '--block-size', '64K']);
  cli(['--repo', repoA(), 'copy', uids.web, '--to', damaged]);
  // One object of the copy flipped on disk; a deep scrub there marks the version invalid.
  const objects = (function walk(path: string): string[] {
    return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(path, e.name)) : /^[0-9a-f]{64}$/.test(e.name) ? [join(path, e.name)] : []));
  })(join(damaged, 'objects'));
  const bytes = readFileSync(objects[0]);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(objects[0], bytes);
  spawnSync(process.execPath, [CLI, '--repo', damaged, 'scrub', '--deep', uids.web], { encoding: 'utf8' });
  assert.equal((JSON.parse(cli(['--repo', damaged, 'ls', '--json'])) as Version[])[0].status, 'invalid');

  await go(`#/version/${uids.web}`);
  await page.getByRole('button', { name: 'Copy to…' }).click();
  const dialog = page.locator('dialog.copy-dialog');
  await dialog.getByLabel('Destination repository (a folder)').fill(damaged);
  await dialog.getByText('a Blockvault repository', { exact: true }).waitFor();
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  await dialog.locator('.job-progress[data-job-state="failed"]').waitFor({ timeout: 60_000 });
  await dialog.getByText(/The copy failed \(reason above\)/).waitFor();
  const failure = dialog.getByRole('alert').filter({ hasText: 'ALREADY_EXISTS' });
  assert.equal(await failure.count(), 1, 'the reason is shown once');
  assert.match(await failure.innerText(), new RegExp(`ALREADY_EXISTS\\s*version ${uids.web} exists in the destination and is invalid there; remove it there first`));
  await screenshot(page, 'copy-failed');
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await go('#/jobs');
  await page.locator('.jobs-history').getByText('failed: ALREADY_EXISTS').first().waitFor();
});

test('Copy to… an encrypted repository: refused until its passphrase is given, then re-encrypted there', async () => {
  const encrypted = join(dir, 'encrypted');
  writeFileSync(join(dir, 'passphrase'), 'correct horse battery\n');
  cli(['init', encrypted, '--block-size', '64K', '--encrypt', '--passphrase-file', join(dir, 'passphrase')]);
  await go(`#/version/${uids.web}`);
  await page.getByRole('button', { name: 'Copy to…' }).click();
  const dialog = page.locator('dialog.copy-dialog');
  await dialog.getByLabel('Destination repository (a folder)').fill(encrypted);
  await dialog.getByText('a Blockvault repository', { exact: true }).waitFor();
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'WRONG_KEY' }).getByText(/enter its passphrase below/).waitFor();
  await dialog.getByLabel(/Destination passphrase/).fill('correct horse battery');
  await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
  await dialog.locator('.job-progress[data-job-state="succeeded"]').waitFor({ timeout: 60_000 });
  assert.match(await dialog.locator('.copy-result').innerText(), /copied 1 version: 44 objects sent/);
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  const restored = join(dir, 'restored-encrypted.raw');
  cli(['--repo', encrypted, '--passphrase-file', join(dir, 'passphrase'), 'restore', uids.web, restored]);
  assert.equal(sha256(restored), sha256(image('web')));
});

test('Copy to… an S3 repository on RGW: the shared S3 fields, Test connection, a bit-exact restore from the bucket', async () => {
  const bucket = await createBucket();
  try {
    const credentials = join(dir, 's3-credentials');
    writeFileSync(credentials, '[default]\naws_access_key_id = test\naws_secret_access_key = testsecret\n', { mode: 0o600 });
    const s3Env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', XDG_STATE_HOME: join(dir, 'cli-state') };
    const location = `s3://${bucket}/site-b`;
    cli(['init', location, '--endpoint', RGW_ENDPOINT, '--path-style', '--block-size', '64K'], s3Env);

    await go(`#/version/${uids.web}`);
    await page.getByRole('button', { name: 'Copy to…' }).click();
    const dialog = page.locator('dialog.copy-dialog');
    await dialog.getByRole('radio', { name: 'S3' }).click();
    await dialog.getByLabel('Endpoint URL').fill(RGW_ENDPOINT);
    await dialog.getByLabel('Bucket').fill(bucket);
    await dialog.getByLabel('Prefix').fill('site-b');
    await dialog.getByRole('radio', { name: 'Credentials file' }).check();
    await dialog.getByRole('textbox', { name: 'Credentials file path' }).fill(credentials);
    await dialog.getByRole('button', { name: 'Test connection' }).click();
    await dialog.getByTestId('s3-test-result').getByText(/holds a Blockvault repository: ready to copy into/).waitFor({ timeout: 30_000 });
    await screenshot(page, 'copy-s3-dialog');
    await dialog.getByRole('button', { name: 'Copy 1 version' }).click();
    await dialog.locator('.job-progress[data-job-state="succeeded"]').waitFor({ timeout: 120_000 });
    const result = await dialog.locator('.copy-result').innerText();
    assert.match(result, /copied 1 version: 44 objects sent/);
    assert.match(result, new RegExp(`Into ${location}`));
    await screenshot(page, 'copy-s3-done');
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();

    const s3Repo = ['--repo', location, '--endpoint', RGW_ENDPOINT, '--path-style'];
    const listed = JSON.parse(cli([...s3Repo, 'ls', '--json'], s3Env)) as Version[];
    assert.deepEqual(listed.map((v) => [v.uid, v.status]), [[uids.web, 'valid']]);
    const restored = join(dir, 'restored-s3.raw');
    cli([...s3Repo, 'restore', uids.web, restored], s3Env);
    assert.equal(sha256(restored), sha256(image('web')), 'restored from the bucket: identical bytes');
  } finally {
    await removeBucket(bucket);
  }
});

test('Serve over NBD: address and attach commands work as shown; Stop ends the serving', async () => {
  await go(`#/version/${uids.web}`);
  await page.getByRole('button', { name: 'Serve over NBD…' }).click();
  const dialog = page.locator('dialog.serve-dialog');
  const socket = join(dir, 'serve web.sock');
  await dialog.getByLabel('Socket path').fill(socket);
  await screenshot(page, 'serve-dialog');
  assert.deepEqual(await axeCheck(page, 'serve-dialog'), [], 'no serious or critical accessibility violation');
  await dialog.getByRole('button', { name: 'Start serving' }).click();
  await dialog.locator('.serving-details').waitFor();
  const url = (await dialog.locator('code.serving-url').innerText()).trim();
  assert.equal(url, `nbd+unix:///${uids.web}?socket=${socket.replace(' ', '%20')}`);
  const commands = await dialog.locator('code.attach-command').allInnerTexts();
  assert.ok(commands.length >= 5, commands.join('\n'));
  await screenshot(page, 'serve-running');
  assert.deepEqual(await axeCheck(page, 'serve-running'), [], 'no serious or critical accessibility violation');
  // The smallest supported window: the dialog scrolls inside the page, its buttons reachable.
  await page.setViewportSize({ width: 1024, height: 700 });
  await dialog.getByRole('button', { name: 'Close (keeps serving)' }).scrollIntoViewIfNeeded();
  await screenshot(page, 'w1024-serve-running');
  await page.setViewportSize({ width: 1280, height: 900 });

  // The export holds the version's bytes: qemu-img compare against the original image.
  const compare = spawnSync('qemu-img', ['compare', url, image('web')], { encoding: 'utf8' });
  assert.equal(compare.status, 0, compare.stdout + compare.stderr);
  assert.match(compare.stdout, /Images are identical/);
  // The commands as the dialog shows them, pasted into a shell.
  const work = join(dir, 'attach');
  mkdirSync(work);
  const info = sh(commands.find((c) => c.startsWith('qemu-img info'))!, work);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /virtual size: 3 MiB \(3145728 bytes\)/);
  const map = sh(commands.find((c) => c.startsWith('nbdinfo --map'))!, work);
  assert.equal(map.status, 0, map.stderr);
  assert.match(map.stdout, /1048576\s+262144\s+3\s+hole,zero/, 'the zero run is a hole');
  const convert = sh(commands.find((c) => c.startsWith('qemu-img convert'))!, work);
  assert.equal(convert.status, 0, convert.stderr);
  assert.equal(sha256(join(work, `${uids.web}.raw`)), sha256(image('web')), 'qemu-img convert as shown: identical bytes');
  const qemuNbd = commands.find((c) => c.startsWith('qemu-nbd'))!;
  assert.match(qemuNbd, /^qemu-nbd --connect=\/dev\/nbd0 --format=raw --read-only '/);

  await dialog.getByRole('button', { name: 'Close (keeps serving)' }).click();
  const row = page.locator('section.servings tbody tr');
  await row.waitFor();
  assert.match(await row.innerText(), /read-only/);
  // The list polls every 2 s: the blocks the clients above read, each verified, are counted.
  const verified = async (): Promise<number> => Number((await row.locator('td.num').last().innerText()).replace(/,/g, ''));
  // (a poll may land while the count is still being brought up: wait for the whole count)
  for (const started = Date.now(); (await verified()) < 48 && Date.now() - started < 15_000;) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok((await verified()) >= 48, `blocks read and verified: ${await verified()}`);
  // The commands stay at hand in the list after the dialog is closed.
  await row.getByText('Attach commands').click();
  assert.deepEqual(await row.locator('code.attach-command').allInnerTexts(), commands);
  await screenshot(page, 'servings-list');

  // While served, the version cannot be deleted: the GUI says why, and the version stays.
  await go('#/versions');
  // (the selection of an earlier test may still stand)
  const checked = page.locator('input[type="checkbox"][aria-label^="Select version "]:checked');
  while (await checked.count()) await checked.first().uncheck();
  await page.getByLabel(`Select version ${uids.web}`).check();
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByLabel('Force: also delete versions younger than the minimum age').check();
  await page.getByRole('button', { name: /^Delete 1 version…$/ }).click();
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  const refusal = page.locator('.notices .notice.error').filter({ hasText: 'LOCKED' });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), new RegExp(`version ${uids.web} is in use: serving over NBD`));
  await screenshot(page, 'delete-refused-while-served');
  await refusal.getByRole('button', { name: 'Dismiss' }).click();
  assert.ok(JSON.parse(cli(['--repo', repoA(), 'ls', '--json'])).some((v: Version) => v.uid === uids.web), 'the served version is still there');

  await go('#/versions');
  const listed = page.locator('section.servings tbody tr');
  await listed.waitFor();
  await listed.getByRole('button', { name: 'Stop' }).click();
  await page.getByText(/Stopped serving/).waitFor();
  await page.locator('section.servings').waitFor({ state: 'detached' });
  const gone = spawnSync('nbdinfo', [url], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(gone.status, 0, 'nothing answers on the socket any more');
  assert.equal(existsSync(socket), false, 'the socket is removed');
});

test('Serve over NBD on a TCP port with copy-on-write, saved as a new version at stop; the served version is unchanged', async () => {
  await go(`#/version/${uids.web}`);
  await page.getByRole('button', { name: 'Serve over NBD…' }).click();
  const dialog = page.locator('dialog.serve-dialog');
  await dialog.getByLabel(/a TCP port on 127\.0\.0\.1/).check();
  await dialog.getByLabel('Port', { exact: true }).fill('0');
  await dialog.getByLabel(/Copy-on-write/).check();
  await dialog.getByLabel(/Save the changes as a new version named/).fill('web-repaired');
  await screenshot(page, 'serve-cow-dialog');
  await dialog.getByRole('button', { name: 'Start serving' }).click();
  await dialog.locator('.serving-details').waitFor();
  const url = (await dialog.locator('code.serving-url').innerText()).trim();
  assert.match(url, /^nbd:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
  assert.match(await dialog.locator('.serving-counters').innerText(), /copy-on-write/);
  assert.match(await dialog.locator('.serving-details').innerText(), /the changes are saved as a new version web-repaired/);
  const write = spawnSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 64k', url], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(write.status, 0, write.stdout + write.stderr);
  await dialog.getByText(/1 block changed in the overlay/).waitFor({ timeout: 10_000 });
  await screenshot(page, 'serve-cow-running');
  await dialog.getByRole('button', { name: 'Stop and save' }).click();
  await dialog.waitFor({ state: 'detached', timeout: 60_000 });
  await page.getByText(/its changes are saved as version [0-9a-f]{8} \(web-repaired\)/).waitFor();

  const restored = join(dir, 'after-cow.raw');
  cli(['--repo', repoA(), 'restore', uids.web, restored]);
  assert.equal(sha256(restored), sha256(image('web')), 'the served version is unchanged');
  const repaired = (JSON.parse(cli(['--repo', repoA(), 'ls', '--json'])) as Version[]).find((v) => v.name === 'web-repaired');
  assert.ok(repaired, 'the changes are a new version');
  assert.equal(repaired.baseUid, uids.web);
  assert.equal(repaired.status, 'valid');
  const changed = join(dir, 'repaired.raw');
  cli(['--repo', repoA(), 'restore', repaired.uid, changed]);
  const expected = readFileSync(image('web'));
  expected.fill(0x5a, 0, 64 * KIB);
  assert.equal(sha256(changed), createHash('sha256').update(expected).digest('hex'), 'the new version holds the write over the served bytes');
});

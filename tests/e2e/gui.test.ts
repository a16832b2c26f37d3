// End to end through web mode in Chromium: the GUI as an admin uses it. Creates a
// repository, backs up generated images with the wizard (watching progress), browses
// versions, opens block maps and a compare, restores through the wizard and compares hashes,
// corrupts an object and finds the invalid blocks in a deep scrub's report, cancels a
// running backup, measures ping latency while a 2 GiB backup runs, and checks that the
// server refuses requests without the token. Every screen is saved as a screenshot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import NodeWebSocket from 'ws';
import { Repository } from '../../src-main/engine/repository';
import { VersionState } from '../../src-main/engine/meta/schema';
import { CLI, ensureRendererBuilt, launch, screenshot, serve, type Served } from './harness';

const KIB = 1024;
const MIB = 1024 * KIB;
const BLOCK = 256 * KIB;
const BLOCKS = 64;

let dir: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const repoPath = (): string => join(dir, 'repo');
const image1 = (): string => join(dir, 'disk-v1.raw');
const image2 = (): string => join(dir, 'disk-v2.raw');
const bigImage = (): string => join(dir, 'big.raw');
const uids: { v1?: string; v2?: string } = {};

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** 64 blocks of 256 KiB: random, zeros (40-47), copies of blocks 0-7 (48-55), random. */
function makeImages(): void {
  const data = randomBytes(BLOCK * BLOCKS);
  data.fill(0, 40 * BLOCK, 48 * BLOCK);
  data.copy(data, 48 * BLOCK, 0, 8 * BLOCK);
  writeFileSync(image1(), data);
  const changed = Buffer.from(data);
  for (const idx of [10, 11, 60]) randomBytes(BLOCK).copy(changed, idx * BLOCK);
  writeFileSync(image2(), changed);
}

/** 2 GiB, sparse-heavy: 4 extents of 128 MiB random data, the rest holes (zero). */
function makeBigImage(): void {
  const fd = openSync(bigImage(), 'w');
  try {
    ftruncateSync(fd, 2 * 1024 * MIB);
    for (let extent = 0; extent < 4; extent++) {
      for (let chunk = 0; chunk < 128; chunk += 16) writeSync(fd, randomBytes(16 * MIB), 0, 16 * MIB, extent * 512 * MIB + chunk * MIB);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Page script: a second socket from the page (same origin, same token) sends a ping every
 * 50 ms and records each round trip. Plain JavaScript text, so no test-side transform
 * leaks helpers into the page.
 */
const PINGER = (token: string): string => `(() => {
  const state = { rtts: [], stop: false };
  window.pinger = state;
  const ws = new WebSocket('ws://' + location.host + '/api', ['blockvault', 'blockvault-token.${token}']);
  const sent = new Map();
  let id = 0;
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id !== undefined && sent.has(message.id)) {
      state.rtts.push(performance.now() - sent.get(message.id));
      sent.delete(message.id);
    }
  };
  const tick = () => {
    if (state.stop) return ws.close();
    if (ws.readyState === ws.OPEN) {
      id++;
      sent.set(id, performance.now());
      ws.send(JSON.stringify({ id, method: 'ping', args: {} }));
    }
    setTimeout(tick, 50);
  };
  ws.onopen = tick;
})()`;

function cliJson(args: string[]): unknown {
  const result = spawnSync(process.execPath, [CLI, '--repo', repoPath(), ...args, '--json'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function go(hash: string): Promise<void> {
  await page.goto(`${server.origin}/${hash}`);
  await page.locator('.conn-open').waitFor();
}

/** Polls from the test side (the page's CSP rightly forbids evaluating strings there). */
async function poll(condition: () => Promise<boolean>, what: string, timeout = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits for the job progress block on the page to reach a final state. */
async function waitJob(state: 'succeeded' | 'canceled' | 'failed', timeout = 120_000): Promise<void> {
  await page.locator(`.job-progress[data-job-state="${state}"]`).first().waitFor({ timeout });
}

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-'));
  makeImages();
  server = await serve([], { XDG_CONFIG_HOME: join(dir, 'config') });
  context = await launch(join(dir, 'profile'));
  page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error.message));
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('web mode refuses sockets without the token', async () => {
  const bare = await fetch(`${server.origin}/`);
  assert.equal(bare.status, 200, 'the page holds no secret');
  const socketStatus = (url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<number> =>
    new Promise((resolve) => {
      const ws = new NodeWebSocket(url, protocols, { headers });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => {});
    });
  const wsBase = server.origin.replace('http', 'ws');
  const withToken = ['blockvault', `blockvault-token.${server.token}`];
  assert.equal(await socketStatus(`${wsBase}/api`), 401);
  assert.equal(await socketStatus(`${wsBase}/api?token=${server.token}`), 401, 'a token in the URL is not accepted');
  assert.equal(await socketStatus(`${wsBase}/api`, { Origin: 'http://evil.example' }, withToken), 403);
  assert.equal(await socketStatus(`${wsBase}/api`, { Origin: server.origin }, withToken), 101);
  await page.goto(`${server.origin}/`);
  await page.locator('.conn-banner').getByText(/without its access token/).waitFor();
  await screenshot(page, '00-no-token-refused');
});

test('create a repository', async () => {
  // From another document: the previous test left the page at the server's origin, where a
  // URL that differs only in its fragment would not load the page again.
  await page.goto('about:blank');
  await page.goto(server.url);
  assert.doesNotMatch(page.url(), /token=/, 'the token is taken out of the address bar');
  await page.locator('.conn-open').waitFor();
  await page.getByLabel('New or empty folder').fill(repoPath());
  await page.getByLabel('Block size').selectOption(String(BLOCK));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByText('No backups yet').waitFor();
  assert.match(await page.locator('.topbar').innerText(), new RegExp(repoPath()));
  await screenshot(page, '01-repository-created');
});

test('back up a generated image with the wizard and watch its progress', async () => {
  await go('#/backup');
  await screenshot(page, '02-backup-source');
  await page.getByLabel('Image file (raw)').fill(image1());
  await page.getByText('file, 16.0 MiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('disk');
  await page.getByLabel('Snapshot name (optional)').fill('monday');
  await page.getByLabel('Tags (comma separated)').fill('daily, e2e');
  await screenshot(page, '03-backup-details');
  await page.getByRole('button', { name: 'Next' }).click();
  await screenshot(page, '04-backup-summary');
  await page.getByRole('button', { name: 'Start backup' }).click();
  await waitJob('succeeded');
  const done = await page.getByTestId('backup-result').innerText();
  assert.match(done, /48 new blocks, 8 deduplicated, 8 sparse/);
  uids.v1 = /version ([0-9a-f-]{36})/.exec(done)![1];
  assert.equal(await page.getByRole('progressbar').first().getAttribute('aria-valuenow'), '100');
  await screenshot(page, '05-backup-done');

  // Second version, incremental from the first (the wizard offers it), three blocks changed.
  await page.getByRole('button', { name: 'Another backup' }).click();
  await page.getByLabel('Image file (raw)').fill(image2());
  await page.getByText('file, 16.0 MiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('disk');
  await page.getByLabel('Snapshot name (optional)').fill('tuesday');
  await page.getByText(/Incremental from the latest valid version/).getByRole('radio').check();
  await page.getByRole('button', { name: 'Next' }).click();
  assert.match(await page.locator('.kv').innerText(), /incremental from/);
  await page.getByRole('button', { name: 'Start backup' }).click();
  await waitJob('succeeded');
  const second = await page.getByTestId('backup-result').innerText();
  assert.match(second, /3 new blocks, 53 deduplicated, 8 sparse/);
  uids.v2 = /version ([0-9a-f-]{36})/.exec(second)![1];
});

test('browse versions, open the block map and compare', async () => {
  await go('#/versions');
  await page.locator(`tr[data-uid="${uids.v2}"]`).waitFor();
  assert.equal(await page.locator('tr[data-uid]').count(), 2);
  await page.getByLabel('Filter').fill('tuesday');
  assert.equal(await page.locator('tr[data-uid]').count(), 1);
  await page.getByLabel('Filter').fill('');
  await page.getByLabel(`Select version ${uids.v1}`).check();
  await screenshot(page, '06-versions');

  await page.locator(`tr[data-uid="${uids.v2}"] a`).click();
  const map = page.locator('canvas[data-blocks]').first();
  await map.waitFor();
  assert.equal(await map.getAttribute('data-blocks'), String(BLOCKS));
  // Hover block 0 (top-left cell): the tooltip names the block, its offset and its object.
  const box = (await map.boundingBox())!;
  await page.mouse.move(box.x + 3, box.y + 3);
  await page.locator('.blockmap-tip').getByText(/block 0 · offset 0/).waitFor();
  await page.locator('.blockmap-info').getByText(/object [0-9a-f]{16}/).waitFor();
  // Keyboard: focus the map and walk to block 10, which changed in this version.
  await map.focus();
  for (let i = 0; i <= 10; i++) await page.keyboard.press('ArrowRight');
  await page.mouse.move(0, 0);
  await page.locator('.blockmap-info').getByText(/block 10 · offset 2,621,440 · new/).waitFor();
  await screenshot(page, '07-version-detail');

  await page.getByRole('button', { name: 'Compare', exact: true }).click();
  await page.getByText(/3 of 64 blocks differ/).waitFor();
  await page.locator('.blockmap').nth(1).scrollIntoViewIfNeeded();
  await screenshot(page, '08-compare');
});

test('restore through the wizard to a new file; the bytes equal the source', async () => {
  await go(`#/restore/${uids.v2}`);
  const target = join(dir, 'restored.raw');
  // A target smaller than the version is refused before anything is written.
  const small = join(dir, 'small.raw');
  writeFileSync(small, Buffer.alloc(MIB));
  await page.getByRole('radio', { name: 'Existing file (overwrite)' }).check();
  await page.getByRole('textbox', { name: 'Existing file', exact: true }).fill(small);
  await page.getByText(/refused/).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true);
  await screenshot(page, '09-restore-too-small');

  await page.getByRole('radio', { name: 'New file', exact: true }).check();
  await page.getByRole('textbox', { name: 'New file', exact: true }).fill(target);
  await page.getByText('Size check passed').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await screenshot(page, '10-restore-confirm');
  await page.getByRole('button', { name: 'Start restore' }).click();
  await waitJob('succeeded');
  const result = await page.getByTestId('restore-result').innerText();
  assert.match(result, /Every block was verified: 56 of 56 data blocks/);
  await screenshot(page, '11-restore-done');
  assert.equal(sha256(readFileSync(target)), sha256(readFileSync(image2())), 'restored bytes equal the source');

  // Overwriting needs the target's name typed.
  await go(`#/restore/${uids.v1}`);
  const existing = join(dir, 'existing.raw');
  writeFileSync(existing, Buffer.alloc(BLOCK * BLOCKS, 0xab));
  await page.getByRole('radio', { name: 'Existing file (overwrite)' }).check();
  await page.getByRole('textbox', { name: 'Existing file', exact: true }).fill(existing);
  await page.getByText('Size check passed').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  const overwrite = page.getByRole('button', { name: 'Overwrite and restore' });
  assert.equal(await overwrite.isDisabled(), true);
  await page.getByLabel("Type the target's name to confirm").fill('existing.raw');
  await overwrite.click();
  await waitJob('succeeded');
  assert.equal(sha256(readFileSync(existing)), sha256(readFileSync(image1())), 'an overwritten file equals the source, zeros included');
});

test('corrupt an object, deep scrub, and find the invalid blocks in the report', async () => {
  // Block 3 of the image; block 51 is a copy of it, so both share the object.
  const data = readFileSync(image1());
  const digest = sha256(data.subarray(3 * BLOCK, 4 * BLOCK));
  const objectFile = join(repoPath(), 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
  assert.ok(existsSync(objectFile), 'object of block 3 is stored by its digest');
  const bytes = readFileSync(objectFile);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(objectFile, bytes);

  await go(`#/scrub?uids=${uids.v1}`);
  await page.getByText('Deep: read, decompress and hash every object').click();
  await screenshot(page, '12-scrub-start');
  await page.getByRole('button', { name: 'Start scrub' }).click();
  await waitJob('succeeded');
  await page.locator('.scrub-report[data-report-ok="false"]').waitFor();
  await page.getByText('2 invalid blocks found').waitFor();
  const problems = await page.locator('table.problems tbody tr').allInnerTexts();
  assert.deepEqual(problems.map((row) => Number(row.split('\t')[0])), [3, 51]);
  assert.ok(problems.every((row) => row.includes(digest.slice(0, 16))), 'the report names the corrupt object');
  const marked = await page.getByText('Versions marked invalid:').locator('..').innerText();
  assert.ok(marked.includes(uids.v1!.slice(0, 8)) && marked.includes(uids.v2!.slice(0, 8)), 'both versions share the object and are marked invalid');
  await page.locator('.scrub-report canvas').scrollIntoViewIfNeeded();
  await screenshot(page, '13-scrub-report');
  const versions = cliJson(['ls']) as Array<{ uid: string; valid: boolean }>;
  assert.deepEqual(versions.map((v) => v.valid), [false, false]);
});

test('ping stays fast while a 2 GiB backup runs, and progress is live', async () => {
  makeBigImage();
  await go('#/backup');
  await page.getByLabel('Image file (raw)').fill(bigImage());
  await page.getByText('file, 2.00 GiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('big');
  await page.getByRole('button', { name: 'Next' }).click();

  // A second socket from the page (the same origin and token) pings every 50 ms.
  await page.evaluate(PINGER(server.token));
  await page.waitForTimeout(500);
  const idle = (await page.evaluate('window.pinger.rtts.length')) as number;
  await page.getByRole('button', { name: 'Start backup' }).click();
  const seen = new Set<number>();
  const started = Date.now();
  let shot = false;
  while (!(await page.locator('.job-progress[data-job-state="succeeded"]').count())) {
    const value = Number(await page.getByRole('progressbar').first().getAttribute('aria-valuenow'));
    if (value > 0 && value < 100) seen.add(value);
    if (!shot && value >= 30) {
      await screenshot(page, '14-backup-progress');
      shot = true;
    }
    assert.ok(Date.now() - started < 240_000, 'the 2 GiB backup finished in time');
    await page.waitForTimeout(100);
  }
  const seconds = (Date.now() - started) / 1000;
  const rtts = (await page.evaluate('window.pinger.stop = true, window.pinger.rtts')) as number[];
  const during = rtts.slice(idle).sort((a, b) => a - b);
  const pick = (q: number): number => during[Math.min(during.length - 1, Math.floor(q * during.length))];
  console.log(`ping during a 2 GiB backup (512 MiB random data, 1.5 GiB holes) of ${seconds.toFixed(1)} s: ${during.length} pings, median ${pick(0.5).toFixed(1)} ms, p95 ${pick(0.95).toFixed(1)} ms, max ${during[during.length - 1].toFixed(1)} ms`);
  assert.ok(during.length >= 20, 'pings were answered during the backup');
  // The median is the steady state; p95 and max are printed: on 2 cores shared with the
  // other test files and Chromium they include scheduling delays outside Blockvault.
  assert.ok(pick(0.5) < 50, `median ping ${pick(0.5).toFixed(1)} ms is under 50 ms`);
  assert.ok(seen.size >= 3, `progress moved through several values (${[...seen].join(', ')})`);
});

test('cancel a running backup: no valid version is left', async () => {
  await page.getByRole('button', { name: 'Another backup' }).click();
  await page.getByLabel('Image file (raw)').fill(bigImage());
  await page.getByText('file, 2.00 GiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('cancel-me');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Start backup' }).click();
  const cancel = page.getByRole('button', { name: 'Cancel backup' });
  await cancel.waitFor();
  await poll(async () => Number(await page.getByRole('progressbar').first().getAttribute('aria-valuenow')) >= 2, 'backup progress');
  await cancel.click();
  await waitJob('canceled');
  await page.locator('.job-progress').getByText('no version was created').waitFor();
  await screenshot(page, '15-backup-canceled');
  const versions = cliJson(['ls']) as Array<{ name: string; valid: boolean }>;
  assert.equal(versions.filter((v) => v.name === 'cancel-me').length, 0, 'the canceled backup left no version');
  const jobs = cliJson(['jobs']) as Array<{ kind: string; state: string; params: { name?: string } }>;
  assert.ok(jobs.some((job) => job.kind === 'backup' && job.state === 'canceled' && job.params.name === 'cancel-me'), 'blockvault jobs lists the canceled backup');
  assert.ok(jobs.some((job) => job.kind === 'scrub' && job.state === 'succeeded'));
});

test('a 262,144-block version (1 TiB at 4 MiB blocks) renders its block map in under a second', async () => {
  // The metadata of a 64 GiB version at this repository's 256 KiB blocks: 262,144 block rows
  // that reuse the stored objects in a pattern. Backing up that much here would take minutes;
  // the block map only reads the metadata.
  const repo = Repository.open(repoPath());
  const uid = '00000000-0000-4000-8000-000000262144';
  try {
    const objects = (repo.meta.sql('SELECT id FROM objects ORDER BY id LIMIT 50').all() as Array<{ id: number }>).map((row) => row.id);
    const count = 262_144;
    const id = repo.meta.createVersion({ uid, name: 'huge', snapshot: 'metadata only', date: Date.now(), size: count * BLOCK, blockSize: BLOCK, baseUid: null, source: 'generated', state: VersionState.valid });
    const rows: Array<[number, number | null]> = [];
    for (let idx = 0; idx < count; idx++) rows.push([idx, (idx >> 9) % 3 === 0 ? null : objects[(idx * 7) % objects.length]]);
    repo.meta.insertBlocks(id, rows);
  } finally {
    repo.close();
  }
  const started = Date.now();
  await go(`#/version/${uid}`);
  const map = page.locator('canvas[data-blocks="262144"]');
  await map.waitFor();
  await poll(async () => (await map.getAttribute('data-render-ms')) !== null, 'the block map drawn');
  const renderMs = Number(await map.getAttribute('data-render-ms'));
  console.log(`block map of 262,144 blocks: drawn in ${renderMs.toFixed(0)} ms (page to map ${Date.now() - started} ms including the metadata query)`);
  assert.ok(renderMs < 1000, `drawn in ${renderMs} ms`);
  await screenshot(page, '16-block-map-262144');
  await map.focus();
  for (let i = 0; i < 4; i++) await page.keyboard.press('+');
  await page.keyboard.press('ArrowDown');
  await page.locator('.blockmap-info').getByText(/block [\d,]+ · offset/).waitFor();
  await screenshot(page, '16b-block-map-262144-zoomed');
});

test('screens: jobs, cleanup, statistics, settings, repository summary', async () => {
  await go('#/jobs');
  await page.locator('table tbody tr').first().waitFor();
  await page.locator('table tbody tr a').first().click();
  await page.getByLabel('Job log').waitFor();
  assert.match(await page.getByLabel('Job log').innerText(), /started/);
  await screenshot(page, '17-jobs');

  await go('#/versions');
  await page.getByLabel('Select every version of disk').check();
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByText(/younger than \d+ days: needs force/).first().waitFor();
  await screenshot(page, '18-delete-and-cleanup');

  await go('#/statistics');
  await page.locator('figure.chart svg rect').first().waitFor();
  await screenshot(page, '19-statistics');
  await go('#/settings');
  await screenshot(page, '20-settings');
  await go('#/repository');
  await page.locator('.health-error').waitFor();
  await screenshot(page, '21-repository-summary');
  // A readable error with its code: opening a folder that is not a repository.
  await page.getByLabel('Repository folder').fill(dir);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.locator('.notices .notice.error').getByText('NOT_A_REPOSITORY').waitFor();
  await screenshot(page, '22-error-with-code');
  assert.ok(statSync(repoPath()).isDirectory());
  assert.ok(readdirSync(join(repoPath(), 'objects')).length > 0);
});

test('encrypted repository: create with a passphrase, back up, reopen through the passphrase dialog, restore byte-exact', async () => {
  const secretRepo = join(dir, 'secret-repo');
  const passphrase = 'violet Lantern 42 harbour';
  await go('#/repository');
  // Errors of earlier tests stay until dismissed: clear them for clean screenshots.
  const dismiss = page.locator('.notices').getByRole('button', { name: 'Dismiss' });
  while (await dismiss.count()) await dismiss.first().click();
  await page.getByLabel('New or empty folder').fill(secretRepo);
  await page.getByLabel('Block size').selectOption(String(BLOCK));
  await page.getByLabel('Encrypt (AES-256-GCM)').check();
  const create = page.getByRole('button', { name: 'Create', exact: true });
  const strength = page.locator('.strength');
  await page.locator('#create-passphrase').fill('short');
  assert.equal(await strength.getAttribute('data-verdict'), 'too-short');
  await page.locator('#create-passphrase').fill('password');
  assert.equal(await strength.getAttribute('data-verdict'), 'weak');
  await page.locator('#create-passphrase').fill(passphrase);
  assert.equal(await strength.getAttribute('data-verdict'), 'strong');
  await page.locator('#create-passphrase-confirm').fill(`${passphrase}x`);
  await page.getByText('the passphrases differ').waitFor();
  await page.locator('#create-passphrase-confirm').fill(passphrase);
  await page.getByText('the passphrases match').waitFor();
  assert.equal(await create.isDisabled(), true, 'Create waits for the acknowledgement');
  await page.getByText('A lost passphrase means lost data.').waitFor();
  await page.getByLabel(/I understand that if I lose the passphrase/).check();
  assert.equal(await create.isDisabled(), false);
  await page.locator('form[aria-labelledby="create-title"]').scrollIntoViewIfNeeded();
  await screenshot(page, '23-create-encrypted-form');
  await create.click();
  await page.locator('.topbar').getByText(secretRepo).waitFor();
  await page.getByText('No backups yet').waitFor();
  await page.getByTestId('encryption-badge').getByText('Encrypted · AES-256-GCM').waitFor();
  assert.match(await page.locator('.topbar').innerText(), /encrypted/);
  // The page shows the new repository's summary at the top, not the old form scrolled down.
  assert.equal(await page.locator('.content').evaluate((element) => element.scrollTop), 0, 'scrolled to the top after creating');
  await screenshot(page, '24-encrypted-badge');

  // Back up a small generated image into it.
  await go('#/backup');
  await page.getByLabel('Image file (raw)').fill(image1());
  await page.getByText('file, 16.0 MiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('secret-disk');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Start backup' }).click();
  await waitJob('succeeded');
  const done = await page.getByTestId('backup-result').innerText();
  assert.match(done, /48 new blocks, 8 deduplicated, 8 sparse/);
  const uid = /version ([0-9a-f-]{36})/.exec(done)![1];
  const objectFiles = readdirSync(join(secretRepo, 'objects'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  assert.ok(objectFiles.length >= 48);
  const digest = sha256(readFileSync(image1()).subarray(0, BLOCK));
  assert.ok(objectFiles.every((entry) => entry.name !== digest), 'objects are named by a keyed hash, not the plaintext digest');

  // Close it, then open it again: the dialog asks; a wrong passphrase is refused readably.
  await go('#/repository');
  await page.getByRole('button', { name: 'Close', exact: true }).click();
  await page.locator('.topbar').getByText('no repository open').waitFor();
  await page.getByLabel('Repository folder').fill(secretRepo);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: /Encrypted repository/ });
  await dialog.waitFor();
  assert.equal(await page.locator('.notices .notice.error').count(), 0, 'asking for the passphrase is not an error notice');
  await screenshot(page, '25-passphrase-dialog');
  await dialog.getByLabel('Passphrase').fill('not the passphrase');
  await dialog.getByRole('button', { name: 'Unlock and open' }).click();
  await dialog.getByText('WRONG_KEY').waitFor();
  assert.match(await dialog.getByRole('alert').innerText(), /Wrong passphrase/);
  await screenshot(page, '26-passphrase-wrong');
  assert.match(await page.locator('.topbar').innerText(), /no repository open/, 'a wrong passphrase opens nothing');

  // Cancel, then open from the recent list (marked encrypted) with the right passphrase.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  const recent = page.locator('.recent li', { hasText: secretRepo });
  await recent.getByText('encrypted', { exact: true }).waitFor();
  await recent.getByRole('button', { name: secretRepo, exact: true }).click();
  await dialog.waitFor();
  await dialog.getByLabel('Passphrase').fill(passphrase);
  await dialog.getByRole('button', { name: 'Unlock and open' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.getByTestId('encryption-badge').getByText('Encrypted').waitFor();
  assert.match(await page.locator('.topbar').innerText(), new RegExp(secretRepo));

  // Restore through the wizard; the bytes equal the source.
  await go(`#/restore/${uid}`);
  const target = join(dir, 'secret-restored.raw');
  await page.getByRole('radio', { name: 'New file', exact: true }).check();
  await page.getByRole('textbox', { name: 'New file', exact: true }).fill(target);
  await page.getByText('Size check passed').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Start restore' }).click();
  await waitJob('succeeded');
  assert.equal(sha256(readFileSync(target)), sha256(readFileSync(image1())), 'restored bytes equal the source');

  const settings = readFileSync(join(dir, 'config', 'blockvault', 'settings.json'), 'utf8');
  assert.ok(!settings.includes(passphrase), 'the recent list holds no passphrase');
  assert.match(settings, /"encrypted": true/);
});

test('the mouse wheel zooms the block map without scrolling the page', async () => {
  await go('#/versions');
  await page.locator('tr[data-uid] a').first().click();
  const map = page.locator('canvas[data-blocks]').first();
  await map.waitFor();
  const content = page.locator('.content');
  const scrollTop = (): Promise<number> => content.evaluate((element) => element.scrollTop);
  assert.ok(await content.evaluate((element) => element.scrollHeight > element.clientHeight), 'the page can scroll');
  await map.scrollIntoViewIfNeeded();
  const before = await scrollTop();
  const box = (await map.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -120);
  await page.locator('.blockmap-toolbar').getByText(/zoom 1\.3×/).first().waitFor();
  await page.mouse.wheel(0, 400);
  await page.locator('.blockmap-toolbar').getByText(/zoom 1\.0×/).first().waitFor();
  await page.mouse.wheel(0, 400);
  await page.waitForTimeout(200);
  assert.equal(await scrollTop(), before, 'the page did not scroll');
});

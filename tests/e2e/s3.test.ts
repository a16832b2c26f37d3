// End to end in Chromium: an S3 repository on the real RGW, made through the GUI. The create
// form switched to S3 tests the connection (a wrong bucket shows "No such bucket", the right
// one "is empty"), creates the repository with a credentials file the test wrote, and the
// summary names the store (S3, endpoint, bucket, prefix). A backup through the wizard lands in
// the bucket and is listed; after closing, the recent list opens it again with the remembered
// connection, and the open form's test says the prefix holds a repository. No WebSocket frame
// in either direction ever carries the secret key. Screenshots: test-output/screenshots/s3-*.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { adminClient, createBucket, RGW_ENDPOINT, randomBucket, removeBucket } from '../ceph/rgw';
import { axeCheck, ensureRendererBuilt, launch, screenshot, serve, type Served } from './harness';

const SECRET = 'testsecret';
const BLOCK = 64 * 1024;

let dir: string;
let bucket: string;
let credentials: string;
let image: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const frames: string[] = [];

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-s3-'));
  bucket = await createBucket();
  credentials = join(dir, 's3-credentials');
  writeFileSync(credentials, `[default]\naws_access_key_id = test\naws_secret_access_key = ${SECRET}\n`, { mode: 0o600 });
  image = join(dir, 'disk.raw');
  const data = randomBytes(BLOCK * 24);
  data.fill(0, 8 * BLOCK, 12 * BLOCK);
  writeFileSync(image, data);
  // The server has no credentials of its own: only the file the form names.
  server = await serve([], {
    XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state'), HOME: dir,
    AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', BLOCKVAULT_S3_CREDENTIALS: '', BLOCKVAULT_S3_ENDPOINT: '',
  });
  context = await launch(join(dir, 'profile'), { viewport: { width: 1280, height: 1000 } });
  page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error.message));
  page.on('websocket', (socket) => {
    socket.on('framesent', (frame) => frames.push(String(frame.payload)));
    socket.on('framereceived', (frame) => frames.push(String(frame.payload)));
  });
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (bucket) await removeBucket(bucket);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function fillS3(form: Locator, bucketName: string): Promise<void> {
  // Folder | S3 is a radio group: the chosen kind is the tab stop, an arrow key moves the choice.
  await form.getByRole('radio', { name: 'Folder' }).focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await form.getByRole('radio', { name: 'S3' }).getAttribute('aria-checked'), 'true');
  assert.equal(await form.getByRole('radio', { name: 'S3' }).evaluate((button: { matches(selector: string): boolean }) => button.matches(':focus')), true, 'the focus follows the choice');
  await form.getByLabel('Endpoint URL').fill(RGW_ENDPOINT);
  await form.getByLabel('Bucket').fill(bucketName);
  await form.getByLabel('Prefix').fill('site-a');
  await form.getByLabel('Region').fill('us-east-1');
  assert.equal(await form.getByLabel(/Path-style addressing/).isChecked(), true, 'path-style is the default (RGW)');
  await form.getByRole('radio', { name: 'Credentials file' }).check();
  await form.getByRole('textbox', { name: 'Credentials file path' }).fill(credentials);
}

test('create an S3 repository through the GUI: Test connection names a wrong bucket, then creates it', async () => {
  await page.goto(server.url);
  await page.locator('.conn-open').waitFor();
  const form = page.locator('form[aria-labelledby="create-title"]');
  const missing = randomBucket('bv-missing');
  await fillS3(form, missing);
  await form.getByRole('button', { name: 'Test connection' }).click();
  const result = form.getByTestId('s3-test-result');
  await result.waitFor();
  assert.equal(await result.getAttribute('data-failure'), 'no-bucket');
  assert.match(await result.innerText(), new RegExp(`No such bucket[\\s\\S]*NOT_FOUND[\\s\\S]*the bucket "${missing}" does not exist at 127.0.0.1:7480`));
  await form.scrollIntoViewIfNeeded();
  await screenshot(page, 's3-01-create-form-wrong-bucket');

  await form.getByLabel('Bucket').fill(bucket);
  await result.waitFor({ state: 'detached' });
  await form.getByRole('button', { name: 'Test connection' }).click();
  await result.waitFor();
  assert.equal(await result.getAttribute('data-contents'), 'empty', await result.innerText());
  assert.match(await result.innerText(), /Connected to http:\/\/127\.0\.0\.1:7480 .*is empty: a new repository can be created here/);
  await form.getByLabel('Block size').selectOption(String(BLOCK));
  await screenshot(page, 's3-02-create-form-connected');
  const serious = await axeCheck(page, 's3-create-form');
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(' | ')}`), [], 'no serious accessibility violation in the S3 forms');
  // At a narrower window the S3 fields wrap and nothing overflows its card.
  await page.setViewportSize({ width: 1024, height: 1000 });
  const card = await form.boundingBox();
  const fields = await form.locator('fieldset.s3-location').boundingBox();
  assert.ok(card && fields && fields.x + fields.width <= card.x + card.width, `the S3 fields stay inside their card: ${JSON.stringify({ card, fields })}`);
  await screenshot(page, 's3-02b-create-form-narrow');
  await page.setViewportSize({ width: 1280, height: 1000 });

  await form.getByRole('button', { name: 'Create' }).click();
  await page.getByText('No backups yet').waitFor();
  const store = page.getByTestId('store-line');
  assert.equal(await store.getAttribute('data-kind'), 's3');
  const text = await store.innerText();
  for (const part of ['S3', RGW_ENDPOINT, bucket, 'site-a', 'us-east-1', 'path-style']) assert.ok(text.includes(part), `${part} in "${text}"`);
  assert.match(await page.locator('.topbar').innerText(), new RegExp(`s3://${bucket}/site-a`));
  await page.locator('#main').evaluate((main) => main.scrollTo({ top: 0 }));
  await screenshot(page, 's3-03-summary');
});

test('back up into the S3 repository with the wizard; the version is listed and its objects are in the bucket', async () => {
  await page.goto(`${server.origin}/#/backup`);
  await page.locator('.conn-open').waitFor();
  await page.getByLabel('Image file (raw)').fill(image);
  await page.getByText(/file, 1\.50 MiB/).waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('web');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Start backup' }).click();
  await page.locator('.job-progress[data-job-state="succeeded"]').first().waitFor({ timeout: 120_000 });
  const done = await page.getByTestId('backup-result').innerText();
  assert.match(done, /20 new blocks, 0 deduplicated, 4 sparse/);
  const uid = /version ([0-9a-f-]{36})/.exec(done)![1];

  await page.goto(`${server.origin}/#/versions`);
  await page.getByRole('cell', { name: 'web' }).first().waitFor();
  assert.match(await page.locator('main, #main').first().innerText(), new RegExp(uid.slice(0, 8)));
  await screenshot(page, 's3-04-versions');

  const client = adminClient();
  try {
    const page1 = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'site-a/' }));
    const keys = (page1.Contents ?? []).map((item) => item.Key!);
    assert.equal(keys.filter((k) => k.startsWith('site-a/objects/')).length, 20, keys.join(','));
    assert.ok(keys.includes(`site-a/manifests/${uid}`), 'the manifest is in the bucket');
  } finally {
    client.destroy();
  }
});

test('the recent list opens the S3 repository again; the open form finds it; no frame carries the secret', async () => {
  await page.goto(`${server.origin}/#/repository`);
  await page.locator('.conn-open').waitFor();
  await page.getByRole('button', { name: 'Close' }).click();
  await page.getByTestId('store-line').waitFor({ state: 'detached' });
  const recent = page.locator('ul.recent li').first();
  assert.match(await recent.innerText(), new RegExp(`s3://${bucket}/site-a[\\s\\S]*S3`));
  assert.match(String(await recent.locator('.badge.store-kind').getAttribute('title')), new RegExp(`${RGW_ENDPOINT}.*path-style; credentials file ${credentials}`));

  const form = page.locator('form[aria-labelledby="open-title"]');
  await fillS3(form, bucket);
  await form.getByRole('button', { name: 'Test connection' }).click();
  const result = form.getByTestId('s3-test-result');
  await result.waitFor();
  assert.equal(await result.getAttribute('data-contents'), 'repository', await result.innerText());
  assert.match(await result.innerText(), /holds a Blockvault repository: ready to open/);
  await screenshot(page, 's3-05-open-form-found');

  await recent.getByRole('button', { name: `s3://${bucket}/site-a`, exact: true }).click();
  await page.getByTestId('store-line').waitFor();
  assert.equal(await page.getByTestId('store-line').getAttribute('data-kind'), 's3');

  assert.ok(frames.some((f) => f.includes('testS3Connection')), 'the test went over the socket');
  assert.ok(frames.some((f) => f.includes(credentials)), 'the credentials file path went over the socket');
  for (const frame of frames) assert.ok(!frame.includes(SECRET), `a frame carries the secret: ${frame.slice(0, 200)}`);
});

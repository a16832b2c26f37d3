// End to end in Chromium: jobs started from the command line appear in the GUI's job list;
// the Policies screen previews which of a disk's two years of versions a retention rule keeps
// and why, before saving (screenshot); saving stores the policy (the CLI sees it); the
// repository home shows the dashboard of disks (screenshot).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { BrowserContext, Page } from 'playwright-core';
import type { PolicyInfo } from '../../src-shared/api/policy';
import { CLI, ensureRendererBuilt, openApp, screenshot, type Served } from './harness';

let dir: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const repo = (): string => join(dir, 'repo');

function cli(args: string[]): string {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-policy-'));
  const image = join(dir, 'web.raw');
  writeFileSync(image, randomBytes(256 * 1024));
  cli(['init', repo(), '--block-size', '64K', '--min-age-days', '0']);
  const uids: string[] = [];
  for (let i = 0; i < 30; i++) uids.push(cli(['--repo', repo(), 'backup', image, 'web']).trim().split('\n').pop()!);
  // Two years of history: one version every ~25 days, the newest now.
  const db = new Database(join(repo(), 'metadata.sqlite'));
  uids.forEach((uid, i) => db.prepare('UPDATE versions SET date = ? WHERE uid = ?').run(Date.now() - (29 - i) * 25 * 86_400_000, uid));
  db.close();
  ({ server, context, page } = await openApp(['--repo', repo()], { XDG_CONFIG_HOME: join(dir, 'config') }, join(dir, 'profile')));
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function go(hash: string): Promise<void> {
  await page.goto(`${server.origin}/${hash}`);
  await page.locator('.conn-open').waitFor();
}

test('jobs started from the command line are in the GUI\'s job list', async () => {
  cli(['--repo', repo(), 'scrub', '--all']);
  await go('#/jobs');
  await page.getByText(/Back up .*web\.raw as web/).first().waitFor();
  await page.getByText(/Scrub 30 versions/).first().waitFor();
  assert.ok((await page.getByText(/Back up .*web\.raw as web/).count()) >= 1);
});

test('the Policies screen previews retention on a timeline before saving', async () => {
  await go('#/policies');
  await page.getByRole('button', { name: 'New policy' }).click();
  await page.getByLabel('keep daily').fill('3');
  await page.getByLabel('keep weekly').fill('');
  await page.getByLabel('keep monthly').fill('6');
  await page.getByLabel('keep yearly').fill('2');
  await page.locator('svg.retention-timeline').waitFor();
  await page.getByText(/kept, \d+ removed/).waitFor();
  const rows = page.locator('.retention-list tbody tr');
  await page.locator('.retention-list tbody tr').nth(29).waitFor();
  const kept = await page.locator('.retention-list tbody tr.kept').count();
  // daily 3: the newest 3; monthly 6: the next 6 months (each ~25 days apart: one per month); yearly 2: two more years.
  assert.ok(kept >= 9 && kept <= 11, `kept ${kept}`);
  assert.equal(await rows.count(), 30);
  assert.ok((await page.getByText('beyond keep-monthly 6').count()) + (await page.getByText(/a newer version is the keep-yearly/).count()) > 0, 'removed rows say why');
  assert.equal(JSON.parse(cli(['--repo', repo(), 'policy', 'ls', '--json'])).length, 0, 'nothing saved by the preview');
  const shot = await screenshot(page, 'policies-preview');
  assert.ok(shot.endsWith('.png'));
  await page.getByRole('button', { name: 'Add policy' }).click();
  await page.locator('table.table td.mono', { hasText: 'web' }).first().waitFor();
  const stored = JSON.parse(cli(['--repo', repo(), 'policy', 'ls', '--json'])) as PolicyInfo[];
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0].retention, { keepDaily: 3, keepMonthly: 6, keepYearly: 2 });
  assert.deepEqual(stored[0].schedule, { cron: '0 2 * * *' });
});

test('the repository home is a dashboard of disks', async () => {
  await go('#/repository');
  const disks = page.locator('section.disks-dashboard');
  await disks.waitFor();
  await disks.locator('td.mono', { hasText: 'web' }).waitFor();
  assert.match(await disks.innerText(), /Store used/);
  await screenshot(page, 'disks-dashboard');
});

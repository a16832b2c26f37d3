// Web mode's token and connection in Chromium (issue 9 #8, issue 12): the token never
// reaches another server on 127.0.0.1 (no cookie, not in the address bar, not readable by a
// page of another port), and dies with the server; when the socket drops the page shows a
// banner, offers no Cancel on job rows that may be stale, reconnects by itself and reloads
// jobs and versions it missed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import NodeWebSocket from 'ws';
import { backupCli, initRepo, lsJson, writeBlocks } from '../helpers';
import { ensureRendererBuilt, launch, screenshot, serve, type Served } from './harness';

const dir = mkdtempSync(join(tmpdir(), 'bv-e2e-conn-'));
let repo: string;
let server: Served;
let context: BrowserContext;
let page: Page;
let other: Server;
const seen: IncomingHttpHeaders[] = [];

/** Another local web service the admin's browser visits: records what it receives. */
const OTHER_PAGE = (port: number): string => `<!doctype html><title>other</title><script>
  const report = (what, value) => fetch('/report?' + what + '=' + encodeURIComponent(value));
  report('cookie', document.cookie);
  report('storage', JSON.stringify(sessionStorage) + JSON.stringify(localStorage));
  const ws = new WebSocket('ws://127.0.0.1:${port}/api', ['blockvault']);
  ws.onopen = () => report('socket', 'open');
  ws.onerror = () => report('socket', 'refused');
  fetch('http://127.0.0.1:${port}/', { credentials: 'include', mode: 'no-cors' }).then(() => report('fetch', 'done'), () => report('fetch', 'failed'));
</script>`;

before(async () => {
  ensureRendererBuilt();
  repo = await initRepo(dir, ['--min-age-days', '0']);
  writeBlocks(join(dir, 'small.img'), [1, 2, 3]);
  await backupCli(repo, join(dir, 'small.img'), 'small');
  server = await serve(['--repo', repo], { XDG_CONFIG_HOME: join(dir, 'config') });
  const serverPort = Number(new URL(server.origin).port);
  other = createServer((req, res) => {
    seen.push({ ...req.headers, 'x-url': req.url });
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(req.url === '/' ? OTHER_PAGE(serverPort) : 'ok');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  context = await launch(join(dir, 'profile'));
  page = await context.newPage();
});

after(async () => {
  await context?.close();
  await server?.stop();
  other?.closeAllConnections();
  other?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the token reaches no other local server and no other page, and dies with the server', { timeout: 120_000 }, async () => {
  assert.match(server.url, /\/#token=[0-9a-f]+$/, 'the printed URL carries the token in its fragment');
  await page.goto(server.url);
  await page.locator('.conn-open').waitFor();
  assert.doesNotMatch(page.url(), /token/, 'the token is gone from the address bar at once');
  assert.equal((await context.cookies()).length, 0, 'no cookie at all');
  await page.getByRole('link', { name: 'Versions' }).click();
  await page.getByText('small', { exact: true }).first().waitFor();

  const otherPage = await context.newPage();
  const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  await otherPage.goto(`${otherOrigin}/`);
  const reports = (): string[] => seen.map((h) => String(h['x-url'])).filter((u) => u.startsWith('/report'));
  for (const what of ['cookie', 'storage', 'socket', 'fetch']) {
    const deadline = Date.now() + 15_000;
    while (!reports().some((u) => u.startsWith(`/report?${what}=`))) {
      assert.ok(Date.now() < deadline, `the other page reported ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await otherPage.close();
  const everything = JSON.stringify(seen);
  assert.ok(!everything.includes(server.token), `another local server received the token: ${everything}`);
  assert.ok(reports().includes('/report?socket=refused'), 'a page of another port cannot open the API socket');

  // Valid only for the server's lifetime: a new server has a new token, the old one is refused.
  const second = await serve([], { XDG_CONFIG_HOME: join(dir, 'config2') });
  try {
    assert.notEqual(second.token, server.token);
    const status = await new Promise<number>((resolve) => {
      const ws = new NodeWebSocket(`${second.origin.replace('http', 'ws')}/api`, ['blockvault', `blockvault-token.${server.token}`]);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
  } finally {
    await second.stop();
  }
});

/** Drops every TCP connection to the server (as a network fault would), while the server runs. */
function dropConnections(port: number): Promise<void> {
  return new Promise((resolve) => execFile('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', String(port)], () => resolve()));
}

test('a dropped connection: banner, no Cancel on stale rows, automatic reconnect, jobs and versions resynchronised', { timeout: 240_000 }, async () => {
  const port = Number(new URL(server.origin).port);
  const image = join(dir, 'big.img');
  writeBlocks(image, Array.from({ length: 2048 }, (_, i) => i + 11));
  await page.getByRole('link', { name: 'Jobs' }).click();

  const ws = new NodeWebSocket(`${server.origin.replace('http', 'ws')}/api`, { headers: { Authorization: `Bearer ${server.token}` } });
  ws.on('error', () => {});
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send(JSON.stringify({ id: 1, method: 'startBackup', args: { source: image, name: 'resync-me' } }));
  const cancel = page.locator('.job-row').getByRole('button', { name: 'Cancel' });
  await cancel.first().waitFor();

  // Keep dropping the page's connections (and its reconnect attempts) until the backup ends.
  let dropping = true;
  const dropper = (async () => { while (dropping) { await dropConnections(port); await new Promise((r) => setTimeout(r, 100)); } })();
  try {
    await page.locator('.conn-banner').getByText('Disconnected from the Blockvault server').waitFor();
    assert.equal(await cancel.count(), 0, 'no Cancel on a job row that may be stale');
    await page.getByText(/State unknown while disconnected/).first().waitFor();
    await screenshot(page, 'connection-lost-1440');
    await page.setViewportSize({ width: 1024, height: 700 });
    await screenshot(page, 'connection-lost-1024');
    await page.setViewportSize({ width: 1440, height: 900 });
    const deadline = Date.now() + 180_000;
    while (!(await lsJson(repo)).some((v) => v.name === 'resync-me' && v.valid)) {
      assert.ok(Date.now() < deadline, 'the backup finished in the server');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(await page.locator('.job-progress[data-job-state="succeeded"]').count(), 0, 'the page missed the end while disconnected');
  } finally {
    dropping = false;
    await dropper;
    ws.terminate();
  }

  await page.locator('.conn-open').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('.conn-banner').count(), 0, 'the banner goes away');
  await page.getByText('resync-me').first().waitFor();
  await page.locator('.job-row').first().waitFor({ state: 'detached', timeout: 15_000 });
  await screenshot(page, 'connection-resynced-jobs');
  await page.getByRole('link', { name: 'Versions' }).click();
  await page.getByText('resync-me', { exact: true }).first().waitFor();
  await screenshot(page, 'connection-resynced-versions');
});

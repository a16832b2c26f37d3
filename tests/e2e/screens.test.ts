// End to end in Chromium (web mode), issue 12: what the GUI says is true, what admins expect
// is there, and every screen is usable at 1440x900 and 1024x700. A repository with three
// versions is made with the CLI; the browser runs in Asia/Tokyo so local time is not UTC.
// Every screen is saved at both sizes (test-output/screenshots/w1440-*, w1024-*) and checked
// with axe-core (no serious or critical violation) and for content that overflows its card.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { Repository } from '../../src-main/engine/repository';
import { VersionState } from '../../src-main/engine/meta/schema';
import { axeCheck, CLI, ensureRendererBuilt, openApp, screenshot, type Served } from './harness';

const KIB = 1024;
const BLOCK = 256 * KIB;
const BLOCKS = 64;
const SIZES = [{ width: 1440, height: 900 }, { width: 1024, height: 700 }] as const;

let dir: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const uids: { v1: string; v2: string; gone: string; spaced?: string; sparse?: string } = { v1: '', v2: '', gone: '' };
const repoPath = (): string => join(dir, 'repo');
const image1 = (): string => join(dir, 'disk-v1.raw');
const image2 = (): string => join(dir, 'disk-v2.raw');
const spacedImage = (): string => join(dir, 'my disk.img');
const seriousViolations: string[] = [];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function cli(args: string[]): string {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, `blockvault ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const lastLine = (text: string): string => text.trim().split('\n').pop()!.trim();

async function go(hash: string): Promise<void> {
  await page.goto(`${server.origin}/${hash}`);
  await page.locator('.conn-open').waitFor();
}

async function waitJob(state: 'succeeded' | 'canceled' | 'failed', timeout = 120_000): Promise<void> {
  await page.locator(`.job-progress[data-job-state="${state}"]`).first().waitFor({ timeout });
}

async function dismissNotices(): Promise<void> {
  const dismiss = page.locator('.notices').getByRole('button', { name: 'Dismiss' });
  while (await dismiss.count()) await dismiss.first().click();
}

/** Elements whose content is wider than their box inside the main area (a table out of its card). */
async function overflowing(): Promise<string[]> {
  return (await page.evaluate(`(() => {
    const bad = [];
    const content = document.querySelector('.content');
    if (content && content.scrollWidth > content.clientWidth + 1) bad.push('.content ' + content.scrollWidth + ' > ' + content.clientWidth);
    for (const el of document.querySelectorAll('.content .card, .content .filters, .content table')) {
      const style = getComputedStyle(el);
      const parent = el.parentElement;
      if (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'auto') bad.push((el.className || el.tagName) + ' ' + el.scrollWidth + ' > ' + el.clientWidth);
      if (el.tagName === 'TABLE' && parent && !parent.classList.contains('table-scroll') && el.getBoundingClientRect().right > parent.getBoundingClientRect().right + 1) bad.push('table wider than ' + (parent.className || parent.tagName));
    }
    return bad;
  })()`)) as string[];
}

/** True when no ancestor that clips (overflow other than visible) cuts the element off. */
async function notClipped(selector: string): Promise<boolean> {
  return (await page.evaluate(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    if (!el) return false;
    const box = el.getBoundingClientRect();
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const r = a.getBoundingClientRect();
      if (box.top < r.top - 1 || box.bottom > r.bottom + 1 || box.left < r.left - 1 || box.right > r.right + 1) return false;
    }
    return box.bottom <= window.innerHeight && box.right <= window.innerWidth;
  })()`)) as boolean;
}

/** Screenshot at both sizes, axe on each, and no overflowing card. `prepare` runs after each resize. */
async function everySize(name: string, prepare: () => Promise<void>): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await prepare();
    await page.waitForTimeout(150);
    await screenshot(page, `w${size.width}-${name}`);
    const serious = await axeCheck(page, `w${size.width}-${name}`);
    for (const v of serious) seriousViolations.push(`${name} at ${size.width}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).join(' | ')}`);
    assert.deepEqual(await overflowing(), [], `${name} at ${size.width}x${size.height}: nothing overflows its card`);
  }
  await page.setViewportSize(SIZES[0]);
}

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-screens-'));
  const data = randomBytes(BLOCK * BLOCKS);
  data.fill(0, 40 * BLOCK, 48 * BLOCK);
  writeFileSync(image1(), data);
  const changed = Buffer.from(data);
  for (const idx of [10, 11, 60]) randomBytes(BLOCK).copy(changed, idx * BLOCK);
  writeFileSync(image2(), changed);
  writeFileSync(spacedImage(), randomBytes(16 * BLOCK));
  cli(['init', repoPath(), '--block-size', '256K']);
  uids.v1 = lastLine(cli(['--repo', repoPath(), 'backup', image1(), 'disk', '-s', 'monday']));
  uids.v2 = lastLine(cli(['--repo', repoPath(), 'backup', image2(), 'disk', '-s', 'tuesday', '--from', uids.v1]));
  uids.gone = lastLine(cli(['--repo', repoPath(), 'backup', spacedImage(), 'gone']));
  cli(['--repo', repoPath(), 'rm', uids.gone, '--force']);
  ({ server, context, page } = await openApp(['--repo', repoPath()], { XDG_CONFIG_HOME: join(dir, 'config') }, join(dir, 'profile'), { viewport: SIZES[0], timezoneId: 'Asia/Tokyo' }));
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a path with spaces is kept as typed; the backup of "my disk.img" works', async () => {
  await go('#/backup');
  const field = page.getByLabel('Image file (raw)');
  await field.pressSequentially(spacedImage(), { delay: 2 });
  assert.equal(await field.inputValue(), spacedImage(), 'no space was trimmed while typing');
  await page.getByText('file, 4.00 MiB').waitFor();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name (the disk or VM)').fill('spaced');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Start backup' }).click();
  await waitJob('succeeded');
  uids.spaced = /version ([0-9a-f-]{36})/.exec(await page.getByTestId('backup-result').innerText())![1];
});

test('web mode: the server-side path picker lists readable files with sizes and fills the field', async () => {
  await go('#/backup');
  await page.reload();
  await page.locator('.conn-open').waitFor();
  await page.getByRole('button', { name: 'Browse…' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Image file (raw)' });
  await dialog.waitFor();
  // Without a value it starts next to the repository, which is where the images are.
  assert.equal(await dialog.getByTestId('picker-path').innerText(), dir);
  const entry = dialog.getByRole('button', { name: /^my disk\.img/ });
  assert.match(await entry.innerText(), /4\.00 MiB/);
  await everySize('12-path-picker', async () => {});
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Browse…' }).first().click();
  await dialog.getByRole('button', { name: /^repo\// }).click();
  await dialog.getByTestId('picker-path').getByText(repoPath()).waitFor();
  await dialog.getByRole('button', { name: 'Up one folder' }).click();
  await dialog.getByRole('button', { name: /^disk-v1\.raw/ }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.getByLabel('Image file (raw)').inputValue(), image1());
  await page.getByText('file, 16.0 MiB').waitFor();
});

test('times are local with their zone (the browser runs in Asia/Tokyo)', async () => {
  await go('#/versions');
  await page.locator(`tr[data-uid="${uids.v1}"]`).waitFor();
  assert.match(await page.locator('table.versions thead').innerText(), /Date \(UTC\+09:00\)/);
  const iso = (JSON.parse(cli(['--repo', repoPath(), 'ls', '--json'])) as Array<{ uid: string; date: string }>).find((v) => v.uid === uids.v1)!.date;
  const tokyo = new Date(Date.parse(iso) + 9 * 3600_000).toISOString().replace('T', ' ').slice(0, 16);
  assert.equal(await page.locator(`tr[data-uid="${uids.v1}"] td`).nth(1).innerText(), tokyo);
  await go(`#/version/${uids.v1}`);
  // The page first says "Loading version…": wait for the dates, then read them.
  await page.locator('.view').getByText(/UTC\+09:00/).first().waitFor();
  assert.match(await page.locator('.view').innerText(), /UTC\+09:00/);
});

test('notes: edited on the version, shown and searchable in Versions', async () => {
  await go(`#/version/${uids.v1}`);
  const note = page.getByLabel('Note', { exact: true });
  await note.fill('golden image before the kernel upgrade');
  await page.getByRole('button', { name: 'Save note' }).click();
  await page.locator('.notices').getByText('Note saved').waitFor();
  await go('#/versions');
  await page.locator(`tr[data-uid="${uids.v1}"] .note-line`).getByText('golden image before the kernel upgrade').waitFor();
  await page.getByLabel('Filter').fill('kernel upgrade');
  assert.deepEqual(await page.locator('tr[data-uid]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-uid'))), [uids.v1]);
  await page.getByLabel('Filter').fill('');
  const exported = join(dir, 'notes-export.jsonl');
  cli(['--repo', repoPath(), 'export', uids.v1, '-f', exported]);
  assert.match(readFileSync(exported, 'utf8'), /"note":"golden image before the kernel upgrade"/);
});

test('version detail: its chain of origin and what changed compared with its base', async () => {
  await go(`#/version/${uids.v2}`);
  const origin = page.getByRole('region', { name: 'Origin' });
  await origin.waitFor();
  const text = await origin.innerText();
  assert.match(text, /incremental/);
  assert.ok(text.includes(uids.v1.slice(0, 8)), 'the chain names the base');
  assert.equal(await page.getByTestId('changed-since-base').innerText(), `3 blocks (768.0 KiB) of 64 changed since ${uids.v1.slice(0, 8)}.`);
  assert.equal(await origin.locator('canvas[data-blocks="64"]').count(), 1, 'a map of the changes');
  await origin.scrollIntoViewIfNeeded();
  await screenshot(page, 'w1440-version-origin');
});

test('a multi-version deep scrub that finds corruption is red with the count and shows the report with problems', async () => {
  // Block 10 of the first image changed in the second: its object belongs to v1 only.
  const digest = sha256(readFileSync(image1()).subarray(10 * BLOCK, 11 * BLOCK));
  const file = join(repoPath(), 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);

  // v2 first: the old screen showed the first (clean) version's report.
  await go(`#/scrub?uids=${uids.v2},${uids.v1},${uids.spaced}`);
  await page.getByText('Deep: read, decompress and hash every object').click();
  await page.getByRole('button', { name: 'Start scrub' }).click();
  await waitJob('succeeded');
  const progress = page.locator('.job-progress');
  assert.equal(await progress.getAttribute('data-outcome'), 'bad');
  assert.match(await progress.innerText(), /problems found/);
  assert.match(await progress.innerText(), /found problems: 1 invalid block in 1 version/);
  await page.locator('.scrub-report[data-report-ok="false"]').waitFor();
  assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), uids.v1, 'the report with problems is shown');
  assert.match(await page.getByTestId('scrub-job-reports').innerText(), /1 version of 3 with problems/);
  await page.locator('.scrub-report').getByText('1 invalid block found').waitFor();

  // Jobs: the scrub is not a green "succeeded"; its link opens the report that holds the problem.
  await go('#/jobs');
  const row = page.locator('table.jobs-history tbody tr').first();
  await row.getByText('problems found').waitFor();
  assert.equal(await row.locator('[data-outcome]').getAttribute('data-outcome'), 'bad');
  assert.equal(await row.getByRole('link', { name: 'report' }).getAttribute('href'), `#/scrub?report=${uids.v1}`);
  await row.getByRole('link', { name: 'report' }).click();
  await page.locator('.scrub-report[data-report-ok="false"]').waitFor();
});

test('a scrub against the source says the blocks differ, matching its counts', async () => {
  await go(`#/scrub?uids=${uids.v2}`);
  await page.getByText('Against the source').click();
  await page.getByLabel('Source to compare with').fill(image1());
  await page.getByRole('button', { name: 'Start scrub' }).click();
  await waitJob('succeeded');
  assert.equal(await page.locator('.job-progress').getAttribute('data-outcome'), 'warn');
  const report = page.locator('.scrub-report');
  await report.getByText('3 blocks differ from the source').waitFor();
  const stat = async (label: string): Promise<string> => report.locator('.stat', { has: page.locator('.stat-label', { hasText: new RegExp(`^${label}$`) }) }).locator('.stat-value').innerText();
  assert.equal(await stat('Invalid'), '0');
  assert.equal(await stat('Differ from source'), '3');
  // The picture's OK count leaves out the 8 sparse blocks, which have their own count.
  assert.equal(await stat('Sparse'), '8');
  assert.equal(await stat('OK \\(data\\)'), String(BLOCKS - 8 - 3));
  await page.locator('.scrub-report canvas').scrollIntoViewIfNeeded();
  await screenshot(page, 'w1440-scrub-against-source');
});

test('health is derived from every version and names the ones that make it so', async () => {
  await go('#/repository');
  const health = page.getByTestId('health');
  await health.waitFor();
  assert.match(await health.getAttribute('class') ?? '', /health-error/);
  const text = await health.innerText();
  assert.ok(text.includes(uids.v1.slice(0, 8)) && /invalid/.test(text), text);
  assert.ok(!text.includes(uids.v2.slice(0, 8)), 'the clean version is not blamed');
  // No "Last scrub: no problems" beside "Health: error": verification counts every version.
  const verified = await page.locator('.stat', { hasText: 'Verified' }).innerText();
  assert.match(verified, /Verified versions\s+2 of 3\b/);
  assert.match(verified, /1 failed/);
  // What can be changed is not listed as fixed at creation.
  const fixed = await page.locator('h3', { hasText: 'Fixed at creation' }).locator('..').innerText();
  assert.doesNotMatch(fixed, /Minimum age|grace/i);
  assert.match(await page.locator('h3', { hasText: 'Adjustable' }).locator('..').innerText(), /Jobs running at once/);
  // The create form: Compression sits level with Block size.
  const blockSize = (await page.getByLabel('Block size').boundingBox())!;
  const compression = (await page.getByLabel('Compression').boundingBox())!;
  assert.ok(Math.abs(blockSize.y - compression.y) < 1, `selects level: ${blockSize.y} vs ${compression.y}`);
});

test('Settings: an empty field is an error beside it; saved values, jobs at once included, are read back', async () => {
  await go('#/settings');
  const minAge = page.getByLabel('Minimum age before a version can be deleted (days)');
  const before = await minAge.inputValue();
  await minAge.fill('');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.equal(await page.locator('#set-min-age-hint').innerText(), 'required: enter a number');
  assert.equal(await minAge.getAttribute('aria-invalid'), 'true');
  await screenshot(page, 'w1440-settings-error');
  const concurrent = page.getByLabel('Jobs running at once');
  await concurrent.fill('9');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.equal(await page.locator('#set-concurrent-hint').innerText(), 'must be at most 8');
  await page.reload();
  await page.locator('.conn-open').waitFor();
  assert.equal(await minAge.inputValue(), before, 'nothing was saved');
  await concurrent.fill('3');
  await minAge.fill('2');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.notices').getByText(/Settings saved/).waitFor();
  await page.reload();
  await page.locator('.conn-open').waitFor();
  assert.equal(await concurrent.inputValue(), '3', 'jobs at once is read back');
  assert.equal(await minAge.inputValue(), '2');
  await page.getByLabel('Cleanup grace period (seconds)').fill('60');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.notices').getByText(/Settings saved/).last().waitFor();
  await page.reload();
  await page.locator('.conn-open').waitFor();
  assert.equal(await concurrent.inputValue(), '3', 'a later save does not reset it to 2');
});

test('Statistics: the store chart ends at what is stored; deleted versions are not links; axis labels are distinct', async () => {
  await go('#/repository');
  const stored = await page.locator('.stat', { hasText: 'Stored' }).locator('.stat-value').innerText();
  await go('#/statistics');
  await page.locator('figure.chart svg circle').first().waitFor();
  assert.match(await page.locator('figure.chart figcaption').nth(1).innerText(), new RegExp(`now ${stored.replace('.', '\\.')}`));
  const gone = page.locator('tr', { hasText: uids.gone.slice(0, 8) });
  await gone.getByText('(deleted)').waitFor();
  assert.equal(await gone.locator('a').count(), 0, 'no link to a deleted version');
  for (const figure of await page.locator('figure.chart').all()) {
    const labels = await figure.locator('g.axis > text').allTextContents();
    assert.equal(new Set(labels).size, labels.length, `distinct axis labels: ${labels.join(', ')}`);
  }
});

test('Cleanup: a full cleanup asks first and says what it locks (Escape cancels, Enter runs); the progress reads true', async () => {
  await go('#/cleanup');
  await page.getByRole('button', { name: 'Full cleanup…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Run a full cleanup?' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /exclusive lock on the whole repository/);
  await everySize('cleanup-confirm', async () => {});
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('.job-progress').count(), 0, 'Escape started nothing');
  await page.getByRole('button', { name: 'Full cleanup…' }).click();
  await dialog.waitFor();
  await page.keyboard.press('Enter');
  await waitJob('succeeded');
  const text = await page.getByRole('region', { name: 'Cleanup' }).innerText();
  assert.doesNotMatch(text, /of 0 B/);
  assert.doesNotMatch(text, /\b1 objects\b|\b1 problems\b/);
  assert.match(text, /Deleted \d[\d,]* objects? and freed/);
});

test('block maps: lone data blocks of a 256 GiB mostly sparse disk stay visible; the tooltip of a short map is not cut off', async () => {
  const repo = Repository.open(repoPath());
  const uid = '00000000-0000-4000-8000-000000000256';
  const count = (256 * 1024 * 1024 * KIB) / BLOCK;
  const lone = [5, 1000, 99_999, 300_000, 500_001, 777_777, 900_000, count - 1];
  try {
    const object = (repo.meta.sql('SELECT id FROM objects ORDER BY id LIMIT 1').get() as { id: number }).id;
    const id = repo.meta.createVersion({ uid, name: 'huge-sparse', snapshot: '', date: Date.now(), size: count * BLOCK, blockSize: BLOCK, baseUid: null, source: 'generated', state: VersionState.valid });
    const data = new Set(lone);
    const rows: Array<[number, number | null]> = [];
    for (let idx = 0; idx < count; idx++) rows.push([idx, data.has(idx) ? object : null]);
    repo.meta.insertBlocks(id, rows);
  } finally {
    repo.close();
  }
  uids.sparse = uid;
  await go(`#/version/${uid}`);
  const map = page.locator(`canvas[data-blocks="${count}"]`);
  await map.waitFor({ timeout: 60_000 });
  await page.waitForFunction(`document.querySelector('canvas[data-blocks="${count}"]').dataset.markers !== undefined`);
  const overview = page.locator('canvas.blockmap-overview');
  await overview.waitFor();
  assert.equal(await overview.getAttribute('data-markers'), String(lone.length), 'every lone data block is marked in the overview');
  assert.ok(Number(await map.getAttribute('data-markers')) >= 2, 'the lone blocks in view are marked on the map too');
  await map.scrollIntoViewIfNeeded();
  await screenshot(page, 'w1440-block-map-256g-sparse');

  // v1's map of 64 blocks is two rows high: point at the first block of its last row.
  await go(`#/version/${uids.v1}`);
  const small = page.locator('canvas[data-blocks]').first();
  await small.waitFor();
  await page.evaluate(`document.querySelector('canvas[data-blocks]').scrollIntoView({ block: 'center' })`);
  // Point again until the tip shows: on a busy machine the page may still scroll or lay out
  // after the first move, and a pointer that did not move over the canvas shows nothing.
  for (let tries = 0; ; tries++) {
    const box = (await small.boundingBox())!;
    await page.mouse.move(box.x + 4 + (tries % 2), box.y + box.height - 4);
    try {
      await page.locator('.blockmap-tip').waitFor({ timeout: 3000 });
      break;
    } catch (error) {
      if (tries >= 9) throw error;
    }
  }
  // the tip is placed on the next frame after the pointer moves: give a busy machine 3 s
  let whole = false;
  for (let tries = 0; tries < 30 && !whole; tries++) {
    whole = await notClipped('.blockmap-tip');
    if (!whole) await page.waitForTimeout(100);
  }
  assert.ok(whole, 'the tooltip is whole');
  await screenshot(page, 'w1440-block-map-tooltip');
});

test('keyboard: a skip link, then the screens, focus rings on every control', async () => {
  await go('#/versions');
  await page.reload();
  await page.locator('tr[data-uid]').first().waitFor();
  await page.keyboard.press('Tab');
  const first = await page.evaluate('document.activeElement.textContent');
  assert.equal(first, 'Skip to content');
  const rings: string[] = [];
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    const ring = (await page.evaluate(`(() => { const e = document.activeElement; const s = getComputedStyle(e); return e.tagName + '|' + (e.textContent || e.getAttribute('aria-label') || '').slice(0, 30) + '|' + s.outlineStyle + '|' + s.outlineWidth; })()`)) as string;
    rings.push(ring);
  }
  const without = rings.filter((r) => r.split('|')[2] === 'none' || r.split('|')[3] === '0px');
  assert.deepEqual(without, [], 'every focused control shows a ring');
});

test('every screen at 1440x900 and 1024x700: screenshots, axe-core, nothing overflows', async () => {
  await dismissNotices();
  const screens: Array<[string, string, () => Promise<void>]> = [
    ['01-repository', '#/repository', async () => { await page.getByTestId('health').waitFor(); }],
    ['02-versions', '#/versions', async () => { await page.locator('tr[data-uid]').first().waitFor(); await page.locator('td .badge', { hasText: 'ok' }).first().waitFor(); }],
    ['03-version-detail', `#/version/${uids.v2}`, async () => { await page.locator('canvas[data-blocks]').first().waitFor(); }],
    ['04-backup', '#/backup', async () => { await page.getByLabel('Image file (raw)').waitFor(); }],
    ['05-restore', `#/restore/${uids.v2}`, async () => { await page.getByRole('radio', { name: 'New file', exact: true }).waitFor(); }],
    ['06-scrub', `#/scrub?report=${uids.v1}`, async () => { await page.locator('.scrub-report').waitFor(); }],
    ['07-jobs', '#/jobs', async () => { await page.locator('table.jobs-history tbody tr').first().waitFor(); }],
    ['08-cleanup', '#/cleanup', async () => { await page.getByText('Reclaimable now').waitFor(); }],
    ['09-statistics', '#/statistics', async () => { await page.locator('figure.chart svg circle').first().waitFor(); }],
    ['10-settings', '#/settings', async () => { await page.getByLabel('Jobs running at once').waitFor(); }],
  ];
  for (const [name, hash, ready] of screens) {
    await everySize(name, async () => {
      await go(hash);
      await ready();
    });
  }
  // The job detail with its log and the download button.
  await everySize('11-job-detail', async () => {
    await go('#/jobs');
    await page.locator('table.jobs-history tbody tr a').first().click();
    await page.getByLabel('Job log').waitFor();
  });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download log' }).click()]);
  const saved = join(dir, 'job.log');
  await download.saveAs(saved);
  assert.match(readFileSync(saved, 'utf8'), /UTC\+09:00 info/);
  // The Versions filter keeps a usable width at 1024.
  await page.setViewportSize(SIZES[1]);
  await go('#/versions');
  assert.ok((await page.getByLabel('Filter').boundingBox())!.width >= 180, 'the filter box is wide enough');
  await page.setViewportSize(SIZES[0]);
  assert.deepEqual(seriousViolations, [], 'axe-core: no serious or critical violation');
});

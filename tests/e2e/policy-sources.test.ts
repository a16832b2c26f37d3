// End to end in Chromium: the Policies screen offers each change source only for the source
// kinds it applies to (RBD snapshots for rbd:POOL/IMAGE, a dirty bitmap for qcow2/NBD, a
// hints command for any), refuses what the CLI refuses with the same messages (no save while
// a field is wrong), and saves what the CLI then lists (`policy ls --json`). Screenshots.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { PolicyInfo } from '../../src-shared/api/policy';
import { CLI, ensureRendererBuilt, openApp, screenshot, type Served } from './harness';

let dir: string;
let server: Served;
let context: BrowserContext;
let page: Page;
const repo = (): string => join(dir, 'repo');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

const stored = (): PolicyInfo[] => JSON.parse(cli(['--repo', repo(), 'policy', 'ls', '--json']).stdout) as PolicyInfo[];

before(async () => {
  ensureRendererBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bv-e2e-policy-sources-'));
  assert.equal(cli(['init', repo(), '--block-size', '64K']).status, 0);
  ({ server, context, page } = await openApp(['--repo', repo()], { XDG_CONFIG_HOME: join(dir, 'config') }, join(dir, 'profile')));
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function newPolicy(name: string, source: string): Promise<void> {
  await page.goto(`${server.origin}/#/policies`);
  await page.locator('.conn-open').waitFor();
  await page.getByRole('button', { name: 'New policy' }).click();
  await page.getByLabel('Name (the disk)').fill(name);
  await page.getByLabel('Source').fill(source);
}

const addButton = () => page.getByRole('button', { name: 'Add policy' });

test('an RBD source offers snapshot management (and no bitmap); an RBD snapshot as source is refused as the CLI refuses it', async () => {
  await newPolicy('vm1', 'rbd:rbd/vm1@daily');
  const snapshots = page.getByRole('checkbox', { name: 'Manage RBD snapshots' });
  await snapshots.waitFor();
  assert.equal(await page.getByLabel('dirty bitmap').count(), 0, 'no bitmap field for an RBD image');
  await snapshots.check();
  const refusal = page.getByRole('alert').filter({ hasText: 'without @SNAP' });
  await refusal.waitFor();
  assert.equal(await addButton().isDisabled(), true);
  await screenshot(page, 'policy-rbd-refused');
  // The CLI says the same.
  const viaCli = cli(['--repo', repo(), 'policy', 'add', 'vm1', '--source', 'rbd:rbd/vm1@daily', '--rbd-snapshots']);
  assert.notEqual(viaCli.status, 0);
  assert.match(viaCli.stderr, /without @SNAP/);

  await page.getByLabel('Source').fill('rbd:rbd/vm1?conf=/etc/ceph/ceph.conf');
  await refusal.waitFor({ state: 'detached' });
  await page.getByLabel('hints command').waitFor();
  await screenshot(page, 'policy-rbd');
  await addButton().click();
  await page.locator('table.table td.mono', { hasText: 'vm1' }).waitFor();
  const [vm1] = stored();
  assert.equal(vm1.source, 'rbd:rbd/vm1?conf=/etc/ceph/ceph.conf');
  assert.equal(vm1.rbdSnapshots, true);
  assert.equal(vm1.bitmap, undefined);
});

test('a qcow2 source offers a dirty bitmap (and no RBD snapshots); a bad bitmap name is refused; a hints command beside it is two change sources', async () => {
  await newPolicy('web', 'qcow2:/var/lib/libvirt/images/web.qcow2');
  const bitmap = page.getByLabel('dirty bitmap');
  await bitmap.waitFor();
  assert.equal(await page.getByRole('checkbox', { name: 'Manage RBD snapshots' }).count(), 0, 'no RBD snapshots for a qcow2');
  await bitmap.fill('not a name!');
  await page.getByRole('alert').filter({ hasText: 'must be a bitmap name' }).waitFor();
  assert.equal(await addButton().isDisabled(), true);
  await bitmap.fill('nightly');
  await page.getByLabel('hints command').fill('cat /tmp/changes.json');
  await page.getByRole('alert').filter({ hasText: 'two change sources' }).waitFor();
  await screenshot(page, 'policy-qcow2-two-sources');
  await page.getByLabel('hints command').fill('');
  await page.getByRole('alert').waitFor({ state: 'detached' });
  await screenshot(page, 'policy-qcow2-bitmap');
  await addButton().click();
  await page.locator('table.table td.mono', { hasText: 'web' }).waitFor();
  const web = stored().find((p) => p.name === 'web')!;
  assert.equal(web.bitmap, 'nightly');
  assert.equal(web.hintsCommand, undefined);
  assert.equal(web.rbdSnapshots, undefined);
});

test('a block device offers a hints command only (a path named like a qcow2 file also a bitmap)', async () => {
  await newPolicy('db', '/dev/vg0/db');
  await page.getByLabel('hints command').fill('ssh ceph1 rbd diff --from-snap "$BLOCKVAULT_BASE_SNAPSHOT" --format=json rbd/db');
  assert.equal(await page.getByLabel('dirty bitmap').count(), 0, 'no bitmap for a device');
  assert.equal(await page.getByRole('checkbox', { name: 'Manage RBD snapshots' }).count(), 0);
  await page.getByLabel('Name (the disk)').fill('');
  await page.getByText('To save: name must not be empty').waitFor();
  assert.equal(await addButton().isDisabled(), true);
  await screenshot(page, 'policy-device-hints');
  await page.getByLabel('Name (the disk)').fill('db');
  await page.getByLabel('Source').fill('/var/lib/vm/db.qcow2');
  await page.getByLabel('dirty bitmap').waitFor();
  await page.getByLabel('Source').fill('/dev/vg0/db');
  await addButton().click();
  await page.locator('table.table td.mono', { hasText: 'db' }).waitFor();
  const db = stored().find((p) => p.name === 'db')!;
  assert.equal(db.hintsCommand, 'ssh ceph1 rbd diff --from-snap "$BLOCKVAULT_BASE_SNAPSHOT" --format=json rbd/db');
  assert.match(cli(['--repo', repo(), 'policy', 'ls']).stdout, /\/dev\/vg0\/db \(hints command\)/);
});

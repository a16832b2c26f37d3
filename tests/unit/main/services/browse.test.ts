// The web mode's path picker: one folder, only what the server's user can read, sizes,
// folders first; block devices named by /dev/disk/by-id; bad paths refused at the boundary.
import assert from 'node:assert/strict';
import { accessSync, chmodSync, constants, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { BrowseListing } from '../../../../src-shared/api/types';
import { createServices } from '../../../../src-main/services';
import { devicesById, listFolder } from '../../../../src-main/services/browse';
import { tempDir } from '../../fixtures';
import { caller } from './caller';

const dir = tempDir();
const services = createServices({ mode: 'web', configDir: join(dir, 'config') });
after(() => services.close());
const { call, refusedWith } = caller(() => services);

test('lists a folder with sizes, folders first, leaving out what the user cannot read', async () => {
  const root = join(dir, 'tree');
  mkdirSync(join(root, 'zeta folder'), { recursive: true });
  writeFileSync(join(root, 'my disk.img'), Buffer.alloc(12_345));
  writeFileSync(join(root, 'a.raw'), Buffer.alloc(7));
  writeFileSync(join(root, 'secret.raw'), Buffer.alloc(3));
  chmodSync(join(root, 'secret.raw'), 0o000);
  let secretReadable = true;
  try {
    accessSync(join(root, 'secret.raw'), constants.R_OK);
  } catch {
    secretReadable = false;
  }
  const listing = await call<BrowseListing>('browsePath', { path: root, purpose: 'source' });
  assert.equal(listing.path, root);
  assert.equal(listing.parent, dir);
  const names = listing.entries.map((e) => e.name);
  assert.deepEqual(names, secretReadable ? ['zeta folder', 'a.raw', 'my disk.img', 'secret.raw'] : ['zeta folder', 'a.raw', 'my disk.img'], 'readable entries only, folders first');
  assert.equal(listing.hidden, secretReadable ? 0 : 1);
  assert.deepEqual(listing.entries.find((e) => e.name === 'my disk.img'), { name: 'my disk.img', path: join(root, 'my disk.img'), kind: 'file', size: 12_345, byId: [] });
  assert.equal(listing.entries[0].kind, 'directory');
  assert.equal((await call<BrowseListing>('browsePath', { path: '/', purpose: 'source' })).parent, null);
});

test('block devices carry their /dev/disk/by-id names', () => {
  const byId = join(dir, 'by-id');
  mkdirSync(byId);
  const device = join(dir, 'sda');
  writeFileSync(device, '');
  symlinkSync(device, join(byId, 'ata-Samsung_SSD_870-S5Y1'));
  symlinkSync(device, join(byId, 'wwn-0x5002538f'));
  symlinkSync(join(dir, 'gone'), join(byId, 'dangling'));
  assert.deepEqual(devicesById(byId).get(device), ['ata-Samsung_SSD_870-S5Y1', 'wwn-0x5002538f']);
  assert.equal(devicesById(join(dir, 'none')).size, 0);
  assert.ok(Array.isArray(listFolder(dir, { byIdRoot: byId }).devices));
});

test('bad arguments are refused and change nothing', async () => {
  await refusedWith('INVALID_ARGUMENT', 'browsePath', { path: 'relative', purpose: 'source' });
  await refusedWith('INVALID_ARGUMENT', 'browsePath', { path: `${dir}/../etc`, purpose: 'source' });
  await refusedWith('INVALID_ARGUMENT', 'browsePath', { path: dir, purpose: 'anything' });
  await refusedWith('INVALID_ARGUMENT', 'browsePath', { path: dir, purpose: 'source', extra: 1 });
  await refusedWith('NOT_FOUND', 'browsePath', { path: join(dir, 'missing'), purpose: 'source' });
  await refusedWith('INVALID_ARGUMENT', 'browsePath', { path: join(dir, 'tree', 'a.raw'), purpose: 'source' });
});

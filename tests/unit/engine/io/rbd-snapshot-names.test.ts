// Names of the RBD snapshots policies make: each policy recognises its own (and the names
// releases before per-policy names made), never another policy's or an admin's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isManagedRbdSnapshot, isPolicyRbdSnapshot, managedRbdSnapshotName, rbdSnapshotTag } from '../../../../src-main/engine/io/rbd-snapshots';

const AT = Date.parse('2025-12-01T02:00:00.123Z');

test('a policy names its snapshots after itself and the UTC time', () => {
  assert.equal(managedRbdSnapshotName('vm2', AT), 'blockvault-vm2-20251201T020000Z');
  assert.equal(managedRbdSnapshotName('web-1.prod', AT), 'blockvault-web-1.prod-20251201T020000Z');
  assert.match(managedRbdSnapshotName('db @ site/2', AT), /^blockvault-db_site_2_[0-9a-f]{8}-20251201T020000Z$/);
  assert.notEqual(rbdSnapshotTag('db @ site/2'), rbdSnapshotTag('db_site_2'), 'names that differ keep different tags');
  assert.ok(rbdSnapshotTag('x'.repeat(300)).length <= 57);
});

test('each policy recognises only its own snapshots (and the names of older releases)', () => {
  const vm = managedRbdSnapshotName('vm', AT);
  const vmDaily = managedRbdSnapshotName('vm-daily', AT);
  assert.ok(isPolicyRbdSnapshot(vm, 'vm'));
  assert.ok(!isPolicyRbdSnapshot(vmDaily, 'vm'), "vm does not take vm-daily's");
  assert.ok(!isPolicyRbdSnapshot(vm, 'vm-daily'));
  assert.ok(isPolicyRbdSnapshot('blockvault-20251201T020000Z', 'vm'), 'a name from before per-policy names');
  assert.ok(!isPolicyRbdSnapshot('blockvault-vmx-20251201T020000Z', 'vm'));
  assert.ok(!isPolicyRbdSnapshot('admin-keep', 'vm'));
  assert.ok(!isPolicyRbdSnapshot('blockvault-vm-20251201T020000Z-copy', 'vm'));
  for (const name of [vm, vmDaily, 'blockvault-20251201T020000Z']) assert.ok(isManagedRbdSnapshot(name), name);
  for (const name of ['admin-keep', 'blockvault-', 'blockvault-vm', 'blockvault-vm-2025']) assert.ok(!isManagedRbdSnapshot(name), name);
});

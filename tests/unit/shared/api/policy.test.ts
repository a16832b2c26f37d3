// The change source of a backup policy against its source's kind, as the CLI, the services
// and the Policies screen all check it (one schema): which combinations pass and which are
// refused, with the message each refusal gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeSourceProblem, policySchema, policySourceKind, type Policy } from '../../../../src-shared/api/policy';

const backup = (extra: Partial<Policy>): Policy => ({ name: 'disk', kind: 'backup', enabled: true, schedule: null, source: '/dev/vg0/disk', ...extra });

test('source kinds', () => {
  assert.equal(policySourceKind('rbd:rbd/vm1'), 'rbd');
  assert.equal(policySourceKind('rbd:rbd/vm1?conf=/etc/ceph/ceph.conf&id=backup'), 'rbd');
  assert.equal(policySourceKind('rbd:rbd/vm1@daily?conf=/etc/ceph/ceph.conf'), 'rbd-snapshot');
  assert.equal(policySourceKind('qcow2:/vm/a.qcow2'), 'qcow2');
  assert.equal(policySourceKind('nbd://host:10809/export'), 'nbd');
  assert.equal(policySourceKind('nbd+unix:///export?socket=/run/s'), 'nbd');
  assert.equal(policySourceKind('/dev/sda'), 'path');
  assert.equal(policySourceKind(undefined), 'other');
});

test('change sources accepted for the kinds they apply to', () => {
  for (const policy of [
    backup({ source: 'rbd:rbd/vm1?conf=/etc/ceph/ceph.conf', rbdSnapshots: true }),
    backup({ source: 'qcow2:/vm/a.qcow2', bitmap: 'nightly' }),
    backup({ source: 'nbd://host/export', bitmap: 'b-1.x' }),
    backup({ source: '/vm/a.qcow2', bitmap: 'nightly' }),
    backup({ hintsCommand: 'cat /tmp/h.json' }),
    backup({ source: 'rbd:rbd/vm1', hintsCommand: 'rbd diff ...' }),
    backup({ source: 'rbd:rbd/vm1@daily' }),
  ]) {
    assert.equal(changeSourceProblem(policy), null, JSON.stringify(policy));
    assert.equal(policySchema.safeParse(policy).success, true, JSON.stringify(policy));
  }
});

test('change sources refused where they do not apply, with the field and why', () => {
  const cases: Array<[Partial<Policy>, string, RegExp]> = [
    [{ source: 'rbd:rbd/vm1', bitmap: 'b' }, 'bitmap', /let the policy manage snapshots/],
    [{ source: 'rbd:rbd/vm1@s1', rbdSnapshots: true }, 'rbdSnapshots', /without @SNAP/],
    [{ source: '/dev/sda', rbdSnapshots: true }, 'rbdSnapshots', /need an RBD source/],
    [{ source: 'rbd:rbd/vm1', rbdSnapshots: true, snapshot: 'daily' }, 'rbdSnapshots', /drop the snapshot name/],
    [{ source: 'qcow2:/a.qcow2', bitmap: 'b', hintsCommand: 'x' }, 'hintsCommand', /two change sources/],
    [{ source: 'rbd:rbd/vm1', rbdSnapshots: true, hintsCommand: 'x' }, 'hintsCommand', /two change sources/],
    [{ incremental: false, hintsCommand: 'x' }, 'hintsCommand', /always backs up in full/],
  ];
  for (const [extra, field, message] of cases) {
    const policy = backup(extra);
    const problem = changeSourceProblem(policy);
    assert.equal(problem?.field, field, JSON.stringify(extra));
    assert.match(problem!.message, message);
    const parsed = policySchema.safeParse(policy);
    assert.equal(parsed.success, false);
    assert.equal(parsed.error!.issues[0].path[0], field);
  }
  const verify = policySchema.safeParse({ name: 'v', kind: 'verify', enabled: true, schedule: null, rbdSnapshots: true });
  assert.equal(verify.success, false);
  assert.match(verify.error!.issues[0].message, /belong to backup policies/);
});

// Backups of VM disks end to end (engine level, real qemu-nbd): a qcow2 written with qemu-io at
// known offsets is backed up in full (its guest disk, holes recorded sparse unread), written
// again, and backed up incrementally from its persistent dirty bitmap: only the dirty extents
// are read (asserted from the backup's stats); every version restores identical into a new
// qcow2, a raw file and a writable NBD export (qemu-img compare). A path with qcow2 content is
// the guest disk unless --raw.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../src-main/engine/errors';
import { openQcow2Source, qcow2Bitmaps } from '../../src-main/engine/io/qcow2';
import { backup } from '../../src-main/engine/pipeline/backup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { Repository } from '../../src-main/engine/repository';
import { sha256File, tempDir } from '../helpers';
import { qemuNbd, run } from '../nbd-helpers';

const KiB = 1024;
const MiB = 1024 * KiB;
const BS = 64 * KiB;

function qemuIo(image: string, commands: string[]): void {
  run('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), image]);
}

function identical(a: string, aFormat: string, b: string, bFormat: string): void {
  assert.match(run('qemu-img', ['compare', '-f', aFormat, '-F', bFormat, a, b]), /Images are identical/);
}

test('qcow2: full backup, bitmap incremental reads only the dirty extents, restores compare identical', { timeout: 300000 }, async () => {
  const dir = tempDir();
  const repo = Repository.init(join(dir, 'repo'), { blockSize: BS });
  try {
    const image = join(dir, 'vm.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
    qemuIo(image, ['write -P 0x11 0 1M', 'write -P 0x22 10M 3M', 'write -P 0x33 40M 512k', 'write -P 0x44 63M 1M']);

    const full = await backup(repo, { source: `qcow2:${image}`, name: 'vm', bitmap: 'b0', rotateBitmap: true });
    // holes of the guest disk are sparse without being read: 5.5 MiB of data in 64 MiB
    assert.equal(full.stats.bytesRead, 5.5 * MiB);
    assert.equal(full.stats.blocksSparse, (64 * MiB - 5.5 * MiB) / BS);
    assert.deepEqual(qcow2Bitmaps(image), ['b0']);
    const snapshot1 = join(dir, 'vm1.qcow2');
    run('qemu-img', ['convert', '-O', 'qcow2', image, snapshot1]);

    // more writes: 4 KiB at 5 MiB + 100 (one 64 KiB granule), 200 KiB at 10 MiB + 32 KiB
    // (granules 160..163: 4 of them), 64 KiB of zeros at 40 MiB (one, which base:allocation
    // calls zero: recorded sparse without being read)
    qemuIo(image, ['write -P 0x55 5242980 4k', 'write -P 0x66 10518528 200k', 'write -z 40M 64k']);
    const dirtyBlocks = 1 + 4 + 1;
    const incremental = await backup(repo, { source: image, name: 'vm', from: full.uid, bitmap: 'b0', rotateBitmap: true, hintSamples: 0 });
    assert.equal(incremental.stats.bytesRead, (dirtyBlocks - 1) * BS, 'the incremental reads exactly the dirty blocks that hold data');
    assert.equal(incremental.stats.blocksFromBase, 64 * MiB / BS - dirtyBlocks);

    // the bitmap was started afresh: a third backup from it reads nothing
    const third = await backup(repo, { source: `qcow2:${image}`, name: 'vm', from: incremental.uid, bitmap: 'b0', hintSamples: 0 });
    assert.equal(third.stats.bytesRead, 0);

    // restores: into a new qcow2, a raw file, and a writable NBD export
    const restored1 = join(dir, 'r1.qcow2');
    await restore(repo, { uid: full.uid, target: `qcow2:${restored1}` });
    identical(snapshot1, 'qcow2', restored1, 'qcow2');
    const restored2 = join(dir, 'r2.qcow2');
    await restore(repo, { uid: incremental.uid, target: `qcow2:${restored2}` });
    identical(image, 'qcow2', restored2, 'qcow2');
    const raw = join(dir, 'r2.raw');
    await restore(repo, { uid: third.uid, target: raw });
    identical(raw, 'raw', image, 'qcow2');
    const exportFile = join(dir, 'export.raw');
    run('qemu-img', ['create', '-q', '-f', 'raw', exportFile, '80M']);
    const server = await qemuNbd(exportFile, 'raw');
    await restore(repo, { uid: incremental.uid, target: server.url });
    await server.stop();
    run('qemu-img', ['resize', '-q', '-f', 'raw', '--shrink', exportFile, '64M']);
    assert.equal(await sha256File(exportFile), await sha256File(raw));

    await assert.rejects(restore(repo, { uid: full.uid, target: `qcow2:${restored1}` }), (error: EngineError) => error.code === 'TARGET_EXISTS');
    const smallFile = join(dir, 'small.raw');
    run('qemu-img', ['create', '-q', '-f', 'raw', smallFile, '32M']);
    const small = await qemuNbd(smallFile, 'raw');
    await assert.rejects(restore(repo, { uid: full.uid, target: small.url }), (error: EngineError) => error.code === 'TARGET_TOO_SMALL');
    await small.stop();
  } finally {
    repo.close();
  }
});

test('qcow2 given as a path: the guest disk unless --raw; a missing bitmap or --from-snap is refused', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = Repository.init(join(dir, 'repo'), { blockSize: BS });
  try {
    const image = join(dir, 'disk.img');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '8M']);
    qemuIo(image, ['write -P 0x77 1M 128k']);
    const guest = await backup(repo, { source: image, name: 'guest' });
    const container = await backup(repo, { source: image, name: 'container', raw: true });
    // The guest disk is read through our read-only qemu-nbd, which holds the image's lock: no
    // QEMU process can write it meanwhile, so no block is read again at the end. The container
    // file is a plain file: it is sampled.
    assert.equal(guest.sourceCheck?.sampled, 0);
    assert.match(guest.sourceCheck?.skipped ?? '', /held locked by Blockvault's read-only qemu-nbd/);
    assert.ok((container.sourceCheck?.sampled ?? 0) > 0 && container.sourceCheck?.skipped === null, 'a plain file is read again at the end');
    const source = await openQcow2Source(image);
    try {
      const writer = spawnSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x78 0 4k', image], { encoding: 'utf8' });
      assert.notEqual(writer.status, 0, 'qemu-io cannot write the image while the source is open');
      assert.match(writer.stderr, /lock/);
    } finally {
      await source.close();
    }
    const out = join(dir, 'guest.raw');
    await restore(repo, { uid: guest.uid, target: out });
    identical(out, 'raw', image, 'qcow2');
    const file = join(dir, 'container.img');
    await restore(repo, { uid: container.uid, target: file });
    assert.equal(await sha256File(file), await sha256File(image));
    await assert.rejects(backup(repo, { source: image, name: 'x', from: guest.uid, bitmap: 'nope' }), (error: EngineError) => error.code === 'NOT_FOUND' && /no persistent bitmap named nope/.test(error.message));
    await assert.rejects(backup(repo, { source: image, name: 'x', from: guest.uid, fromSnap: 's0' }), (error: EngineError) => error.code === 'INVALID_ARGUMENT');
    await assert.rejects(backup(repo, { source: out, name: 'x', from: guest.uid, bitmap: 'b0' }), (error: EngineError) => error.code === 'INVALID_ARGUMENT' && /raw file/.test(error.message));
  } finally {
    repo.close();
  }
});

test('RBD: two snapshots, a --from-snap incremental reads only what rbd diff lists; restore into a new image equals rbd export', { timeout: 300000 }, async () => {
  run('tests/ceph/micro-ceph.sh', ['start']);
  const conf = '/tmp/ceph/cluster/ceph.conf';
  const rbdCli = (...args: string[]) => run('rbd', ['--conf', conf, ...args]);
  const name = `bv-vm-${randomBytes(4).toString('hex')}`;
  const images = [name, `${name}-restored`];
  const spec = (image: string) => `rbd:rbd/${image}?conf=${conf}`;
  const rbdDisk = (image: string) => `json:${JSON.stringify({ driver: 'raw', file: { driver: 'rbd', pool: 'rbd', image, conf } })}`;
  const dir = tempDir();
  const repo = Repository.init(join(dir, 'repo'), { blockSize: BS });
  try {
    rbdCli('create', '--size', '32M', `rbd/${name}`);
    run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x51 0 1M', '-c', 'write -P 0x52 12M 2M', rbdDisk(name)]);
    rbdCli('snap', 'create', `rbd/${name}@s1`);
    run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x53 16M 64k', '-c', 'write -P 0x54 20M 200k', rbdDisk(name)]);
    rbdCli('snap', 'create', `rbd/${name}@s2`);
    run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x55 0 32M', rbdDisk(name)]);

    const full = await backup(repo, { source: spec(`${name}@s1`), name });
    // a first backup reads what `rbd diff` lists (1 MiB + 2 MiB) and samples 10 of the other
    // blocks of the two RADOS objects that exist; qemu's rbd driver calls the others holes
    assert.equal(full.stats.bytesRead, 3 * MiB + 10 * BS, 'only the extents rbd diff lists, and the samples');
    const listed = JSON.parse(rbdCli('diff', '--from-snap', 's1', `rbd/${name}@s2`, '--format=json')) as Array<{ offset: number; length: number }>;
    const touched = new Set<number>();
    for (const e of listed) for (let idx = Math.floor(e.offset / BS); idx * BS < e.offset + e.length; idx++) touched.add(idx);
    const incremental = await backup(repo, { source: spec(`${name}@s2`), name, from: full.uid, fromSnap: 's1', hintSamples: 0 });
    assert.equal(incremental.stats.bytesRead, touched.size * BS, `reads the ${touched.size} blocks rbd diff lists`);
    assert.ok(incremental.stats.bytesRead < 1 * MiB, `${incremental.stats.bytesRead} bytes read`);

    await restore(repo, { uid: incremental.uid, target: spec(`${name}-restored`) });
    const a = join(dir, 's2.raw');
    const b = join(dir, 'restored.raw');
    rbdCli('export', '--no-progress', `rbd/${name}@s2`, a);
    rbdCli('export', '--no-progress', `rbd/${name}-restored`, b);
    assert.equal(await sha256File(b), await sha256File(a));
    await assert.rejects(restore(repo, { uid: incremental.uid, target: spec(`${name}-restored`) }), (error: EngineError) => error.code === 'TARGET_EXISTS');
    await assert.rejects(backup(repo, { source: spec(`${name}@s2`), name, from: full.uid, fromSnap: 'nope' }), (error: EngineError) => error.code === 'NOT_FOUND' || error.code === 'IO_ERROR');
  } finally {
    repo.close();
    for (const image of images) {
      spawnSync('rbd', ['--conf', conf, 'snap', 'purge', `rbd/${image}`]);
      spawnSync('rbd', ['--conf', conf, 'rm', '--no-progress', `rbd/${image}`]);
    }
  }
});

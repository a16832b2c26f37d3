// Hints on a first backup (no --from) mark which blocks hold data: only those are read, every
// other block is recorded sparse unread after a few of them are sampled to be zeros (a
// sampled block holding data fails with HINTS_MISMATCH and no version). A first backup of an
// RBD snapshot does the same with what `rbd diff POOL/IMAGE@SNAP` lists, on a real Ceph: the
// bytes read are the listed extents (block-aligned) plus the samples.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BS, backupCli, cli, initRepo, lsJson, ok, query, repoState, restoreEquals, seededBytes, sha256File, tempDir, writeImage } from '../helpers';
import { run } from '../nbd-helpers';

interface Stats { bytes_read: number; blocks_read: number; blocks_sparse: number; blocks_from_base: number }

function statsOf(repo: string, uid: string): Stats {
  return query<Stats>(repo, 'SELECT bytes_read, blocks_read, blocks_sparse, blocks_from_base FROM stats WHERE version_uid = ?', uid)[0]!;
}

test('a hints file on a first backup: only the hinted blocks are read, the rest is sparse after 10 sampled zeros; hints that leave out data fail', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  // data in blocks 2-3 and at the start of block 9, of 16 blocks
  const size = 16 * BS;
  writeImage(image, size, [{ offset: 2 * BS + 100, data: seededBytes(51, BS) }, { offset: 9 * BS, data: seededBytes(52, 10) }]);
  const hints = join(dir, 'hints.json');
  writeFileSync(hints, JSON.stringify([
    { offset: 2 * BS + 100, length: BS, exists: true }, // blocks 2 and 3
    { offset: 9 * BS, length: 10, exists: 'true' }, // block 9
    { offset: 5 * BS, length: BS, exists: false }, // a discarded extent holds no data: not read
  ]));
  const uid = await backupCli(repo, image, 'disk', ['--hints', hints]);
  const stats = statsOf(repo, uid);
  assert.equal(stats.blocks_read, 3 + 10, 'the 3 hinted blocks and 10 sampled ones');
  assert.equal(stats.bytes_read, 13 * BS);
  assert.equal(stats.blocks_sparse, 13, 'every block outside the hints is sparse');
  assert.equal(stats.blocks_from_base, 0);
  const [version] = await lsJson(repo, ['-n', 'disk']);
  assert.equal(version.baseUid, null);
  await restoreEquals(repo, uid, join(dir, 'restored.raw'), image);

  // hints that leave out a block holding data: every block outside them is sampled (7 <= 10)
  const small = join(dir, 'small.raw');
  writeImage(small, 8 * BS, [{ offset: 0, data: seededBytes(53, BS) }, { offset: 6 * BS + 7, data: seededBytes(54, 100) }]);
  const partial = join(dir, 'partial.json');
  writeFileSync(partial, JSON.stringify([{ offset: 0, length: BS, exists: true }]));
  const before = repoState(repo);
  const result = await cli(['--repo', repo, 'backup', small, 'small', '--hints', partial]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /error \[HINTS_MISMATCH\]: the source holds data at block 6 \(offset 393216\), which the hints leave out .*no version was created/);
  assert.equal(repoState(repo), before, 'nothing changed');
});

test('RBD: a first backup of a snapshot reads only what rbd diff lists (plus samples) and restores equal to rbd export', { timeout: 300000 }, async () => {
  run('tests/ceph/micro-ceph.sh', ['start']);
  const conf = '/tmp/ceph/cluster/ceph.conf';
  const rbdCli = (...args: string[]) => run('rbd', ['--conf', conf, ...args]);
  const name = `bv-first-${randomBytes(4).toString('hex')}`;
  const rbdDisk = `json:${JSON.stringify({ driver: 'raw', file: { driver: 'rbd', pool: 'rbd', image: name, conf } })}`;
  const dir = tempDir();
  const repo = await initRepo(dir);
  try {
    // 32 MiB, 8 RADOS objects of 4 MiB: data in 1 MiB of object 0 and 2 MiB of object 3
    rbdCli('create', '--size', '32M', `rbd/${name}`);
    run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 0 1M', '-c', 'write -P 0x62 12M 2M', rbdDisk]);
    rbdCli('snap', 'create', `rbd/${name}@s1`);
    run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x63 0 32M', rbdDisk]); // the image moves on; the snapshot stays

    const result = await cli(['--repo', repo, 'backup', `rbd:rbd/${name}@s1?conf=${conf}`, name, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const uid = result.stdout.trim().split('\n').pop()!;
    const listed = JSON.parse(rbdCli('diff', `rbd/${name}@s1`, '--format=json')) as Array<{ offset: number; length: number }>;
    const listedBlocks = new Set<number>();
    for (const e of listed) for (let idx = Math.floor(e.offset / BS); idx * BS < e.offset + e.length; idx++) listedBlocks.add(idx);
    assert.equal(listedBlocks.size, 48, `rbd diff lists 3 MiB: ${JSON.stringify(listed)}`);
    // 48 listed blocks, and 10 samples among the 80 other blocks of the two objects that exist
    // (qemu's rbd driver calls the six missing objects holes: they are not even sampled)
    const stats = statsOf(repo, uid);
    assert.equal(stats.bytes_read, (48 + 10) * BS, `read ${stats.bytes_read} bytes`);
    assert.equal(stats.blocks_sparse, 512 - 48);

    const exported = join(dir, 's1.raw');
    rbdCli('export', '--no-progress', `rbd/${name}@s1`, exported);
    await restoreEquals(repo, uid, join(dir, 'restored.raw'), exported);
    assert.equal(await sha256File(join(dir, 'restored.raw')), await sha256File(exported));
    const jobs = JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as Array<{ params: Record<string, unknown>; state: string }>;
    assert.equal(jobs.find((j) => j.params.uid === uid)?.state, 'succeeded');
  } finally {
    spawnSync('rbd', ['--conf', conf, 'snap', 'purge', `rbd/${name}`]);
    spawnSync('rbd', ['--conf', conf, 'rm', '--no-progress', `rbd/${name}`]);
  }
});

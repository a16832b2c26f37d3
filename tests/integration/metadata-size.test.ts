// Metadata compactness: a version's block list costs at most 48 bytes per block in SQLite,
// and `ls` stays correct with 10,000 versions. Sizes come from SQLite's dbstat; the time of
// `ls` is reported as a diagnostic, never asserted (the benchmark owns timings).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { before, describe, it } from 'node:test';
import { listVersions } from '../../src-main/engine/versions';
import { Repository } from '../../src-main/engine/repository';
import { backupCli, BS, initRepo, lsJson, ok, openDb, query, tempDir } from '../helpers';

const BLOCKS = 5000;

/** Bytes SQLite uses for the block list (table and its index). */
function blockListBytes(repo: string): number {
  return query<{ n: number }>(repo, "SELECT sum(pgsize) AS n FROM dbstat WHERE name IN ('blocks', 'blocks_by_object')")[0].n;
}

function checkpointedFileSize(repo: string): number {
  const db = openDb(repo, false);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return statSync(join(repo, 'metadata.sqlite')).size;
}

describe('metadata size', { timeout: 180_000 }, () => {
  const dir = tempDir();
  let repo: string;

  before(async () => {
    repo = await initRepo(dir);
  });

  it(`costs at most 48 bytes per block (${BLOCKS} distinct blocks)`, async (t) => {
    // Every block differs (its index in the first 8 bytes) and is otherwise zero: distinct
    // objects with large ids, yet a small, fast image.
    const image = join(dir, 'distinct.img');
    const fd = openSync(image, 'w');
    ftruncateSync(fd, BLOCKS * BS);
    const stamp = Buffer.alloc(8);
    for (let i = 0; i < BLOCKS; i++) {
      stamp.writeBigUInt64LE(BigInt(i + 1));
      writeSync(fd, stamp, 0, 8, i * BS);
    }
    closeSync(fd);
    const empty = checkpointedFileSize(repo);
    const first = await backupCli(repo, image, 'distinct');
    const afterFirst = blockListBytes(repo);
    const fileAfterFirst = checkpointedFileSize(repo);
    const second = await backupCli(repo, image, 'distinct');
    const afterSecond = blockListBytes(repo);
    const fileAfterSecond = checkpointedFileSize(repo);
    assert.equal(query<{ n: number }>(repo, 'SELECT count(*) AS n FROM blocks')[0].n, 2 * BLOCKS);
    assert.equal(query<{ n: number }>(repo, 'SELECT count(*) AS n FROM objects')[0].n, BLOCKS);

    const perBlock = (afterSecond - afterFirst) / BLOCKS;
    const fileFirst = (fileAfterFirst - empty) / BLOCKS;
    const fileSecond = (fileAfterSecond - fileAfterFirst) / BLOCKS;
    t.diagnostic(`block list: ${perBlock.toFixed(1)} bytes/block (blocks + blocks_by_object, second version); whole file: ${fileFirst.toFixed(1)} bytes/block for the first version (with its ${BLOCKS} object rows), ${fileSecond.toFixed(1)} for the second`);
    assert.ok(perBlock <= 48, `the block list costs ${perBlock.toFixed(1)} bytes per block`);
    assert.ok(afterFirst / BLOCKS <= 48, `the first version's block list costs ${(afterFirst / BLOCKS).toFixed(1)} bytes per block`);
    assert.ok(fileSecond <= 48, `the file grew ${fileSecond.toFixed(1)} bytes per block for a deduplicated version`);
    const [v] = JSON.parse(await ok(['--repo', repo, 'show', second, '--json'])) as Array<{ valid: boolean }>;
    assert.equal(v.valid, true);
    assert.notEqual(first, second);
  });

  it('lists 10,000 versions correctly', async (t) => {
    const count = 10_000;
    const db = openDb(repo, false);
    const now = Date.now();
    const uids: string[] = [];
    db.transaction(() => {
      const version = db.prepare(`INSERT INTO versions(uid, name, snapshot, date, size, block_size, state, protected, base_uid, source) VALUES (?, ?, ?, ?, ?, ?, 1, ?, NULL, '')`);
      const tag = db.prepare('INSERT INTO tags(version_id, tag) VALUES (?, ?)');
      for (let i = 0; i < count; i++) {
        const uid = randomUUID();
        uids.push(uid);
        const id = Number(version.run(uid, `vm-${i % 100}`, `snap-${i}`, now - (count - i) * 60_000, (i + 1) * BS, BS, i % 7 === 0 ? 1 : 0).lastInsertRowid);
        tag.run(id, 'daily');
        if (i % 10 === 0) tag.run(id, 'weekly');
      }
    })();
    db.close();

    const all = await lsJson(repo);
    assert.equal(all.length, count + 2);
    const synthetic = all.filter((v) => v.name.startsWith('vm-'));
    assert.deepEqual(synthetic.map((v) => v.uid), uids, 'oldest first');
    const sample = synthetic[70];
    assert.equal(sample.size, 71 * BS);
    assert.equal(sample.protected, true);
    assert.deepEqual(sample.tags, ['daily', 'weekly']);
    assert.equal(sample.snapshot, 'snap-70');
    assert.equal((await lsJson(repo, ['-n', 'vm-7'])).length, 100);
    assert.equal((await lsJson(repo, ['-t', 'weekly'])).length, 1000);
    assert.equal((await lsJson(repo, ['-s', 'snap-9999'])).length, 1);
    const machine = (await ok(['--repo', repo, 'ls', '-m'])).trim().split('\n');
    assert.equal(machine.length, count + 2);

    // In-process time of the listing the CLI prints (reported only).
    const repository = Repository.open(repo);
    try {
      listVersions(repository);
      const started = performance.now();
      const listed = listVersions(repository);
      const text = JSON.stringify(listed);
      const ms = performance.now() - started;
      assert.equal(listed.length, count + 2);
      t.diagnostic(`ls --json of ${listed.length} versions: ${ms.toFixed(1)} ms in process (${text.length} bytes)`);
    } finally {
      repository.close();
    }
  });
});

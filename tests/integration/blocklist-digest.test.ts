// Block-list digests: a backup and an import record the digest of the version's block list in
// the documented encoding; restore refuses (METADATA_DAMAGED, no target left) and deep scrub
// invalidates a version whose rows were changed behind its back; a repository of the first
// format gets its digests on its first open.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, blockDigests, cli, initRepo, lsJson, ok, openDb, query, restoreEquals, tempDir, version, writeBlocks } from '../helpers';

/** The encoding README documents, written again here from the text, not from the engine. */
function expectedDigest(uid: string, size: number, blockSize: number, digests: Array<string | null>): string {
  const id = Buffer.from(uid, 'utf8');
  const header = Buffer.alloc(6 + id.length + 20);
  header.write('BVBL', 0, 'latin1');
  header[4] = 1;
  header[5] = id.length;
  id.copy(header, 6);
  header.writeBigUInt64LE(BigInt(size), 6 + id.length);
  header.writeUInt32LE(blockSize, 14 + id.length);
  header.writeBigUInt64LE(BigInt(digests.length), 18 + id.length);
  const hash = createHash('sha256').update(header);
  for (const digest of digests) hash.update(digest === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), Buffer.from(digest, 'hex')]));
  return hash.digest('hex');
}

function storedDigest(repo: string, uid: string): string | null {
  const [row] = query<{ d: string | null }>(repo, 'SELECT lower(hex(block_list_digest)) AS d FROM versions WHERE uid = ?', uid);
  return row.d;
}

describe('block-list digests', () => {
  const dir = tempDir();

  it('backup and import record the documented digest; restore and deep scrub refuse changed rows', async () => {
    const repo = await initRepo(dir);
    const image = join(dir, 'a.img');
    writeBlocks(image, [1, 2, 0, 3, 1], undefined, 1000);
    const uid = await backupCli(repo, image, 'a');
    const size = 4 * 65536 + 1000;
    assert.equal(storedDigest(repo, uid), expectedDigest(uid, size, 65536, blockDigests(repo, uid)));

    // An import into a second repository seals the version the same way.
    const other = await initRepo(dir, [], 'other');
    const exportFile = join(dir, 'a.export');
    await ok(['--repo', repo, 'export', uid, '-f', exportFile]);
    cpSync(join(repo, 'objects'), join(other, 'objects'), { recursive: true });
    await ok(['--repo', other, 'import', '-f', exportFile]);
    assert.equal(storedDigest(other, uid), storedDigest(repo, uid));
    await restoreEquals(other, uid, join(dir, 'imported.img'), image);

    // Blocks 0 and 1 trade objects: every object is intact, only the list is wrong.
    const db = openDb(repo, false);
    const rows = db.prepare('SELECT idx, object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? ORDER BY idx').all(uid) as Array<{ idx: number; object_id: number }>;
    const update = db.prepare('UPDATE blocks SET object_id = ? WHERE idx = ? AND version_id = (SELECT id FROM versions WHERE uid = ?)');
    update.run(rows[1].object_id, 0, uid);
    update.run(rows[0].object_id, 1, uid);
    db.close();
    const target = join(dir, 'a.restored');
    const restore = await cli(['--repo', repo, 'restore', uid, target]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /\[METADATA_DAMAGED\]: metadata damaged: version [0-9a-f-]{36}'s block list does not match its digest/);
    assert.ok(!existsSync(target), 'a refused restore leaves no target');
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 20, scrub.stdout + scrub.stderr);
    assert.match(scrub.stdout, /block list does not match its digest/);
    assert.equal((await version(repo, uid)).valid, false);
  });

  it('every reader that hands a version\'s blocks on refuses changed rows: export, copy, an incremental from it, serve-nbd', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0'], 'readers');
    const image = join(dir, 'r.img');
    writeBlocks(image, [11, 12, 13, 14, 15, 16]);
    const uid = await backupCli(repo, image, 'r');
    const plainDest = await initRepo(dir, [], 'readers-plain');
    const passphrase = join(dir, 'pass');
    writeFileSync(passphrase, 'a long test passphrase\n');
    const encryptedDest = join(dir, 'readers-encrypted');
    await ok(['init', encryptedDest, '--block-size', '64K', '--encrypt', '--passphrase-file', passphrase]);
    const hints = join(dir, 'r.hints');
    writeFileSync(hints, JSON.stringify([{ offset: 0, length: 65536, exists: true }]));
    const damaged = /\[METADATA_DAMAGED\]: metadata damaged: version [0-9a-f-]{36}'s block list does not match its digest/;

    // Two kinds of damage: blocks 2 and 3 trade objects; block 4 points at no object.
    const db = openDb(repo, false);
    const rows = db.prepare('SELECT idx, object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? ORDER BY idx').all(uid) as Array<{ idx: number; object_id: number }>;
    const update = db.prepare('UPDATE blocks SET object_id = ? WHERE idx = ? AND version_id = (SELECT id FROM versions WHERE uid = ?)');
    const damages: Array<[string, () => void, () => void]> = [
      ['traded rows', () => { update.run(rows[3].object_id, 2, uid); update.run(rows[2].object_id, 3, uid); }, () => { update.run(rows[2].object_id, 2, uid); update.run(rows[3].object_id, 3, uid); }],
      ['a dangling row', () => { update.run(999_999, 4, uid); }, () => { update.run(rows[4].object_id, 4, uid); }],
    ];
    try {
      for (const [what, damage, mend] of damages) {
        damage();
        const exportFile = join(dir, 'r.export');
        const exported = await cli(['--repo', repo, 'export', uid, '-f', exportFile]);
        assert.equal(exported.code, 1, `${what}: export`);
        assert.match(exported.stderr, damaged, what);
        assert.equal(existsSync(exportFile), false, `${what}: a refused export writes no file`);
        for (const [dest, extra] of [[plainDest, []], [encryptedDest, ['--to-passphrase-file', passphrase]]] as const) {
          const copied = await cli(['--repo', repo, 'copy', uid, '--to', dest, ...extra]);
          assert.equal(copied.code, 1, `${what}: copy to ${dest}`);
          assert.match(copied.stderr, damaged, `${what}: copy to ${dest}`);
          const there = await cli(['--repo', dest, 'ls', '--json'], { env: { BLOCKVAULT_PASSPHRASE: 'a long test passphrase' } });
          assert.deepEqual(JSON.parse(there.stdout), [], `${what}: nothing arrives in ${dest}`);
        }
        // With hints, the rows of unchanged blocks come from the base.
        const incremental = await cli(['--repo', repo, 'backup', image, 'r', '--from', uid, '--hints', hints]);
        assert.equal(incremental.code, 1, `${what}: incremental`);
        assert.match(incremental.stderr, damaged, `${what}: incremental`);
        const served = await cli(['--repo', repo, 'serve-nbd', uid, '--socket', join(dir, 'r.sock')]);
        assert.equal(served.code, 1, `${what}: serve-nbd`);
        assert.match(served.stderr, damaged, `${what}: serve-nbd`);
        assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [uid], `${what}: no version was added`);
        mend();
      }
    } finally {
      db.close();
    }
    // Mended, every reader works again (so the refusals above were about the rows).
    await ok(['--repo', repo, 'export', uid, '-f', join(dir, 'r.export')]);
    await ok(['--repo', repo, 'copy', uid, '--to', plainDest]);
    await ok(['--repo', repo, 'copy', uid, '--to', encryptedDest, '--to-passphrase-file', passphrase]);
    await restoreEquals(plainDest, uid, join(dir, 'r-copied.img'), image);
    const incremental = await backupCli(repo, image, 'r', ['--from', uid, '--hints', hints]);
    await restoreEquals(repo, incremental, join(dir, 'r-incremental.img'), image);
  });

  it('a first-format repository gets its digests on its first open and still restores', async () => {
    const fixtures = join(__dirname, '..', 'fixtures');
    const repo = join(dir, 'fixture');
    cpSync(join(fixtures, 'plain-v1'), repo, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(fixtures, 'plain-v1.json'), 'utf8')) as { versions: Array<{ uid: string; size: number }> };
    await ok(['--repo', repo, 'ls']);
    for (const v of manifest.versions) {
      assert.equal(storedDigest(repo, v.uid), expectedDigest(v.uid, v.size, 65536, blockDigests(repo, v.uid)));
    }
  });
});

// import-backy2: generated backy2 installations (dumps and data folders, see generator.ts)
// migrate with every version restoring to the bytes the backy2 blocks hold; a block that
// fails its checksum or is missing marks its versions invalid and is never restored as data;
// an interrupted migration resumes; refused input changes nothing; Benji exports migrate too.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Backy2DataFolder, parseBacky2Dump } from '../../../src-main/engine/migrate/backy2';
import { blockvaultUid, migrateVersions, type LegacyBlock } from '../../../src-main/engine/migrate/legacy';
import { Repository } from '../../../src-main/engine/repository';
import { BS, backupCli, cli, initRepo, lsJson, objectNames, objectPath, ok, query, repoState, sha256File, tempDir, writeBlocks } from '../../helpers';
import { backy2VersionUid, makeBenjiInstallation, makeInstallation, type GeneratedVersion, type Installation } from './generator';

function versions(): GeneratedVersion[] {
  return [
    { uid: backy2VersionUid(), name: 'vm1', snapshot: 'nightly-1', date: '2017-04-18 18:05:04', valid: true, protected: false, seeds: [1, 2, 0, 3, 1, 4] },
    { uid: backy2VersionUid(), name: 'vm1', snapshot: 'nightly-2', date: '2017-04-19 18:05:04', valid: true, protected: true, seeds: [1, 2, 0, 5, 1, 4] },
    { uid: backy2VersionUid(), name: 'db, "main"', snapshot: '', date: '2017-04-20 03:00:00', valid: true, protected: false, seeds: [6, 0, 0, 7], tail: 1000 },
  ];
}

/** Restores every version and compares its sha256 with the image the backy2 blocks hold. */
async function assertRestores(repo: string, inst: Installation, dir: string, tool: 'backy2' | 'benji' = 'backy2'): Promise<void> {
  for (const v of inst.versions) {
    const uid = blockvaultUid(tool, v.uid);
    const target = join(dir, `${uid}.img`);
    rmSync(target, { force: true });
    await ok(['--repo', repo, 'restore', uid, target]);
    assert.equal(await sha256File(target), inst.imageSha256(v), `version ${v.uid} (${v.name}) restores to the backy2 bytes`);
  }
}

describe('import-backy2', () => {
  it('migrates 2.2 dumps with their data: names, snapshots, dates, protection, sparse blocks, dedup; every version restores bit-exact', async () => {
    const dir = tempDir();
    const inst = makeInstallation(dir, { blockSize: BS, versions: versions() });
    const repo = await initRepo(dir);
    const out = await ok(['--repo', repo, 'import-backy2', ...inst.dumps, '--data', inst.data]);
    for (const v of inst.versions) assert.match(out, new RegExp(`${v.uid} .*migrated, VALID`));
    const listed = await lsJson(repo);
    assert.equal(listed.length, 3);
    for (const v of inst.versions) {
      const got = listed.find((l) => l.uid === v.uid)!;
      assert.equal(got.name, v.name);
      assert.equal(got.snapshot, v.snapshot);
      assert.equal(got.protected, v.protected);
      assert.equal(got.status, 'valid');
      assert.equal(got.size, inst.sizeBytes(v));
      const [day, time] = v.date.split(' ');
      const [y, mo, d] = day.split('-').map(Number);
      const [h, mi, s] = time.split(':').map(Number);
      assert.equal(Date.parse(got.date), new Date(y, mo - 1, d, h, mi, s).getTime(), 'the date is backy2\'s, read as local time');
    }
    // backy2's -m ls of the migrated versions prints backy2's dates again.
    const machine = (await ok(['--repo', repo, '-m', 'ls'])).trim().split('\n');
    assert.deepEqual(machine.map((line) => line.split('|')[1]), inst.versions.map((v) => `${v.date}.000000`));
    await assertRestores(repo, inst, dir);
    // Distinct non-zero blocks: seeds 1..7 and the short tail of seed 7: one object each.
    assert.equal(objectNames(repo).length, 7);
    const sparse = query<{ n: number }>(repo, 'SELECT count(*) AS n FROM blocks WHERE object_id IS NULL')[0].n;
    assert.equal(sparse, 4, 'backy2\'s sparse blocks stay sparse');
    // Deep scrub agrees.
    await ok(['--repo', repo, 'scrub', '--all', '--deep']);
    // Running it again changes nothing.
    const before = repoState(repo);
    const again = await ok(['--repo', repo, 'import-backy2', ...inst.dumps, '--data', inst.data]);
    assert.equal(again.match(/already migrated \(valid\)/g)?.length, 3);
    assert.equal(repoState(repo), before);
  });

  it('reads the 2.1 and 2.12 forms, several dumps in one file, and tags from a backy2 -m ls listing', async () => {
    for (const format of ['2.1', '2.12'] as const) {
      const dir = tempDir();
      const inst = makeInstallation(dir, { blockSize: BS, versions: versions(), format });
      const combined = join(dir, 'all.csv');
      writeFileSync(combined, inst.dumps.map((file) => readFileSync(file, 'utf8')).join(''));
      const listing = join(dir, 'ls.txt');
      writeFileSync(listing, [
        'date|name|snapshot_name|size|size_bytes|uid|valid|protected|tags|expire',
        ...inst.versions.map((v, i) => `${v.date}|${v.name}|${v.snapshot}|${v.seeds.length}|${inst.sizeBytes(v)}|${v.uid}|1|0|${i === 0 ? 'b_weekly,b_daily' : 'b_daily'}|`),
      ].join('\n'));
      const repo = await initRepo(dir);
      await ok(['--repo', repo, 'import-backy2', combined, '--data', inst.data, '--ls', listing]);
      const listed = await lsJson(repo);
      assert.deepEqual(listed.map((v) => v.tags), [['b_daily', 'b_weekly'], ['b_daily'], ['b_daily']]);
      if (format === '2.1') assert.deepEqual(listed.map((v) => [v.snapshot, v.protected]), [['', false], ['', false], ['', false]], '2.1 has no snapshot or protection');
      await assertRestores(repo, inst, dir);
    }
  });

  it('a block that fails its backy2 checksum, or is missing, marks every version using it invalid and is reported; exit 20', async () => {
    const dir = tempDir();
    const inst = makeInstallation(dir, { blockSize: BS, versions: versions() });
    // Seed 2 (versions 1 and 2) gets one flipped byte; seed 6 (version 3) disappears.
    const damaged = inst.blobPath(inst.blockUid.get(2)!);
    const bytes = readFileSync(damaged);
    bytes[100] ^= 0x40;
    writeFileSync(damaged, bytes);
    unlinkSync(inst.blobPath(inst.blockUid.get(6)!));
    const repo = await initRepo(dir);
    const result = await cli(['--repo', repo, 'import-backy2', ...inst.dumps, '--data', inst.data]);
    assert.equal(result.code, 20, result.stderr);
    assert.match(result.stderr, /block 1: checksum: backy2 block \w+ does not match its checksum/);
    assert.match(result.stderr, /block 0: missing: data of backy2 block \w+ is missing/);
    assert.match(result.stdout, /INVALID.*1 FAILED/);
    const listed = await lsJson(repo);
    assert.deepEqual(listed.map((v) => v.status), ['invalid', 'invalid', 'invalid']);
    // No object holds the damaged bytes; restore stops at the block instead of writing them.
    assert.ok(!objectNames(repo).includes(createHash('sha256').update(bytes).digest('hex')), 'the damaged data was not stored');
    const restore = await cli(['--repo', repo, 'restore', inst.versions[0].uid, join(dir, 'bad.img')]);
    assert.notEqual(restore.code, 0);
    assert.match(restore.stderr, /OBJECT_MISSING|OBJECT_CORRUPT|invalid/);
    // A full deep scrub cannot make it valid again.
    const scrub = await cli(['--repo', repo, 'scrub', inst.versions[0].uid, '--deep']);
    assert.equal(scrub.code, 20);
    assert.equal((await lsJson(repo))[0].status, 'invalid');
    // The blocks that were fine are there: the intact blocks of version 1 restore their bytes.
    assert.equal(query<{ n: number }>(repo, "SELECT count(*) AS n FROM objects WHERE state = 1")[0].n, 5);
  });

  it('an interrupted migration resumes where it stopped and reads no block twice', async () => {
    const dir = tempDir();
    const many: GeneratedVersion[] = [
      { uid: backy2VersionUid(), name: 'big', snapshot: 's1', date: '2018-01-01 00:00:00', valid: true, protected: false, seeds: Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? 0 : 100 + i)) },
      { uid: backy2VersionUid(), name: 'big', snapshot: 's2', date: '2018-01-02 00:00:00', valid: true, protected: false, seeds: Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? 0 : 200 + i)) },
    ];
    const inst = makeInstallation(dir, { blockSize: BS, versions: many });
    const repo = await initRepo(dir);
    const parsed = inst.dumps.flatMap((file) => parseBacky2Dump(readFileSync(file, 'utf8'), file));
    const reads: string[] = [];
    const controller = new AbortController();
    class Counting extends Backy2DataFolder {
      override async read(block: LegacyBlock): Promise<Buffer | null> {
        reads.push(block.key!);
        if (reads.length === 50) controller.abort();
        return super.read(block);
      }
    }
    const repository = Repository.open(repo);
    try {
      await assert.rejects(migrateVersions(repository, { versions: parsed, reader: new Counting(inst.data), tool: 'backy2', signal: controller.signal, concurrency: 2 }), /CANCELED|interrupted/);
    } finally {
      repository.close();
    }
    const firstVersionKeys = new Set(parsed[0].blocks.map((b) => b.key).filter(Boolean));
    const keyOf = new Map(parsed[1].blocks.map((b) => [b.idx, b.key]));
    const partial = await lsJson(repo);
    assert.deepEqual(partial.map((v) => v.status), ['valid', 'incomplete'], 'the first version finished, the second is incomplete');
    const kept = query<{ idx: number; object_id: number | null }>(repo, 'SELECT b.idx, b.object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? ORDER BY b.idx', many[1].uid);
    const keptData = kept.filter((row) => row.object_id !== null);
    assert.ok(keptData.length > 1 && kept.length < 40, `the interrupted version kept its ${kept.length} migrated blocks`);
    // One object of the interrupted version is lost (as a crash before the sync could lose it).
    const lostDigest = query<{ d: string }>(repo, 'SELECT lower(hex(o.digest)) AS d FROM blocks b JOIN versions v ON v.id = b.version_id JOIN objects o ON o.id = b.object_id WHERE v.uid = ? AND b.idx = ?', many[1].uid, keptData[0].idx)[0].d;
    unlinkSync(objectPath(repo, lostDigest));

    reads.length = 0;
    const again = Repository.open(repo);
    let results;
    try {
      results = await migrateVersions(again, { versions: parsed, reader: new Counting(inst.data), tool: 'backy2' });
    } finally {
      again.close();
    }
    assert.deepEqual(results.map((r) => r.outcome), ['already-migrated', 'resumed']);
    assert.deepEqual(results.map((r) => r.status), ['valid', 'valid']);
    assert.ok(!reads.some((key) => firstVersionKeys.has(key)), 'the finished version is not read again');
    const keptKeys = new Set(keptData.map((row) => keyOf.get(row.idx)));
    assert.deepEqual(reads.filter((key) => keptKeys.has(key)), [keyOf.get(keptData[0].idx)], 'of the blocks migrated before, only the one whose object was lost is read again');
    assert.equal(reads.length, 34 - keptData.length + 1, 'every other block is read once');
    await assertRestores(repo, inst, dir);
  });

  it('migrates into an encrypted repository: restores bit-exact, objects hold no plaintext', async () => {
    const dir = tempDir();
    const inst = makeInstallation(dir, { blockSize: BS, versions: versions().slice(0, 1) });
    const env = { BLOCKVAULT_PASSPHRASE: 'correct horse battery staple' };
    const repo = join(dir, 'enc');
    await ok(['init', repo, '--block-size', '64K', '--encrypt'], env);
    await ok(['--repo', repo, 'import-backy2', ...inst.dumps, '--data', inst.data], env);
    const v = inst.versions[0];
    const target = join(dir, 'enc.img');
    await ok(['--repo', repo, 'restore', v.uid, target], env);
    assert.equal(await sha256File(target), inst.imageSha256(v));
    const plain = readFileSync(inst.blobPath(inst.blockUid.get(1)!)).subarray(0, 4096);
    for (const name of objectNames(repo)) assert.ok(!readFileSync(objectPath(repo, name)).includes(plain), 'object holds plaintext');
  });

  it('refuses bad input and changes nothing: malformed dumps, other block sizes, clashing UIDs, no --data', async () => {
    const dir = tempDir();
    const inst = makeInstallation(dir, { blockSize: BS, versions: versions().slice(0, 1) });
    const repo = await initRepo(dir);
    const wrongSize = await initRepo(dir, ['--block-size', '128K'], 'repo128');
    const text = readFileSync(inst.dumps[0], 'utf8');
    const write = (name: string, content: string): string => { const file = join(dir, name); writeFileSync(file, content); return file; };
    const cases: Array<[string[], RegExp, number]> = [
      [[write('sig.csv', text.replace('2.2', '2.7'))], /BAD_EXPORT.*format 2\.7 is unknown/, 1],
      [[write('trunc.csv', text.split('\r\n').slice(0, 3).join('\r\n').slice(0, -20))], /BAD_EXPORT/, 1],
      [[write('dup.csv', text + text.split('\r\n').slice(2, 3).join('') + '\r\n')], /BAD_EXPORT.*appears twice/, 1],
      [[write('none.csv', 'hello,world\r\n')], /BAD_EXPORT.*not a backy2 metadata dump/, 1],
      [[write('enc.csv', text.replace('backy2 Version 2.2', 'backy2 Version 2.12').replace(/^(.*,1,0)\r$/m, '$1,\r').replace(/(,65536,1)\r\n/g, '$1,1,abcd,ef\r\n'))], /FORMAT_UNSUPPORTED.*encrypted by backy2/, 1],
    ];
    const before = repoState(repo);
    for (const [files, pattern, code] of cases) {
      const result = await cli(['--repo', repo, 'import-backy2', ...files, '--data', inst.data]);
      assert.equal(result.code, code, `${files.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
    }
    const noData = await cli(['--repo', repo, 'import-backy2', inst.dumps[0]]);
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /needs --data PATH/);
    assert.equal(repoState(repo), before);
    const beforeWrong = repoState(wrongSize);
    const size = await cli(['--repo', wrongSize, 'import-backy2', inst.dumps[0], '--data', inst.data]);
    assert.equal(size.code, 1);
    assert.match(size.stderr, /block size is about 65536.*init --block-size 65536/);
    assert.equal(repoState(wrongSize), beforeWrong);
    // A UID that exists in the repository and did not come from backy2.
    const image = join(dir, 'disk.img');
    writeBlocks(image, [1, 2]);
    const uid = await backupCli(repo, image, 'disk');
    const clashing = makeInstallation(join(dir, 'clash'), { blockSize: BS, versions: [{ ...versions()[0], uid }] });
    const beforeClash = repoState(repo);
    const clash = await cli(['--repo', repo, 'import-backy2', clashing.dumps[0], '--data', clashing.data]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /ALREADY_EXISTS.*not migrated from backy2/);
    assert.equal(repoState(repo), beforeClash);
  });

  it('migrates a Benji export (3.0.0) with its file storage: BLAKE2b-256 checksums, zstd-compressed blocks, labels as tags', async () => {
    const dir = tempDir();
    const benji = makeBenjiInstallation(dir, {
      blockSize: BS,
      versions: [
        { uid: 'vm1-abc123', name: 'vm1', snapshot: 'b-2020-01-01', date: '2020-01-01 01:02:03', valid: true, protected: true, seeds: [11, 0, 12, 11] },
        { uid: 'vm1-def456', name: 'vm1', snapshot: 'b-2020-01-02', date: '2020-01-02 01:02:03', valid: true, protected: false, seeds: [11, 0, 13, 14], tail: 5000 },
      ],
      zstdSeeds: [11, 13],
    });
    const repo = await initRepo(dir);
    await ok(['--repo', repo, 'import-backy2', '--benji', benji.exportFile, '--data', benji.storage]);
    const listed = await lsJson(repo);
    assert.deepEqual(listed.map((v) => [v.uid, v.status, v.protected]), [[blockvaultUid('benji', 'vm1-abc123'), 'valid', true], [blockvaultUid('benji', 'vm1-def456'), 'valid', false]]);
    assert.deepEqual(listed[0].tags, ['benji-backup.me/instance=benji-k8s', 'benji_uid=vm1-abc123', 'daily']);
    assert.equal(listed[0].date, '2020-01-01T01:02:03.000Z');
    await assertRestores(repo, benji, dir, 'benji');
    // A Benji block whose data changed fails its BLAKE2b checksum.
    const dir2 = tempDir();
    const broken = makeBenjiInstallation(dir2, { blockSize: BS, versions: [{ uid: 'x-1', name: 'x', snapshot: '', date: '2020-01-01 00:00:00', valid: true, protected: false, seeds: [21, 22] }] });
    const path = broken.blobPath(broken.blockUid.get(22)!);
    const data = readFileSync(path);
    data[7] ^= 1;
    writeFileSync(path, data);
    const repo2 = await initRepo(dir2);
    const result = await cli(['--repo', repo2, 'import-backy2', '--benji', broken.exportFile, '--data', broken.storage]);
    assert.equal(result.code, 20);
    assert.match(result.stderr, /block 1: checksum/);
    assert.equal((await lsJson(repo2))[0].status, 'invalid');
  });
});

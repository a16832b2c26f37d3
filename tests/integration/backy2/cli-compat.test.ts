// backy2's command line against the real CLI: -m ls and -m stats lines field by field,
// backy2's spellings (initdb, file://, backup -t a,b -f -r, export/import with positional
// files and stdio, cleanup -f, scrub -p -s), automatic tags, the log file's progress lines,
// and the help that says where backy2 and Blockvault differ.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BS, backupCli, cli, lsJson, ok, patchFile, seededBytes, sha256File, tempDir, writeBlocks } from '../../helpers';
import { backy2VersionUid, makeInstallation } from './generator';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
function local(iso: string, micro: boolean): string {
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return micro ? `${text}.${pad(d.getMilliseconds() * 1000, 6)}` : text;
}

describe('backy2 command line', () => {
  const dir = tempDir();
  const repo = join(dir, 'repo');
  const image = join(dir, 'disk.img');
  let first: string;
  let second: string;

  before(async () => {
    writeBlocks(image, [1, 2, 0, 3], BS, 1000);
    const init = await cli(['--repo', repo, 'initdb', '--block-size', '64K']);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stderr, /"initdb" is backy2's name; Blockvault's is "init PATH"/);
    first = await backupCli(repo, `file://${image}`, 'vm1', ['-s', 'snap1', '-t', 'zeta,alpha']);
    patchFile(image, BS, seededBytes(9, BS));
    second = await backupCli(repo, `file://${image}`, 'vm1', ['-f', first]);
  });

  it('-m ls prints backy2\'s version| lines: ten fields, local date with microseconds, tags sorted; ls -m the same; block size only in --json', async () => {
    const global = await ok(['--repo', repo, '-m', 'ls']);
    assert.equal(await ok(['--repo', repo, 'ls', '-m']), global);
    assert.equal(await ok(['--repo', repo, '--machine-output', '-s', 'ls']), global);
    const versions = await lsJson(repo);
    const lines = global.trim().split('\n');
    assert.equal(lines.length, 2);
    lines.forEach((line, i) => {
      const v = versions[i];
      const fields = line.split('|');
      assert.equal(fields.length, 10, line);
      assert.deepEqual(fields, ['version', local(v.date, true), 'vm1', i === 0 ? 'snap1' : '', '4', String(3 * BS + 1000), v.uid, '1', '0', i === 0 ? 'alpha,zeta' : '']);
      assert.match(fields[1], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    });
    assert.equal(versions[0].blockSize, BS);
    // backy2's filters: a name as positional, -s snapshot, -t tag.
    assert.deepEqual((await ok(['--repo', repo, '-m', 'ls', 'vm1', '-s', 'snap1'])).trim().split('\n').map((l) => l.split('|')[6]), [first]);
    assert.deepEqual((await ok(['--repo', repo, '-m', 'ls', '-t', 'alpha'])).trim().split('\n').map((l) => l.split('|')[6]), [first]);
    assert.equal(await ok(['--repo', repo, '-m', 'ls', 'nobody']), '');
  });

  it('-m stats prints backy2\'s statistics| lines; -l keeps the newest', async () => {
    const stats = JSON.parse(await ok(['--repo', repo, 'stats', '--json'])) as Array<{ date: string; uid: string; sizeBytes: number; bytesRead: number; blocksRead: number; bytesWritten: number; blocksWritten: number; bytesDedup: number; blocksDedup: number; bytesSparse: number; blocksSparse: number; durationMs: number }>;
    const lines = (await ok(['--repo', repo, '-m', 'stats'])).trim().split('\n');
    assert.equal(lines.length, 2);
    lines.forEach((line, i) => {
      const s = stats[i];
      assert.deepEqual(line.split('|'), [
        'statistics', local(s.date, false), s.uid, 'vm1', String(s.sizeBytes), '4', String(s.bytesRead), String(s.blocksRead), String(s.bytesWritten), String(s.blocksWritten),
        String(s.bytesDedup), String(s.blocksDedup), String(s.bytesSparse), String(s.blocksSparse), String(Math.round(s.durationMs / 1000)),
      ]);
    });
    assert.equal(lines[1].split('|')[2], second);
    const last = (await ok(['--repo', repo, '-m', 'stats', '-l', '1'])).trim().split('\n');
    assert.deepEqual(last, [lines[1]]);
  });

  it('export UID FILE and import FILE, with - for stdout and stdin; cleanup -f; scrub -p -s with file://; restore to file://', async () => {
    const file = join(dir, 'meta.export');
    await ok(['--repo', repo, 'export', second, file]);
    const viaStdout = await ok(['--repo', repo, 'export', second, '-']);
    assert.match(viaStdout, /"uid":"/);
    await ok(['--repo', repo, 'rm', '-f', second]);
    assert.match(await ok(['--repo', repo, 'import', file]), new RegExp(second));
    await ok(['--repo', repo, 'rm', '-f', second]);
    const imported = await cli(['--repo', repo, 'import', '-'], { input: viaStdout });
    assert.equal(imported.code, 0, imported.stderr);
    const cleanup = await ok(['--repo', repo, 'cleanup', '-f']);
    assert.match(cleanup, /deleted \d+ objects/);
    const scrub = await cli(['--repo', repo, 'scrub', second, '-p', '100', '-s', `file://${image}`]);
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
    assert.match(scrub.stdout, /ok \(source, 100%\)/);
    const target = join(dir, 'restored.img');
    await ok(['--repo', repo, 'restore', second, `file://${target}`]);
    assert.equal(await sha256File(target), await sha256File(image));
  });

  it('auto-tags: off by default; on, a backup without -t gets backy2\'s tags once per day, -t wins', async () => {
    assert.equal((await ok(['--repo', repo, 'auto-tags'])).trim(), 'auto-tags off');
    const untagged = await backupCli(repo, image, 'vm2');
    assert.deepEqual((await lsJson(repo, ['vm2'])).find((v) => v.uid === untagged)!.tags, []);
    assert.equal((await ok(['--repo', repo, 'auto-tags', 'on'])).trim(), 'auto-tags on');
    const tagged = await backupCli(repo, image, 'vm3');
    const sameDay = await backupCli(repo, image, 'vm3');
    const explicit = await backupCli(repo, image, 'vm3', ['-t', 'mine']);
    const byUid = new Map((await lsJson(repo, ['vm3'])).map((v) => [v.uid, v.tags]));
    assert.deepEqual(byUid.get(tagged), ['b_daily', 'b_monthly', 'b_weekly']);
    assert.deepEqual(byUid.get(sameDay), []);
    assert.deepEqual(byUid.get(explicit), ['mine']);
    await ok(['--repo', repo, 'auto-tags', 'off']);
    assert.equal((await cli(['--repo', repo, 'auto-tags', 'maybe'])).code, 2);
  });

  it('the log file records the start, progress lines and the final line of a job', async () => {
    const big = join(dir, 'big.img');
    writeBlocks(big, Array.from({ length: 64 }, (_, i) => 50 + i));
    const log = join(dir, 'backup.log');
    const uid = await backupCli(repo, big, 'big', ['--log-file', log]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.match(lines[0], /blockvault --repo .* backup .*big\.img big --log-file/);
    const progress = lines.filter((line) => line.includes(`Backup ${uid} `));
    assert.ok(progress.length >= 1, 'progress lines name the version');
    assert.match(progress[progress.length - 1], /100\.0% .* done$/);
    assert.match(lines[lines.length - 1], new RegExp(uid));
  });

  it('names with | from a backy2 dump are escaped in machine lines; help says what backy2\'s scrub is here', async () => {
    const migrated = join(dir, 'migrated');
    const inst = makeInstallation(join(dir, 'b2'), { blockSize: BS, versions: [{ uid: backy2VersionUid(), name: 'web|1', snapshot: 'a\nb', date: '2019-05-06 07:08:09', valid: true, protected: false, seeds: [1] }] });
    await ok(['init', migrated, '--block-size', '64K']);
    await ok(['--repo', migrated, 'import-backy2', inst.dumps[0], '--data', inst.data]);
    const line = (await ok(['--repo', migrated, '-m', 'ls'])).trim();
    assert.equal(line.split('\n').length, 1);
    assert.deepEqual(line.split('|').slice(0, 4), ['version', '2019-05-06 07:08:09.000000', 'web\\x7c1', 'a\\x0ab']);
    assert.equal(line.split('|').length, 10);
    const help = await ok(['scrub', '--help']);
    assert.match(help, /backy2's scrub reads the data: that is scrub --deep here/);
  });
});

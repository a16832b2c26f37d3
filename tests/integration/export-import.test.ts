// Metadata export and import: round trips (back into the same repository after rm, into a new
// repository whose store lacks the objects), and refusals that change nothing: an existing
// UID, a truncated, reordered or altered file, garbage.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, blockDigests, BS, cli, initRepo, lsJson, ok, repoState, restoreEquals, tempDir, version, writeBlocks } from '../helpers';

describe('export and import', () => {
  const dir = tempDir();
  let repo: string;
  const imageA = join(dir, 'a.img');
  const imageB = join(dir, 'b.img');
  let a: string;
  let b: string;
  const exportFile = join(dir, 'ab.jsonl');
  let exported: string;

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0']);
    writeBlocks(imageA, [1, 0, 2, 3], BS, 999);
    // more than one "blocks" line (1024 blocks per line): 1500 blocks, mostly sparse
    const seeds = new Array(1500).fill(0);
    seeds[0] = 7; seeds[1024] = 8; seeds[1499] = 9;
    writeBlocks(imageB, seeds);
    a = await backupCli(repo, imageA, 'a', ['-s', 'snap', '-t', 'x', '-t', 'y']);
    b = await backupCli(repo, imageB, 'b');
    await ok(['--repo', repo, 'protect', a]);
    await ok(['--repo', repo, 'export', a, b, '-f', exportFile]);
    exported = readFileSync(exportFile, 'utf8');
  });

  it('writes documented JSON Lines with a header, numbered lines and a checksum', async () => {
    const lines = exported.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines[0].format, 'blockvault-metadata');
    assert.equal(lines[0].versions, 2);
    lines.forEach((line, i) => assert.equal(line.seq, i));
    const end = lines[lines.length - 1];
    assert.equal(end.type, 'end');
    const body = exported.slice(0, exported.trimEnd().lastIndexOf('\n') + 1);
    assert.equal(end.sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(lines.filter((l) => l.type === 'blocks' && l.uid === b).length, 2);
    const stdout = await cli(['--repo', repo, 'export', a, '-f', '-']);
    assert.equal(stdout.code, 0);
    assert.match(stdout.stdout, /"type":"end"/);
  });

  it('refuses to overwrite an existing export file', async () => {
    const result = await cli(['--repo', repo, 'export', a, '-f', exportFile]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /TARGET_EXISTS/);
    assert.equal(readFileSync(exportFile, 'utf8'), exported);
    assert.deepEqual(readdirSync(dir).filter((name) => name.includes('.tmp-')), [], 'no temporary file left');
  });

  it('refuses an import whose UIDs exist, changing nothing', async () => {
    const before = repoState(repo);
    const result = await cli(['--repo', repo, 'import', '-f', exportFile]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ALREADY_EXISTS/);
    assert.equal(repoState(repo), before);
  });

  describe('refuses damaged files, changing nothing', () => {
    const lines = (): string[] => exported.slice(0, -1).split('\n');
    const cases: Array<[string, () => string]> = [
      ['a file cut in the middle of a line', () => exported.slice(0, Math.floor(exported.length / 2))],
      ['a file missing its end line', () => `${lines().slice(0, -1).join('\n')}\n`],
      ['a file missing a blocks line', () => { const l = lines(); l.splice(2, 1); return `${l.join('\n')}\n`; }],
      ['reordered lines', () => { const l = lines(); [l[1], l[2]] = [l[2], l[1]]; return `${l.join('\n')}\n`; }],
      ['an altered byte', () => exported.replace('"name":"a"', '"name":"z"')],
      ['an altered digest', () => exported.replace(/"([0-9a-f])([0-9a-f]{63})"/, (_m, c: string, rest: string) => `"${c === '0' ? '1' : '0'}${rest}"`)],
      ['garbage', () => 'this is not an export\n'],
      ['binary garbage', () => Buffer.from([0, 1, 2, 255, 10]).toString('latin1')],
      ['an empty file', () => ''],
      ['a JSON array', () => '[1,2,3]\n'],
    ];
    for (const [what, make] of cases) {
      it(`refuses ${what}`, async () => {
        const before = repoState(repo);
        const listBefore = await ok(['--repo', repo, 'ls', '--json']);
        const file = join(dir, `bad-${what.replace(/\W+/g, '-')}.jsonl`);
        writeFileSync(file, make(), 'latin1');
        // The file is checked whole before its UIDs are looked up: damage is reported first.
        const result = await cli(['--repo', repo, 'import', '-f', file]);
        assert.equal(result.code, 1, `${what}: ${result.stderr}`);
        assert.match(result.stderr, /\[BAD_EXPORT\]/);
        assert.equal(await ok(['--repo', repo, 'ls', '--json']), listBefore);
        assert.equal(repoState(repo), before);
      });
    }
  });

  it('imports back into the same repository after rm and restores', async () => {
    await ok(['--repo', repo, 'unprotect', a]);
    const digestsA = blockDigests(repo, a);
    await ok(['--repo', repo, 'rm', a, b]);
    assert.deepEqual(await lsJson(repo), []);
    // Damaged files are refused for their damage now that the UIDs are free.
    for (const bad of ['reordered', 'altered']) {
      const l = exported.slice(0, -1).split('\n');
      if (bad === 'reordered') [l[2], l[3]] = [l[3], l[2]];
      else l[1] = l[1].replace('"snap"', '"snaq"');
      const file = join(dir, `free-${bad}.jsonl`);
      writeFileSync(file, `${l.join('\n')}\n`);
      const before = repoState(repo);
      const result = await cli(['--repo', repo, 'import', '-f', file]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /BAD_EXPORT/);
      assert.equal(repoState(repo), before);
    }
    const result = await cli(['--repo', repo, 'import', '-f', exportFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), [a, b]);
    assert.doesNotMatch(result.stderr, /warning/);
    const va = await version(repo, a);
    assert.equal(va.valid, true);
    assert.equal(va.protected, true);
    assert.equal(va.snapshot, 'snap');
    assert.deepEqual(va.tags, ['x', 'y']);
    assert.equal(va.size, 3 * BS + 999);
    assert.deepEqual(blockDigests(repo, a), digestsA);
    await restoreEquals(repo, a, join(dir, 'a.restored'), imageA);
    await restoreEquals(repo, b, join(dir, 'b.restored'), imageB);
    const scrub = await cli(['--repo', repo, 'scrub', a, b, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
  });

  it('exports to stdout and imports from stdin', async () => {
    const text = await cli(['--repo', repo, 'export', b, '-f', '-']);
    assert.equal(text.code, 0);
    await ok(['--repo', repo, 'rm', b]);
    const result = await cli(['--repo', repo, 'import', '-f', '-'], { input: text.stdout });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), b);
    await restoreEquals(repo, b, join(dir, 'b-stdin.restored'), imageB);
  });

  it('imports into a new repository without the objects as invalid, with a warning', async () => {
    const other = await initRepo(dir, [], 'other');
    const result = await cli(['--repo', other, 'import', '-f', exportFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: objects are missing/);
    const versions = await lsJson(other);
    assert.deepEqual(versions.map((v) => [v.uid, v.valid]), [[a, false], [b, false]]);
    const restore = await cli(['--repo', other, 'restore', a, join(dir, 'other-a.img')]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /OBJECT_MISSING|missing/);
    assert.equal(existsSync(join(dir, 'other-a.img')), false);
    const scrub = await cli(['--repo', other, 'scrub', a]);
    assert.equal(scrub.code, 20);
  });

  it('imports into a new repository that has the objects (copied store) as valid', async () => {
    const copy = await initRepo(dir, [], 'copy');
    cpSync(join(repo, 'objects'), join(copy, 'objects'), { recursive: true });
    const result = await cli(['--repo', copy, 'import', '-f', exportFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /warning/);
    assert.equal((await version(copy, b)).valid, true);
    await restoreEquals(copy, b, join(dir, 'copy-b.restored'), imageB);
    await restoreEquals(copy, a, join(dir, 'copy-a.restored'), imageA);
  });

  it('refuses an export of another block size', async () => {
    await ok(['init', join(dir, 'bs128'), '--block-size', '128K']);
    const before = repoState(join(dir, 'bs128'));
    const result = await cli(['--repo', join(dir, 'bs128'), 'import', '-f', exportFile]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /BAD_EXPORT.*block size/);
    assert.equal(repoState(join(dir, 'bs128')), before);
  });
});

// `-` as source and target: `backup - NAME` reads stdin (a pipe or a redirected file, sized on
// the fly), `restore UID -` streams the image to stdout with every block verified before it is
// written; a corrupt block ends the stream with a non-zero exit and an error on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  BS, CLI, backupCli, blockDigests, initRepo, lastLine, objectPath, patchFile, query, restoreEquals, seededBytes, sha256, sha256File, tempDir, version, writeBlocks,
} from '../helpers';

interface Run { code: number | null; stdout: Buffer; stderr: string }

/** Runs the CLI with stdin from a file: piped through a pipe, or the file itself as fd 0. */
function run(args: string[], stdin: { pipeFrom?: string; file?: string } = {}): Promise<Run> {
  const fd = stdin.file ? openSync(stdin.file, 'r') : undefined;
  const child = spawn(process.execPath, [CLI, ...args], { stdio: [fd ?? 'pipe', 'pipe', 'pipe'] });
  if (fd !== undefined) closeSync(fd);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d) => { stderr += d; });
  child.stdin?.on('error', () => undefined); // a command that refuses early does not read its stdin
  if (stdin.pipeFrom) createReadStream(stdin.pipeFrom).pipe(child.stdin!);
  else child.stdin?.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
}

describe('stdin and stdout as source and target ("-")', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'image.img');
  // blocks: data, zero, data, repeated, data, and a short tail
  const seeds = [1, 0, 2, 1, 3, 4];
  let size: number;

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image, seeds, BS, 1000);
    size = readFileSync(image).length;
  });

  it('backs up a pipe on stdin, sized on the fly, and restores it bit-exact', async () => {
    const result = await run(['--repo', repo, 'backup', '-', 'piped'], { pipeFrom: image });
    assert.equal(result.code, 0, result.stderr);
    const uid = lastLine(result.stdout.toString());
    const v = await version(repo, uid);
    assert.equal(v.size, size);
    assert.equal(v.status, 'valid');
    assert.deepEqual(blockDigests(repo, uid).map((d) => d === null), [false, true, false, false, false, false], 'the zero block is sparse');
    await restoreEquals(repo, uid, join(dir, 'piped.restored'), image);
  });

  it('backs up a file redirected to stdin, and a second backup deduplicates every block', async () => {
    const first = await run(['--repo', repo, 'backup', '-', 'redirected'], { file: image });
    assert.equal(first.code, 0, first.stderr);
    const uid = lastLine(first.stdout.toString());
    await restoreEquals(repo, uid, join(dir, 'redirected.restored'), image);
    const [stats] = query<{ blocks_written: number; bytes_read: number }>(repo, 'SELECT blocks_written, bytes_read FROM stats WHERE version_uid = ?', uid);
    assert.equal(stats.blocks_written, 0, 'every block was already stored');
    assert.equal(stats.bytes_read, size);
  });

  it('backs up an empty stdin as an empty version', async () => {
    const result = await run(['--repo', repo, 'backup', '-', 'empty']);
    assert.equal(result.code, 0, result.stderr);
    const uid = lastLine(result.stdout.toString());
    assert.equal((await version(repo, uid)).size, 0);
    const restored = await run(['--repo', repo, 'restore', uid, '-']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.stdout.length, 0);
  });

  it('refuses hints with a stream source, and leaves no version', async () => {
    const base = await backupCli(repo, image, 'base');
    const hints = join(dir, 'hints.json');
    writeFileSync(hints, '[]');
    const before = (await run(['--repo', repo, 'ls', '--json'])).stdout.toString();
    const result = await run(['--repo', repo, 'backup', '-', 'hinted', '--from', base, '--hints', hints], { pipeFrom: image });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[INVALID_ARGUMENT\].*stream/);
    assert.equal((await run(['--repo', repo, 'ls', '--json'])).stdout.toString(), before);
  });

  it('streams a version to stdout (a pipe and a file), zeros and tail included', async () => {
    const uid = await backupCli(repo, image, 'to-stdout');
    const piped = await run(['--repo', repo, 'restore', uid, '-']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout.length, size);
    assert.equal(sha256(piped.stdout), await sha256File(image));
    assert.match(piped.stderr, /restored .* blocks verified/, 'the summary goes to stderr');

    const file = join(dir, 'stdout.img');
    const fd = openSync(file, 'w');
    const child = spawn(process.execPath, [CLI, '--repo', repo, 'restore', uid, '-'], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.equal(await sha256File(file), await sha256File(image));
  });

  it('ends the stream at a corrupt block: non-zero exit, an error on stderr, only verified blocks written', async () => {
    const seedsLong = Array.from({ length: 40 }, (_, i) => 100 + i);
    const long = join(dir, 'long.img');
    writeBlocks(long, seedsLong);
    const uid = await backupCli(repo, long, 'long');
    const corruptIdx = 25;
    const digest = blockDigests(repo, uid)[corruptIdx]!;
    patchFile(objectPath(repo, digest), 16 + 100, Buffer.from([0xde, 0xad]));
    const result = await run(['--repo', repo, 'restore', uid, '-']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[OBJECT_CORRUPT\].*block 25/);
    assert.ok(result.stdout.length <= corruptIdx * BS, `wrote ${result.stdout.length} bytes, past the corrupt block at ${corruptIdx * BS}`);
    const expected = readFileSync(long).subarray(0, result.stdout.length);
    assert.equal(createHash('sha256').update(result.stdout).digest('hex'), sha256(expected), 'what was written is the verified prefix');
    assert.equal(result.stdout.length % BS, 0, 'whole blocks only');
    const bytes = seededBytes(100, BS);
    assert.ok(result.stdout.length === 0 || result.stdout.subarray(0, BS).equals(bytes));
  });
});

// Repositories with blocks of 1 MiB and more write and read their object files with O_DIRECT
// (whole 4 KiB units direct, the short tail through the page cache). These tests use 1 MiB
// blocks so every object shape goes through that path: an incompressible block (head plus a
// 16-byte tail), a compressible one, one that compresses below 4 KiB (tail only) and one whose
// object is an exact multiple of 4 KiB (head only). BLOCKVAULT_OBJECT_IO=buffered must give the
// same bytes in the store.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  backupCli, cli, objectNames, objectPath, ok, patchFile, query, restoreEquals, seededBytes, sha256, tempDir, writeImage,
} from '../helpers';

const MIB = 1024 * 1024;
const BUFFERED = { BLOCKVAULT_OBJECT_IO: 'buffered' };

/** Text-like bytes that zstd compresses about 3x. */
function textish(seed: number, length: number): Buffer {
  const words = ['block', 'device', 'version', 'backup', 'restore', 'scrub', 'object', 'digest', 'sparse', 'cleanup'];
  const random = seededBytes(seed, length);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < length; i++) {
    const word = `${words[random[i % length] % words.length]}${random[(i * 7) % length] % 100} `;
    parts.push(word);
    size += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}

/**
 * Block 0 random (object 1 MiB + 16), 1 text-like, 2 zero, 3 one repeated byte pattern (object
 * under 4 KiB), 4 a copy of block 1, and a last block of 8176 random bytes (object 8192 bytes).
 */
function writeMixedImage(path: string): number {
  const size = 5 * MIB + 8176;
  writeImage(path, size, [
    { offset: 0, data: seededBytes(11, MIB) },
    { offset: MIB, data: textish(12, MIB) },
    { offset: 3 * MIB, data: Buffer.alloc(MIB, 'abcdefgh') },
    { offset: 4 * MIB, data: textish(12, MIB) },
    { offset: 5 * MIB, data: seededBytes(13, 8176) },
  ]);
  return size;
}

/** Bytes of a file that are in the page cache (util-linux fincore). */
function residentBytes(path: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', path], { encoding: 'utf8' }).trim());
}

describe('object files with O_DIRECT (1 MiB blocks): kept out of the page cache', () => {
  const dir = tempDir();
  const image = join(dir, 'mixed.raw');
  writeMixedImage(image);
  const repo = join(dir, 'repo');
  const buffered = join(dir, 'repo-buffered');
  let uid = '';

  it('backs up every object shape and restores the image byte for byte', async () => {
    await ok(['init', repo, '--block-size', '1M']);
    uid = await backupCli(repo, image, 'mixed');
    // Before anything here reads them: only the tail pages written through the page cache are in it.
    for (const name of objectNames(repo)) {
      const bytes = residentBytes(objectPath(repo, name));
      assert.ok(bytes <= 4096, `at most the tail page of ${name} is cached, found ${bytes} bytes`);
    }
    const sizes = new Map(query<{ digest: Buffer; stored_size: number }>(repo, 'SELECT digest, stored_size FROM objects').map((r) => [r.digest.toString('hex'), r.stored_size]));
    assert.equal(sizes.size, 4, 'four distinct non-zero blocks (block 4 repeats block 1)');
    const stored = [...sizes.values()].sort((a, b) => a - b);
    assert.ok(stored[0] < 4096, `an object below 4 KiB (tail only): ${stored.join(', ')}`);
    assert.ok(stored.includes(8192), `an object of exactly 8192 bytes (head only): ${stored.join(', ')}`);
    assert.ok(stored.includes(MIB + 16), `an incompressible object of 1 MiB + 16: ${stored.join(', ')}`);
    for (const [digest, size] of sizes) {
      const bytes = readFileSync(objectPath(repo, digest));
      assert.equal(bytes.length, size, `object ${digest} has the recorded size`);
      assert.equal(bytes.subarray(0, 4).toString('latin1'), 'BVOB');
    }
    await restoreEquals(repo, uid, join(dir, 'restored.raw'), image);
    const scrub = await cli(['--repo', repo, 'scrub', '--deep', uid]);
    assert.equal(scrub.code, 0, scrub.stderr);
  });

  it('with BLOCKVAULT_OBJECT_IO=buffered writes through the page cache', async () => {
    await ok(['init', buffered, '--block-size', '1M'], BUFFERED);
    await ok(['--repo', buffered, 'backup', image, 'mixed'], BUFFERED);
    const big = objectNames(buffered).find((name) => query<{ stored_size: number }>(buffered, 'SELECT stored_size FROM objects WHERE digest = ?', Buffer.from(name, 'hex'))[0].stored_size === MIB + 16)!;
    assert.ok(residentBytes(objectPath(buffered, big)) > MIB / 2, 'a buffered write leaves the object in the page cache');
  });

  it('writes the same object bytes either way', () => {
    const names = objectNames(repo);
    assert.deepEqual(objectNames(buffered), names);
    for (const name of names) {
      assert.equal(sha256(readFileSync(objectPath(repo, name))), sha256(readFileSync(objectPath(buffered, name))), `object ${name}`);
    }
  });

  it('finds a byte flipped in the direct part and one in the tail of an object', async () => {
    const rows = query<{ digest: Buffer; stored_size: number }>(repo, 'SELECT digest, stored_size FROM objects WHERE stored_size = ?', MIB + 16);
    const big = rows[0].digest.toString('hex');
    const path = objectPath(repo, big);
    const original = readFileSync(path);
    for (const offset of [300_000, MIB + 10]) {
      patchFile(path, offset, Buffer.from([original[offset] ^ 0xff]));
      const scrub = await cli(['--repo', repo, 'scrub', '--deep', uid]);
      assert.equal(scrub.code, 20, `flip at ${offset}: ${scrub.stdout}${scrub.stderr}`);
      const restore = await cli(['--repo', repo, 'restore', uid, join(dir, `bad-${offset}.raw`)]);
      assert.equal(restore.code, 1);
      assert.match(restore.stderr, new RegExp(`block 0 \\(offset 0\\) object ${big}`));
      patchFile(path, offset, original.subarray(offset, offset + 1));
    }
    const healed = await cli(['--repo', repo, 'scrub', '--deep', uid]);
    assert.equal(healed.code, 0, 'a full deep scrub of the repaired object revalidates the version');
  });

  it('round-trips an encrypted repository with 1 MiB blocks', async () => {
    const env = { BLOCKVAULT_PASSPHRASE: 'direct io passphrase' };
    const encrypted = join(dir, 'repo-encrypted');
    await ok(['init', encrypted, '--block-size', '1M', '--encrypt'], env);
    const encUid = lastUid(await ok(['--repo', encrypted, 'backup', image, 'mixed'], env));
    await ok(['--repo', encrypted, 'restore', encUid, join(dir, 'restored-encrypted.raw')], env);
    assert.equal(sha256(readFileSync(join(dir, 'restored-encrypted.raw'))), sha256(readFileSync(image)));
  });
});

function lastUid(stdout: string): string {
  return stdout.trim().split('\n').pop()!;
}

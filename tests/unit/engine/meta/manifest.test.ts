// Manifest codec: a version's manifest made from its rows decodes to the same fields and block
// list (sparse runs compressed), in plain and encrypted form; every flipped byte, truncation
// or wrong key is refused with a code; the repository config round-trips its key slots.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EngineError } from '../../../../src-main/engine/errors';
import { decodeManifest, decodeRepositoryConfig, encodeManifest, encodeRepositoryConfig, manifestBlocks, manifestOf } from '../../../../src-main/engine/meta/manifest';
import { backup } from '../../../../src-main/engine/pipeline/backup';
import { Repository } from '../../../../src-main/engine/repository';
import { tempDir, writeImage } from '../../../unit/fixtures';

function refused(run: () => unknown, codes: string[]): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof EngineError, String(error));
    assert.ok(codes.includes(error.code), `${error.code}: ${error.message}`);
    return;
  }
  assert.fail('was accepted');
}

describe('manifest codec', () => {
  const dir = tempDir();

  it('round-trips a version made by a backup, plain and encrypted, and refuses every damage', async () => {
    const repo = Repository.init(join(dir, 'repo'), { blockSize: 64 * 1024 });
    try {
      const image = join(dir, 'a.img');
      writeImage(image, 13, 64 * 1024); // every fourth block zero
      const { uid } = await backup(repo, { source: image, name: 'disk', tags: ['t1', 't2'], snapshot: 'snap' });
      const version = repo.meta.requireVersion(uid);
      const manifest = manifestOf(repo.meta, version);
      assert.equal(manifest.uid, uid);
      assert.deepEqual(manifest.tags, ['t1', 't2']);
      assert.equal(manifest.blockListDigest, version.block_list_digest!.toString('hex'));
      assert.ok(manifest.blocks.some((b) => b < 0), 'sparse runs are encoded as negative counts');
      const rows = repo.meta.blocks(version.id).map((b) => (b.digest ? b.digest.toString('hex') : null));
      assert.deepEqual([...manifestBlocks(manifest)].map(([, o]) => (o ? o[0] : null)), rows);

      for (const key of [null, randomBytes(32)]) {
        const sealed = encodeManifest(manifest, key);
        assert.deepEqual(decodeManifest(sealed, key), manifest);
        if (key) assert.ok(!sealed.includes(Buffer.from('disk')) && !sealed.includes(Buffer.from(uid)), 'an encrypted manifest hides its fields');
        for (let i = 0; i < sealed.length; i++) {
          const flipped = Buffer.from(sealed);
          flipped[i] ^= 0x01 << (i % 8);
          refused(() => decodeManifest(flipped, key), ['METADATA_DAMAGED', 'FORMAT_UNSUPPORTED', 'WRONG_KEY']);
        }
        refused(() => decodeManifest(sealed.subarray(0, sealed.length - 1), key), ['METADATA_DAMAGED']);
        refused(() => decodeManifest(sealed, key ? randomBytes(32) : randomBytes(32)), ['METADATA_DAMAGED']);
      }
      refused(() => decodeManifest(encodeManifest(manifest, randomBytes(32)), null), ['WRONG_KEY']);
      // A list that does not match its own digest is refused even when the container is intact.
      const lying = { ...manifest, blocks: [...manifest.blocks].reverse() };
      refused(() => decodeManifest(encodeManifest(lying, null), null), ['METADATA_DAMAGED']);
      const huge = { ...manifest, blocks: [-1e15] };
      refused(() => decodeManifest(encodeManifest(huge, null), null), ['METADATA_DAMAGED']);
    } finally {
      repo.close();
    }
  });

  it('round-trips the repository config with its key slots', () => {
    const config = {
      format: 'blockvault-repository', formatVersion: 1, id: 'a7b0f2a4-5d0e-4f1e-9b7e-0c1d2e3f4a5b', created: new Date().toISOString(),
      blockSize: 65536, hash: 'hmac-sha256', compression: 'zstd:1', minAgeDays: 6, cleanupGraceSeconds: 3600,
      encryption: { algorithm: 'aes-256-gcm' as const, keys: [{ id: 'k1', kind: 'passphrase' as const, created: 'now', kdf: { algorithm: 'scrypt' as const, N: 2, r: 1, p: 1, salt: 'c2FsdA==' }, nonce: 'bm9uY2U=', wrapped: 'd3JhcHBlZA==' }] },
    };
    const sealed = encodeRepositoryConfig(config);
    assert.deepEqual(decodeRepositoryConfig(sealed), config);
    const flipped = Buffer.from(sealed);
    flipped[40] ^= 4;
    refused(() => decodeRepositoryConfig(flipped), ['METADATA_DAMAGED']);
  });
});

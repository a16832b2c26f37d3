// The folder store passes the store conformance suite, keeps the layout of existing
// repositories (objects/ab/cd/<digest>) and writes large items with O_DIRECT where it can.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alignedBuffer } from '../../../src-main/engine/codec/object';
import { openStore } from '../../../src-main/engine/store/index';
import { objectKey } from '../../../src-main/engine/store/port';
import { sha256, tempDir } from '../../helpers';
import { describeStoreConformance } from './conformance';

for (const direct of [false, true]) {
  describeStoreConformance(`folder (${direct ? 'O_DIRECT' : 'page cache'})`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'bv-store-'));
    return { store: openStore({ kind: 'folder', root, direct }), dispose: async () => rmSync(root, { recursive: true, force: true }) };
  });
}

describe('folder store layout', () => {
  it('keeps objects at objects/ab/cd/<digest> and other keys at their path', async () => {
    const root = tempDir();
    const store = openStore({ kind: 'folder', root, direct: true });
    const data = alignedBuffer(3 * 4096 + 100);
    data.fill(7);
    const digest = sha256(data);
    await store.put(objectKey(digest), data);
    const file = join(root, 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
    assert.equal(sha256(readFileSync(file)), digest);
    await store.put('manifests/abc', Buffer.from('m'));
    assert.equal(readFileSync(join(root, 'manifests', 'abc'), 'utf8'), 'm');
    await store.delete(objectKey(digest));
    assert.equal(existsSync(file), false);
  });

  it('reads the golden fixture repository\'s objects by key', async () => {
    const root = join(__dirname, '..', '..', 'fixtures', 'plain-v1');
    const store = openStore({ kind: 'folder', root, direct: false });
    const keys: string[] = [];
    for await (const entry of store.list('objects/')) keys.push(entry.key);
    assert.equal(keys.length, 9);
    for (const key of keys) {
      const object = await store.get(key);
      assert.equal(object.subarray(0, 4).toString('latin1'), 'BVOB', `${key} is an object`);
    }
  });
});

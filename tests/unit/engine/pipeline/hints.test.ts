// Hints parsing (rbd diff JSON) and the blocks a set of extents touches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../../src-main/engine/errors';
import { hintedBlocks, parseHints } from '../../../../src-main/engine/pipeline/hints';

const BS = 65536;
const isBadHints = (error: unknown): boolean => error instanceof EngineError && error.code === 'BAD_HINTS';

describe('parseHints', () => {
  it('accepts exists as a string or a boolean', () => {
    const text = JSON.stringify([
      { offset: 0, length: 10, exists: 'true' },
      { offset: 10, length: 5, exists: 'false' },
      { offset: 20, length: 1, exists: true },
      { offset: 30, length: 0, exists: false },
    ]);
    assert.deepEqual(parseHints(text, 'test').map((e) => e.exists), [true, false, true, false]);
  });

  it('refuses anything but a list of {offset, length, exists} with whole, non-negative numbers', () => {
    for (const text of ['', 'nope', '{}', 'null', '[null]', '[1]', '[{"offset":-1,"length":1,"exists":true}]', '[{"offset":0,"length":-1,"exists":true}]',
      '[{"offset":0.5,"length":1,"exists":true}]', '[{"offset":0,"length":1,"exists":"TRUE"}]', '[{"offset":0,"length":1,"exists":1}]', '[{"length":1,"exists":true}]',
      `[{"offset":${2 ** 60},"length":1,"exists":true}]`]) {
      assert.throws(() => parseHints(text, 'test'), isBadHints, text);
    }
  });
});

describe('hintedBlocks', () => {
  it('touches every block an unaligned extent overlaps, and nothing for empty extents', () => {
    const touched = (extents: Array<[number, number]>, count = 100): number[] =>
      [...hintedBlocks(extents.map(([offset, length]) => ({ offset, length, exists: true })), BS, count)].sort((a, b) => a - b);
    assert.deepEqual(touched([[0, 1]]), [0]);
    assert.deepEqual(touched([[BS - 1, 2]]), [0, 1]);
    assert.deepEqual(touched([[BS, BS]]), [1]);
    assert.deepEqual(touched([[BS + 1, BS]]), [1, 2]);
    assert.deepEqual(touched([[5 * BS, 0]]), []);
    assert.deepEqual(touched([[3 * BS, 100 * BS]], 6), [3, 4, 5], 'limited to the image');
    assert.deepEqual(touched([[10 * BS, 1]], 6), [], 'past the end');
  });
});

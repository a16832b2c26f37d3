// Shared block buffers: every unit holds the largest object of a block (O_DIRECT-aligned), a
// run's units are kept for the next run of the same block size, and pairs never share a unit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodedCapacity } from '../../../../src-main/engine/codec/object';
import { keepBuffers, keepUnits, takeBuffers, takeUnits } from '../../../../src-main/engine/pipeline/block-buffers';

const MIB = 1024 * 1024;

describe('block buffers', () => {
  it('units hold the largest object of a block, in whole 4 KiB units, in shared memory', () => {
    const units = takeUnits(MIB, 3);
    assert.equal(units.length, 3);
    for (const unit of units) {
      assert.ok(unit.length >= encodedCapacity(MIB));
      assert.equal(unit.length % 4096, 0);
      assert.ok(unit.buffer instanceof SharedArrayBuffer);
    }
    assert.equal(new Set(units.map((u) => u.buffer)).size, 3, 'each unit its own memory');
    keepUnits(MIB, units);
  });

  it('a run takes the units the last run kept, and more when it needs more', () => {
    const first = takeUnits(MIB, 2);
    keepUnits(MIB, first);
    const second = takeUnits(MIB, 4);
    assert.equal(second.length, 4);
    assert.ok(first.every((unit) => second.includes(unit)), 'the kept units come back');
    keepUnits(MIB, second);
    const other = takeUnits(2 * MIB, 1);
    assert.ok(!second.includes(other[0]), 'another block size gets its own');
    assert.ok(other[0].length >= encodedCapacity(2 * MIB));
    keepUnits(2 * MIB, other);
  });

  it('pairs (restore) are made of distinct units and go back as units (deep scrub)', () => {
    const pairs = takeBuffers(MIB, 3);
    assert.ok(pairs.length >= 3);
    const all = pairs.flatMap((p) => [p.object, p.plain]);
    assert.equal(new Set(all).size, all.length);
    keepBuffers(MIB, pairs);
    const units = takeUnits(MIB, 1);
    assert.ok(all.every((unit) => units.includes(unit)));
    keepUnits(MIB, units);
  });
});

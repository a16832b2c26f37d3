// Change hints: the JSON that `rbd diff --format=json` prints (backy2's hints file), a list
// of extents {"offset", "length", "exists"} in bytes, not necessarily block aligned. A hint
// says "these bytes may have changed since the base version"; `exists` false means they
// became zero. Every block an extent touches is reread, so alignment never loses a change.
import { readFileSync } from 'node:fs';
import { EngineError, jsonErrorPosition } from '../errors';

export interface HintExtent {
  offset: number;
  length: number;
  exists: boolean;
}

export function parseHints(text: string, origin: string): HintExtent[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // The position only: JSON.parse's message quotes the file's content.
    throw new EngineError('BAD_HINTS', `hints ${origin} are not valid JSON (at position ${jsonErrorPosition(text)})`);
  }
  if (!Array.isArray(data)) throw new EngineError('BAD_HINTS', `hints ${origin} must be a JSON array of {offset, length, exists}`);
  return data.map((entry, i) => {
    const where = `hints ${origin} entry ${i}`;
    if (typeof entry !== 'object' || entry === null) throw new EngineError('BAD_HINTS', `${where} is not an object`);
    const { offset, length, exists } = entry as Record<string, unknown>;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new EngineError('BAD_HINTS', `${where}: offset must be a whole number >= 0`);
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw new EngineError('BAD_HINTS', `${where}: length must be a whole number >= 0`);
    let present: boolean;
    if (exists === true || exists === 'true') present = true;
    else if (exists === false || exists === 'false') present = false;
    else throw new EngineError('BAD_HINTS', `${where}: exists must be true or false (or "true"/"false")`);
    return { offset, length, exists: present };
  });
}

export function readHintsFile(path: string): HintExtent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EngineError('BAD_HINTS', `cannot read hints file ${path}: ${(error as Error).message}`);
  }
  return parseHints(text, path);
}

/** Refuses extents that reach past the end of an image of `size` bytes. */
export function checkHintsWithin(extents: readonly HintExtent[], size: number, origin: string): void {
  extents.forEach((extent, i) => {
    if (extent.offset + extent.length > size) {
      throw new EngineError('BAD_HINTS', `hints ${origin} entry ${i}: the extent ends at byte ${extent.offset + extent.length}, beyond the image's size of ${size} bytes; the hints are not for this image`);
    }
  });
}

/** Indices of the blocks the extents touch, limited to blockCount, ascending. */
export function hintedBlocks(extents: readonly HintExtent[], blockSize: number, blockCount: number): Set<number> {
  const touched = new Set<number>();
  for (const extent of extents) {
    if (extent.length === 0) continue;
    const first = Math.floor(extent.offset / blockSize);
    const last = Math.min(blockCount - 1, Math.floor((extent.offset + extent.length - 1) / blockSize));
    for (let idx = first; idx <= last; idx++) touched.add(idx);
  }
  return touched;
}

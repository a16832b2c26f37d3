// Unit test helpers: temporary folders removed after the file, small images, waiting.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';

export function tempDir(prefix = 'bv-unit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An image of `blocks` blocks of `blockSize`: random, with every fourth block zero. */
export function writeImage(path: string, blocks: number, blockSize: number): Buffer {
  const data = randomBytes(blocks * blockSize);
  for (let idx = 0; idx < blocks; idx += 4) data.fill(0, idx * blockSize, (idx + 1) * blockSize);
  writeFileSync(path, data);
  return data;
}

export async function until(condition: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Benchmark images: a deterministic mixed image (random, text-like, zero and repeated blocks,
// shuffled by a seeded generator), the deterministic 1% change applied to it later, and a
// mostly sparse image for the memory test. Same seed and size, same bytes, on every machine.
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';

export const BENCH_BLOCK = 4 * 1024 * 1024;

export type BlockKind = 'random' | 'text' | 'zero' | 'repeat';

/** sfc32: small, fast, seedable; good enough to choose and shuffle. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** uniform 32-bit unsigned */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** uniform integer in [0, n) */
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** Pseudo-random bytes: an AES-128-CTR keystream, several GB/s with AES-NI. */
export function keystream(seed: string, stream: number, length: number): Buffer {
  const key = createHash('sha256').update(`bench-key:${seed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(stream >>> 0, 0);
  iv.writeUInt32BE(Math.floor(stream / 4294967296), 4);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return cipher.update(Buffer.alloc(length));
}

// ---- text-like blocks: Zipf-distributed words from syllables, with numbers and line breaks,
// about what zstd -1 makes of logs and source text (roughly 3x smaller).
const SYLLABLES = ['ka', 'to', 're', 'mi', 'sun', 'lo', 'ver', 'an', 'tis', 'el', 'por', 'da', 'ne', 'qu', 'ix', 'ho', 'ma', 'ber', 'st', 'on', 'ic', 'al', 'ent', 'ur'];
const WORD_COUNT = 8192;
let wordTable: { bytes: Uint8Array; starts: Uint32Array; lengths: Uint8Array; zipf: Uint16Array } | null = null;

function words(): NonNullable<typeof wordTable> {
  if (wordTable) return wordTable;
  const prng = new Prng('bench-words');
  const list: string[] = [];
  for (let i = 0; i < WORD_COUNT; i++) {
    let word = '';
    const parts = 1 + prng.below(4);
    for (let p = 0; p < parts; p++) word += SYLLABLES[prng.below(SYLLABLES.length)];
    list.push(word);
  }
  const bytes = Buffer.from(list.join(''), 'latin1');
  const starts = new Uint32Array(WORD_COUNT);
  const lengths = new Uint8Array(WORD_COUNT);
  let at = 0;
  list.forEach((word, i) => { starts[i] = at; lengths[i] = word.length; at += word.length; });
  // 65536 entries mapping a uniform 16-bit number to a word index with P(rank r) ~ 1/r.
  const zipf = new Uint16Array(65536);
  let harmonic = 0;
  for (let r = 1; r <= WORD_COUNT; r++) harmonic += 1 / r;
  let cumulative = 0;
  let rank = 0;
  for (let i = 0; i < 65536; i++) {
    while (rank < WORD_COUNT - 1 && cumulative + 1 / (rank + 1) / harmonic < (i + 0.5) / 65536) {
      cumulative += 1 / (rank + 1) / harmonic;
      rank++;
    }
    zipf[i] = rank;
  }
  wordTable = { bytes, starts, lengths, zipf };
  return wordTable;
}

function textBlock(seed: string, stream: number, length: number): Buffer {
  const { bytes, starts, lengths, zipf } = words();
  const prng = new Prng(`bench-text:${seed}:${stream}`);
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  let lineWords = 0;
  while (at < length) {
    const r = prng.next();
    if ((r & 0x3f) === 0) {
      // a number, as logs and tables have: 6 decimal digits
      let n = r >>> 12;
      for (let k = 0; k < 6 && at < length; k++) { out[at++] = 48 + (n % 10); n = Math.floor(n / 10); }
    } else {
      const w = zipf[r >>> 16];
      const start = starts[w];
      const end = start + lengths[w];
      for (let k = start; k < end && at < length; k++) out[at++] = bytes[k];
    }
    if (at >= length) break;
    lineWords++;
    if (lineWords > 8 && (r & 0xf00) === 0) { out[at++] = 10; lineWords = 0; } else out[at++] = 32;
  }
  return out;
}

export interface ImagePlan {
  size: number;
  blockCount: number;
  kinds: BlockKind[];
  /** per block: the content stream it carries (a repeat carries an earlier block's stream) */
  streams: number[];
  /** per block: the kind of its content (a repeat's source kind) */
  contentKinds: Array<'random' | 'text' | 'zero'>;
  counts: Record<BlockKind, number>;
}

/** 40% random, 30% text-like, 20% zero, 10% repeats of earlier blocks, shuffled by the seed. */
export function planImage(size: number, seed: string): ImagePlan {
  const blockCount = Math.ceil(size / BENCH_BLOCK);
  const random = Math.round(blockCount * 0.4);
  const text = Math.round(blockCount * 0.3);
  const zero = Math.round(blockCount * 0.2);
  const repeat = Math.max(0, blockCount - random - text - zero);
  const kinds: BlockKind[] = [
    ...Array<BlockKind>(random).fill('random'),
    ...Array<BlockKind>(text).fill('text'),
    ...Array<BlockKind>(zero).fill('zero'),
    ...Array<BlockKind>(repeat).fill('repeat'),
  ].slice(0, blockCount);
  const prng = new Prng(`bench-plan:${seed}`);
  prng.shuffle(kinds);
  // A repeat needs an earlier random or text block: move the first unique one before it.
  const firstUnique = kinds.findIndex((k) => k === 'random' || k === 'text');
  const firstRepeat = kinds.indexOf('repeat');
  if (firstRepeat >= 0 && firstUnique > firstRepeat) [kinds[firstRepeat], kinds[firstUnique]] = [kinds[firstUnique], kinds[firstRepeat]];
  const streams: number[] = [];
  const contentKinds: ImagePlan['contentKinds'] = [];
  const uniques: number[] = [];
  kinds.forEach((kind, idx) => {
    // the last block may be shorter; a repeat of a full block there would not be one
    if (kind === 'repeat' && (uniques.length === 0 || idx === blockCount - 1 && size % BENCH_BLOCK !== 0)) kinds[idx] = kind = 'random';
    if (kind === 'repeat') {
      const source = uniques[prng.below(uniques.length)];
      streams.push(streams[source]);
      contentKinds.push(contentKinds[source]);
    } else {
      streams.push(idx);
      contentKinds.push(kind);
      if (kind !== 'zero') uniques.push(idx);
    }
  });
  const counts: Record<BlockKind, number> = { random: 0, text: 0, zero: 0, repeat: 0 };
  for (const kind of kinds) counts[kind]++;
  return { size, blockCount, kinds, streams, contentKinds, counts };
}

export function blockContent(plan: ImagePlan, seed: string, idx: number): Buffer {
  const length = Math.min(BENCH_BLOCK, plan.size - idx * BENCH_BLOCK);
  const kind = plan.contentKinds[idx];
  if (kind === 'zero') return Buffer.alloc(length);
  if (kind === 'random') return keystream(seed, plan.streams[idx], length);
  return textBlock(seed, plan.streams[idx], length);
}

/** Writes the image (zero blocks as real zeros, not holes) and syncs it; returns its sha256. */
export function writeImage(path: string, plan: ImagePlan, seed: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w', 0o644);
  try {
    for (let idx = 0; idx < plan.blockCount; idx++) {
      const data = blockContent(plan, seed, idx);
      hash.update(data);
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, idx * BENCH_BLOCK + done);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export interface Change {
  block: number;
  offset: number;
  length: number;
}

/** 1% of the blocks (at least one), each overwritten in a 256 KiB stretch at a 4 KiB-aligned offset. */
export function planChanges(plan: ImagePlan, seed: string, fraction = 0.01): Change[] {
  const count = Math.max(1, Math.round(plan.blockCount * fraction));
  const prng = new Prng(`bench-change:${seed}`);
  const chosen = prng.shuffle(Array.from({ length: plan.blockCount }, (_, i) => i)).slice(0, count).sort((a, b) => a - b);
  return chosen.map((block) => {
    const blockLength = Math.min(BENCH_BLOCK, plan.size - block * BENCH_BLOCK);
    const length = Math.min(256 * 1024, blockLength);
    const slots = Math.floor((blockLength - length) / 4096) + 1;
    return { block, offset: block * BENCH_BLOCK + prng.below(slots) * 4096, length };
  });
}

/** Applies the changes in place and syncs the file. */
export function applyChanges(path: string, changes: Change[], seed: string): void {
  const fd = openSync(path, 'r+');
  try {
    changes.forEach((change, i) => {
      const data = keystream(`${seed}:change`, i, change.length);
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, change.offset + done);
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** rbd diff --format=json style hints listing exactly the changed extents. */
export function hintsJson(changes: Change[]): string {
  return JSON.stringify(changes.map((c) => ({ offset: c.offset, length: c.length, exists: 'true' })));
}

/** A mostly sparse image: holes everywhere except `dataBlocks` blocks spread evenly (half random, half text). */
export function writeSparseImage(path: string, size: number, dataBlocks: number, seed: string): void {
  const blockCount = Math.ceil(size / BENCH_BLOCK);
  const fd = openSync(path, 'w', 0o644);
  try {
    ftruncateSync(fd, size);
    const step = Math.max(1, Math.floor(blockCount / Math.max(1, dataBlocks)));
    for (let n = 0, idx = 0; n < dataBlocks && idx < blockCount; n++, idx += step) {
      const length = Math.min(BENCH_BLOCK, size - idx * BENCH_BLOCK);
      const data = n % 2 === 0 ? keystream(`${seed}:sparse`, idx, length) : textBlock(`${seed}:sparse`, idx, length);
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, idx * BENCH_BLOCK + done);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

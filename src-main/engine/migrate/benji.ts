// Benji's metadata export (`benji metadata-export`) and its file storage. The export is JSON:
//   {"metadata_version":"3.0.0","versions":[{"uid","date":"YYYY-MM-DDTHH:MM:SS.ffffffZ","volume",
//     "snapshot","size" (bytes),"block_size","storage","status":"valid|invalid|incomplete",
//     "protected","labels":{name:value},"blocks":[{"uid":{"left","right"},"idx","size","valid",
//     "checksum":"<hex>"}]}]}
// Version 3 lists no sparse blocks (a missing index is sparse); version 2 may list them with
// a null uid. Version 1 (integer uids, "name", "snapshot_name", blocks with "id") is read too.
// A block's data is in the file storage at `blocks/<md5(key)[0:2]>/<md5(key)[2:4]>/<key>`,
// key `<left as 16 hex>-<right as 16 hex>`, with a JSON sidecar `<key>.meta` whose
// `transforms` list says how the data was encapsulated (zstd is undone here; encrypted data
// is refused). Checksums are BLAKE2b with 256-bit digests unless told otherwise.
import { createHash, getHashes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { DCtx } from 'zstd-napi/binding';
import { EngineError } from '../errors';
import { escapeField } from './backy2';
import { blockvaultUid, type LegacyBlock, type LegacyDataReader, type LegacyVersion } from './legacy';

function bad(message: string): EngineError {
  return new EngineError('BAD_EXPORT', `Benji export refused, nothing was changed: ${message}`);
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Benji's storage key of a block uid. */
export function benjiBlockKey(left: number, right: number): string {
  return `${left.toString(16).padStart(16, '0')}-${right.toString(16).padStart(16, '0')}`;
}

/** Parses a Benji metadata export; checks everything, changes nothing. */
export function parseBenjiExport(text: string, file = 'export'): LegacyVersion[] {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw bad(`${file} is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(root) || typeof root.metadata_version !== 'string' || !Array.isArray(root.versions)) throw bad(`${file} is not a Benji metadata export`);
  const major = Number(root.metadata_version.split('.')[0]);
  if (![1, 2, 3].includes(major)) throw bad(`metadata version ${root.metadata_version} is not supported (1.x to 3.x are)`);
  return root.versions.map((raw, n) => {
    const where = `${file} version ${n + 1}`;
    if (!isObject(raw)) throw bad(`${where} is not an object`);
    const uid = major === 1 ? (typeof raw.uid === 'number' ? `V${String(raw.uid).padStart(10, '0')}` : '') : raw.uid;
    const volume = major === 1 ? raw.name : raw.volume;
    const snapshot = major === 1 ? raw.snapshot_name : raw.snapshot;
    if (typeof uid !== 'string' || !/^[0-9A-Za-z][0-9A-Za-z._:-]{0,254}$/.test(uid)) throw bad(`${where}: uid ${JSON.stringify(raw.uid)} is not a version uid`);
    if (typeof volume !== 'string' || typeof snapshot !== 'string') throw bad(`${where}: volume and snapshot must be strings`);
    const dateText = typeof raw.date === 'string' ? (major === 1 && !raw.date.endsWith('Z') ? `${raw.date}Z` : raw.date) : '';
    const date = Date.parse(dateText);
    if (Number.isNaN(date)) throw bad(`${where}: date ${JSON.stringify(raw.date)} is not an ISO date`);
    const size = raw.size;
    const blockSize = raw.block_size;
    if (!Number.isSafeInteger(size) || (size as number) < 0) throw bad(`${where}: size must be a whole number of bytes`);
    if (!Number.isSafeInteger(blockSize) || (blockSize as number) <= 0) throw bad(`${where}: block_size must be a whole number`);
    const status = raw.status ?? (raw.valid === true || raw.valid === 1 ? 'valid' : 'invalid');
    if (status !== 'valid' && status !== 'invalid' && status !== 'incomplete') throw bad(`${where}: status ${JSON.stringify(status)} is unknown`);
    const labels = Array.isArray(raw.labels)
      ? Object.fromEntries((raw.labels as Json[]).map((l) => [String(l.name), String(l.value)]))
      : isObject(raw.labels) ? raw.labels : {};
    const tags = [`benji_uid=${uid}`, ...Object.entries(labels).map(([name, value]) => escapeField(value === '' ? name : `${name}=${String(value)}`).replace(/,/g, '\\x2c'))].sort();
    const sizeBlocks = Math.ceil((size as number) / (blockSize as number));
    if (!Array.isArray(raw.blocks)) throw bad(`${where}: blocks must be a list`);
    const seen = new Set<number>();
    const blocks: LegacyBlock[] = [];
    for (const b of raw.blocks as unknown[]) {
      if (!isObject(b)) throw bad(`${where}: a block is not an object`);
      const idx = major === 1 ? b.id : b.idx;
      if (!Number.isSafeInteger(idx) || (idx as number) < 0 || (idx as number) >= sizeBlocks) throw bad(`${where}: block index ${JSON.stringify(idx)} is outside the version`);
      if (seen.has(idx as number)) throw bad(`${where}: block ${String(idx)} appears twice`);
      seen.add(idx as number);
      const blockUid = b.uid;
      const sparse = blockUid === null || (isObject(blockUid) && (blockUid.left === null || blockUid.right === null));
      if (!sparse && !(isObject(blockUid) && Number.isSafeInteger(blockUid.left) && Number.isSafeInteger(blockUid.right))) throw bad(`${where}: block ${String(idx)} has no uid {left, right}`);
      if (!sparse && (typeof b.checksum !== 'string' || !/^[0-9a-f]{16,256}$/i.test(b.checksum))) throw bad(`${where}: block ${String(idx)} has no hex checksum`);
      if (!Number.isSafeInteger(b.size)) throw bad(`${where}: block ${String(idx)} has no size`);
      blocks.push({
        idx: idx as number,
        key: sparse ? null : benjiBlockKey((blockUid as Json).left as number, (blockUid as Json).right as number),
        checksum: sparse ? null : (b.checksum as string).toLowerCase(),
        size: b.size as number,
      });
    }
    // Version 3 leaves sparse blocks out: every index without a row is sparse.
    for (let idx = 0; idx < sizeBlocks; idx++) {
      if (!seen.has(idx)) blocks.push({ idx, key: null, checksum: null, size: Math.min(blockSize as number, (size as number) - idx * (blockSize as number)) });
    }
    blocks.sort((a, b) => a.idx - b.idx);
    return {
      uid: blockvaultUid('benji', uid), legacyUid: uid, name: escapeField(volume), snapshot: escapeField(snapshot), date, sizeBytes: size as number, sizeBlocks,
      valid: status === 'valid', protected: raw.protected === true || raw.protected === 1, tags, blocks,
    };
  });
}

// ---- BLAKE2b (RFC 7693) with any digest length: Node's crypto has only the 512-bit variant.
// 64-bit words are pairs of 32-bit halves (low, high) in Uint32Arrays.
const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);
const SIGMA = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4, 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13, 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11, 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5, 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
].map((x) => x * 2);

const v = new Uint32Array(32);
const m = new Uint32Array(32);
const h = new Uint32Array(16);
const lastBlock = Buffer.alloc(128);

function add(a: number, b: number): void {
  const lo = v[a] + v[b];
  v[a + 1] = (v[a + 1] + v[b + 1] + (lo >= 0x100000000 ? 1 : 0)) >>> 0;
  v[a] = lo >>> 0;
}

function addWord(a: number, lo: number, hi: number): void {
  const sum = v[a] + lo;
  v[a + 1] = (v[a + 1] + hi + (sum >= 0x100000000 ? 1 : 0)) >>> 0;
  v[a] = sum >>> 0;
}

function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  add(a, b); addWord(a, m[x], m[x + 1]);
  let lo = v[d] ^ v[a]; let hi = v[d + 1] ^ v[a + 1];
  v[d] = hi; v[d + 1] = lo; // rotate right 32
  add(c, d);
  lo = v[b] ^ v[c]; hi = v[b + 1] ^ v[c + 1];
  v[b] = (lo >>> 24) ^ (hi << 8); v[b + 1] = (hi >>> 24) ^ (lo << 8);
  add(a, b); addWord(a, m[y], m[y + 1]);
  lo = v[d] ^ v[a]; hi = v[d + 1] ^ v[a + 1];
  v[d] = (lo >>> 16) ^ (hi << 16); v[d + 1] = (hi >>> 16) ^ (lo << 16);
  add(c, d);
  lo = v[b] ^ v[c]; hi = v[b + 1] ^ v[c + 1];
  v[b] = (hi >>> 31) ^ (lo << 1); v[b + 1] = (lo >>> 31) ^ (hi << 1);
}

function compress(input: Buffer, at: number, counter: number, last: boolean): void {
  for (let i = 0; i < 16; i++) { v[i] = h[i]; v[i + 16] = IV[i]; }
  v[24] ^= counter >>> 0;
  v[25] ^= Math.floor(counter / 0x100000000);
  if (last) { v[28] = ~v[28]; v[29] = ~v[29]; }
  for (let i = 0; i < 32; i++) m[i] = input.readUInt32LE(at + 4 * i);
  for (let r = 0; r < 12; r++) {
    const s = r * 16;
    g(0, 8, 16, 24, SIGMA[s], SIGMA[s + 1]);
    g(2, 10, 18, 26, SIGMA[s + 2], SIGMA[s + 3]);
    g(4, 12, 20, 28, SIGMA[s + 4], SIGMA[s + 5]);
    g(6, 14, 22, 30, SIGMA[s + 6], SIGMA[s + 7]);
    g(0, 10, 20, 30, SIGMA[s + 8], SIGMA[s + 9]);
    g(2, 12, 22, 24, SIGMA[s + 10], SIGMA[s + 11]);
    g(4, 14, 16, 26, SIGMA[s + 12], SIGMA[s + 13]);
    g(6, 8, 18, 28, SIGMA[s + 14], SIGMA[s + 15]);
  }
  for (let i = 0; i < 16; i++) h[i] ^= v[i] ^ v[i + 16];
}

export function blake2b(data: Uint8Array, outBytes: number): Buffer {
  if (!(outBytes >= 1 && outBytes <= 64)) throw new EngineError('INVALID_ARGUMENT', 'BLAKE2b digests are 1 to 64 bytes');
  const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  h.set(IV);
  h[0] ^= 0x01010000 ^ outBytes;
  let offset = 0;
  // Every block but the last is compressed as it comes; the last one gets the final flag.
  while (input.length - offset > 128) {
    compress(input, offset, offset + 128, false);
    offset += 128;
  }
  lastBlock.fill(0);
  input.copy(lastBlock, 0, offset);
  compress(lastBlock, 0, input.length, true);
  const out = Buffer.alloc(outBytes);
  for (let i = 0; i < outBytes; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
  return out;
}

/** Benji's hash function setting: "BLAKE2b,digest_bits=256" (its default) or a hashlib name. */
export function benjiHasher(spec: string): (data: Uint8Array) => string {
  const blake = /^blake2b(?:,digest_bits=(\d+))?$/i.exec(spec.replace(/\s/g, ''));
  if (blake) {
    const bits = Number(blake[1] ?? 512);
    if (bits % 8 !== 0 || bits < 8 || bits > 512) throw new EngineError('INVALID_ARGUMENT', `BLAKE2b digest_bits ${bits} is not 8 to 512 in steps of 8`);
    return (data) => blake2b(data, bits / 8).toString('hex');
  }
  const name = spec.toLowerCase();
  if (!getHashes().includes(name)) throw new EngineError('INVALID_ARGUMENT', `unknown hash function "${spec}" (Benji's default is BLAKE2b,digest_bits=256)`);
  return (data) => createHash(name).update(data).digest('hex');
}

interface SidecarTransform { name?: string; module?: string; materials?: Json }

/** Reads blocks from a Benji file storage (its `path`), undoing zstd transforms. */
export class BenjiDataFolder implements LegacyDataReader {
  readonly description: string;
  private readonly hasher: (data: Uint8Array) => string;
  private readonly dctx = new DCtx();

  constructor(readonly root: string, hash = 'BLAKE2b,digest_bits=256') {
    this.hasher = benjiHasher(hash);
    this.description = `benji:${root}`;
  }

  blockPath(key: string): string {
    const digest = createHash('md5').update(key).digest('hex');
    return join(this.root, 'blocks', digest.slice(0, 2), digest.slice(2, 4), key);
  }

  async read(block: LegacyBlock): Promise<Buffer | null> {
    const path = this.blockPath(block.key!);
    let data: Buffer;
    let sidecar: Json = {};
    try {
      data = await fs.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      sidecar = JSON.parse(await fs.readFile(`${path}.meta`, 'utf8')) as Json;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new EngineError('OBJECT_CORRUPT', `Benji block ${block.key}: its .meta sidecar is unreadable: ${(error as Error).message}`);
    }
    const transforms = Array.isArray(sidecar.transforms) ? (sidecar.transforms as SidecarTransform[]) : [];
    for (const transform of [...transforms].reverse()) {
      const module = String(transform.module ?? transform.name ?? '');
      if (!/zstd/.test(module)) {
        throw new EngineError('FORMAT_UNSUPPORTED', `Benji block ${block.key} was stored with the transform "${module}"; only zstd-compressed or plain Benji data can be migrated`);
      }
      const original = Number(transform.materials?.original_size ?? block.size);
      const out = Buffer.alloc(original);
      let written: number;
      try {
        written = this.dctx.decompress(out, data);
      } catch (error) {
        return Buffer.from(`undecodable: ${(error as Error).message}`); // fails the checksum: reported, never accepted
      }
      data = out.subarray(0, written);
    }
    return data;
  }

  verify(block: LegacyBlock, data: Buffer): boolean {
    return block.checksum !== null && this.hasher(data) === block.checksum;
  }
}

export function benjiDataFolder(root: string, hash?: string): BenjiDataFolder {
  return new BenjiDataFolder(root, hash);
}

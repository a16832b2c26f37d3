// Manifests: what the store keeps so the database can be rebuilt from it alone. A *manifest*
// describes one version (its fields and its block list: block index -> object, sparse runs
// compressed); the *repository config* holds the settings and the wrapped key slots. Both are
// sealed in the container of format.ts (checksummed; a manifest is encrypted with the
// metadata key in an encrypted repository). Encoding and decoding here are pure; the store
// calls live with the repository.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { EngineError } from '../errors';
import {
  DIGEST_BYTES,
  Encryption,
  GCM_NONCE_SIZE,
  GCM_TAG_SIZE,
  MANIFEST_BODY_VERSION,
  MANIFEST_MAGIC,
  REPOSITORY_CONFIG_MAGIC,
  STORED_ITEM_FORMAT_VERSION,
  STORED_ITEM_HEADER_SIZE,
} from '../format';
import type { KeySlot } from '../codec/keys';
import { BlockListHasher } from './blocklist';
import type { Metadata, VersionRow } from './database';

/** One object a manifest references: name (hex digest), plaintext length, stored size. */
export type ManifestObject = [name: string, length: number, storedSize: number];

export interface Manifest {
  manifestVersion: number;
  uid: string;
  name: string;
  snapshot: string;
  /** ms since the epoch */
  date: number;
  size: number;
  blockSize: number;
  baseUid: string | null;
  source: string;
  protected: boolean;
  tags: string[];
  /** hex digest of the block list (format.ts BLOCK_LIST_*) */
  blockListDigest: string;
  /** the distinct objects, in order of first use */
  objects: ManifestObject[];
  /** in block order: n >= 0 is one block stored as objects[n]; -n is a run of n sparse blocks */
  blocks: number[];
}

export interface RepositoryConfigBody {
  format: string;
  formatVersion: number;
  id: string;
  created: string;
  blockSize: number;
  hash: string;
  compression: string;
  minAgeDays: number;
  cleanupGraceSeconds: number;
  encryption?: { algorithm: 'aes-256-gcm'; keys: KeySlot[]; generation?: number };
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

function damaged(what: string, detail: string): EngineError {
  return new EngineError('METADATA_DAMAGED', `${what} in the store is damaged: ${detail}`);
}

/** Seals a body in the container: checksummed, or encrypted when a key is given. */
export function sealItem(magic: Buffer, body: Buffer, key: Buffer | null): Buffer {
  const header = Buffer.alloc(STORED_ITEM_HEADER_SIZE);
  magic.copy(header, 0);
  header[4] = STORED_ITEM_FORMAT_VERSION;
  header[5] = key ? Encryption.aes256gcm : Encryption.none;
  header.writeBigUInt64LE(BigInt(body.length), 8);
  if (!key) return Buffer.concat([header, body, createHash('sha256').update(header).update(body).digest()]);
  const nonce = randomBytes(GCM_NONCE_SIZE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(header);
  return Buffer.concat([header, nonce, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
}

/** Opens a sealed item: checks magic, version, length and checksum (or decrypts). */
export function openItem(magic: Buffer, data: Buffer, key: Buffer | null, what: string): Buffer {
  if (data.length < STORED_ITEM_HEADER_SIZE || !data.subarray(0, 4).equals(magic)) throw damaged(what, 'not a Blockvault item of this kind');
  if (data[4] !== STORED_ITEM_FORMAT_VERSION) {
    throw new EngineError('FORMAT_UNSUPPORTED', `${what} has format version ${data[4]}; this release reads ${STORED_ITEM_FORMAT_VERSION}`);
  }
  if (data[6] !== 0 || data[7] !== 0) throw damaged(what, 'reserved header bytes are set');
  const header = data.subarray(0, STORED_ITEM_HEADER_SIZE);
  const length = Number(data.readBigUInt64LE(8));
  if (data[5] === Encryption.none) {
    if (data.length !== STORED_ITEM_HEADER_SIZE + length + DIGEST_BYTES) throw damaged(what, `${data.length} bytes, the header announces ${length} + checksum`);
    const body = data.subarray(STORED_ITEM_HEADER_SIZE, STORED_ITEM_HEADER_SIZE + length);
    const sum = createHash('sha256').update(header).update(body).digest();
    if (!sum.equals(data.subarray(STORED_ITEM_HEADER_SIZE + length))) throw damaged(what, 'checksum mismatch');
    if (key) throw damaged(what, 'it is not encrypted in an encrypted repository');
    return body;
  }
  if (data[5] !== Encryption.aes256gcm) throw damaged(what, `unknown encryption ${data[5]}`);
  if (!key) throw new EngineError('WRONG_KEY', `${what} is encrypted; open the repository with its passphrase or key file`);
  if (data.length !== STORED_ITEM_HEADER_SIZE + GCM_NONCE_SIZE + length + GCM_TAG_SIZE) throw damaged(what, `${data.length} bytes, the header announces ${length}`);
  const nonce = data.subarray(STORED_ITEM_HEADER_SIZE, STORED_ITEM_HEADER_SIZE + GCM_NONCE_SIZE);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(header);
    decipher.setAuthTag(data.subarray(data.length - GCM_TAG_SIZE));
    return Buffer.concat([decipher.update(data.subarray(STORED_ITEM_HEADER_SIZE + GCM_NONCE_SIZE, data.length - GCM_TAG_SIZE)), decipher.final()]);
  } catch {
    throw damaged(what, 'it does not decrypt (altered, truncated, or sealed with another key)');
  }
}

/** The manifest of a version as its rows are now; METADATA_DAMAGED when they do not match its digest. */
export function manifestOf(meta: Metadata, version: VersionRow): Manifest {
  const objects: ManifestObject[] = [];
  const numbers = new Map<number, number>();
  const blocks: number[] = [];
  for (const row of meta.iterateBlocks(version.id)) {
    if (row.object_id === null) {
      const last = blocks.length - 1;
      if (last >= 0 && blocks[last] < 0) blocks[last]--;
      else blocks.push(-1);
      continue;
    }
    if (!row.digest) throw new EngineError('METADATA_DAMAGED', `metadata damaged: version ${version.uid} block ${row.idx} points at no object`);
    let n = numbers.get(row.object_id);
    if (n === undefined) {
      n = objects.length;
      numbers.set(row.object_id, n);
      objects.push([row.digest.toString('hex'), row.length!, row.stored_size!]);
    }
    blocks.push(n);
  }
  const manifest: Manifest = {
    manifestVersion: MANIFEST_BODY_VERSION,
    uid: version.uid,
    name: version.name,
    snapshot: version.snapshot,
    date: version.date,
    size: version.size,
    blockSize: version.block_size,
    baseUid: version.base_uid,
    source: version.source,
    protected: version.protected === 1,
    tags: version.tags ? version.tags.split(',') : [],
    blockListDigest: '',
    objects,
    blocks,
  };
  const digest = manifestBlockListDigest(manifest);
  if (!digest || (version.block_list_digest && !digest.equals(version.block_list_digest))) {
    throw new EngineError('METADATA_DAMAGED', `metadata damaged: version ${version.uid}'s block list does not match its digest; its manifest was not written`);
  }
  manifest.blockListDigest = digest.toString('hex');
  return manifest;
}

/** Block index -> object name (null = sparse), expanded from a manifest. */
export function* manifestBlocks(manifest: Manifest): Generator<[idx: number, object: ManifestObject | null]> {
  let idx = 0;
  for (const entry of manifest.blocks) {
    if (entry < 0) {
      for (let i = 0; i < -entry; i++) yield [idx++, null];
    } else {
      yield [idx++, manifest.objects[entry]];
    }
  }
}

/** The block-list digest of a manifest's list, computed as the engine computes it from rows. */
export function manifestBlockListDigest(manifest: Manifest): Buffer | null {
  const hasher = new BlockListHasher({ uid: manifest.uid, size: manifest.size, blockSize: manifest.blockSize });
  for (const [idx, object] of manifestBlocks(manifest)) {
    if (object === null) hasher.add(idx, null, null);
    else hasher.add(idx, 1, Buffer.from(object[0], 'hex'));
  }
  return hasher.digest();
}

export function encodeManifest(manifest: Manifest, key: Buffer | null): Buffer {
  return sealItem(MANIFEST_MAGIC, Buffer.from(JSON.stringify(manifest), 'utf8'), key);
}

/** Decodes and checks a manifest completely (fields, block count, digest of its list). */
export function decodeManifest(data: Buffer, key: Buffer | null, what = 'manifest'): Manifest {
  const body = openItem(MANIFEST_MAGIC, data, key, what);
  let m: Manifest;
  try {
    m = JSON.parse(body.toString('utf8')) as Manifest;
  } catch {
    throw damaged(what, 'its body is not JSON');
  }
  const isInt = (v: unknown, min = 0): boolean => Number.isSafeInteger(v) && (v as number) >= min;
  if (m?.manifestVersion !== MANIFEST_BODY_VERSION) throw new EngineError('FORMAT_UNSUPPORTED', `${what} has body version ${String(m?.manifestVersion)}; this release reads ${MANIFEST_BODY_VERSION}`);
  if (typeof m.uid !== 'string' || m.uid.length === 0 || Buffer.byteLength(m.uid) > 255 || typeof m.name !== 'string' || typeof m.snapshot !== 'string' || typeof m.source !== 'string'
    || !isInt(m.date) || !isInt(m.size) || !isInt(m.blockSize, 1) || typeof m.protected !== 'boolean'
    || !(m.baseUid === null || typeof m.baseUid === 'string')
    || !Array.isArray(m.tags) || !m.tags.every((t) => typeof t === 'string')
    || typeof m.blockListDigest !== 'string' || !HEX_DIGEST.test(m.blockListDigest)
    || !Array.isArray(m.objects) || !Array.isArray(m.blocks)) {
    throw damaged(what, 'malformed fields');
  }
  for (const o of m.objects) {
    if (!Array.isArray(o) || o.length !== 3 || typeof o[0] !== 'string' || !HEX_DIGEST.test(o[0]) || !isInt(o[1], 1) || !isInt(o[2])) throw damaged(what, 'malformed object entry');
  }
  const count = Math.ceil(m.size / m.blockSize);
  let covered = 0;
  for (const b of m.blocks) {
    if (!Number.isSafeInteger(b) || b >= m.objects.length) throw damaged(what, 'malformed block entry');
    covered += b < 0 ? -b : 1;
    if (covered > count) throw damaged(what, `its block list covers more than the version's ${count} blocks`);
  }
  const digest = manifestBlockListDigest(m);
  if (!digest || digest.toString('hex') !== m.blockListDigest) throw damaged(what, `version ${m.uid}'s block list does not match its digest`);
  return m;
}

export function encodeRepositoryConfig(config: RepositoryConfigBody): Buffer {
  return sealItem(REPOSITORY_CONFIG_MAGIC, Buffer.from(JSON.stringify(config), 'utf8'), null);
}

export function decodeRepositoryConfig(data: Buffer, what = 'repository/config'): RepositoryConfigBody {
  const body = openItem(REPOSITORY_CONFIG_MAGIC, data, null, what);
  let c: RepositoryConfigBody;
  try {
    c = JSON.parse(body.toString('utf8')) as RepositoryConfigBody;
  } catch {
    throw damaged(what, 'its body is not JSON');
  }
  if (typeof c?.id !== 'string' || typeof c.created !== 'string' || !Number.isSafeInteger(c.blockSize) || typeof c.hash !== 'string'
    || typeof c.compression !== 'string' || typeof c.minAgeDays !== 'number' || typeof c.cleanupGraceSeconds !== 'number'
    || (c.encryption !== undefined && !Array.isArray(c.encryption?.keys))) {
    throw damaged(what, 'malformed fields');
  }
  return c;
}

// Block-list digest (encoding in format.ts): a *block list* is a version's rows in index order,
// each an object digest or sparse. The digest is computed once as the rows are sealed (backup,
// import, copy, recover) and recomputed by restore and scrub from the rows they read, so a
// flipped bit in the blocks, objects or versions table can never yield a wrong image silently.
import { createHash, type Hash } from 'node:crypto';
import { EngineError } from '../errors';
import { BLOCK_LIST_FORMAT_VERSION, BLOCK_LIST_MAGIC, BLOCK_LIST_OBJECT, BLOCK_LIST_SPARSE, DIGEST_BYTES } from '../format';

export interface BlockListHeader {
  uid: string;
  size: number;
  blockSize: number;
}

/** Feeds block entries in index order; `digest()` is null when the list was not well formed. */
export class BlockListHasher {
  private readonly hash: Hash = createHash('sha256');
  private next = 0;
  private broken = false;
  private readonly count: number;
  private readonly entry = Buffer.alloc(1 + DIGEST_BYTES);

  constructor(header: BlockListHeader) {
    this.count = header.blockSize > 0 ? Math.ceil(header.size / header.blockSize) : -1;
    // Version UIDs are UUIDs for our own backups, but migrated versions keep their tool's
    // (Benji's `V0000000001`, any string up to 255 bytes): the uid is length-prefixed.
    const uid = Buffer.from(header.uid, 'utf8');
    const fixed = Buffer.alloc(5 + 1 + uid.length + 8 + 4 + 8);
    BLOCK_LIST_MAGIC.copy(fixed, 0);
    fixed[4] = BLOCK_LIST_FORMAT_VERSION;
    if (uid.length === 0 || uid.length > 255 || !Number.isSafeInteger(header.size) || header.size < 0 || !Number.isSafeInteger(header.blockSize) || header.blockSize <= 0 || header.blockSize > 0xffffffff) {
      this.broken = true;
    } else {
      fixed[5] = uid.length;
      uid.copy(fixed, 6);
      const at = 6 + uid.length;
      fixed.writeBigUInt64LE(BigInt(header.size), at);
      fixed.writeUInt32LE(header.blockSize, at + 8);
      fixed.writeBigUInt64LE(BigInt(this.count), at + 12);
    }
    this.hash.update(fixed);
  }

  /**
   * One block: `objectId` null = sparse; otherwise `digest` is its object's digest (null when
   * the row points at no object: a damaged list).
   */
  add(idx: number, objectId: number | null, digest: Buffer | null): void {
    if (idx !== this.next || this.broken) { this.broken = true; return; }
    this.next++;
    if (objectId === null) {
      this.hash.update(this.entry.subarray(0, 1).fill(BLOCK_LIST_SPARSE));
      return;
    }
    if (!digest || digest.length !== DIGEST_BYTES) { this.broken = true; return; }
    this.entry[0] = BLOCK_LIST_OBJECT;
    digest.copy(this.entry, 1);
    this.hash.update(this.entry);
  }

  /** The digest, or null when indexes had gaps, rows were dangling or the count is wrong. */
  digest(): Buffer | null {
    const value = this.hash.digest();
    return this.broken || this.next !== this.count ? null : value;
  }
}

/** The refusal restore and scrub give when a version's rows do not match its digest. */
export function blockListDamaged(uid: string): EngineError {
  return new EngineError('METADATA_DAMAGED', `metadata damaged: version ${uid}'s block list does not match its digest; restore it with "blockvault restore --without-database" or rebuild the metadata with "blockvault recover"`);
}

/**
 * Wraps an iterator of block rows: hashes every row it yields; `check()` after the last row
 * says whether they matched `expected` (null expected = unknown digest, accepted).
 */
export function hashingRows<T extends { idx: number; object_id: number | null; digest: Buffer | null }>(
  header: BlockListHeader,
  rows: Iterable<T>,
): { rows: Generator<T>; matches: (expected: Buffer | null) => boolean; digest: () => Buffer | null } {
  const hasher = new BlockListHasher(header);
  let result: Buffer | null | undefined;
  function* wrapped(): Generator<T> {
    for (const row of rows) {
      hasher.add(row.idx, row.object_id, row.digest);
      yield row;
    }
    result = hasher.digest();
  }
  const digest = (): Buffer | null => {
    if (result === undefined) throw new EngineError('INTERNAL', 'block-list digest read before the last row');
    return result;
  };
  return { rows: wrapped(), digest, matches: (expected) => { const actual = digest(); return actual !== null && (expected === null || actual.equals(expected)); } };
}

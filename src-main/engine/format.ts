// On-disk format of a Blockvault repository: every magic value, header layout and format
// version. Values here are only ever added to, never changed: old repositories must stay
// readable by every later release.

/** Version of the repository as a whole (layout, metadata schema, object header). */
export const REPOSITORY_FORMAT_VERSION = 1;
/** Name of the file at the root of a folder repository that identifies it. */
export const REPOSITORY_CONFIG_FILE = 'blockvault.json';
/** The `format` field of that file. */
export const REPOSITORY_FORMAT_NAME = 'blockvault-repository';
export const METADATA_FILE = 'metadata.sqlite';
/**
 * Space held back for a full disk: a file of zeros beside the metadata that the repository
 * deletes when it opens on a (nearly) full file system, so SQLite has room for its journal
 * and the commands that read or free space work; it is made again once there is room.
 */
export const RESERVE_FILE = 'reserve';
export const RESERVE_BYTES = 4 * 1024 * 1024;

/**
 * The reserve's size on a file system of `total` bytes: RESERVE_BYTES, or a sixteenth of a
 * small file system (at least 64 KiB, whole 4 KiB pages), so that a repository on a small
 * volume keeps one too (it is made once three times as much is free).
 */
export function reserveBytes(total: number): number {
  return Math.min(RESERVE_BYTES, Math.max(64 * 1024, Math.floor(total / 16 / 4096) * 4096));
}
export const OBJECTS_DIR = 'objects';

/**
 * Object header, 16 bytes, followed by the payload:
 *   0..3   magic "BVOB"
 *   4      object format version (OBJECT_FORMAT_VERSION)
 *   5      compression (Compression)
 *   6      encryption (Encryption)
 *   7      reserved, 0
 *   8..15  plaintext length, unsigned 64-bit little endian
 */
export const OBJECT_MAGIC = Buffer.from('BVOB', 'latin1');
export const OBJECT_FORMAT_VERSION = 1;
export const OBJECT_HEADER_SIZE = 16;

export const Compression = { none: 0, zstd: 1 } as const;
export type CompressionId = (typeof Compression)[keyof typeof Compression];

export const Encryption = { none: 0, aes256gcm: 1 } as const;
export type EncryptionId = (typeof Encryption)[keyof typeof Encryption];

/** Content hash of plaintext blocks; an object's name is its hex digest. */
export const HASH_ALGORITHM = 'sha256';
export const DIGEST_BYTES = 32;

export const MIN_BLOCK_SIZE = 64 * 1024;
export const MAX_BLOCK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

/** Metadata export (JSON Lines): the `format` of its first line and its version. */
export const EXPORT_FORMAT_NAME = 'blockvault-metadata';
export const EXPORT_FORMAT_VERSION = 1;
/** Blocks per `blocks` line of an export. */
export const EXPORT_BLOCKS_PER_LINE = 1024;

/** Folder store: objects/<digest[0:2]>/<digest[2:4]>/<digest>. */
export function objectRelativePath(digestHex: string): string {
  return `${digestHex.slice(0, 2)}/${digestHex.slice(2, 4)}/${digestHex}`;
}

/**
 * Encrypted object (encryption byte = aes256gcm): header (16, used as AES-GCM associated
 * data) | nonce (12) | ciphertext of the payload (compressed or not, per the header) | tag (16).
 * The object's name is HMAC-SHA256(name key, plaintext) instead of SHA-256(plaintext).
 */
export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;
/** Associated data of a wrapped master key in a key slot, followed by ":<slot id>". */
export const KEY_WRAP_AAD = 'blockvault key slot v1';
/** scrypt parameters for new passphrase slots (about 150 ms, 32 MiB here). */
export const SCRYPT_DEFAULTS = { N: 32768, r: 8, p: 1 } as const;
/** First line's `format` of an encrypted metadata export. */
export const ENCRYPTED_EXPORT_FORMAT_NAME = 'blockvault-metadata-encrypted';

/**
 * Block-list digest: SHA-256 over a canonical encoding of a version's block list, kept in its
 * row (versions.block_list_digest) and checked by restore and scrub against the rows they read.
 *   header  magic "BVBL" | BLOCK_LIST_FORMAT_VERSION (1 byte) | uid length (1 byte, 1-255)
 *           | uid (UTF-8; a UUID for our own backups, the tool's own uid for migrated ones)
 *           | size (u64 LE) | block size (u32 LE) | block count (u64 LE)
 *   then one entry per block in index order 0..count-1:
 *           BLOCK_LIST_SPARSE (1 byte)                 an all-zero block
 *           BLOCK_LIST_OBJECT (1 byte) | digest (32)   a block stored as that object
 * A row whose object is not in the objects table, or a gap in the indexes, yields no digest
 * (the list is damaged). NULL in the row means unknown (see README, "Block-list digests").
 */
export const BLOCK_LIST_MAGIC = Buffer.from('BVBL', 'latin1');
export const BLOCK_LIST_FORMAT_VERSION = 1;
export const BLOCK_LIST_SPARSE = 0;
export const BLOCK_LIST_OBJECT = 1;

/**
 * Items the repository keeps in its store besides objects, so the database can be rebuilt from
 * the store alone: `repository/config` (settings and wrapped key slots; never encrypted) and
 * `manifests/<uid>` (one version: its fields and block list; encrypted in an encrypted
 * repository). Both use one container:
 *   0..3   magic: "BVMF" (manifest) or "BVRC" (repository config)
 *   4      STORED_ITEM_FORMAT_VERSION
 *   5      encryption (Encryption): none or aes256gcm
 *   6..7   reserved, 0
 *   8..15  body length in bytes, unsigned 64-bit little endian
 *   then, not encrypted: body | SHA-256(bytes 0..15 and body) (32 bytes)
 *         encrypted:     nonce (12) | AES-256-GCM(metadata key, body) | tag (16); bytes 0..15 are
 *                        the associated data
 * The body is UTF-8 JSON; its fields are listed in README ("Manifests in the store").
 */
export const MANIFEST_MAGIC = Buffer.from('BVMF', 'latin1');
export const REPOSITORY_CONFIG_MAGIC = Buffer.from('BVRC', 'latin1');
export const STORED_ITEM_FORMAT_VERSION = 1;
export const STORED_ITEM_HEADER_SIZE = 16;
/** Version of the manifest body (its `manifestVersion` field). */
export const MANIFEST_BODY_VERSION = 1;
/** Store key of the repository's settings and key slots. */
export const REPOSITORY_CONFIG_KEY = 'repository/config';

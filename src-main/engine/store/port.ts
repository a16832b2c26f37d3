// Store port: the one interface through which the engine keeps data outside its database.
// Nouns: a *key* names one stored item, a slash-separated path of lowercase ASCII:
//   `objects/<digest>`      block data (content-addressed, written once, never changed)
//   `manifests/<uid>`       one version's self-description (fields + block list)
//   `repository/<name>`     repository settings and key slots
// A store maps keys to its own layout (the folder store keeps objects/ab/cd/<digest>), so no
// caller ever builds a path or an S3 request. Folder and S3 implement it; one retry decorator
// wraps both. Implementations throw EngineError: OBJECT_MISSING for a key that is not there,
// NO_SPACE, IO_ERROR, UNAUTHORIZED, or TRANSIENT-marked errors the retry decorator retries.

/** A serializable description of a store, from which a worker thread opens the same store. */
export type StoreSpec =
  | {
      kind: 'folder';
      /** the repository's folder: `objects/<digest>` lives in objects/ab/cd/<digest> under it */
      root: string;
      /** write and read whole 4 KiB units of items with O_DIRECT (page-aligned buffers) */
      direct: boolean;
      /** fsync every item before its rename, instead of one barrier (syncfs) later */
      syncEachPut?: boolean;
    }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      endpoint?: string;
      region: string;
      pathStyle: boolean;
      /** resolved credentials; never printed, logged, stored in job history or sent to the renderer */
      credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
      concurrency: number;
      timeoutMs: number;
    };

export interface StoreEntry {
  /**
   * The item's key; for the leftover of an interrupted put, the store's own name for the
   * leftover (folder: `objects/<digest>.tmp-...`), which `delete` accepts and nothing else does.
   */
  key: string;
  /** bytes, when the listing tells it cheaply */
  size: number | null;
  /** the leftover of an interrupted put (a folder store's temporary file, an S3 multipart upload) */
  temporary: boolean;
  /**
   * A token that changes whenever the item is written again (S3: its ETag and time), when the
   * listing tells it; an S3 repository's metadata cache compares it to see a changed manifest.
   */
  stamp?: string;
  /**
   * When the item was last written, in ms since the epoch by the store's own clock (S3: its
   * LastModified), when the listing tells it. Store locks age by it, so that machines whose
   * clocks disagree still agree on which lock is stale.
   */
  modified?: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface ObjectStore {
  readonly kind: StoreSpec['kind'];
  /** where it is, for people (a folder path, s3://bucket/prefix at endpoint); never a secret */
  readonly location: string;
  /** Atomic: after it resolves the item is visible whole; an interrupted put is never visible. */
  put(key: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  /** The whole item, or a range of it. Missing: EngineError('OBJECT_MISSING'). */
  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Buffer>;
  /**
   * The whole item, read into `buffer` when it has room (the folder store fills it straight
   * from the disk with O_DIRECT when `buffer` is page-aligned); returns the item's bytes, a
   * view of `buffer` or of a new buffer. An item larger than `maxSize` fails with
   * OBJECT_CORRUPT before it is read. Missing: EngineError('OBJECT_MISSING').
   */
  getInto(key: string, buffer: Buffer, options?: { maxSize?: number; signal?: AbortSignal }): Promise<Buffer>;
  /** Stored size in bytes, or null when the key does not exist. */
  size(key: string, signal?: AbortSignal): Promise<number | null>;
  /** Removes the item (or a leftover named by `list`); a missing key is not an error. */
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** Every key under a prefix (streamed, any order), with the leftovers of interrupted puts. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<StoreEntry>;
  /** Makes every put that has resolved so far durable (folder: syncfs; S3: a no-op). */
  barrier(signal?: AbortSignal): Promise<void>;
  /** Bytes used and free where the store can tell (a folder's file system), else null. */
  space(): Promise<{ used: number | null; free: number | null } | null>;
  /** What a worker thread passes to `openStore` (engine/store/index.ts) to open the same store. */
  spec(): StoreSpec;
  close(): Promise<void>;
}

export const OBJECT_PREFIX = 'objects/';
export const MANIFEST_PREFIX = 'manifests/';
export const REPOSITORY_PREFIX = 'repository/';
export const objectKey = (digest: string): string => `${OBJECT_PREFIX}${digest}`;
/** The digest an object key names, or null for another key. */
export const objectDigest = (key: string): string | null => (key.startsWith(OBJECT_PREFIX) ? key.slice(OBJECT_PREFIX.length) : null);
export const manifestKey = (uid: string): string => `${MANIFEST_PREFIX}${uid}`;

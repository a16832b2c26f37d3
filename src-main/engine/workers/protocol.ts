// Messages between the engine's main thread and its worker threads. A *slot* is one of a
// worker's block-sized buffers: `hash` fills it (from a source the worker opened, or with
// bytes the main thread read and transferred) and keeps it until the matching `store` writes
// it as an object or drops it, so a block is read exactly once. An *io handle* names a source
// or target every worker of the pool opened itself from its IoSpec (`open`, `close`).
// Workers never get paths of objects: they open the repository's store from its StoreSpec
// and name objects by key; bytes of sources and targets without a spec travel in messages.
import type { ErrorCode } from '../../../src-shared/api/errors';
import type { CodecKeys, CompressionSetting } from '../codec/object';
import type { IoSpec } from '../io/port';
import type { StoreSpec } from '../store/port';
import type { RetryCounts } from '../store/retry';

export interface WorkerSettings {
  blockSize: number;
  compression: CompressionSetting;
  slots: number;
  /** the repository's store, opened by each worker (folder: with its O_DIRECT choice and fsync-per-object choice) */
  store: StoreSpec;
  /** present for encrypted repositories */
  keys?: CodecKeys;
}

/** Where a block's bytes come from: a range of an opened source, or bytes transferred with the request. */
export type BlockInput = { io: number; offset: number; length: number } | { data: Uint8Array };

export type WorkerRequest =
  | { op: 'open'; id: number; handle: number; spec: IoSpec; mode: 'read' | 'write' }
  | { op: 'close'; id: number; handle: number }
  | { op: 'hash'; id: number; slot: number; input: BlockInput }
  /** key null: the block was deduplicated, only the slot is freed */
  | { op: 'store'; id: number; slot: number; key: string | null }
  /**
   * Encodes the slot's block into the slot's shared buffer and replies with a view of it
   * (`data`, shared, not copied): the main thread puts it, and the buffer is the slot's until
   * the slot is hashed again, so the caller must finish the put before it releases the slot.
   */
  | { op: 'encode'; id: number; slot: number }
  | { op: 'hashOnly'; id: number; input: BlockInput }
  /**
   * decodes an object the main thread read into shared memory (`object`, a view of a
   * SharedArrayBuffer) into `plain` (shared too) and verifies it against its name; the reply
   * carries nothing: the main thread writes `plain` only after an ok. `checkOnly` (deep scrub):
   * only the verdict matters, so a stored (uncompressed, unencrypted) payload is hashed where
   * it is and `plain` may be left as it was
   */
  | { op: 'verify'; id: number; object: Uint8Array; plain: Uint8Array; digest: string; length: number; checkOnly?: boolean }
  /** reads and verifies an object and replies with its plaintext (for targets without a spec) */
  | { op: 'decode'; id: number; key: string; digest: string; length: number }
  | { op: 'check'; id: number; key: string; digest: string; storedSize: number; length: number }
  /** the retries the worker's store counted since the last ask (they start again from zero) */
  | { op: 'retries'; id: number };

export type WorkerReply =
  | { id: number; ok: true; zero?: boolean; digest?: string; storedSize?: number; data?: Uint8Array; retries?: RetryCounts }
  | { id: number; ok: false; code: ErrorCode; message: string };

export type WorkerResult = Extract<WorkerReply, { ok: true }>;

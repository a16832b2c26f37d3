// Messages between the engine's main thread and its worker threads. A *slot* is one of a
// worker's block-sized buffers: `hash` fills it from the source and keeps it until the
// matching `store` writes it as an object or drops it, so a block is read exactly once.
// A `directFd` is the same file opened with O_DIRECT: used for whole 4 KiB-aligned blocks.
import type { ErrorCode } from '../../../src-shared/api/errors';
import type { CodecKeys, CompressionSetting } from '../codec/object';

export interface WorkerSettings {
  blockSize: number;
  compression: CompressionSetting;
  slots: number;
  /** fsync every object before its rename (otherwise the caller syncs the file system). */
  syncEachObject: boolean;
  /**
   * Write and read object files with O_DIRECT (falling back to the page cache where the file
   * system refuses it). On for block sizes of 1 MiB and more: see repository.workerSettings.
   */
  directObjects: boolean;
  /** present for encrypted repositories */
  keys?: CodecKeys;
}

export type WorkerRequest =
  | { op: 'hash'; id: number; slot: number; fd: number; directFd?: number; offset: number; length: number }
  | { op: 'store'; id: number; slot: number; path: string | null }
  | { op: 'hashOnly'; id: number; fd: number; offset: number; length: number }
  /** `positions`: every offset of the target that gets this object (a version may repeat a block) */
  | { op: 'restore'; id: number; path: string; digest: string; length: number; fd: number; directFd?: number; positions: number[] }
  | { op: 'zero'; id: number; fd: number; directFd?: number; position: number; length: number }
  | { op: 'check'; id: number; path: string; digest: string; storedSize: number; length: number }
  /** syncfs of the file system holding `path` */
  | { op: 'syncfs'; id: number; path: string };

export type WorkerReply =
  | { id: number; ok: true; zero?: boolean; digest?: string; storedSize?: number }
  | { id: number; ok: false; code: ErrorCode; message: string };

export type WorkerResult = Extract<WorkerReply, { ok: true }>;

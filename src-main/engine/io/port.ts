// Source and target ports: every backup reads through a Source and every restore writes
// through a Target. Nouns: an *extent* is a byte range; an *allocation map* says which
// extents hold data and which read as zeros (holes, zero extents), so those are recorded
// sparse without being read; *changes* are the extents that differ from a base version (an
// NBD dirty bitmap, `rbd diff`, a hints file). Files and block devices keep their O_DIRECT fast
// path: they describe themselves with a spec that a worker thread opens on its own; other
// kinds (streams, NBD, RBD through qemu-nbd) are read and written on the main thread and the
// bytes travel to and from the workers.

export interface Extent {
  offset: number;
  length: number;
}

export interface AllocationExtent extends Extent {
  /** `zero` and `hole` both read as zeros */
  kind: 'data' | 'zero' | 'hole';
}

/**
 * What a worker thread may open by itself (the fast path): a regular file or block device,
 * opened read-only for a source and write-only for a target, plus the same file with O_DIRECT
 * when `direct` (and the file system accepts it) for whole 4 KiB-aligned transfers.
 */
export type IoSpec = { kind: 'file'; path: string; direct: boolean };

export interface SourceOptions {
  signal?: AbortSignal;
  /** NBD or qcow2: the dirty bitmap whose extents are the changes (qemu:dirty-bitmap:NAME) */
  bitmap?: string;
  /** RBD: the snapshot the changes are counted from (`rbd diff --from-snap`) */
  fromSnap?: string;
  /** a file with qcow2 content is backed up as the container file, not the guest disk */
  raw?: boolean;
}

export interface TargetOptions {
  /** the version's size in bytes: a new target is created at it, a smaller existing one refused */
  size: number;
  /** overwrite an existing target (file, device, image) */
  force?: boolean;
  signal?: AbortSignal;
}

export interface Source {
  /** for logs and version rows: a path or a URL without credentials */
  readonly description: string;
  /** bytes, or null for a stream that is sized on the fly (read once, in order) */
  readonly size: number | null;
  /** a stream: read once, in order (reads may skip forward, never back) */
  readonly sequential: boolean;
  /**
   * Why the source cannot change while it is read, when that is known (a qcow2 that our own
   * read-only qemu-nbd holds locked): the backup then does not read samples again at the end.
   */
  readonly unchanging?: string;
  /**
   * Reads up to `length` bytes at `offset` into `buffer`; returns the bytes read, fewer only at
   * the end. Cancellable: a read that blocks (a FIFO, a stalled server) ends with CANCELED when
   * `signal` aborts.
   */
  read(offset: number, buffer: Buffer, length: number, signal?: AbortSignal): Promise<number>;
  /** Optional allocation map of the whole source, in order, covering it without gaps. */
  allocation?(signal?: AbortSignal): Promise<AllocationExtent[]>;
  /** Optional changed extents relative to the base the source was opened against. */
  changes?(signal?: AbortSignal): Promise<Extent[]>;
  /**
   * Optional extents that may hold data, from a listing the source keeps (an RBD image's
   * `rbd diff`): a first backup reads only these and samples a few others to be zeros.
   */
  dataExtents?(signal?: AbortSignal): Promise<Extent[]>;
  spec?(): IoSpec;
  close(): Promise<void>;
}

export interface Target {
  readonly description: string;
  /** it writes over data that was there (an existing file, a device): a failure leaves it incomplete */
  readonly overwrites: boolean;
  /** existing size of a device or export (it keeps its size), or null for a new file or stream */
  readonly size: number | null;
  /** true when unwritten ranges read as zeros (a new sparse file, a fresh qcow2 or RBD image) */
  readonly zeroed: boolean;
  /** a stream: written once, in order, zeros included */
  readonly sequential: boolean;
  write(offset: number, data: Buffer, signal?: AbortSignal): Promise<void>;
  /** writes zeros (or punches a hole) over an extent; a sequential target gets zero bytes */
  writeZeros(offset: number, length: number, signal?: AbortSignal): Promise<void>;
  flush(signal?: AbortSignal): Promise<void>;
  /**
   * Makes the restore the result: flushed, a new file is renamed from its temporary name into
   * place, a regular file ends at `size` (a device keeps its size), a stream is ended; called
   * only after every block was written and verified. Closes the target.
   */
  finish(size: number): Promise<void>;
  /**
   * Gives up and closes the target: a new file's temporary name is removed, a stream is cut
   * off; an overwritten target stays as it is (the caller reports it as incomplete).
   */
  abort(reason: string): Promise<void>;
  spec?(): IoSpec;
}

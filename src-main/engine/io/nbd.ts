// NBD sources and targets: an export read (or written) through our NBD client. The same
// classes serve `nbd://` and `nbd+unix://` URLs and the private qemu-nbd that qcow2 and RBD
// images go through; such a *server* belongs to the source or target and is stopped and
// reaped by close, finish and abort. Nouns: the allocation map comes from `base:allocation`
// (holes and zero extents are recorded sparse without being read); changes come from
// `qemu:dirty-bitmap:NAME` (a dirty extent marks every block it touches).
import { EngineError } from '../errors';
import { parseNbdUrl, type NbdAddress } from '../nbd/address';
import { NbdClient, type BlockStatusExtent } from '../nbd/client';
import { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, STATE_DIRTY, STATE_HOLE, STATE_ZERO } from '../nbd/protocol';
import type { QemuNbd } from '../nbd/qemu-nbd';
import type { AllocationExtent, Extent, Source, SourceOptions, Target, TargetOptions } from './port';
import type { IoScheme } from './schemes';

export interface NbdOpenOptions {
  /** a dirty bitmap the export exposes (qemu-nbd -B NAME, libvirt's pull-mode backup) */
  bitmap?: string;
  /** bound on negotiation and every request (default 30 s) */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** why the export cannot change while it is read (Source.unchanging), when it cannot */
  unchanging?: string;
}

/** Connects, asking for base:allocation when the server has it and for the bitmap, which it must have. */
async function connectFor(address: NbdAddress, options: NbdOpenOptions): Promise<NbdClient> {
  const bitmap = options.bitmap ? [`${DIRTY_BITMAP_PREFIX}${options.bitmap}`] : [];
  try {
    return await NbdClient.connect(address, { metaContexts: [BASE_ALLOCATION, ...bitmap], timeoutMs: options.timeoutMs, signal: options.signal });
  } catch (error) {
    // a server without base:allocation (or without meta contexts) is still readable in full
    const missingAllocation = error instanceof EngineError && (error.code === 'FORMAT_UNSUPPORTED' || (error.code === 'NOT_FOUND' && error.message.includes(`no meta context ${BASE_ALLOCATION}`)));
    if (!missingAllocation || bitmap.length > 0) throw error;
    return NbdClient.connect(address, { timeoutMs: options.timeoutMs, signal: options.signal });
  }
}

export class NbdSource implements Source {
  readonly sequential = false;
  private maps: Promise<Map<string, BlockStatusExtent[]>> | null = null;

  private constructor(
    readonly client: NbdClient,
    readonly description: string,
    private readonly bitmap: string | undefined,
    private readonly server: QemuNbd | undefined,
    readonly unchanging: string | undefined,
  ) {}

  /** Opens an export; `server` (a private qemu-nbd) is stopped when the source closes or fails to open. */
  static async open(address: NbdAddress, description: string, options: NbdOpenOptions = {}, server?: QemuNbd): Promise<NbdSource> {
    try {
      return new NbdSource(await connectFor(address, options), description, options.bitmap, server, options.unchanging);
    } catch (error) {
      await server?.stop();
      throw error;
    }
  }

  static openUrl(url: string, options: NbdOpenOptions = {}): Promise<NbdSource> {
    return NbdSource.open(parseNbdUrl(url), url, options);
  }

  get size(): number {
    return this.client.size;
  }

  /** payload bytes received from the server so far */
  get bytesRead(): number {
    return this.client.stats.bytesRead;
  }

  async read(offset: number, buffer: Buffer, length: number, signal?: AbortSignal): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n > 0) await this.client.read(offset, n, buffer, signal);
    return n;
  }

  /**
   * The maps of every negotiated meta context (base:allocation, the bitmap), asked once: the
   * server describes all of them in each BLOCK_STATUS answer, so changes and allocation come
   * from the same requests.
   */
  private statusMaps(signal?: AbortSignal): Promise<Map<string, BlockStatusExtent[]>> {
    this.maps ??= this.client.mapContexts([...this.client.contexts.keys()], signal);
    return this.maps;
  }

  async allocation(signal?: AbortSignal): Promise<AllocationExtent[]> {
    if (!this.client.contexts.has(BASE_ALLOCATION)) return this.size > 0 ? [{ offset: 0, length: this.size, kind: 'data' }] : [];
    const extents = (await this.statusMaps(signal)).get(BASE_ALLOCATION)!;
    const out: AllocationExtent[] = [];
    for (const extent of extents) {
      const kind = extent.flags & STATE_HOLE ? 'hole' : extent.flags & STATE_ZERO ? 'zero' : 'data';
      const last = out[out.length - 1];
      if (last && last.kind === kind) last.length += extent.length;
      else out.push({ offset: extent.offset, length: extent.length, kind });
    }
    return out;
  }

  /** The extents the dirty bitmap marks; only a source opened with a bitmap has changes. */
  async changes(signal?: AbortSignal): Promise<Extent[]> {
    if (!this.bitmap) throw new EngineError('INVALID_ARGUMENT', `${this.description} was opened without a dirty bitmap`);
    const extents = (await this.statusMaps(signal)).get(`${DIRTY_BITMAP_PREFIX}${this.bitmap}`)!;
    return extents.filter((extent) => extent.flags & STATE_DIRTY).map(({ offset, length }) => ({ offset, length }));
  }

  async close(): Promise<void> {
    try {
      await this.client.close();
    } finally {
      await this.server?.stop();
    }
  }
}

export interface NbdTargetHooks {
  /** after a successful finish, once the server is stopped (e.g. rename a new file into place) */
  finished?(): Promise<void>;
  /** after an abort, once the server is stopped (e.g. remove a new image) */
  aborted?(): Promise<void>;
}

export class NbdTarget implements Target {
  readonly sequential = false;
  /** an existing export (size given) holds data a failed restore leaves incomplete */
  get overwrites(): boolean {
    return this.size !== null;
  }
  private ended = false;

  private constructor(
    private readonly client: NbdClient,
    readonly description: string,
    readonly zeroed: boolean,
    /** null when the export was created for this restore (it has exactly the version's size) */
    readonly size: number | null,
    private readonly server: QemuNbd | undefined,
    private readonly hooks: NbdTargetHooks,
  ) {}

  /**
   * Opens a writable export. `created` says the export was made for this restore (zeroed, of
   * the version's size); otherwise it is an existing export that keeps its size.
   */
  static async open(address: NbdAddress, description: string, options: NbdOpenOptions & { created?: boolean } = {}, server?: QemuNbd, hooks: NbdTargetHooks = {}): Promise<NbdTarget> {
    try {
      const client = await NbdClient.connect(address, { timeoutMs: options.timeoutMs, signal: options.signal });
      if (client.readOnly) {
        await client.close();
        throw new EngineError('INVALID_ARGUMENT', `${description} is exported read-only: cannot restore into it`);
      }
      return new NbdTarget(client, description, options.created === true, options.created ? null : client.size, server, hooks);
    } catch (error) {
      await server?.stop();
      await hooks.aborted?.();
      throw error;
    }
  }

  static openUrl(url: string, options: NbdOpenOptions = {}): Promise<NbdTarget> {
    return NbdTarget.open(parseNbdUrl(url), url, options);
  }

  /** the export's size in bytes */
  get capacity(): number {
    return this.client.size;
  }

  get bytesWritten(): number {
    return this.client.stats.bytesWritten;
  }

  write(offset: number, data: Buffer, signal?: AbortSignal): Promise<void> {
    return this.client.write(offset, data, signal);
  }

  writeZeros(offset: number, length: number, signal?: AbortSignal): Promise<void> {
    return this.client.writeZeros(offset, length, signal);
  }

  flush(signal?: AbortSignal): Promise<void> {
    return this.client.flush(signal);
  }

  async finish(size: number): Promise<void> {
    if (size > this.client.size) throw new EngineError('TARGET_TOO_SMALL', `${this.description} holds ${this.client.size} bytes, the version ${size}`);
    this.ended = true;
    try {
      await this.client.flush();
      await this.client.close();
    } finally {
      await this.server?.stop();
    }
    await this.hooks.finished?.();
  }

  async abort(_reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.client.close();
    } finally {
      await this.server?.stop();
      await this.hooks.aborted?.();
    }
  }
}

/** Refuses an export smaller than the version; an existing export is written over without --force (it was exported writable for this). */
export async function openNbdTarget(url: string, options: TargetOptions): Promise<NbdTarget> {
  const target = await NbdTarget.openUrl(url, { signal: options.signal });
  if (target.capacity < options.size) {
    await target.abort('too small');
    throw new EngineError('TARGET_TOO_SMALL', `${url} holds ${target.capacity} bytes, the version ${options.size}`);
  }
  return target;
}

export const nbdScheme: IoScheme = {
  title: 'NBD export',
  prefixes: ['nbd://', 'nbd+unix://'],
  openSource: (location: string, options: SourceOptions) => {
    if (options.fromSnap) throw new EngineError('INVALID_ARGUMENT', '--from-snap is for RBD images; an NBD export gives changes with --bitmap NAME');
    return NbdSource.openUrl(location, { bitmap: options.bitmap, signal: options.signal });
  },
  openTarget: openNbdTarget,
};

// Ceph RBD images as sources and targets, read and written through qemu-nbd's rbd driver
// (qemu-block-extra): no kernel rbd mapping is needed. Nouns: a *spec* is
// `rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER]`; the *change list* of an incremental is what
// `rbd diff --from-snap SNAP0 POOL/IMAGE@SNAP` reports (extents written or discarded since
// SNAP0; Ceph 16.2 prints `exists` as the string "true"/"false"); a first backup reads only
// the *data extents* plain `rbd diff POOL/IMAGE@SNAP` lists.
import { spawnSync } from 'node:child_process';
import { EngineError } from '../errors';
import { QemuNbd } from '../nbd/qemu-nbd';
import { NbdSource, NbdTarget, type NbdOpenOptions } from './nbd';
import type { AllocationExtent, Extent, Source, SourceOptions, TargetOptions } from './port';
import type { IoScheme } from './schemes';

export interface RbdSpec {
  pool: string;
  image: string;
  snapshot?: string;
  conf?: string;
  id?: string;
}

const NAME = /^[A-Za-z0-9_.+-][A-Za-z0-9_.+-]*$/;

export function parseRbdSpec(text: string): RbdSpec | null {
  if (!text.startsWith('rbd:')) return null;
  const [location, query = ''] = text.slice(4).split('?', 2) as [string, string?];
  const match = /^([^/@?]+)\/([^/@?]+)(?:@([^/@?]+))?$/.exec(location);
  if (!match) throw new EngineError('INVALID_ARGUMENT', `not an RBD spec (rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER]): ${text}`);
  const [, pool, image, snapshot] = match as unknown as [string, string, string, string | undefined];
  for (const [what, name] of [['pool', pool], ['image', image], ['snapshot', snapshot]] as const) {
    if (name !== undefined && !NAME.test(name)) throw new EngineError('INVALID_ARGUMENT', `RBD ${what} name ${JSON.stringify(name)} has characters outside A-Z a-z 0-9 _ . + -`);
  }
  const spec: RbdSpec = { pool, image, ...(snapshot ? { snapshot } : {}) };
  for (const [key, value] of new URLSearchParams(query)) {
    if (key === 'conf') spec.conf = value;
    else if (key === 'id') {
      if (!NAME.test(value)) throw new EngineError('INVALID_ARGUMENT', `RBD user id ${JSON.stringify(value)} is not a plain name`);
      spec.id = value;
    } else throw new EngineError('INVALID_ARGUMENT', `unknown RBD parameter ${key} (conf, id)`);
  }
  return spec;
}

export function formatRbdSpec(spec: RbdSpec): string {
  return `rbd:${spec.pool}/${spec.image}${spec.snapshot ? `@${spec.snapshot}` : ''}`;
}

/** Runs the rbd tool with the spec's cluster options; returns stdout, or throws with its message. */
export function rbd(spec: RbdSpec, args: string[], what: string): string {
  const cluster = [...(spec.conf ? ['--conf', spec.conf] : []), ...(spec.id ? ['--id', spec.id] : [])];
  const result = spawnSync('rbd', [...cluster, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
  if (result.error) throw new EngineError('IO_ERROR', `${what}: cannot run rbd: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) {
    const detail = result.stderr.trim().split('\n').filter(Boolean).pop() ?? `status ${result.status}`;
    throw new EngineError(/No such file|not found|ENOENT|error opening/i.test(detail) ? 'NOT_FOUND' : 'IO_ERROR', `${what}: ${detail.replace(/^rbd: /, '')}`);
  }
  return result.stdout;
}

function rbdExists(spec: RbdSpec): boolean {
  try {
    rbd(spec, ['info', `${spec.pool}/${spec.image}`], `looking up ${formatRbdSpec(spec)}`);
    return true;
  } catch (error) {
    if (error instanceof EngineError && error.code === 'NOT_FOUND') return false;
    throw error;
  }
}

/** Parses `rbd diff --format=json` output into extents inside [0, size). */
export function parseRbdDiff(text: string, size: number, what: string): Extent[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    throw new EngineError('BAD_HINTS', `${what}: rbd diff printed no JSON`);
  }
  if (!Array.isArray(entries)) throw new EngineError('BAD_HINTS', `${what}: rbd diff printed no list`);
  return entries.map((entry, i) => {
    const { offset, length, exists } = (entry ?? {}) as { offset?: unknown; length?: unknown; exists?: unknown };
    const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && (offset as number) >= 0 && (length as number) > 0 && (offset as number) + (length as number) <= size;
    if (!ok || ![true, false, 'true', 'false'].includes(exists as never)) throw new EngineError('BAD_HINTS', `${what}: rbd diff entry ${i} is malformed or outside the image: ${JSON.stringify(entry)}`);
    return { offset: offset as number, length: length as number };
  });
}

/** An RBD image (or snapshot) read through qemu-nbd; with `fromSnap` its changes come from rbd diff. */
export class RbdSource implements Source {
  readonly sequential = false;

  private constructor(
    private readonly inner: NbdSource,
    private readonly image: RbdSpec,
    private readonly fromSnap: string | undefined,
  ) {}

  static async open(spec: RbdSpec, options: NbdOpenOptions & { fromSnap?: string } = {}): Promise<RbdSource> {
    if (options.bitmap) throw new EngineError('INVALID_ARGUMENT', 'RBD images have no dirty bitmaps: use --from-snap SNAP');
    if (options.fromSnap !== undefined && !NAME.test(options.fromSnap)) throw new EngineError('INVALID_ARGUMENT', `snapshot name ${JSON.stringify(options.fromSnap)} is not a plain name`);
    const server = await QemuNbd.start({ image: { driver: 'rbd', pool: spec.pool, image: spec.image, snapshot: spec.snapshot, conf: spec.conf, user: spec.id }, readOnly: true, signal: options.signal });
    return new RbdSource(await NbdSource.open(server.address, formatRbdSpec(spec), options, server), spec, options.fromSnap);
  }

  get description(): string {
    return this.inner.description;
  }
  get size(): number {
    return this.inner.size;
  }
  get bytesRead(): number {
    return this.inner.bytesRead;
  }
  /** A snapshot never changes; an image may be written while it is read. */
  get unchanging(): string | undefined {
    return this.image.snapshot ? `${this.description} is a snapshot (RBD snapshots are read-only)` : undefined;
  }

  read(offset: number, buffer: Buffer, length: number, signal?: AbortSignal): Promise<number> {
    return this.inner.read(offset, buffer, length, signal);
  }

  allocation(signal?: AbortSignal): Promise<AllocationExtent[]> {
    return this.inner.allocation(signal);
  }

  /** The change list since `fromSnap`, as `rbd diff` reports it (written and discarded extents). */
  async changes(): Promise<Extent[]> {
    if (!this.fromSnap) throw new EngineError('INVALID_ARGUMENT', `${this.description} was opened without --from-snap`);
    const image = `${this.image.pool}/${this.image.image}${this.image.snapshot ? `@${this.image.snapshot}` : ''}`;
    const what = `rbd diff --from-snap ${this.fromSnap} ${image}`;
    return parseRbdDiff(rbd(this.image, ['diff', '--from-snap', this.fromSnap, image, '--format=json'], what), this.size, what);
  }

  /** The extents that hold data, as `rbd diff` without --from-snap lists them (a first backup reads only these). */
  async dataExtents(): Promise<Extent[]> {
    const image = `${this.image.pool}/${this.image.image}${this.image.snapshot ? `@${this.image.snapshot}` : ''}`;
    const what = `rbd diff ${image}`;
    return parseRbdDiff(rbd(this.image, ['diff', image, '--format=json'], what), this.size, what);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Restores into an RBD image: a new one is created at `size` bytes (and removed again by
 * abort); an existing one is refused without `force` and must hold `size` bytes.
 */
export async function openRbdTarget(spec: RbdSpec, size: number, options: NbdOpenOptions & { force?: boolean } = {}): Promise<NbdTarget> {
  if (spec.snapshot) throw new EngineError('INVALID_ARGUMENT', `cannot restore into a snapshot (${formatRbdSpec(spec)})`);
  const image = `${spec.pool}/${spec.image}`;
  const exists = rbdExists(spec);
  if (exists && !options.force) throw new EngineError('TARGET_EXISTS', `RBD image ${image} exists (use --force to overwrite it)`);
  if (!exists) rbd(spec, ['create', '--size', `${size}B`, image], `creating RBD image ${image}`);
  const remove = async () => { if (!exists) rbd(spec, ['rm', '--no-progress', image], `removing RBD image ${image}`); };
  let server: QemuNbd;
  try {
    server = await QemuNbd.start({ image: { driver: 'rbd', pool: spec.pool, image: spec.image, conf: spec.conf, user: spec.id }, readOnly: false, signal: options.signal });
  } catch (error) {
    await remove();
    throw error;
  }
  const target = await NbdTarget.open(server.address, formatRbdSpec(spec), { ...options, created: !exists }, server, { aborted: remove });
  if (target.capacity < size) {
    await target.abort('too small');
    throw new EngineError('TARGET_TOO_SMALL', `RBD image ${image} holds ${target.capacity} bytes, the version ${size}`);
  }
  return target;
}

export const rbdScheme: IoScheme = {
  title: 'Ceph RBD image',
  prefixes: ['rbd:'],
  openSource: (location: string, options: SourceOptions) => {
    if (options.bitmap) throw new EngineError('INVALID_ARGUMENT', 'RBD images have no dirty bitmaps: use --from-snap SNAP');
    return RbdSource.open(parseRbdSpec(location)!, { fromSnap: options.fromSnap, signal: options.signal });
  },
  openTarget: (location: string, options: TargetOptions) => openRbdTarget(parseRbdSpec(location)!, options.size, { force: options.force, signal: options.signal }),
};

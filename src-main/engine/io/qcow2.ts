// qcow2 images as sources and targets: the guest disk (not the container file) is read and
// written through a private qemu-nbd. A path whose first bytes are the qcow2 magic is a qcow2
// (backing it up as a plain file needs `--raw`). Nouns: a *persistent dirty bitmap* of the
// image records the clusters written since it was added or cleared; an incremental reads
// only those, and *rotating* the bitmap clears it after a backup so the next one starts
// there (as virtnbdbackup does for offline images).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EngineError } from '../errors';
import { QemuNbd } from '../nbd/qemu-nbd';
import { NbdSource, NbdTarget, type NbdOpenOptions } from './nbd';
import type { SourceOptions, TargetOptions } from './port';
import type { IoScheme } from './schemes';

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** True when the file starts with the qcow2 magic ("QFI\xfb"). */
export function isQcow2File(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(QCOW2_MAGIC);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** `qcow2:PATH` -> PATH, or null for any other string. */
export function parseQcow2Spec(text: string): string | null {
  if (!text.startsWith('qcow2:')) return null;
  const path = text.slice('qcow2:'.length);
  if (!path) throw new EngineError('INVALID_ARGUMENT', 'qcow2: needs a path (qcow2:PATH)');
  return path;
}

function qemuImg(args: string[], what: string): string {
  const result = spawnSync('qemu-img', args, { encoding: 'utf8' });
  if (result.error) throw new EngineError('IO_ERROR', `${what}: cannot run qemu-img: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) {
    const detail = result.stderr.trim().replace(/^qemu-img: /, '');
    throw new EngineError(/No such file|not found|Could not open/i.test(detail) ? 'NOT_FOUND' : 'IO_ERROR', `${what}: ${detail}`);
  }
  return result.stdout;
}

/** Names of the persistent bitmaps of a qcow2. */
export function qcow2Bitmaps(path: string): string[] {
  const info = JSON.parse(qemuImg(['info', '--output=json', '-f', 'qcow2', '-U', path], `reading ${path}`)) as { 'format-specific'?: { data?: { bitmaps?: Array<{ name: string }> } } };
  return (info['format-specific']?.data?.bitmaps ?? []).map((bitmap) => bitmap.name);
}

/** Starts a fresh (empty) persistent bitmap NAME: cleared when it exists, added otherwise. */
export function rotateQcow2Bitmap(path: string, name: string): void {
  const action = qcow2Bitmaps(path).includes(name) ? '--clear' : '--add';
  qemuImg(['bitmap', action, '-f', 'qcow2', path, name], `${action === '--add' ? 'adding' : 'clearing'} bitmap ${name} of ${path}`);
}

/** Opens the guest disk of a qcow2 read-only (with its bitmap exposed when asked). */
export async function openQcow2Source(path: string, options: NbdOpenOptions = {}): Promise<NbdSource> {
  if (!existsSync(path)) throw new EngineError('NOT_FOUND', `no such file: ${path}`);
  if (!isQcow2File(path)) throw new EngineError('INVALID_ARGUMENT', `${path} is not a qcow2 image`);
  try {
    // qemu-nbd opens the image with QEMU's file locks and shares no write permission: while it
    // serves, no QEMU process (a VM, qemu-img, qemu-io) can open the image for writing.
    const unchanging = `qcow2:${path} is held locked by Blockvault's read-only qemu-nbd while it is read (no QEMU process can write it meanwhile)`;
    return await QemuNbd.serve(
      { image: { driver: 'qcow2', path }, readOnly: true, bitmap: options.bitmap, signal: options.signal },
      (server) => NbdSource.open(server.address, `qcow2:${path}`, { ...options, unchanging }, server),
    );
  } catch (error) {
    // The bitmap is looked up only when qemu-nbd failed (before listening, or by dropping the
    // connection): qemu-img info costs a process start, a good part of a small incremental's
    // fixed time. Then the error says plainly what is missing.
    if (options.bitmap && error instanceof EngineError && error.code !== 'CANCELED' && !qcow2Bitmaps(path).includes(options.bitmap)) {
      throw new EngineError('NOT_FOUND', `${path} has no persistent bitmap named ${options.bitmap}`);
    }
    throw error;
  }
}

/**
 * A new qcow2 of `size` bytes written through qemu-nbd: made under a temporary name next to
 * PATH and renamed into place by finish; abort removes it. An existing PATH is replaced only
 * with `force`.
 */
export async function createQcow2Target(path: string, size: number, options: NbdOpenOptions & { force?: boolean } = {}): Promise<NbdTarget> {
  if (existsSync(path)) {
    if (!options.force) throw new EngineError('TARGET_EXISTS', `${path} exists (use --force to replace it)`);
    if (!statSync(path).isFile()) throw new EngineError('INVALID_ARGUMENT', `${path} is not a regular file`);
  }
  const temporary = join(dirname(path), `.${basename(path)}.blockvault-${process.pid}-${Date.now()}`);
  qemuImg(['create', '-q', '-f', 'qcow2', temporary, String(size)], `creating ${path}`);
  // The temporary image stays while qemu-nbd may be started again (serve), and goes when
  // opening fails for good or the opened target is aborted.
  let opened = false;
  const hooks = {
    finished: async () => renameSync(temporary, path),
    aborted: async () => { if (opened) rmSync(temporary, { force: true }); },
  };
  try {
    const target = await QemuNbd.serve(
      { image: { driver: 'qcow2', path: temporary }, readOnly: false, signal: options.signal },
      (server) => NbdTarget.open(server.address, `qcow2:${path}`, { ...options, created: true }, server, hooks),
    );
    opened = true;
    return target;
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** A `qcow2:PATH` location, or a plain path whose content is a qcow2, read as its guest disk. */
export function openQcow2Location(path: string, options: SourceOptions): Promise<NbdSource> {
  if (options.fromSnap) throw new EngineError('INVALID_ARGUMENT', '--from-snap is for RBD images; a qcow2 gives changes with --bitmap NAME');
  return openQcow2Source(path, { bitmap: options.bitmap, signal: options.signal });
}

/** The qcow2 behind a source location (`qcow2:PATH`, or a path with qcow2 content), or null. */
export function qcow2PathOf(location: string): string | null {
  const path = parseQcow2Spec(location);
  if (path !== null) return path;
  return isQcow2File(location) ? location : null;
}

export const qcow2Scheme: IoScheme = {
  title: 'qcow2 image',
  prefixes: ['qcow2:'],
  openSource: (location: string, options: SourceOptions) => openQcow2Location(parseQcow2Spec(location)!, options),
  openTarget: (location: string, options: TargetOptions) => createQcow2Target(parseQcow2Spec(location)!, options.size, { force: options.force, signal: options.signal }),
};

// A private qemu-nbd: Blockvault reads qcow2 images and RBD images (and writes restores into
// them) through qemu-nbd serving them on a Unix socket in a private temporary folder (mode
// 0700). Nouns: the *image* is what qemu-nbd opens, given as a `json:` block-driver spec so
// no path or name is ever parsed as options; the *server* is the child process, always
// stopped and reaped by `stop()` (and killed when this process exits) whatever happened.
// A file image is opened with `aio=io_uring` where the kernel allows it: qemu's default
// thread-pool aio hands every read to a thread and back (a 2 GiB backup over NBD cost qemu-nbd
// 1.1-1.3 CPU-s that way, 0.8-0.9 with io_uring, on the cores the backup hashes with). Where
// io_uring is refused (a container's seccomp profile, kernel.io_uring_disabled), qemu-nbd ends
// at once saying so: qemu-nbd 7.2 listens before it opens the image, so this shows when the
// client connects (its connection is refused or dropped), not when the socket appears. `serve`
// then starts it again with the default, and later starts skip io_uring.
// qemu-nbd runs with glibc's malloc thresholds fixed (MALLOC_TUNABLES): qemu allocates a fresh
// buffer per request, and with glibc's defaults each 256 KiB buffer was mapped and unmapped
// again, so every page of every read faulted (532,000 faults per 2 GiB read); with the buffers
// kept in the heap, qemu-nbd's CPU for reading 2 GiB fell from 1.4-2.2 s to 0.7-0.8 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../errors';
import type { NbdAddress } from './address';

export type QemuImage =
  | { driver: 'qcow2' | 'raw'; path: string }
  | { driver: 'rbd'; pool: string; image: string; snapshot?: string; conf?: string; user?: string };

export interface QemuNbdOptions {
  image: QemuImage;
  readOnly: boolean;
  /** a persistent dirty bitmap of a qcow2 to expose as qemu:dirty-bitmap:NAME */
  bitmap?: string;
  /** how long to wait for the socket (default 30 s) */
  startTimeoutMs?: number;
  signal?: AbortSignal;
}

const EXPORT_NAME = 'blockvault';
/**
 * glibc malloc settings for qemu-nbd: buffers up to 32 MiB (the largest NBD request qemu takes)
 * come from the heap, not from a mapping of their own, and up to 256 MiB of freed heap stays
 * mapped for the next requests. Other C libraries ignore the variable.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

/** The environment qemu-nbd starts with: ours, with MALLOC_TUNABLES added to any GLIBC_TUNABLES set. */
export function qemuNbdEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ? `${env.GLIBC_TUNABLES}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES;
  return { ...env, GLIBC_TUNABLES: tunables };
}

/**
 * How qemu says the kernel refused io_uring ("Unable to use io_uring: failed to init linux
 * io_uring ring" in 7.2). Not just "io_uring": every error about the image quotes its spec,
 * which names the aio mode, and a missing file must not turn io_uring off.
 */
const IO_URING_REFUSED = /Unable to use io_uring|failed to init linux io_uring|io_uring (is )?not (supported|available)/i;

/** whether qemu-nbd refused `aio=io_uring` here once (then no later start asks for it) */
let ioUringRefused = false;

/** Forgets a refused io_uring: the next start asks for it again (tests of both refusals use it). */
export function forgetIoUringRefusal(): void {
  ioUringRefused = false;
}
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/**
 * The block-driver spec qemu-nbd opens (json: pseudo-protocol: no option parsing of names); a
 * file's `aio` mode when given (RBD has none).
 */
export function imageSpec(image: QemuImage, aio?: 'io_uring'): string {
  if (image.driver === 'rbd') {
    const file: Record<string, string> = { driver: 'rbd', pool: image.pool, image: image.image };
    if (image.snapshot) file.snapshot = image.snapshot;
    if (image.conf) file.conf = image.conf;
    if (image.user) file.user = image.user;
    return `json:${JSON.stringify({ driver: 'raw', file })}`;
  }
  return `json:${JSON.stringify({ driver: image.driver, file: { driver: 'file', filename: image.path, ...(aio ? { aio } : {}) } })}`;
}

export function describeImage(image: QemuImage): string {
  if (image.driver === 'rbd') return `rbd:${image.pool}/${image.image}${image.snapshot ? `@${image.snapshot}` : ''}`;
  return `${image.driver}:${image.path}`;
}

export class QemuNbd {
  private stopped: Promise<void> | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    /** how the server ended (`status N`, `signal S`), null while it runs */
    private readonly ending: () => string | null,
    /** what qemu-nbd wrote on stderr so far (its first 8 KiB) */
    private readonly errors: () => string,
    private readonly dir: string,
    readonly address: NbdAddress,
    readonly description: string,
    /** the aio mode the image was opened with (undefined: qemu's default) */
    readonly aio: 'io_uring' | undefined,
  ) {}

  /** the aio mode a file image is served with next (RBD: none) */
  static aioFor(image: QemuImage): 'io_uring' | undefined {
    return image.driver === 'rbd' || ioUringRefused ? undefined : 'io_uring';
  }

  /**
   * Starts a server (listening; the image may still fail to open, see `serve`). A qemu-nbd that
   * ends before it listens because io_uring was refused is started again without it.
   */
  static async start(options: QemuNbdOptions): Promise<QemuNbd> {
    const aio = QemuNbd.aioFor(options.image);
    try {
      return await QemuNbd.startWith(options, aio);
    } catch (error) {
      if (!aio || !(error instanceof IoUringRefused)) throw error;
      ioUringRefused = true;
      return QemuNbd.startWith(options, undefined);
    }
  }

  /**
   * Starts a server and hands it to `use`, which connects (and owns the server from then on:
   * it stops it when it fails). When `use` fails because qemu-nbd ended on a refused io_uring
   * (it listens first, so the connection is what fails), the server is started again without
   * io_uring and handed to `use` once more.
   */
  static async serve<T>(options: QemuNbdOptions, use: (server: QemuNbd) => Promise<T>): Promise<T> {
    const server = await QemuNbd.start(options);
    try {
      return await use(server);
    } catch (error) {
      await server.stop();
      if (!server.aio || !IO_URING_REFUSED.test(server.errors())) throw error;
      ioUringRefused = true;
      return use(await QemuNbd.startWith(options, undefined));
    }
  }

  private static async startWith(options: QemuNbdOptions, aio: 'io_uring' | undefined): Promise<QemuNbd> {
    const description = describeImage(options.image);
    if (options.signal?.aborted) throw new EngineError('CANCELED', `starting qemu-nbd for ${description} canceled`);
    const dir = mkdtempSync(join(tmpdir(), 'blockvault-nbd-'));
    const socket = join(dir, 'nbd.sock');
    const args = ['--socket', socket, '--export-name', EXPORT_NAME, '--persistent', '--shared', '8'];
    if (options.readOnly) args.push('--read-only');
    else args.push('--discard', 'unmap');
    if (options.bitmap) args.push('--bitmap', options.bitmap);
    args.push(imageSpec(options.image, aio));
    installExitHook();
    let child: ChildProcess;
    try {
      child = spawn('qemu-nbd', args, { stdio: ['ignore', 'ignore', 'pipe'], env: qemuNbdEnv() });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new EngineError('IO_ERROR', `cannot start qemu-nbd for ${description}: ${(error as Error).message}`, { cause: error });
    }
    running.add(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { if (stderr.length < 8192) stderr += chunk.toString('utf8'); });
    let exitStatus: string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.once('error', (error) => { exitStatus = error.message; running.delete(child); resolve(); });
      child.once('exit', (code, signal) => { exitStatus = signal ? `signal ${signal}` : `status ${code}`; running.delete(child); resolve(); });
    });
    const server = new QemuNbd(child, exited, () => exitStatus, () => stderr, dir, { endpoint: { kind: 'unix', path: socket }, exportName: EXPORT_NAME }, description, aio);
    const started = Date.now();
    const deadline = started + (options.startTimeoutMs ?? 30_000);
    try {
      for (;;) {
        if (exitStatus !== null) {
          const detail = stderr.trim().split('\n').filter(Boolean).pop() ?? '';
          if (aio && IO_URING_REFUSED.test(stderr)) throw new IoUringRefused(detail);
          const code = /No such file|does not exist|error opening|Could not open|No such/i.test(stderr) ? 'NOT_FOUND' : /bitmap/i.test(stderr) ? 'NOT_FOUND' : 'IO_ERROR';
          throw new EngineError(code, `qemu-nbd for ${description} ended (${exitStatus})${detail ? `: ${detail.replace(/^qemu-nbd: /, '')}` : ''}`);
        }
        if (options.signal?.aborted) throw new EngineError('CANCELED', `starting qemu-nbd for ${description} canceled`);
        if (Date.now() > deadline) throw new EngineError('IO_ERROR', `qemu-nbd for ${description} did not listen within ${(options.startTimeoutMs ?? 30_000) / 1000} s`);
        // (a probe connection after a second: a path /proc/net/unix shows differently)
        if (existsSync(socket) && (listeningOn(socket) || (Date.now() - started > 1000 && await canConnect(socket)))) return server;
        // qemu-nbd listens 10-20 ms after it starts: look often at first (a look costs a stat)
        await new Promise((resolve) => setTimeout(resolve, Date.now() - started < 200 ? 1 : 5));
      }
    } catch (error) {
      await server.stop();
      throw error;
    }
  }

  /**
   * Stops the server (SIGTERM, again every 25 ms, SIGKILL after 5 s), reaps it and removes its
   * folder; idempotent. qemu-nbd loses a SIGTERM that arrives just as it starts listening (seen
   * on a stop right after the start: it then served on until the SIGKILL); a repeated SIGTERM
   * only asks again for the same clean exit.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        const again = setInterval(() => this.child.kill('SIGTERM'), 25);
        const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
        await this.exited;
        clearInterval(again);
        clearTimeout(timer);
      }
      await this.exited;
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  /** How the server ended (`status 0` after a clean stop, `signal SIGKILL` ...), null while it runs. */
  get exitStatus(): string | null {
    return this.ending();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}

/** qemu-nbd ended at its start because the kernel refused io_uring */
class IoUringRefused extends Error {}

const UNIX_ROW = /^\s*[0-9a-fA-F]+: [0-9A-F]+ [0-9A-F]+ ([0-9A-F]+) [0-9A-F]+ [0-9A-F]+\s+\d+ (.*)$/;
const ACCEPTCON = '00010000';

/**
 * Whether a process listens on the Unix socket `path`: its row in /proc/net/unix has the
 * __SO_ACCEPTCON flag (a socket file appears at bind, a moment before listen). Read without
 * connecting: qemu-nbd would take a probe connection for a client and log its failed
 * negotiation. False where /proc/net/unix cannot be read.
 */
export function listeningOn(path: string): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'latin1');
  } catch {
    return false;
  }
  // Num RefCount Protocol Flags Type St Inode Path (the path is the rest of the line)
  for (const line of table.split('\n')) {
    const row = UNIX_ROW.exec(line);
    if (row && row[2] === path && row[1] === ACCEPTCON) return true;
  }
  return false;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

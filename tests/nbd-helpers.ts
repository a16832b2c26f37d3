// Helpers of the NBD tests: real NBD servers (nbdkit, qemu-nbd) started on a Unix socket in a
// temporary folder and stopped after the test file, and a small scripted fake server that
// misbehaves on purpose (bad magic, short replies, a close mid-read, oversized lengths,
// contexts nobody asked for, stalls).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { existsSync } from 'node:fs';
import type { NbdAddress } from '../src-main/engine/nbd/address';
import { listeningOn } from '../src-main/engine/nbd/qemu-nbd';
import { tempDir } from './helpers';

const children = new Set<ChildProcess>();
after(async () => {
  await Promise.all([...children].map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  })));
});

/** Runs a command and returns stdout; throws with stderr when it fails. */
/** The pids of the qemu-nbd processes this test process started and has not reaped. */
export function qemuNbdChildren(): number[] {
  return spawnSync('pgrep', ['-P', String(process.pid), 'qemu-nbd']).stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

export function run(command: string, args: string[], input?: Buffer): string {
  const result = spawnSync(command, args, { input, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr?.toString()}`);
  return result.stdout.toString();
}

/**
 * Waits until the server accepts connections: the socket file appears when the server binds,
 * a moment before it listens, and a connection in between is refused (seen under load).
 */
async function waitForSocket(path: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (existsSync(path) && listeningOn(path)) return;
    if (child.exitCode !== null) throw new Error(`server ended with status ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nothing accepts connections at ${path}`);
}

export interface RunningServer {
  address: NbdAddress;
  url: string;
  stop(): Promise<void>;
}

async function startServer(command: string, args: (socket: string) => string[], exportName: string): Promise<RunningServer> {
  const dir = tempDir('bv-nbd-');
  const socket = join(dir, 'nbd.sock');
  const child = spawn(command, args(socket), { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  await waitForSocket(socket, child);
  return {
    address: { endpoint: { kind: 'unix', path: socket }, exportName },
    url: `nbd+unix:///${exportName}?socket=${socket}`,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** nbdkit in the foreground on a private socket: `nbdkit(['--filter=delay', 'memory', '1M', 'rdelay=5'])`. */
export function nbdkit(args: string[]): Promise<RunningServer> {
  return startServer('nbdkit', (socket) => ['-f', '-U', socket, ...args], '');
}

/** qemu-nbd serving a file (format given) with extra options, e.g. ['-r', '-B', 'b0']. */
export function qemuNbd(file: string, format: 'raw' | 'qcow2', options: string[] = []): Promise<RunningServer> {
  return startServer('qemu-nbd', (socket) => ['-k', socket, '-x', 'disk', '-t', '-f', format, ...options, file], 'disk');
}

export type FakeMode =
  | 'ok'
  | 'bad-greeting'
  | 'oldstyle'
  | 'huge-option-reply'
  | 'extra-context'
  | 'bad-reply-magic'
  | 'close-mid-read'
  | 'oversized-chunk'
  | 'short-read'
  | 'stall-read'
  | 'stall-handshake'
  | 'unknown-cookie'
  | 'error-chunk'
  | 'zero-extent'
  | 'two-maps';

/** 'two-maps': base:allocation alternates data (flags 0) and zero holes (3) every 100000 bytes */
export const twoMapsAllocation = (offset: number): number => (Math.floor(offset / 100_000) % 2 ? 3 : 0);
/** 'two-maps': the dirty extents of qemu:dirty-bitmap:b0 */
export const TWO_MAPS_DIRTY: Array<[number, number]> = [[300_000, 350_000], [700_000, 710_000]];

export const FAKE_SIZE = 1024 * 1024;

/** the fake server's content: byte i is i * 7 mod 251 */
export function fakeByte(offset: number): number {
  return (offset * 7) % 251;
}

/** A fake NBD server on a Unix socket that behaves as `mode` says. */
export async function fakeServer(mode: FakeMode): Promise<RunningServer & { server: Server }> {
  const dir = tempDir('bv-fake-nbd-');
  const path = join(dir, 'fake.sock');
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void serve(socket, mode).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return {
    server,
    address: { endpoint: { kind: 'unix', path }, exportName: 'fake' },
    url: `nbd+unix:///fake?socket=${path}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function u64(value: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}
function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}
function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0), length = data.length): Buffer {
  return Buffer.concat([u64(0x3e889045565a9n), u32(option), u32(type), u32(length), data]);
}

function chunk(flags: number, type: number, cookie: Buffer, payload: Buffer, length = payload.length): Buffer {
  return Buffer.concat([u32(0x668e33ef), u16(flags), u16(type), cookie, u32(length), payload]);
}

class Input {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private ended = false;
  constructor(socket: Socket) {
    socket.on('data', (data: Buffer) => { this.buffered = Buffer.concat([this.buffered, data]); this.waiting?.(); });
    socket.on('close', () => { this.ended = true; this.waiting?.(); });
  }
  async read(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.ended) throw new Error('closed');
      await new Promise<void>((resolve) => { this.waiting = resolve; });
      this.waiting = null;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }
}

async function serve(socket: Socket, mode: FakeMode): Promise<void> {
  const input = new Input(socket);
  if (mode === 'stall-handshake') return;
  if (mode === 'bad-greeting') { socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')); return; }
  if (mode === 'oldstyle') { socket.write(Buffer.concat([Buffer.from('NBDMAGIC'), u64(0x00420281861253n), u64(FAKE_SIZE), u32(0), Buffer.alloc(124)])); return; }
  socket.write(Buffer.concat([Buffer.from('NBDMAGIC'), Buffer.from('IHAVEOPT'), u16(3)]));
  await input.read(4);
  const contexts: string[] = [];
  for (;;) {
    const header = await input.read(16);
    const option = header.readUInt32BE(8);
    const data = await input.read(header.readUInt32BE(12));
    if (option === 8) {
      if (mode === 'huge-option-reply') { socket.write(optionReply(option, 1, Buffer.alloc(0), 0x7fffffff)); return; }
      socket.write(optionReply(option, 1));
    } else if (option === 10) {
      const nameLength = data.readUInt32BE(0);
      let at = 4 + nameLength;
      const count = data.readUInt32BE(at);
      at += 4;
      for (let i = 0; i < count; i++) {
        const n = data.readUInt32BE(at);
        const query = data.subarray(at + 4, at + 4 + n).toString();
        at += 4 + n;
        if (query === 'base:allocation' || (mode === 'two-maps' && query === 'qemu:dirty-bitmap:b0')) {
          contexts.push(query);
          socket.write(optionReply(option, 4, Buffer.concat([u32(contexts.length), Buffer.from(query)])));
        }
      }
      if (mode === 'extra-context') socket.write(optionReply(option, 4, Buffer.concat([u32(77), Buffer.from('qemu:dirty-bitmap:evil')])));
      socket.write(optionReply(option, 1));
    } else if (option === 7) {
      socket.write(optionReply(option, 3, Buffer.concat([u16(0), u64(FAKE_SIZE), u16(1 | 2 | 4)])));
      socket.write(optionReply(option, 1));
      break;
    } else {
      socket.write(optionReply(option, 0x80000001));
    }
  }
  for (;;) {
    const request = await input.read(28);
    const type = request.readUInt16BE(6);
    const cookie = request.subarray(8, 16);
    const offset = Number(request.readBigUInt64BE(16));
    const length = request.readUInt32BE(24);
    if (type === 2) { socket.end(); return; }
    const data = Buffer.alloc(length);
    for (let i = 0; i < length; i++) data[i] = fakeByte(offset + i);
    if (type === 7 && mode === 'two-maps') {
      // base:allocation: one extent, up to the next 100000 boundary (an answer in part, as
      // servers may give); the bitmap: the whole request, in as many extents as it takes
      const end = offset + length;
      const allocation = Math.min(end, (Math.floor(offset / 100_000) + 1) * 100_000) - offset;
      const bitmap: Buffer[] = [];
      for (let at = offset; at < end;) {
        const inside = TWO_MAPS_DIRTY.find(([from, to]) => at >= from && at < to);
        const next = inside ? inside[1] : Math.min(...TWO_MAPS_DIRTY.map(([from]) => from).filter((from) => from > at), end);
        const to = Math.min(next, end);
        bitmap.push(u32(to - at), u32(inside ? 1 : 0));
        at = to;
      }
      socket.write(chunk(0, 5, cookie, Buffer.concat([u32(2), ...bitmap])));
      socket.write(chunk(1, 5, cookie, Buffer.concat([u32(1), u32(allocation), u32(twoMapsAllocation(offset))])));
      continue;
    }
    if (type === 7) {
      const status = mode === 'zero-extent' ? Buffer.concat([u32(1), u32(0), u32(0)]) : Buffer.concat([u32(1), u32(length), u32(0)]);
      socket.write(chunk(1, 5, cookie, status));
      continue;
    }
    if (type !== 0) { socket.write(Buffer.concat([u32(0x67446698), u32(0), cookie])); continue; }
    switch (mode) {
      case 'bad-reply-magic': socket.write(Buffer.concat([u32(0xdeadbeef), Buffer.alloc(12)])); break;
      case 'close-mid-read': socket.end(chunk(1, 1, cookie, Buffer.concat([u64(offset), data.subarray(0, length >> 1)]), 8 + length)); return;
      case 'oversized-chunk': socket.write(chunk(1, 1, cookie, Buffer.alloc(0), 8 + length + 4096)); break;
      case 'short-read': socket.write(chunk(1, 1, cookie, Buffer.concat([u64(offset), data.subarray(0, length >> 1)]))); break;
      case 'stall-read': break;
      case 'unknown-cookie': socket.write(chunk(1, 1, u64(0xfeedn), Buffer.concat([u64(offset), data]))); break;
      case 'error-chunk':
        if (offset === 0) {
          const message = Buffer.from('boom');
          socket.write(chunk(1, (1 << 15) + 1, cookie, Buffer.concat([u32(5), u16(message.length), message])));
          break;
        }
        socket.write(chunk(1, 1, cookie, Buffer.concat([u64(offset), data])));
        break;
      default:
        // two chunks out of order, to check that reassembly follows the offsets
        if (length >= 2) {
          const half = length >> 1;
          socket.write(chunk(0, 1, cookie, Buffer.concat([u64(offset + half), data.subarray(half)])));
          socket.write(chunk(1, 1, cookie, Buffer.concat([u64(offset), data.subarray(0, half)])));
        } else {
          socket.write(chunk(1, 1, cookie, Buffer.concat([u64(offset), data])));
        }
    }
  }
}

// NBD server: serves one export (a *backend*) on a Unix socket or 127.0.0.1 with fixed newstyle
// negotiation, structured replies and the `base:allocation` meta context. Each connection's
// requests are answered in order. What a client sends is checked as strictly as what our
// client checks of servers: a bad magic, an oversized option or payload ends the connection;
// a request outside the export or a write to a read-only export is answered with an error.
import { createServer, type Server, type Socket } from 'node:net';
import { EngineError } from '../errors';
import type { NbdAddress } from './address';
import {
  BASE_ALLOCATION,
  CHUNK,
  CMD,
  CMD_FLAG,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_OPTION_LENGTH,
  MAX_PAYLOAD,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_EPERM,
  NBDMAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REP_ERR,
  REPLY_FLAG_DONE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
} from './protocol';
import { SocketReader } from './reader';

/** One base:allocation extent: flags STATE_HOLE | STATE_ZERO, or 0 for data. */
export interface StatusExtent {
  length: number;
  flags: number;
}

export interface ExportBackend {
  readonly size: number;
  readonly writable: boolean;
  read(offset: number, length: number): Promise<Buffer>;
  /** extents from `offset` covering at least part of `length`, in order */
  allocation(offset: number, length: number): Promise<StatusExtent[]>;
  write?(offset: number, data: Buffer): Promise<void>;
  writeZeros?(offset: number, length: number): Promise<void>;
  flush?(): Promise<void>;
}

export type Listen = { socket: string } | { port: number; host?: string };

const ALLOCATION_ID = 1;

export class NbdServer {
  private readonly connections = new Set<Socket>();
  /** an error that ended a request (for logs): the last one */
  lastError: Error | null = null;

  private constructor(
    private readonly server: Server,
    readonly address: NbdAddress,
    private readonly exportName: string,
    private readonly backend: ExportBackend,
  ) {}

  static async listen(listen: Listen, exportName: string, backend: ExportBackend): Promise<NbdServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new EngineError(error.code === 'EADDRINUSE' ? 'ALREADY_EXISTS' : 'IO_ERROR', `cannot listen on ${'socket' in listen ? listen.socket : `port ${listen.port}`}: ${error.code ?? error.message}`)));
      if ('socket' in listen) server.listen(listen.socket, resolve);
      else server.listen(listen.port, listen.host ?? '127.0.0.1', resolve);
    });
    const bound = server.address();
    const endpoint = 'socket' in listen ? { kind: 'unix' as const, path: listen.socket } : { kind: 'tcp' as const, host: listen.host ?? '127.0.0.1', port: typeof bound === 'object' && bound ? bound.port : listen.port };
    const nbd = new NbdServer(server, { endpoint, exportName }, exportName, backend);
    server.on('connection', (socket) => nbd.accept(socket));
    return nbd;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => undefined);
    const reader = new SocketReader(socket, () => new EngineError('IO_ERROR', 'client closed the connection'));
    this.serve(socket, reader).catch((error: Error) => {
      if (!/client closed/.test(error.message)) this.lastError = error;
      socket.destroy();
    });
  }

  private async serve(socket: Socket, reader: SocketReader): Promise<void> {
    const greeting = Buffer.alloc(18);
    greeting.writeBigUInt64BE(NBDMAGIC, 0);
    greeting.writeBigUInt64BE(IHAVEOPT, 8);
    greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    socket.write(greeting);
    const clientFlags = (await reader.read(4)).readUInt32BE(0);
    if (clientFlags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) throw new Error(`unknown client flags 0x${clientFlags.toString(16)}`);
    const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
    const state = { structured: false, allocation: false };
    const flags = TFLAG.HAS_FLAGS | TFLAG.SEND_FLUSH | TFLAG.CAN_MULTI_CONN | (this.backend.writable ? TFLAG.SEND_WRITE_ZEROES | TFLAG.SEND_TRIM : TFLAG.READ_ONLY);
    const reply = (option: number, type: number, data: Buffer = Buffer.alloc(0)) => {
      const header = Buffer.alloc(20);
      header.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
      header.writeUInt32BE(option, 8);
      header.writeUInt32BE(type, 12);
      header.writeUInt32BE(data.length, 16);
      socket.write(Buffer.concat([header, data]));
    };
    const exportInfo = () => {
      const info = Buffer.alloc(12);
      info.writeUInt16BE(INFO.EXPORT, 0);
      info.writeBigUInt64BE(BigInt(this.backend.size), 2);
      info.writeUInt16BE(flags, 10);
      return info;
    };
    for (;;) {
      const header = await reader.read(16);
      if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new Error('bad option magic');
      const option = header.readUInt32BE(8);
      const length = header.readUInt32BE(12);
      if (length > MAX_OPTION_LENGTH) throw new Error(`option of ${length} bytes`);
      const data = Buffer.from(await reader.read(length));
      if (option === OPT.EXPORT_NAME) {
        if (!this.nameMatches(data.toString('utf8'))) throw new Error('unknown export');
        const out = Buffer.alloc(10 + (noZeroes ? 0 : 124));
        out.writeBigUInt64BE(BigInt(this.backend.size), 0);
        out.writeUInt16BE(flags, 8);
        socket.write(out);
        break;
      }
      if (option === OPT.ABORT) {
        reply(option, REP.ACK);
        socket.end();
        return;
      }
      if (option === OPT.LIST) {
        const name = Buffer.from(this.exportName);
        const entry = Buffer.alloc(4 + name.length);
        entry.writeUInt32BE(name.length, 0);
        name.copy(entry, 4);
        reply(option, REP.SERVER, entry);
        reply(option, REP.ACK);
        continue;
      }
      if (option === OPT.STRUCTURED_REPLY) {
        if (length !== 0) reply(option, REP_ERR.INVALID);
        else {
          state.structured = true;
          reply(option, REP.ACK);
        }
        continue;
      }
      if (option === OPT.SET_META_CONTEXT || option === OPT.LIST_META_CONTEXT) {
        const queries = parseContextQueries(data);
        if (!queries || !state.structured) {
          reply(option, REP_ERR.INVALID);
          continue;
        }
        if (!this.nameMatches(queries.exportName)) {
          reply(option, REP_ERR.UNKNOWN);
          continue;
        }
        const grant = option === OPT.LIST_META_CONTEXT ? queries.names.length === 0 || queries.names.some((q) => q === 'base:' || q === BASE_ALLOCATION) : queries.names.includes(BASE_ALLOCATION);
        if (option === OPT.SET_META_CONTEXT) state.allocation = grant;
        if (grant) {
          const name = Buffer.from(BASE_ALLOCATION);
          const entry = Buffer.alloc(4 + name.length);
          entry.writeUInt32BE(option === OPT.SET_META_CONTEXT ? ALLOCATION_ID : 0, 0);
          name.copy(entry, 4);
          reply(option, REP.META_CONTEXT, entry);
        }
        reply(option, REP.ACK);
        continue;
      }
      if (option === OPT.GO || option === OPT.INFO) {
        if (length < 6) {
          reply(option, REP_ERR.INVALID);
          continue;
        }
        const nameLength = data.readUInt32BE(0);
        if (4 + nameLength + 2 > length) {
          reply(option, REP_ERR.INVALID);
          continue;
        }
        if (!this.nameMatches(data.subarray(4, 4 + nameLength).toString('utf8'))) {
          reply(option, REP_ERR.UNKNOWN, Buffer.from('no such export'));
          continue;
        }
        reply(option, REP.INFO, exportInfo());
        const blockSize = Buffer.alloc(14);
        blockSize.writeUInt16BE(INFO.BLOCK_SIZE, 0);
        blockSize.writeUInt32BE(1, 2);
        blockSize.writeUInt32BE(4096, 6);
        blockSize.writeUInt32BE(MAX_PAYLOAD, 10);
        reply(option, REP.INFO, blockSize);
        reply(option, REP.ACK);
        if (option === OPT.GO) break;
        continue;
      }
      reply(option, REP_ERR.UNSUP);
    }
    await this.transmission(socket, reader, state);
  }

  private nameMatches(name: string): boolean {
    return name === this.exportName || name === '';
  }

  private async transmission(socket: Socket, reader: SocketReader, state: { structured: boolean; allocation: boolean }): Promise<void> {
    const simple = (cookie: Buffer, errno: number, data?: Buffer) => {
      const header = Buffer.alloc(16);
      header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      header.writeUInt32BE(errno, 4);
      cookie.copy(header, 8);
      socket.write(data ? Buffer.concat([header, data]) : header);
    };
    const chunk = (cookie: Buffer, type: number, payload: Buffer, done = true) => {
      const header = Buffer.alloc(20);
      header.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
      header.writeUInt16BE(done ? REPLY_FLAG_DONE : 0, 4);
      header.writeUInt16BE(type, 6);
      cookie.copy(header, 8);
      header.writeUInt32BE(payload.length, 16);
      socket.write(Buffer.concat([header, payload]));
    };
    const fail = (cookie: Buffer, errno: number, message: string) => {
      if (!state.structured) return simple(cookie, errno);
      const text = Buffer.from(message.slice(0, 200));
      const payload = Buffer.alloc(6 + text.length);
      payload.writeUInt32BE(errno, 0);
      payload.writeUInt16BE(text.length, 4);
      text.copy(payload, 6);
      chunk(cookie, CHUNK.ERROR, payload);
    };
    for (;;) {
      const request = await reader.read(28);
      if (request.readUInt32BE(0) !== REQUEST_MAGIC) throw new Error('bad request magic');
      const flags = request.readUInt16BE(4);
      const command = request.readUInt16BE(6);
      const cookie = Buffer.from(request.subarray(8, 16));
      const bigOffset = request.readBigUInt64BE(16);
      const length = request.readUInt32BE(24);
      if (command === CMD.WRITE && length > MAX_PAYLOAD) throw new Error(`write of ${length} bytes`);
      const payload = command === CMD.WRITE ? Buffer.from(await reader.read(length)) : null;
      if (command === CMD.DISC) {
        socket.end();
        return;
      }
      const offset = Number(bigOffset);
      const inRange = bigOffset <= BigInt(this.backend.size) && offset + length <= this.backend.size;
      try {
        if (command !== CMD.FLUSH && !inRange) {
          fail(cookie, NBD_EINVAL, `request of ${length} bytes at ${bigOffset} is outside the export`);
          continue;
        }
        switch (command) {
          case CMD.READ: {
            if (length > MAX_PAYLOAD) {
              fail(cookie, NBD_EINVAL, `read of ${length} bytes is too large`);
              break;
            }
            const data = await this.backend.read(offset, length);
            if (!state.structured) simple(cookie, 0, data);
            else {
              const header = Buffer.alloc(8);
              header.writeBigUInt64BE(bigOffset, 0);
              chunk(cookie, CHUNK.OFFSET_DATA, Buffer.concat([header, data]));
            }
            break;
          }
          case CMD.WRITE:
          case CMD.WRITE_ZEROES:
          case CMD.TRIM: {
            if (!this.backend.writable) {
              fail(cookie, NBD_EPERM, 'the export is read-only');
              break;
            }
            if (command === CMD.WRITE) await this.backend.write!(offset, payload!);
            else await this.backend.writeZeros!(offset, length);
            if (state.structured) chunk(cookie, CHUNK.NONE, Buffer.alloc(0));
            else simple(cookie, 0);
            break;
          }
          case CMD.FLUSH:
            await this.backend.flush?.();
            if (state.structured) chunk(cookie, CHUNK.NONE, Buffer.alloc(0));
            else simple(cookie, 0);
            break;
          case CMD.BLOCK_STATUS: {
            if (!state.allocation || length === 0) {
              fail(cookie, NBD_EINVAL, 'no meta context negotiated');
              break;
            }
            let extents = await this.backend.allocation(offset, length);
            if (flags & CMD_FLAG.REQ_ONE) extents = extents.slice(0, 1);
            const out = Buffer.alloc(4 + 8 * extents.length);
            out.writeUInt32BE(ALLOCATION_ID, 0);
            extents.forEach((extent, i) => {
              out.writeUInt32BE(Math.min(extent.length, 0xffffffff), 4 + 8 * i);
              out.writeUInt32BE(extent.flags, 8 + 8 * i);
            });
            chunk(cookie, CHUNK.BLOCK_STATUS, out);
            break;
          }
          default:
            fail(cookie, NBD_EINVAL, `unsupported command ${command}`);
        }
      } catch (error) {
        this.lastError = error as Error;
        const code = error instanceof EngineError ? error.code : 'IO_ERROR';
        fail(cookie, code === 'NO_SPACE' ? NBD_ENOSPC : NBD_EIO, (error as Error).message);
      }
    }
  }
}

function parseContextQueries(data: Buffer): { exportName: string; names: string[] } | null {
  if (data.length < 8) return null;
  const nameLength = data.readUInt32BE(0);
  if (8 + nameLength > data.length) return null;
  const exportName = data.subarray(4, 4 + nameLength).toString('utf8');
  let at = 4 + nameLength;
  const count = data.readUInt32BE(at);
  at += 4;
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return null;
    const n = data.readUInt32BE(at);
    if (at + 4 + n > data.length) return null;
    names.push(data.subarray(at + 4, at + 4 + n).toString('utf8'));
    at += 4 + n;
  }
  return at === data.length ? { exportName, names } : null;
}

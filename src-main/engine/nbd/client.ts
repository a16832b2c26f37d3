// NBD client: fixed newstyle negotiation (structured replies, meta contexts, NBD_OPT_GO with
// an NBD_OPT_EXPORT_NAME fallback) and the transmission phase with several requests in
// flight over one TCP or Unix socket. Everything the server sends is checked: magic values,
// option replies, cookies, chunk types and lengths, offsets inside the request, block status
// extents. Any violation, a closed connection or a request unanswered within the timeout
// fails the whole connection with an IO_ERROR that says what went wrong; the connection is
// then unusable (its state is unknown) and every pending request gets that error.
import { setMaxListeners } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { EngineError } from '../errors';
import { formatNbdUrl, type NbdAddress } from './address';
import {
  BASE_ALLOCATION,
  CHUNK,
  CHUNK_ERROR_BIT,
  CMD,
  CMD_FLAG,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_OPTION_LENGTH,
  MAX_PAYLOAD,
  MAX_STRING,
  NBDMAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REP_ERR,
  REP_FLAG_ERROR,
  REPLY_FLAG_DONE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
  errnoName,
  optionReplyName,
} from './protocol';
import { DirectReader } from './direct-reader';

export interface NbdConnectOptions {
  /** meta contexts to negotiate; each must be granted or the connection fails */
  metaContexts?: string[];
  /** bound on the negotiation and on every request, in ms (default 30 s) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface BlockStatusExtent {
  offset: number;
  length: number;
  flags: number;
}

export interface NbdStats {
  requests: number;
  bytesRead: number;
  bytesWritten: number;
}

interface Pending {
  cookie: number;
  command: number;
  offset: number;
  length: number;
  /** READ: where the data goes (a scratch buffer once the caller gave up) */
  into: Buffer | null;
  covered: number;
  /** BLOCK_STATUS: extents per context id (null for other commands) */
  status: Map<number, BlockStatusExtent[]> | null;
  error: EngineError | null;
  /** when the request is overdue (performance.now() ms) */
  deadline: number;
  resolve(): void;
  reject(error: Error): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** the largest BLOCK_STATUS request length (the field is 32 bits) */
const STATUS_SPAN = 1 << 30;
/**
 * Reads and writes are split into requests of this size, all sent at once: qemu-nbd and
 * nbdkit answer a few 256 KiB requests in flight about twice as fast as one 4 MiB request
 * (nbdcopy's default request size is 256 KiB too).
 */
export const DEFAULT_REQUEST_SIZE = 256 * 1024;
/**
 * What the socket reads when a reply's header is expected: a structured reply's header (20
 * bytes) and an OFFSET_DATA chunk's offset (8), so the data that follows lands in the READ's
 * buffer rather than in the reader's scratch (see DirectReader.headerRead).
 */
const READ_REPLY_HEADER = 28;
/** bytes of a request's header */
const REQUEST_HEADER = 28;

const requestSignals = new WeakSet<AbortSignal>();
/**
 * Each request in flight listens on the job's signal until it settles: a backup keeps dozens
 * in flight (16 per 4 MiB block, blocks read ahead), past Node's default of 10 listeners, whose
 * "possible memory leak" warning would land on the user's terminal. The count is bounded by
 * the requests in flight, so the limit is lifted for signals given to requests.
 */
function allowRequestListeners(signal: AbortSignal): void {
  if (requestSignals.has(signal)) return;
  requestSignals.add(signal);
  setMaxListeners(0, signal);
}

const COMMAND_NAMES: Record<number, string> = {
  [CMD.READ]: 'READ',
  [CMD.WRITE]: 'WRITE',
  [CMD.FLUSH]: 'FLUSH',
  [CMD.TRIM]: 'TRIM',
  [CMD.WRITE_ZEROES]: 'WRITE_ZEROES',
  [CMD.BLOCK_STATUS]: 'BLOCK_STATUS',
};

export class NbdClient {
  readonly stats: NbdStats = { requests: 0, bytesRead: 0, bytesWritten: 0 };
  private readonly pending = new Map<number, Pending>();
  /** cookies are numbers below 2^53 (a Map keyed by bigint is slower), sent as 64 bits */
  private nextCookie = 1;
  /** one timer per connection checks the deadlines of the pending requests (not one timer per request) */
  private watchdog: NodeJS.Timeout | null = null;
  private failure: EngineError | null = null;
  private closing = false;

  private constructor(
    private readonly socket: Socket,
    private readonly reader: DirectReader,
    readonly description: string,
    readonly size: number,
    readonly flags: number,
    readonly structured: boolean,
    /** granted meta contexts by name -> id */
    readonly contexts: Map<string, number>,
    readonly blockSize: { minimum: number; preferred: number; maximum: number },
    private readonly timeoutMs: number,
  ) {
    this.receiveLoop();
  }

  get readOnly(): boolean {
    return (this.flags & TFLAG.READ_ONLY) !== 0;
  }
  get canFlush(): boolean {
    return (this.flags & TFLAG.SEND_FLUSH) !== 0;
  }
  get canTrim(): boolean {
    return (this.flags & TFLAG.SEND_TRIM) !== 0;
  }
  get canWriteZeroes(): boolean {
    return (this.flags & TFLAG.SEND_WRITE_ZEROES) !== 0;
  }
  /** largest payload of one READ or WRITE request */
  get maxRequest(): number {
    return Math.min(MAX_PAYLOAD, this.blockSize.maximum);
  }
  /** the size reads and writes are split at: DEFAULT_REQUEST_SIZE, a multiple of the server's minimum block size, at most maxRequest */
  get requestSize(): number {
    const minimum = this.blockSize.minimum;
    return Math.min(this.maxRequest, Math.max(minimum, Math.floor(DEFAULT_REQUEST_SIZE / minimum) * minimum));
  }

  static async connect(address: NbdAddress, options: NbdConnectOptions = {}): Promise<NbdClient> {
    const description = formatNbdUrl(address);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const fail = (message: string, code: 'IO_ERROR' | 'NOT_FOUND' | 'FORMAT_UNSUPPORTED' = 'IO_ERROR') =>
      new EngineError(code, `NBD server ${description}: ${message}`);
    if (options.signal?.aborted) throw new EngineError('CANCELED', `connecting to ${description} canceled`);
    const reader = new DirectReader(() => fail('closed the connection during negotiation'));
    reader.headerRead = READ_REPLY_HEADER;
    const onread = reader.onread;
    const socket = address.endpoint.kind === 'unix' ? netConnect({ path: address.endpoint.path, onread }) : netConnect({ host: address.endpoint.host, port: address.endpoint.port, onread });
    reader.attach(socket);
    let timer: NodeJS.Timeout | undefined;
    let stop: (error: EngineError) => void = () => undefined;
    const deadline = new Promise<never>((_, reject) => {
      stop = (error) => {
        reader.fail(error);
        reject(error);
      };
    });
    const onAbort = () => stop(new EngineError('CANCELED', `connecting to ${description} canceled`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      timer = setTimeout(() => stop(fail(`no complete negotiation within ${timeoutMs / 1000} s`)), timeoutMs);
      const connected = new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (error: NodeJS.ErrnoException) => reject(fail(`cannot connect: ${error.code ?? error.message}`)));
      });
      await race(connected, deadline);
      if (address.endpoint.kind === 'tcp') socket.setNoDelay(true);
      const result = await race(negotiate(socket, reader, address.exportName, options.metaContexts ?? [], fail), deadline);
      reader.closedError = () => new EngineError('IO_ERROR', `NBD server ${description} closed the connection`);
      return new NbdClient(socket, reader, description, result.size, result.flags, result.structured, result.contexts, result.blockSize, timeoutMs);
    } catch (error) {
      socket.destroy();
      if (error instanceof EngineError) throw error;
      throw fail(`negotiation failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads `length` bytes at `offset` (split into requests the server accepts), into `into` when
   * given. The requests share one promise and one abort listener, and their headers leave in
   * one write: a backup sends 16 of them per 4 MiB block.
   */
  read(offset: number, length: number, into?: Buffer, signal?: AbortSignal): Promise<Buffer> {
    try {
      this.checkRange(offset, length, 'READ');
    } catch (error) {
      return Promise.reject(error);
    }
    const out = into ? into.subarray(0, length) : Buffer.alloc(length);
    const step = this.requestSize;
    const count = Math.ceil(length / step);
    return this.submit('READ', count, out, signal, (settle) => {
      const parts: Pending[] = [];
      const headers = Buffer.allocUnsafe(count * REQUEST_HEADER);
      for (let i = 0, done = 0; i < count; i++, done += step) {
        const n = Math.min(step, length - done);
        parts.push(this.register(CMD.READ, 0, offset + done, n, out.subarray(done, done + n), null, settle, headers, i * REQUEST_HEADER));
      }
      this.socket.write(headers);
      return parts;
    });
  }

  async write(offset: number, data: Buffer, signal?: AbortSignal): Promise<void> {
    this.checkWritable('WRITE');
    this.checkRange(offset, data.length, 'WRITE');
    const step = this.requestSize;
    const parts: Promise<void>[] = [];
    for (let done = 0; done < data.length; done += step) {
      parts.push(this.request(CMD.WRITE, 0, offset + done, Math.min(step, data.length - done), data.subarray(done, done + step), null, signal));
    }
    await Promise.all(parts);
  }

  /** Writes zeros: NBD_CMD_WRITE_ZEROES when the server has it, else plain writes of zeros. */
  async writeZeros(offset: number, length: number, signal?: AbortSignal): Promise<void> {
    this.checkWritable('WRITE_ZEROES');
    this.checkRange(offset, length, 'WRITE_ZEROES');
    const step = this.canWriteZeroes ? STATUS_SPAN : this.maxRequest;
    const zeros = this.canWriteZeroes ? null : Buffer.alloc(Math.min(step, length));
    const parts: Promise<void>[] = [];
    for (let done = 0; done < length; done += step) {
      const n = Math.min(step, length - done);
      parts.push(zeros ? this.request(CMD.WRITE, 0, offset + done, n, zeros.subarray(0, n), null, signal) : this.request(CMD.WRITE_ZEROES, 0, offset + done, n, null, null, signal));
    }
    await Promise.all(parts);
  }

  async trim(offset: number, length: number, signal?: AbortSignal): Promise<void> {
    this.checkWritable('TRIM');
    this.checkRange(offset, length, 'TRIM');
    if (!this.canTrim) throw new EngineError('FORMAT_UNSUPPORTED', `NBD server ${this.description} does not support TRIM`);
    for (let done = 0; done < length; done += STATUS_SPAN) {
      await this.request(CMD.TRIM, 0, offset + done, Math.min(STATUS_SPAN, length - done), null, null, signal);
    }
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (!this.canFlush) return;
    await this.request(CMD.FLUSH, 0, 0, 0, null, null, signal);
  }

  /**
   * Block status of one meta context from `offset`: the extents the server describes, in order,
   * starting at `offset`, clipped to the export (it may describe less than `length`).
   */
  async blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<BlockStatusExtent[]> {
    return (await this.statusOf([context], offset, length, signal))[0];
  }

  /** One BLOCK_STATUS request: the extents of each of `contexts` (the server answers for every negotiated one). */
  private async statusOf(contexts: string[], offset: number, length: number, signal?: AbortSignal): Promise<BlockStatusExtent[][]> {
    const ids = contexts.map((context) => {
      const id = this.contexts.get(context);
      if (id === undefined) throw new EngineError('NOT_FOUND', `NBD server ${this.description}: meta context ${context} was not negotiated`);
      return id;
    });
    this.checkRange(offset, length, 'BLOCK_STATUS');
    const span = Math.min(length, STATUS_SPAN);
    const status = new Map<number, BlockStatusExtent[]>();
    await this.request(CMD.BLOCK_STATUS, 0, offset, span, null, null, signal, status);
    return ids.map((id, i) => {
      const extents = status.get(id);
      if (!extents) throw this.violation(`BLOCK_STATUS at ${offset} returned no extents for ${contexts[i]}`);
      return extents;
    });
  }

  /**
   * The extents of one meta context over the whole export, adjacent extents of equal flags
   * merged (see mapContexts).
   */
  async mapContext(context: string, signal?: AbortSignal): Promise<BlockStatusExtent[]> {
    return (await this.mapContexts([context], signal)).get(context)!;
  }

  /**
   * The extents of several meta contexts over the whole export, from the same requests (the
   * server describes every negotiated context in each answer: base:allocation and a dirty
   * bitmap cost one pass, not two), adjacent extents of equal flags merged. Every 1 GiB span
   * of the export is asked at once (a 10 GiB disk: 10 requests in flight, not one after the
   * other); a span a context is described in only in part is asked again from where the
   * shortest description ended.
   */
  async mapContexts(contexts: string[], signal?: AbortSignal): Promise<Map<string, BlockStatusExtent[]>> {
    const spans: Array<[number, number]> = [];
    for (let start = 0; start < this.size; start += STATUS_SPAN) spans.push([start, Math.min(this.size, start + STATUS_SPAN)]);
    const parts = await Promise.all(spans.map(async ([start, end]) => {
      const part = contexts.map(() => [] as BlockStatusExtent[]);
      /** where each context's description has reached */
      const reached = contexts.map(() => start);
      for (let offset = start; offset < end; offset = Math.min(...reached)) {
        const described = await this.statusOf(contexts, offset, end - offset, signal);
        described.forEach((extents, i) => {
          for (const extent of extents) {
            const from = Math.max(extent.offset, reached[i]);
            const to = Math.min(extent.offset + extent.length, end);
            if (to <= from) continue;
            part[i].push({ offset: from, length: to - from, flags: extent.flags });
            reached[i] = to;
          }
        });
      }
      return part;
    }));
    const maps = new Map<string, BlockStatusExtent[]>();
    contexts.forEach((context, i) => {
      const out: BlockStatusExtent[] = [];
      for (const part of parts) {
        for (const extent of part[i]) {
          const last = out[out.length - 1];
          if (last && last.flags === extent.flags) last.length += extent.length;
          else out.push({ ...extent });
        }
      }
      maps.set(context, out);
    });
    return maps;
  }

  /** Sends NBD_CMD_DISC once every pending request is answered, then closes the socket. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.failure) {
      await Promise.allSettled([...this.pending.values()].map((p) => new Promise<void>((resolve) => {
        const { resolve: done, reject } = p;
        p.resolve = () => { done(); resolve(); };
        p.reject = (error) => { reject(error); resolve(); };
      })));
    }
    if (!this.failure && !this.socket.destroyed) {
      const header = Buffer.alloc(28);
      header.writeUInt32BE(REQUEST_MAGIC, 0);
      header.writeUInt16BE(CMD.DISC, 6);
      writeCookie(header, this.nextCookie++);
      await new Promise<void>((resolve) => this.socket.end(header, () => resolve()));
    }
    this.fail(new EngineError('IO_ERROR', `NBD connection to ${this.description} is closed`));
    this.socket.destroy();
  }

  private checkRange(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new EngineError('INVALID_ARGUMENT', `NBD ${what} of ${length} bytes at ${offset} is outside the export (${this.size} bytes)`);
    }
  }

  private checkWritable(what: string): void {
    if (this.readOnly) throw new EngineError('IO_ERROR', `NBD server ${this.description} exports read-only: ${what} refused`);
  }

  private violation(message: string): EngineError {
    return new EngineError('IO_ERROR', `NBD server ${this.description} broke the protocol: ${message}`);
  }

  private fail(error: EngineError): void {
    if (this.failure) return;
    this.failure = error;
    this.reader.fail(error);
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.socket.destroy();
  }

  /** Starts the watchdog while requests are pending: the oldest overdue request fails the connection. */
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      if (this.pending.size === 0) {
        clearInterval(this.watchdog!);
        this.watchdog = null;
        return;
      }
      const now = performance.now();
      // the Map keeps insertion order: the first pending request is the oldest
      for (const p of this.pending.values()) {
        if (p.deadline <= now) {
          const name = COMMAND_NAMES[p.command] ?? String(p.command);
          this.fail(new EngineError('IO_ERROR', `NBD server ${this.description} did not answer ${name} of ${p.length} bytes at ${p.offset} within ${this.timeoutMs / 1000} s`));
        }
        return;
      }
    }, Math.max(10, Math.min(1000, this.timeoutMs / 8)));
  }

  /** Why no request can be sent now (the connection failed or is closing, the caller gave up), or null. */
  private refusal(name: string, signal?: AbortSignal): EngineError | null {
    if (this.failure) return this.failure;
    if (this.closing) return new EngineError('IO_ERROR', `NBD connection to ${this.description} is closing`);
    if (signal?.aborted) return new EngineError('CANCELED', `NBD ${name} canceled`);
    return null;
  }

  /** Registers a pending request whose answer calls `settle`, and writes its header into `header` at `at`. */
  private register(command: number, flags: number, offset: number, length: number, into: Buffer | null, status: Map<number, BlockStatusExtent[]> | null, settle: (error: Error | null) => void, header: Buffer, at: number): Pending {
    const cookie = this.nextCookie++;
    const p: Pending = {
      cookie,
      command,
      offset,
      length,
      into,
      covered: 0,
      status,
      error: null,
      deadline: performance.now() + this.timeoutMs,
      resolve: () => settle(null),
      reject: (error) => settle(error),
    };
    this.pending.set(cookie, p);
    this.watch();
    header.writeUInt32BE(REQUEST_MAGIC, at);
    header.writeUInt16BE(flags, at + 4);
    header.writeUInt16BE(command, at + 6);
    writeCookie(header, cookie, at + 8);
    header.writeUInt32BE(Math.floor(offset / 0x100000000), at + 16);
    header.writeUInt32BE(offset >>> 0, at + 20);
    header.writeUInt32BE(length, at + 24);
    this.stats.requests++;
    return p;
  }

  /**
   * Sends `count` requests as one operation: `send` registers them (with the `settle` it is
   * given) and writes them. The promise settles with `result` once every one was answered, at
   * the first error, or when `signal` aborts; one abort listener serves them all.
   */
  private submit<T>(name: string, count: number, result: T, signal: AbortSignal | undefined, send: (settle: (error: Error | null) => void) => Pending[]): Promise<T> {
    const refused = this.refusal(name, signal);
    if (refused) return Promise.reject(refused);
    if (count === 0) return Promise.resolve(result);
    return new Promise<T>((resolve, reject) => {
      let parts: Pending[] = [];
      let left = count;
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled || (error === null && --left > 0)) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(result);
      };
      const onAbort = (): void => {
        // NBD cannot cancel a request: the answers are still read, into scratch, and dropped.
        for (const p of parts) {
          if (this.pending.has(p.cookie) && p.into) p.into = Buffer.alloc(p.into.length);
        }
        settle(new EngineError('CANCELED', `NBD ${name} canceled`));
      };
      parts = send(settle);
      if (signal) {
        allowRequestListeners(signal);
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  private request(command: number, flags: number, offset: number, length: number, data: Buffer | null, into: Buffer | null, signal?: AbortSignal, status?: Map<number, BlockStatusExtent[]>): Promise<void> {
    return this.submit(COMMAND_NAMES[command] ?? String(command), 1, undefined, signal, (settle) => {
      const header = Buffer.allocUnsafe(REQUEST_HEADER);
      const p = this.register(command, flags, offset, length, into, status ?? null, settle, header, 0);
      if (data) {
        this.stats.bytesWritten += data.length;
        this.socket.cork();
        this.socket.write(header);
        this.socket.write(data);
        this.socket.uncork();
      } else {
        this.socket.write(header);
      }
      return [p];
    });
  }

  /**
   * The receive loop, as continuations the reader calls synchronously: a reply's magic, its
   * header, then its payload, read straight into the request's buffer. A violation thrown by
   * any step fails the connection.
   */
  private receiveLoop(): void {
    this.reader.onContinuationError = (error) => this.receiveFailed(error);
    this.expectReply();
  }

  private expectReply(): void {
    this.reader.expect(4, null, true, (magic) => {
      const value = magic.readUInt32BE(0);
      if (value === SIMPLE_REPLY_MAGIC) this.reader.expect(12, null, true, (header) => this.receiveSimple(header), this.onReceiveError);
      else if (value === STRUCTURED_REPLY_MAGIC) this.reader.expect(16, null, true, (header) => this.receiveStructured(header), this.onReceiveError);
      else throw this.violation(`bad reply magic 0x${value.toString(16)}`);
    }, this.onReceiveError);
  }

  private readonly onReceiveError = (error: Error): void => this.receiveFailed(error);

  private receiveFailed(error: unknown): void {
    if (this.closing && this.pending.size === 0) {
      this.fail(new EngineError('IO_ERROR', `NBD connection to ${this.description} is closed`));
      return;
    }
    this.fail(error instanceof EngineError ? error : new EngineError('IO_ERROR', `NBD server ${this.description}: ${(error as Error).message}`, { cause: error }));
  }

  private take(header: Buffer, at: number): Pending {
    const cookie = header.readUInt32BE(at) * 0x100000000 + header.readUInt32BE(at + 4);
    const p = this.pending.get(cookie);
    if (!p) throw this.violation(`reply to unknown cookie ${cookie}`);
    return p;
  }

  private finish(p: Pending): void {
    this.pending.delete(p.cookie);
    if (p.error) p.reject(p.error);
    else p.resolve();
  }

  private requestError(p: Pending, errno: number, message: string): EngineError {
    const name = COMMAND_NAMES[p.command] ?? String(p.command);
    const code = errno === 28 ? 'NO_SPACE' : 'IO_ERROR';
    return new EngineError(code, `NBD server ${this.description}: ${name} of ${p.length} bytes at ${p.offset} failed: ${errnoName(errno)}${message ? ` (${message})` : ''}`);
  }

  private receiveSimple(header: Buffer): void {
    const errno = header.readUInt32BE(0);
    const p = this.take(header, 4);
    if (errno !== 0) {
      p.error = this.requestError(p, errno, '');
    } else if (p.command === CMD.READ) {
      if (this.structured) throw this.violation('simple reply with data to a READ after structured replies were negotiated');
      this.reader.expect(p.length, p.into, false, () => {
        this.stats.bytesRead += p.length;
        this.finish(p);
        this.expectReply();
      }, this.onReceiveError);
      return;
    } else if (p.command === CMD.BLOCK_STATUS) {
      throw this.violation('simple reply to BLOCK_STATUS');
    }
    this.finish(p);
    this.expectReply();
  }

  private receiveStructured(header: Buffer): void {
    const flags = header.readUInt16BE(0);
    const type = header.readUInt16BE(2);
    const p = this.take(header, 4);
    const length = header.readUInt32BE(12);
    if (!this.structured) throw this.violation('structured reply that was not negotiated');
    const chunkDone = (): void => {
      if (flags & REPLY_FLAG_DONE) {
        if (!p.error && p.command === CMD.READ && p.covered !== p.length) throw this.violation(`READ of ${p.length} bytes at ${p.offset} answered with ${p.covered} bytes`);
        if (!p.error && p.command === CMD.BLOCK_STATUS && p.status!.size === 0) throw this.violation(`BLOCK_STATUS at ${p.offset} answered without extents`);
        this.finish(p);
      }
      this.expectReply();
    };
    if (type === CHUNK.OFFSET_DATA) {
      if (p.command !== CMD.READ) throw this.violation('data chunk for a request that is not a READ');
      if (length < 8 || length - 8 > p.length) throw this.violation(`data chunk of ${length} bytes for a READ of ${p.length}`);
      this.reader.expect(8, null, true, (at) => {
        const offset = Number(at.readBigUInt64BE(0));
        const n = length - 8;
        if (offset < p.offset || offset + n > p.offset + p.length) throw this.violation(`data chunk at ${offset} (${n} bytes) outside the READ of ${p.length} bytes at ${p.offset}`);
        this.reader.expect(n, p.into!.subarray(offset - p.offset), false, () => {
          p.covered += n;
          this.stats.bytesRead += n;
          chunkDone();
        }, this.onReceiveError);
      }, this.onReceiveError);
    } else if (type === CHUNK.OFFSET_HOLE) {
      if (p.command !== CMD.READ) throw this.violation('hole chunk for a request that is not a READ');
      if (length !== 12) throw this.violation(`hole chunk of ${length} bytes`);
      this.reader.expect(12, null, true, (payload) => {
        const offset = Number(payload.readBigUInt64BE(0));
        const n = payload.readUInt32BE(8);
        if (n === 0 || offset < p.offset || offset + n > p.offset + p.length) throw this.violation(`hole chunk at ${offset} (${n} bytes) outside the READ of ${p.length} bytes at ${p.offset}`);
        p.into!.fill(0, offset - p.offset, offset - p.offset + n);
        p.covered += n;
        chunkDone();
      }, this.onReceiveError);
    } else if (type === CHUNK.BLOCK_STATUS) {
      if (p.command !== CMD.BLOCK_STATUS) throw this.violation('block status chunk for a request that is not BLOCK_STATUS');
      if (length < 12 || (length - 4) % 8 !== 0 || length > MAX_PAYLOAD) throw this.violation(`block status chunk of ${length} bytes`);
      this.reader.expect(length, null, true, (payload) => {
        const id = payload.readUInt32BE(0);
        if (![...this.contexts.values()].includes(id)) throw this.violation(`block status for meta context id ${id}, which was not negotiated`);
        if (p.status!.has(id)) throw this.violation(`two block status chunks for meta context id ${id}`);
        const extents: BlockStatusExtent[] = [];
        let offset = p.offset;
        for (let at = 4; at < length && offset < this.size; at += 8) {
          const n = payload.readUInt32BE(at);
          if (n === 0) throw this.violation('block status extent of length 0');
          const clipped = Math.min(n, this.size - offset);
          extents.push({ offset, length: clipped, flags: payload.readUInt32BE(at + 4) });
          offset += clipped;
        }
        p.status!.set(id, extents);
        chunkDone();
      }, this.onReceiveError);
    } else if (type === CHUNK.NONE) {
      if (length !== 0) throw this.violation(`NONE chunk of ${length} bytes`);
      if (!(flags & REPLY_FLAG_DONE)) throw this.violation('NONE chunk without the DONE flag');
      chunkDone();
    } else if (type & CHUNK_ERROR_BIT) {
      if (length < 6 || length > 6 + MAX_STRING + 8) throw this.violation(`error chunk of ${length} bytes`);
      this.reader.expect(length, null, true, (payload) => {
        const errno = payload.readUInt32BE(0);
        const messageLength = payload.readUInt16BE(4);
        if (6 + messageLength > length) throw this.violation(`error chunk message of ${messageLength} bytes in ${length}`);
        if (errno === 0) throw this.violation('error chunk with error 0');
        p.error ??= this.requestError(p, errno, payload.subarray(6, 6 + messageLength).toString('utf8'));
        chunkDone();
      }, this.onReceiveError);
    } else {
      throw this.violation(`unknown structured reply chunk type ${type}`);
    }
  }
}

/** A cookie (a number below 2^53) as the request's 64-bit handle at `at` (8 in a request header). */
function writeCookie(header: Buffer, cookie: number, at = 8): void {
  header.writeUInt32BE(Math.floor(cookie / 0x100000000), at);
  header.writeUInt32BE(cookie >>> 0, at + 4);
}

/** Promise.race whose losers' later rejections are handled (they are expected once the race is decided). */
function race<T>(work: Promise<T>, deadline: Promise<never>): Promise<T> {
  work.catch(() => undefined);
  deadline.catch(() => undefined);
  return Promise.race([work, deadline]);
}

interface Negotiated {
  size: number;
  flags: number;
  structured: boolean;
  contexts: Map<string, number>;
  blockSize: { minimum: number; preferred: number; maximum: number };
}

type Fail = (message: string, code?: 'IO_ERROR' | 'NOT_FOUND' | 'FORMAT_UNSUPPORTED') => EngineError;

async function negotiate(socket: Socket, reader: DirectReader, exportName: string, wanted: string[], fail: Fail): Promise<Negotiated> {
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== NBDMAGIC) throw fail('not an NBD server (bad greeting magic)');
  if (greeting.readBigUInt64BE(8) !== IHAVEOPT) throw fail('oldstyle negotiation is not supported (need fixed newstyle)');
  const serverFlags = greeting.readUInt16BE(16);
  if (!(serverFlags & FLAG_FIXED_NEWSTYLE)) throw fail('the server does not offer fixed newstyle negotiation');
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
  socket.write(clientFlags);

  const sendOption = (option: number, data: Buffer) => {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(IHAVEOPT, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(data.length, 12);
    socket.write(Buffer.concat([header, data]));
  };
  const readReply = async (option: number): Promise<{ type: number; data: Buffer }> => {
    const header = await reader.read(20);
    if (header.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw fail('bad option reply magic');
    const replied = header.readUInt32BE(8);
    if (replied !== option) throw fail(`reply to option ${replied} while option ${option} was asked`);
    const type = header.readUInt32BE(12);
    const length = header.readUInt32BE(16);
    if (length > MAX_OPTION_LENGTH) throw fail(`option reply of ${length} bytes (more than ${MAX_OPTION_LENGTH})`);
    return { type, data: Buffer.from(await reader.read(length)) };
  };
  const errorText = (reply: { type: number; data: Buffer }) => `${optionReplyName(reply.type)}${reply.data.length ? `: ${reply.data.toString('utf8')}` : ''}`;

  const structuredReply = await (async () => {
    sendOption(OPT.STRUCTURED_REPLY, Buffer.alloc(0));
    const reply = await readReply(OPT.STRUCTURED_REPLY);
    if (reply.type === REP.ACK) {
      if (reply.data.length !== 0) throw fail('ACK with a payload');
      return true;
    }
    if (reply.type & REP_FLAG_ERROR) return false;
    throw fail(`unexpected reply ${optionReplyName(reply.type)} to STRUCTURED_REPLY`);
  })();

  const name = Buffer.from(exportName, 'utf8');
  if (name.length > MAX_STRING) throw fail(`export name longer than ${MAX_STRING} bytes`);
  const contexts = new Map<string, number>();
  if (wanted.length > 0) {
    if (!structuredReply) throw fail(`the server has no structured replies, so no meta context (${wanted.join(', ')})`, 'FORMAT_UNSUPPORTED');
    const queries = wanted.map((query) => Buffer.from(query, 'utf8'));
    const data = Buffer.alloc(8 + name.length + queries.reduce((sum, q) => sum + 4 + q.length, 0));
    let at = data.writeUInt32BE(name.length, 0);
    at += name.copy(data, at);
    at = data.writeUInt32BE(queries.length, at);
    for (const query of queries) {
      at = data.writeUInt32BE(query.length, at);
      at += query.copy(data, at);
    }
    sendOption(OPT.SET_META_CONTEXT, data);
    for (;;) {
      const reply = await readReply(OPT.SET_META_CONTEXT);
      if (reply.type === REP.ACK) break;
      if (reply.type === REP.META_CONTEXT) {
        if (reply.data.length < 5) throw fail(`meta context reply of ${reply.data.length} bytes`);
        const id = reply.data.readUInt32BE(0);
        const granted = reply.data.subarray(4).toString('utf8');
        if (!wanted.includes(granted)) throw fail(`granted meta context ${granted}, which was not asked for`);
        if (contexts.has(granted) || [...contexts.values()].includes(id)) throw fail(`meta context ${granted} (id ${id}) granted twice`);
        contexts.set(granted, id);
        continue;
      }
      if (reply.type & REP_FLAG_ERROR) throw fail(`SET_META_CONTEXT refused: ${errorText(reply)}`, reply.type === REP_ERR.UNSUP ? 'FORMAT_UNSUPPORTED' : 'IO_ERROR');
      throw fail(`unexpected reply ${optionReplyName(reply.type)} to SET_META_CONTEXT`);
    }
    const missing = wanted.filter((query) => !contexts.has(query));
    if (missing.length > 0) throw fail(`export ${JSON.stringify(exportName)} has no meta context ${missing.join(', ')}`, 'NOT_FOUND');
  }

  const go = Buffer.alloc(4 + name.length + 2 + 2);
  let at = go.writeUInt32BE(name.length, 0);
  at += name.copy(go, at);
  at = go.writeUInt16BE(1, at);
  go.writeUInt16BE(INFO.BLOCK_SIZE, at);
  sendOption(OPT.GO, go);
  let size = -1;
  let flags = 0;
  const blockSize = { minimum: 1, preferred: 4096, maximum: MAX_PAYLOAD };
  for (;;) {
    const reply = await readReply(OPT.GO);
    if (reply.type === REP.ACK) break;
    if (reply.type === REP.INFO) {
      if (reply.data.length < 2) throw fail(`INFO reply of ${reply.data.length} bytes`);
      const info = reply.data.readUInt16BE(0);
      if (info === INFO.EXPORT) {
        if (reply.data.length !== 12) throw fail(`export INFO of ${reply.data.length} bytes`);
        const bigSize = reply.data.readBigUInt64BE(2);
        if (bigSize > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`export size ${bigSize} is too large`);
        size = Number(bigSize);
        flags = reply.data.readUInt16BE(10);
      } else if (info === INFO.BLOCK_SIZE) {
        if (reply.data.length !== 14) throw fail(`block size INFO of ${reply.data.length} bytes`);
        blockSize.minimum = reply.data.readUInt32BE(2);
        blockSize.preferred = reply.data.readUInt32BE(6);
        blockSize.maximum = Math.min(MAX_PAYLOAD, reply.data.readUInt32BE(10));
        if (blockSize.minimum < 1 || blockSize.minimum > 65536 || blockSize.maximum < blockSize.minimum) throw fail(`block sizes ${blockSize.minimum}/${blockSize.preferred}/${blockSize.maximum} make no sense`);
      }
      continue;
    }
    if (reply.type === REP_ERR.UNSUP && contexts.size === 0) return exportNameFallback(socket, reader, name, noZeroes, structuredReply, fail);
    if (reply.type === REP_ERR.UNKNOWN) throw fail(`no export named ${JSON.stringify(exportName)}`, 'NOT_FOUND');
    if (reply.type & REP_FLAG_ERROR) throw fail(`export ${JSON.stringify(exportName)} refused: ${errorText(reply)}`);
    throw fail(`unexpected reply ${optionReplyName(reply.type)} to GO`);
  }
  if (size < 0) throw fail('GO acknowledged without the export size');
  return { size, flags, structured: structuredReply, contexts, blockSize };
}

/** Servers without NBD_OPT_GO: NBD_OPT_EXPORT_NAME, answered with size and flags (and 124 zeros). */
async function exportNameFallback(socket: Socket, reader: DirectReader, name: Buffer, noZeroes: boolean, structured: boolean, fail: Fail): Promise<Negotiated> {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(IHAVEOPT, 0);
  header.writeUInt32BE(OPT.EXPORT_NAME, 8);
  header.writeUInt32BE(name.length, 12);
  socket.write(Buffer.concat([header, name]));
  const reply = await reader.read(10 + (noZeroes ? 0 : 124));
  const bigSize = reply.readBigUInt64BE(0);
  if (bigSize > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`export size ${bigSize} is too large`);
  return { size: Number(bigSize), flags: reply.readUInt16BE(8), structured, contexts: new Map(), blockSize: { minimum: 1, preferred: 4096, maximum: MAX_PAYLOAD } };
}

export { BASE_ALLOCATION, CMD_FLAG };

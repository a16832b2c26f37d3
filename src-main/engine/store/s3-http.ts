// The S3 store's light request path: whole-object GETs and PUTs as plain HTTP/1.1 exchanges
// on keep-alive sockets, signed with AWS Signature Version 4 here (the payload signed: its
// SHA-256 is in x-amz-content-sha256, as the SDK sends it). Nouns: a *connection* is one
// socket with its read buffer; an *exchange* is one request and its answer on it.
//
// Why not the SDK for these two: per object it runs its middleware stack, and a GET's body
// arrives as a stream of fresh 64 KiB buffers that are parsed, pushed, copied and then left
// to the garbage collector. On the 2-core VM the SDK alone spent 1.4-1.8 CPU-s to get the
// bench's 536 MB, more than the decompression and verification of the same objects. Here a
// plain-http socket reads into one reused buffer of its own (net's `onread`) and a body is
// copied from it once, straight into the caller's buffer. Everything else (HEAD, lists,
// deletes, ranges, the credential chain, AWS's own endpoints) stays with the SDK; s3.ts
// decides which path a request takes and maps this path's failures to the same codes.
import { createHash, createHmac } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface S3HttpSettings {
  endpoint: URL;
  region: string;
  bucket: string;
  pathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** sockets kept open for reuse at most */
  maxIdle: number;
  connectTimeoutMs: number;
}

/** A non-2xx answer, shaped like the SDK's service errors so the store classifies both alike. */
export class S3HttpError extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode: number };

  constructor(status: number, code: string, message: string) {
    super(message || code || `HTTP ${status}`);
    this.name = code || (status === 404 ? 'NotFound' : 'UnknownError');
    this.Code = this.name;
    this.$metadata = { httpStatusCode: status };
  }
}

/** The connection closed or failed before its answer was whole: transient, as a reset is. */
function connectionLost(what: string, cause?: unknown): Error {
  const error = new Error(`${what}: the connection closed before the answer was complete`, { cause }) as Error & { code: string };
  error.code = (cause as { code?: unknown } | undefined)?.code === undefined ? 'ECONNRESET' : String((cause as { code: unknown }).code);
  return error;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Bytes a socket reads at once (and keeps for it): fewer, larger reads cost less CPU. */
const READ_BUFFER = 256 * 1024;
/** An answer's head (status line and headers) larger than this is not S3. */
const MAX_HEAD = 64 * 1024;
/** A body this path collects for itself (an error's XML) is cut here. */
const MAX_COLLECTED = 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** S3's URI encoding of a path: every byte but unreserved ones and the slashes. */
function encodePath(path: string): string {
  return path.split('/').map((part) => encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
}

/**
 * Where the body of an answer goes, decided once its head is read: into a buffer (a new one
 * when `into` is too small for the announced length), or collected in pieces up to `limit`
 * bytes (past it: `over`'s error, or without `over` the rest is dropped, as for an error's XML).
 */
interface BodySink {
  into?: Buffer;
  limit: number;
  over?: () => Error;
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  /** the body: a view of the sink's buffer, or the collected bytes */
  body: Buffer;
}

/**
 * Reads one answer from the bytes a socket delivers (any split), into the sink `choose` gives
 * for it. Bytes past the answer mean the connection is out of step: it is not reused.
 */
class AnswerReader {
  private head: Buffer[] = [];
  private headLength = 0;
  private status = 0;
  private headers = new Map<string, string>();
  private mode: 'head' | 'length' | 'chunked' | 'close' | 'done' = 'head';
  private remaining = 0;
  private sink: Buffer | null = null;
  private filled = 0;
  private limit = MAX_COLLECTED;
  private over: (() => Error) | undefined;
  private collected: Buffer[] = [];
  private collectedLength = 0;
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private line = '';
  /** bytes that arrived after the answer ended */
  extra = false;

  constructor(
    private readonly method: string,
    private readonly choose: (status: number, headers: Map<string, string>) => BodySink,
    private readonly progress: () => void,
  ) {}

  get done(): boolean {
    return this.mode === 'done';
  }

  /** whether the server keeps the connection open after this answer */
  get keepAlive(): boolean {
    return this.mode === 'done' && (this.headers.get('connection') ?? '').toLowerCase() !== 'close';
  }

  answer(): Answer {
    const body = this.sink ? this.sink.subarray(0, this.filled) : Buffer.concat(this.collected, this.collectedLength);
    return { status: this.status, headers: this.headers, body };
  }

  /** The socket's end: an answer whose length is "until the connection closes" is whole now. */
  end(): boolean {
    if (this.mode === 'close') this.mode = 'done';
    return this.done;
  }

  feed(data: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end) {
      if (this.mode === 'done') {
        this.extra = true;
        return;
      }
      if (this.mode === 'head') at = this.readHead(data, at, end);
      else if (this.mode === 'chunked') at = this.readChunked(data, at, end);
      else at = this.readBody(data, at, end, this.mode === 'length' ? this.remaining : end - at);
    }
    this.progress();
  }

  private readHead(data: Buffer, start: number, end: number): number {
    // The head usually comes in one read; when not, its bytes so far are kept (copied: the
    // socket reuses its buffer) and searched again with the next ones.
    const prior = this.headLength;
    const bytes = prior > 0 ? Buffer.concat([...this.head, data.subarray(start, end)]) : data.subarray(start, end);
    const found = bytes.indexOf(HEAD_END, Math.max(0, prior - 3));
    if (found < 0) {
      if (bytes.length > MAX_HEAD) throw new S3HttpError(0, 'BadResponse', `the server's answer has a head of more than ${MAX_HEAD} bytes`);
      this.head = [Buffer.from(bytes)];
      this.headLength = bytes.length;
      return end;
    }
    this.head = [];
    this.headLength = 0;
    this.parseHead(bytes.toString('latin1', 0, found));
    return start + found + HEAD_END.length - prior;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!status) throw new S3HttpError(0, 'BadResponse', `not an HTTP answer: ${JSON.stringify(lines[0].slice(0, 80))}`);
    this.status = Number(status[1]);
    this.headers = new Map();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) this.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (this.status >= 100 && this.status < 200) return; // 100 Continue and the like: the answer follows
    if (this.method === 'HEAD' || this.status === 204 || this.status === 304) {
      this.mode = 'done';
      return;
    }
    const chunked = /chunked/i.test(this.headers.get('transfer-encoding') ?? '');
    const length = this.headers.get('content-length');
    const sink = this.choose(this.status, this.headers);
    if (!chunked && length !== undefined) {
      if (!/^\d+$/.test(length)) throw new S3HttpError(0, 'BadResponse', `bad Content-Length ${JSON.stringify(length)}`);
      this.remaining = Number(length);
      this.mode = 'length';
    } else {
      this.mode = chunked ? 'chunked' : 'close';
    }
    this.limit = sink.limit;
    this.over = sink.over;
    if (sink.into && this.mode === 'length') this.sink = this.remaining <= sink.into.length ? sink.into : Buffer.allocUnsafe(this.remaining);
    if (this.mode === 'length' && this.remaining === 0) this.mode = 'done';
  }

  /** Takes up to `want` body bytes; returns where it stopped. */
  private readBody(data: Buffer, start: number, end: number, want: number): number {
    const n = Math.min(want, end - start);
    if (this.sink) {
      data.copy(this.sink, this.filled, start, start + n);
      this.filled += n;
    } else {
      this.collect(data, start, n);
    }
    if (this.mode === 'length') {
      this.remaining -= n;
      if (this.remaining === 0) this.mode = 'done';
    }
    return start + n;
  }

  private readChunked(data: Buffer, start: number, end: number): number {
    let at = start;
    while (at < end && this.mode === 'chunked') {
      if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, end - at);
        this.collect(data, at, n);
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.chunkState = 'crlf';
        continue;
      }
      const newline = data.indexOf(10, at);
      if (newline < 0 || newline >= end) {
        this.line += data.toString('latin1', at, end);
        if (this.line.length > 4096) throw new S3HttpError(0, 'BadResponse', 'bad chunked encoding');
        return end;
      }
      const line = (this.line + data.toString('latin1', at, newline)).replace(/\r$/, '');
      this.line = '';
      at = newline + 1;
      if (this.chunkState === 'crlf') {
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const size = Number.parseInt(line.split(';')[0].trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new S3HttpError(0, 'BadResponse', 'bad chunked encoding');
        this.remaining = size;
        this.chunkState = size === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.mode = 'done';
      }
    }
    return at;
  }

  private collect(data: Buffer, at: number, n: number): void {
    if (this.collectedLength + n > this.limit) {
      if (this.over) throw this.over();
      n = Math.max(0, this.limit - this.collectedLength);
    }
    if (n === 0) return;
    this.collected.push(Buffer.from(data.subarray(at, at + n)));
    this.collectedLength += n;
  }
}

/** One socket and what it is doing. */
interface Connection {
  socket: Socket;
  reader: AnswerReader | null;
  /** called with the failure that ends the current exchange (a socket error, an early close) */
  fail: ((error: Error) => void) | null;
  /** the current exchange's answer is whole */
  settle: (() => void) | null;
}

export class S3Http {
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private signingKey: { date: string; key: Buffer } | null = null;
  /**
   * Milliseconds to add to this machine's clock when signing: set from an error answer's Date
   * when the two differ by more than 5 minutes (a signature's time must be within 15 minutes of
   * the server's), so the retry of a RequestTimeTooSkewed succeeds, as the SDK's would.
   */
  private clockOffset = 0;

  constructor(private readonly settings: S3HttpSettings) {
    const url = settings.endpoint;
    this.tls = url.protocol === 'https:';
    this.port = url.port ? Number(url.port) : this.tls ? 443 : 80;
    this.host = settings.pathStyle ? url.hostname : `${settings.bucket}.${url.hostname}`;
  }

  /** Whether this path serves a store at `endpoint`: http(s) at the server's root, static credentials. */
  static serves(endpoint: string | undefined, credentials: S3HttpSettings['credentials'] | undefined): boolean {
    if (!endpoint || !credentials) return false;
    try {
      const url = new URL(endpoint);
      return (url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') && !url.search && !url.username;
    } catch {
      return false;
    }
  }

  /** PUTs `body` under the S3 key `key`. */
  async put(key: string, body: Buffer, signal: AbortSignal, alive: () => void): Promise<void> {
    const answer = await this.exchange('PUT', key, body, signal, alive, () => ({ limit: MAX_COLLECTED }));
    if (answer.status < 200 || answer.status >= 300) throw this.answerError(answer);
  }

  /**
   * GETs the S3 key `key` whole: into `into` when it has room, else into a new buffer. An
   * object larger than `maxSize.bytes` fails with `maxSize.error` before its body is read.
   */
  async get(key: string, into: Buffer | undefined, signal: AbortSignal, alive: () => void, maxSize?: { bytes: number; error: (size: number) => Error }): Promise<Buffer> {
    const answer = await this.exchange('GET', key, null, signal, alive, (status, headers) => {
      if (status < 200 || status >= 300) return { limit: MAX_COLLECTED };
      const length = headers.get('content-length');
      if (maxSize && length !== undefined && Number(length) > maxSize.bytes) throw maxSize.error(Number(length));
      return { into: into ?? Buffer.alloc(0), limit: maxSize?.bytes ?? Number.MAX_SAFE_INTEGER, over: maxSize ? () => maxSize.error(maxSize.bytes + 1) : undefined };
    });
    if (answer.status < 200 || answer.status >= 300) throw this.answerError(answer);
    return answer.body;
  }

  /** The error of a non-2xx answer; its Date corrects the signing clock when they are far apart. */
  private answerError(answer: Answer): S3HttpError {
    const serverTime = Date.parse(answer.headers.get('date') ?? '');
    if (Number.isFinite(serverTime) && Math.abs(serverTime - (Date.now() + this.clockOffset)) > 5 * 60_000) this.clockOffset = serverTime - Date.now();
    return errorOf(answer);
  }

  /** Ends every connection (requests in flight fail); a later request opens new ones. */
  close(): void {
    for (const connection of this.open) connection.socket.destroy();
    this.open.clear();
    this.idle.length = 0;
  }

  private async exchange(
    method: 'GET' | 'PUT', key: string, body: Buffer | null, signal: AbortSignal, alive: () => void,
    choose: (status: number, headers: Map<string, string>) => BodySink,
  ): Promise<Answer> {
    const path = encodePath(this.settings.pathStyle ? `/${this.settings.bucket}/${key}` : `/${key}`);
    const head = this.requestHead(method, path, body);
    const connection = await this.connection(signal);
    const reader = new AnswerReader(method, choose, alive);
    let written = body === null;
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          connection.socket.destroy();
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        connection.reader = reader;
        connection.fail = (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        };
        connection.settle = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const socket = connection.socket;
        socket.ref();
        socket.cork();
        socket.write(head);
        if (body && body.length > 0) socket.write(body, () => { written = true; });
        else written = true;
        socket.uncork();
      });
    } catch (error) {
      this.drop(connection);
      throw error;
    }
    connection.reader = null;
    connection.fail = null;
    connection.settle = null;
    // A PUT answered before its body was all sent (a refusal), or bytes beyond the answer:
    // the connection's state is unknown, so it is not reused.
    if (reader.keepAlive && written && !reader.extra && this.open.has(connection) && this.idle.length < this.settings.maxIdle) {
      connection.socket.unref();
      this.idle.push(connection);
    } else {
      this.drop(connection);
    }
    return reader.answer();
  }

  private drop(connection: Connection): void {
    connection.socket.destroy();
    this.open.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  }

  /** A kept connection, or a new one once it is connected. */
  private async connection(signal: AbortSignal): Promise<Connection> {
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (!connection.socket.destroyed && connection.socket.readyState === 'open') return connection;
      this.drop(connection);
    }
    const connection: Connection = { socket: undefined as unknown as Socket, reader: null, fail: null, settle: null };
    const onBytes = (data: Buffer, start: number, end: number): void => {
      const reader = connection.reader;
      if (!reader) {
        this.drop(connection); // bytes nobody asked for: the connection is out of step
        return;
      }
      try {
        reader.feed(data, start, end);
      } catch (error) {
        connection.fail?.(error as Error);
        return;
      }
      if (reader.done) connection.settle?.();
    };
    const readBuffer = this.tls ? null : Buffer.allocUnsafe(READ_BUFFER);
    const socket = this.tls
      ? tlsConnect({ host: this.host, port: this.port, ...(isIP(this.host) ? {} : { servername: this.host }) })
      : netConnect({ host: this.host, port: this.port, onread: { buffer: readBuffer!, callback: (n: number, buffer: Uint8Array) => { onBytes(buffer as Buffer, 0, n); return true; } } });
    connection.socket = socket;
    socket.setNoDelay(true);
    if (this.tls) socket.on('data', (data: Buffer) => onBytes(data, 0, data.length));
    // Every socket has an error listener: an error after its exchange ended must not end the process.
    socket.on('error', (error) => {
      connection.fail?.(connectionLostOrError(error));
      this.drop(connection);
    });
    socket.on('end', () => {
      const reader = connection.reader;
      if (reader?.end()) connection.settle?.();
      else connection.fail?.(connectionLost('the server'));
      this.drop(connection);
    });
    socket.on('close', () => {
      connection.fail?.(connectionLost('the server'));
      this.drop(connection);
    });
    this.open.add(connection);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        const error = new Error(`could not connect to ${this.host}:${this.port} within ${this.settings.connectTimeoutMs} ms`) as Error & { code: string };
        error.code = 'ETIMEDOUT';
        reject(error);
      }, this.settings.connectTimeoutMs);
      const onAbort = (): void => {
        socket.destroy();
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        connection.fail = null;
        if (error) reject(error);
        else resolve();
      };
      connection.fail = finish;
      socket.once(this.tls ? 'secureConnect' : 'connect', () => finish());
    }).catch((error: unknown) => {
      this.drop(connection);
      throw error;
    });
    return connection;
  }

  /** The request line and headers, signed (SigV4; the payload's SHA-256 signed too). */
  private requestHead(method: string, path: string, body: Buffer | null): string {
    const { credentials, region } = this.settings;
    const now = new Date(Date.now() + this.clockOffset).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = now.slice(0, 8);
    const payloadHash = body && body.length > 0 ? sha256Hex(body) : EMPTY_SHA256;
    const hostHeader = this.port === (this.tls ? 443 : 80) ? this.host : `${this.host}:${this.port}`;
    const signed: Array<[string, string]> = [['host', hostHeader], ['x-amz-content-sha256', payloadHash], ['x-amz-date', now]];
    if (credentials.sessionToken) signed.push(['x-amz-security-token', credentials.sessionToken]);
    const names = signed.map(([name]) => name).join(';');
    const canonical = `${method}\n${path}\n\n${signed.map(([name, value]) => `${name}:${value}\n`).join('')}\n${names}\n${payloadHash}`;
    const scope = `${date}/${region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${now}\n${scope}\n${sha256Hex(canonical)}`;
    if (this.signingKey?.date !== date) {
      const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date), region), 's3'), 'aws4_request');
      this.signingKey = { date, key };
    }
    const signature = createHmac('sha256', this.signingKey.key).update(toSign).digest('hex');
    const lines = [
      `${method} ${path} HTTP/1.1`,
      ...signed.map(([name, value]) => `${name}: ${value}`),
      `authorization: AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names}, Signature=${signature}`,
      `content-length: ${body ? body.length : 0}`,
      ...(body ? ['content-type: application/octet-stream'] : []),
      'connection: keep-alive',
    ];
    return `${lines.join('\r\n')}\r\n\r\n`;
  }
}

function connectionLostOrError(error: Error): Error {
  return (error as { code?: unknown }).code !== undefined ? error : connectionLost('the connection', error);
}

/** The S3 error an answer carries (its XML's Code and Message), or one named by its status. */
function errorOf(answer: Answer): S3HttpError {
  const xml = answer.body.toString('utf8', 0, Math.min(answer.body.length, 8192));
  const code = /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? '';
  const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? '';
  return new S3HttpError(answer.status, code, message);
}

// S3 object store on @aws-sdk/client-s3 (tested against Ceph RGW 16.2). Nouns: the *bucket*
// and *prefix* place the store; an item's S3 key is prefix + store key (objects/<digest> ...).
// Each put is one PUT of a buffer: atomic (an object is visible whole or not at all) and
// durable when it returns, so the barrier is a no-op. Objects are at most 64 MiB + a header,
// far below a single PUT's 5 GiB, so this store never starts multipart uploads; a listing
// still reports other tools' unfinished ones as temporary entries, and deleting such an
// entry aborts the upload. The SDK's own retries are off (maxAttempts 1): retry.ts decides.
// Whole-object GETs and PUTs to an endpoint given by URL with static credentials take a light
// path of their own (s3-http.ts: the same signature, timeouts and error codes, far less CPU);
// everything else, and every request to AWS's own endpoints, goes through the SDK.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import type * as Sdk from '@aws-sdk/client-s3';
import { EngineError } from '../errors';
import { OBJECT_PREFIX, type ByteRange, type ObjectStore, type StoreEntry, type StoreSpec } from './port';
import { TransientError } from './retry';
import { S3Http } from './s3-http';

// The SDK warns on every process start that its releases after January 2027 need Node 22;
// Node 20.19 is this project's floor and the SDK's version is pinned, so the warning is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The SDK, loaded on first use: loading it costs about 0.1 CPU-s, which a worker thread that
 * never sends a request (a backup's workers only encode; its PUTs leave from the main thread)
 * need not pay.
 */
let sdk: typeof Sdk | undefined;
function loadSdk(): typeof Sdk {
  return (sdk ??= require('@aws-sdk/client-s3') as typeof Sdk);
}

export type S3Spec = Extract<StoreSpec, { kind: 's3' }>;
export type S3Credentials = NonNullable<S3Spec['credentials']>;

export const S3_DEFAULT_CONCURRENCY = 16;
/** Per request, the body included: a 64 MiB object at 10 MB/s still fits. */
export const S3_DEFAULT_TIMEOUT_MS = 30_000;

/** Keys this store accepts: what port.ts defines, so every store names items alike. */
const KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
/** Names of objects/<name>: hex digests, as the folder store takes them. */
const OBJECT_NAME = /^[0-9a-f]{4,128}$/;
/** A temporary entry's key: the upload's key, a marker and the upload id in hex. */
const UPLOAD_MARK = '.upload-';

/**
 * A socket error nobody listens to ends the process. When RGW refuses a PUT (403, 404) before
 * it has read the body, the rest of the body meets a closed socket: the request has its
 * answer, and the EPIPE that follows can reach the socket after the request let go of it.
 * These agents give every socket a listener of last resort; a request still sees its errors.
 */
const ignoreLateError = (): void => {};
class GuardedHttpAgent extends HttpAgent {
  override createConnection(...args: Parameters<HttpAgent['createConnection']>): ReturnType<HttpAgent['createConnection']> {
    const socket = super.createConnection(...args);
    socket?.on('error', ignoreLateError);
    return socket;
  }
}
class GuardedHttpsAgent extends HttpsAgent {
  override createConnection(...args: Parameters<HttpsAgent['createConnection']>): ReturnType<HttpsAgent['createConnection']> {
    const socket = super.createConnection(...args);
    socket?.on('error', ignoreLateError);
    return socket;
  }
}

/** Counts requests in flight and queues the rest (memory stays bounded by the callers' buffers). */
class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

interface AwsError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);
const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeoutException']);
const AUTH_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'InvalidToken', 'ExpiredToken', 'AllAccessDisabled']);

function networkCode(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && (TRANSIENT_NETWORK.has(e.code) || e.code === 'ENOTFOUND' || e.code.startsWith('ERR_TLS') || e.code.includes('CERT'))) return e.code;
  }
  return undefined;
}

export class S3Store implements ObjectStore {
  readonly kind = 's3' as const;
  readonly location: string;
  private clientInstance: Sdk.S3Client | undefined;
  /** the light path of whole-object GETs and PUTs, where it serves this store (see s3-http.ts) */
  private readonly http: S3Http | null;
  private readonly base: string;
  private readonly gate: Gate;

  constructor(private readonly settings: S3Spec) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(settings.bucket)) {
      throw new EngineError('INVALID_ARGUMENT', `not an S3 bucket name: "${settings.bucket}" (3-63 lowercase letters, digits, dots and hyphens)`);
    }
    const prefix = settings.prefix.replace(/^\/+|\/+$/g, '');
    this.base = prefix ? `${prefix}/` : '';
    this.location = `s3://${settings.bucket}/${prefix}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
    const concurrency = Math.max(1, settings.concurrency || S3_DEFAULT_CONCURRENCY);
    this.gate = new Gate(concurrency);
    this.http = S3Http.serves(settings.endpoint, settings.credentials)
      ? new S3Http({
          endpoint: new URL(settings.endpoint!), region: settings.region, bucket: settings.bucket, pathStyle: settings.pathStyle,
          credentials: settings.credentials!, maxIdle: concurrency, connectTimeoutMs: Math.min(this.timeoutMs, 10_000),
        })
      : null;
  }

  /** The SDK's client, made on the first request. */
  private get client(): Sdk.S3Client {
    if (this.clientInstance) return this.clientInstance;
    const settings = this.settings;
    const agentOptions = { keepAlive: true, maxSockets: this.gate.limit };
    this.clientInstance = new (loadSdk().S3Client)({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.pathStyle,
      credentials: settings.credentials,
      maxAttempts: 1,
      // RGW 16.2 answers the SDK's default trailing checksums with 411 MissingContentLength.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK sends `Expect: 100-continue` with bodies of 2 MB and more and waits for RGW's
      // go-ahead. RGW then often answers a refused PUT (403, 404) by closing the connection
      // under the body: an EPIPE, which would be retried as a transient failure and hide the
      // real answer. Without it RGW reads the body and answers; it also saves a round trip
      // and about 8 % of the client's CPU per PUT.
      expectContinueHeader: false,
      requestHandler: {
        httpAgent: new GuardedHttpAgent(agentOptions),
        httpsAgent: new GuardedHttpsAgent(agentOptions),
        connectionTimeout: Math.min(this.timeoutMs, 10_000),
      },
    });
    return this.clientInstance;
  }

  private get timeoutMs(): number {
    return this.settings.timeoutMs || S3_DEFAULT_TIMEOUT_MS;
  }

  /** The S3 key of a store key; `strict` false for the key of another tool's unfinished upload. */
  private s3Key(key: string, strict = true): string {
    if (!KEY.test(key) || key.length > 900 || (strict && key.startsWith(OBJECT_PREFIX) && !OBJECT_NAME.test(key.slice(OBJECT_PREFIX.length)))) {
      throw new EngineError('INVALID_ARGUMENT', `the S3 store refuses the name "${key}"`);
    }
    return this.base + key;
  }

  /**
   * Runs one request under the gate with a timeout, mapping its failure to a coded error. The
   * timeout runs until the answer's headers and again after every chunk of its body (`alive`),
   * so a large body that keeps arriving is not cut; a PUT gets one more second per MB it sends.
   */
  private request<T>(
    operation: string,
    key: string,
    signal: AbortSignal | undefined,
    send: (abortSignal: AbortSignal, alive: () => void) => Promise<T>,
    sending = 0,
  ): Promise<T> {
    return this.gate.run(async () => {
      if (signal?.aborted) throw new EngineError('CANCELED', `${operation} ${key} canceled`);
      const timeout = new AbortController();
      const limit = this.timeoutMs + Math.ceil(sending / 1000);
      // `alive` only notes the time (it runs for every chunk of a body); the timer, when it
      // fires, waits again for what is left of the silence allowed since then.
      let heard = -1;
      const expire = (): void => {
        const silent = heard < 0 ? Infinity : performance.now() - heard;
        if (silent >= this.timeoutMs) timeout.abort();
        else timer = setTimeout(expire, this.timeoutMs - silent);
      };
      let timer = setTimeout(expire, limit);
      const alive = (): void => {
        heard = performance.now();
      };
      const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
      try {
        return await send(combined, alive);
      } catch (error) {
        if (signal?.aborted) throw new EngineError('CANCELED', `${operation} ${key} canceled`, { cause: error });
        if (timeout.signal.aborted) throw new TransientError('timeout', `${operation} ${key}: ${this.location} went silent for ${this.timeoutMs} ms`, { cause: error });
        throw this.classify(operation, key, error);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  /** Maps an SDK or network failure to a coded error, transient or permanent. */
  private classify(operation: string, key: string, error: unknown): EngineError {
    if (error instanceof EngineError) return error;
    const e = error as AwsError;
    const status = e.$metadata?.httpStatusCode;
    const name = e.Code ?? e.name ?? '';
    const what = `${operation} ${key || '(bucket)'} at ${this.location}`;
    const detail = `${status ?? ''} ${name}${e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`.trim();
    const network = networkCode(error);
    if (network === 'ENOTFOUND') return new EngineError('IO_ERROR', `${what}: cannot resolve the endpoint's host name (${network})`, { cause: error });
    if (network && (network.startsWith('ERR_TLS') || network.includes('CERT'))) return new EngineError('IO_ERROR', `${what}: TLS failed (${network})`, { cause: error });
    if (network) {
      const reason = network === 'ECONNRESET' || network === 'EPIPE' || network === 'ERR_STREAM_PREMATURE_CLOSE' ? 'connection reset' : network;
      return new TransientError(reason, `${what}: ${network}`, { cause: error });
    }
    if (name === 'NoSuchBucket') return new EngineError('NOT_FOUND', `${what}: bucket "${this.settings.bucket}" does not exist`, { cause: error });
    // A clock too far from the server's is answered with 403 too, but the next attempt signs
    // with the server's time (the SDK and s3-http.ts both correct their clocks from the answer).
    if (AUTH_NAMES.has(name) || ((status === 403 || status === 401) && name !== 'RequestTimeTooSkewed')) {
      return new EngineError('UNAUTHORIZED', `${what}: access denied (${detail}); check the credentials and the bucket's permissions`, { cause: error });
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new EngineError('OBJECT_MISSING', `${what}: no such item`, { cause: error });
    if (TRANSIENT_NAMES.has(name) || status === 429 || (status !== undefined && status >= 500)) {
      const label = name && name !== 'Unknown' && name !== 'UnknownError' ? `${status ?? ''} ${name}`.trim() : `${status ?? 'server error'}`;
      return new TransientError(label, `${what}: ${detail}`, { cause: error });
    }
    if (status === undefined) {
      // No HTTP answer at all: an aborted socket, a body cut short, an unparsable reply.
      const text = `${e.message ?? ''}`;
      if (/aborted|socket hang up|premature|ECONNRESET|terminated|closed/i.test(text)) return new TransientError('connection reset', `${what}: ${text}`, { cause: error });
      return new TransientError(name || 'network error', `${what}: ${text || name}`, { cause: error });
    }
    if (name === 'KeyTooLongError' || name === 'InvalidObjectName' || name === 'InvalidArgument') {
      return new EngineError('INVALID_ARGUMENT', `${what}: the store refuses the name (${detail})`, { cause: error });
    }
    return new EngineError('IO_ERROR', `${what}: ${detail}`, { cause: error });
  }

  /** Checks that the bucket exists and these credentials may use it (init, open, "Test connection"). */
  async checkBucket(signal?: AbortSignal): Promise<void> {
    await this.request('check', '', signal, async (abortSignal) => {
      try {
        await this.client.send(new (loadSdk().HeadBucketCommand)({ Bucket: this.settings.bucket }), { abortSignal });
      } catch (error) {
        // HEAD answers carry no error body: a 404 here is the bucket itself.
        if ((error as AwsError).$metadata?.httpStatusCode === 404) {
          throw new EngineError('NOT_FOUND', `bucket "${this.settings.bucket}" does not exist at ${this.settings.endpoint ?? 'AWS'}`, { cause: error });
        }
        throw error;
      }
    });
  }

  async put(key: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    const Key = this.s3Key(key);
    const http = this.http;
    await this.request(
      'put',
      key,
      signal,
      http
        ? (abortSignal, alive) => http.put(Key, data, abortSignal, alive)
        : async (abortSignal) => { await this.client.send(new (loadSdk().PutObjectCommand)({ Bucket: this.settings.bucket, Key, Body: data, ContentLength: data.length }), { abortSignal }); },
      data.length,
    );
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    const Key = this.s3Key(key);
    if (range && (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length < 0)) {
      throw new EngineError('INVALID_ARGUMENT', `get ${key}: bad range ${range.offset}+${range.length}`);
    }
    if (range && range.length === 0) {
      if ((await this.size(key, signal)) === null) throw new EngineError('OBJECT_MISSING', `get ${key} at ${this.location}: no such item`);
      return Buffer.alloc(0);
    }
    const http = this.http;
    if (http && !range) return this.request('get', key, signal, (abortSignal, alive) => http.get(Key, undefined, abortSignal, alive));
    return this.request('get', key, signal, async (abortSignal, alive) => {
      let answer;
      try {
        answer = await this.client.send(
          new (loadSdk().GetObjectCommand)({ Bucket: this.settings.bucket, Key, Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined }),
          { abortSignal },
        );
      } catch (error) {
        // A range starting at or past the end: nothing there, like reading past a file's end.
        if (range && (error as AwsError).$metadata?.httpStatusCode === 416) return Buffer.alloc(0);
        throw error;
      }
      return readBody(answer.Body as Readable, answer.ContentLength, abortSignal, alive, `get ${key}`);
    });
  }

  /** The whole item, read into `buffer` when it has room; larger than maxSize: OBJECT_CORRUPT unread. */
  async getInto(key: string, buffer: Buffer, options: { maxSize?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const Key = this.s3Key(key);
    const tooLarge = (length: number): EngineError => new EngineError('OBJECT_CORRUPT', `get ${key} at ${this.location}: ${length} bytes stored, at most ${options.maxSize} expected`);
    const http = this.http;
    if (http) {
      const maxSize = options.maxSize !== undefined ? { bytes: options.maxSize, error: tooLarge } : undefined;
      return this.request('get', key, options.signal, (abortSignal, alive) => http.get(Key, buffer, abortSignal, alive, maxSize));
    }
    return this.request('get', key, options.signal, async (abortSignal, alive) => {
      const answer = await this.client.send(new (loadSdk().GetObjectCommand)({ Bucket: this.settings.bucket, Key }), { abortSignal });
      const length = answer.ContentLength;
      if (options.maxSize !== undefined && length !== undefined && length > options.maxSize) {
        (answer.Body as Readable | undefined)?.destroy();
        throw tooLarge(length);
      }
      const into = length !== undefined && length <= buffer.length ? buffer.subarray(0, length) : undefined;
      return readBody(answer.Body as Readable, length, abortSignal, alive, `get ${key}`, into);
    });
  }

  async size(key: string, signal?: AbortSignal): Promise<number | null> {
    const Key = this.s3Key(key);
    try {
      return await this.request('size', key, signal, async (abortSignal) => {
        const head = await this.client.send(new (loadSdk().HeadObjectCommand)({ Bucket: this.settings.bucket, Key }), { abortSignal });
        return head.ContentLength ?? 0;
      });
    } catch (error) {
      if (error instanceof EngineError && error.code === 'OBJECT_MISSING') return null;
      throw error;
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    const mark = key.lastIndexOf(UPLOAD_MARK);
    if (mark > 0 && /^[0-9a-f]+$/.test(key.slice(mark + UPLOAD_MARK.length))) {
      const Key = this.s3Key(key.slice(0, mark), false);
      const UploadId = Buffer.from(key.slice(mark + UPLOAD_MARK.length), 'hex').toString('utf8');
      try {
        await this.request('abort upload', key, signal, (abortSignal) =>
          this.client.send(new (loadSdk().AbortMultipartUploadCommand)({ Bucket: this.settings.bucket, Key, UploadId }), { abortSignal }),
        );
      } catch (error) {
        if (!(error instanceof EngineError && error.code === 'OBJECT_MISSING')) throw error;
      }
      return;
    }
    const Key = this.s3Key(key);
    await this.request('delete', key, signal, (abortSignal) => this.client.send(new (loadSdk().DeleteObjectCommand)({ Bucket: this.settings.bucket, Key }), { abortSignal }));
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<StoreEntry> {
    if (prefix !== '' && !/^[a-z0-9._/-]+$/.test(prefix)) throw new EngineError('INVALID_ARGUMENT', `the S3 store refuses the prefix "${prefix}"`);
    const Prefix = this.base + prefix;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.request('list', prefix, signal, (abortSignal) =>
        this.client.send(new (loadSdk().ListObjectsV2Command)({ Bucket: this.settings.bucket, Prefix, ContinuationToken }), { abortSignal }),
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        const modified = item.LastModified?.getTime();
        const stamp = item.ETag !== undefined ? `${item.ETag}@${modified ?? ''}` : undefined;
        yield {
          key: item.Key.slice(this.base.length),
          size: item.Size ?? null,
          temporary: false,
          ...(stamp !== undefined ? { stamp } : {}),
          ...(modified !== undefined && Number.isFinite(modified) ? { modified } : {}),
        };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.request('list uploads', prefix, signal, (abortSignal) =>
        this.client.send(new (loadSdk().ListMultipartUploadsCommand)({ Bucket: this.settings.bucket, Prefix, KeyMarker, UploadIdMarker }), { abortSignal }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId) {
          yield { key: `${upload.Key.slice(this.base.length)}${UPLOAD_MARK}${Buffer.from(upload.UploadId, 'utf8').toString('hex')}`, size: null, temporary: true };
        }
      }
      if (!page.IsTruncated) break;
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async barrier(): Promise<void> {
    // A PUT that has returned 200 is durable: nothing to flush.
  }

  async space(): Promise<null> {
    return null;
  }

  spec(): S3Spec {
    return { ...this.settings };
  }

  async close(): Promise<void> {
    this.http?.close();
    this.clientInstance?.destroy();
    this.clientInstance = undefined;
  }
}

/** Reads a response body into one buffer, checking it arrived whole. */
async function readBody(body: Readable | undefined, contentLength: number | undefined, signal: AbortSignal, alive: () => void, what: string, into?: Buffer): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const onAbort = (): void => {
    body.destroy(new Error('aborted'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (contentLength !== undefined) {
      const out = into ?? Buffer.allocUnsafe(contentLength);
      let filled = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (filled + chunk.length > contentLength) throw new TransientError('body too long', `${what}: more bytes than the ${contentLength} announced`);
        chunk.copy(out, filled);
        filled += chunk.length;
        alive();
      }
      if (filled !== contentLength) throw new TransientError('connection reset', `${what}: the body ended after ${filled} of ${contentLength} bytes`);
      return out;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      alive();
    }
    return Buffer.concat(chunks);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

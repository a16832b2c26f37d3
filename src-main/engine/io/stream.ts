// Streams as sources and targets: stdin and FIFOs are read once, in order, sized on the fly;
// stdout is written once, in order. Every wait is cancellable: pipes and FIFOs are opened
// non-blocking and read or written through libuv's event loop (never a thread-pool read,
// which no signal can interrupt and which keeps the process from exiting), and a read or
// write that waits ends with CANCELED when its signal aborts.
import { closeSync, constants, createWriteStream, fstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isatty } from 'node:tty';
import { EngineError } from '../errors';
import type { Source, Target } from './port';

/** Reads a Readable in paused mode, one chunk at a time, waking on 'readable', 'end' or 'error'. */
export class StreamSource implements Source {
  readonly size = null;
  readonly sequential = true;
  private position = 0;
  private pending: Buffer | null = null;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly description: string, private readonly stream: Readable) {
    const wake = (): void => { const w = this.wake; this.wake = null; w?.(); };
    stream.on('readable', wake);
    stream.on('end', () => { this.ended = true; wake(); });
    stream.on('error', (error) => { this.failure = error; wake(); });
    stream.on('close', () => { this.ended = true; wake(); });
  }

  /** Reads in call order (a read may skip forward); fewer bytes than asked only at the end. */
  read(offset: number, buffer: Buffer, length: number, signal?: AbortSignal): Promise<number> {
    const run = this.queue.then(async () => {
      if (offset < this.position) throw new EngineError('INTERNAL', `${this.description} is a stream: byte ${offset} was already read`);
      while (this.position < offset) if ((await this.take(null, offset - this.position, signal)) === 0) return 0;
      let done = 0;
      while (done < length) {
        const n = await this.take(buffer.subarray(done), length - done, signal);
        if (n === 0) break;
        done += n;
      }
      return done;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Copies up to `length` bytes of the stream into `into` (or drops them); 0 at the end. */
  private async take(into: Buffer | null, length: number, signal?: AbortSignal): Promise<number> {
    const chunk = this.pending ?? (await this.next(signal));
    if (!chunk) return 0;
    const n = Math.min(length, chunk.length);
    into?.set(chunk.subarray(0, n));
    this.pending = n < chunk.length ? chunk.subarray(n) : null;
    this.position += n;
    return n;
  }

  private async next(signal?: AbortSignal): Promise<Buffer | null> {
    for (;;) {
      if (signal?.aborted) {
        this.stream.destroy();
        throw new EngineError('CANCELED', `reading ${this.description} canceled`);
      }
      const chunk = this.stream.read() as Buffer | null;
      if (chunk !== null) return chunk;
      if (this.failure) throw new EngineError('IO_ERROR', `reading ${this.description}: ${this.failure.message}`, { cause: this.failure });
      if (this.ended) return null;
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = () => { signal?.removeEventListener('abort', onAbort); resolve(); };
      });
    }
  }

  async close(): Promise<void> {
    this.stream.destroy();
  }
}

/** Writes a Writable in order, waiting for 'drain' (cancellably) when its buffer is full. */
export class StreamTarget implements Target {
  readonly size = null;
  readonly zeroed = false;
  readonly sequential = true;
  readonly overwrites = false;
  private position = 0;
  private failure: Error | null = null;
  private zeros: Buffer | null = null;

  constructor(readonly description: string, private readonly stream: Writable) {
    stream.on('error', (error) => { this.failure = error; });
  }

  async write(offset: number, data: Buffer, signal?: AbortSignal): Promise<void> {
    if (offset !== this.position) throw new EngineError('INTERNAL', `${this.description} is a stream: got byte ${offset}, expected ${this.position}`);
    this.check();
    this.position += data.length;
    if (!this.stream.write(data)) await this.drained(signal);
    this.check();
  }

  async writeZeros(offset: number, length: number, signal?: AbortSignal): Promise<void> {
    this.zeros ??= Buffer.alloc(1 << 20);
    for (let done = 0; done < length; done += this.zeros.length) {
      await this.write(offset + done, this.zeros.subarray(0, Math.min(this.zeros.length, length - done)), signal);
    }
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (this.stream.writableNeedDrain) await this.drained(signal);
    this.check();
  }

  async finish(size: number): Promise<void> {
    if (this.position !== size) throw new EngineError('INTERNAL', `${this.description} got ${this.position} bytes, the version has ${size}`);
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
    this.check();
  }

  async abort(): Promise<void> {
    this.stream.destroy();
  }

  private check(): void {
    if (this.failure) throw new EngineError('IO_ERROR', `writing ${this.description}: ${this.failure.message}`, { cause: this.failure });
  }

  private drained(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        this.stream.off('drain', onDrain);
        this.stream.off('error', onError);
        this.stream.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error); else resolve();
      };
      const onDrain = (): void => finish();
      const onError = (error: Error): void => finish(new EngineError('IO_ERROR', `writing ${this.description}: ${error.message}`, { cause: error }));
      const onClose = (): void => finish(new EngineError('IO_ERROR', `${this.description} was closed`));
      const onAbort = (): void => {
        this.stream.destroy();
        finish(new EngineError('CANCELED', `writing ${this.description} canceled`));
      };
      this.stream.on('drain', onDrain);
      this.stream.on('error', onError);
      this.stream.on('close', onClose);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** stdin as a source; a terminal is refused (an image is piped or redirected in). */
export function stdinSource(): StreamSource {
  if (isatty(0)) throw new EngineError('INVALID_ARGUMENT', 'stdin is a terminal: pipe or redirect the image into "blockvault backup - NAME"');
  return new StreamSource('stdin', process.stdin);
}

/**
 * A FIFO opened non-blocking (opening it for reading does not wait for a writer), read
 * through the event loop: it waits for a writer and its data as long as it must, cancellably.
 */
export function fifoSource(path: string): StreamSource {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return new StreamSource(path, new Socket({ fd, readable: true, writable: false }));
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * stdout as a target: a pipe or socket through the event loop (non-blocking: a reader that
 * stops reading cannot hang the process), a file or /dev/null through the file system. A
 * terminal is refused.
 */
export function stdoutTarget(): StreamTarget {
  if (isatty(1)) throw new EngineError('INVALID_ARGUMENT', 'stdout is a terminal: redirect or pipe "blockvault restore UID -" into a file or program');
  const stats = fstatSync(1);
  const stream = stats.isFIFO() || stats.isSocket()
    ? new Socket({ fd: 1, readable: false, writable: true })
    : createWriteStream('', { fd: 1, autoClose: false });
  return new StreamTarget('stdout', stream);
}

// A byte reader over a stream socket: the NBD client and server both read exact byte counts
// (a header, then a payload whose length the header gives). Nouns: the *backlog* is what the
// socket delivered and nobody consumed yet; a *want* is one pending exact read. The socket is
// paused while the backlog exceeds a bound, so a fast server cannot fill memory.
import type { Socket } from 'node:net';

const HIGH_WATER = 8 * 1024 * 1024;

interface Want {
  length: number;
  into: Buffer | null;
  resolve(data: Buffer): void;
  reject(error: Error): void;
}

export class SocketReader {
  private backlog: Buffer[] = [];
  private available = 0;
  private want: Want | null = null;
  private failure: Error | null = null;
  private paused = false;

  constructor(
    private readonly socket: Socket,
    /** the error a read gets when the peer closes the connection */
    public closedError: () => Error,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.backlog.push(chunk);
      this.available += chunk.length;
      if (this.available > HIGH_WATER && !this.paused) {
        this.paused = true;
        socket.pause();
      }
      this.serve();
    });
    socket.on('end', () => this.fail(this.closedError()));
    socket.on('close', () => this.fail(this.closedError()));
    socket.on('error', (error) => this.fail(error));
  }

  /** bytes delivered and not read yet */
  get buffered(): number {
    return this.available;
  }

  /** Ends every pending and future read with `error` (the first failure wins). */
  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const want = this.want;
    this.want = null;
    want?.reject(error);
  }

  /** Reads exactly `length` bytes; into `into` (its first `length` bytes) when given. */
  read(length: number, into: Buffer | null = null): Promise<Buffer> {
    if (this.want) return Promise.reject(new Error('SocketReader: overlapping reads'));
    if (length === 0) return Promise.resolve(into ? into.subarray(0, 0) : Buffer.alloc(0));
    if (this.available >= length) return Promise.resolve(this.take(length, into));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      this.want = { length, into, resolve, reject };
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    });
  }

  private serve(): void {
    const want = this.want;
    if (!want || this.available < want.length) return;
    this.want = null;
    want.resolve(this.take(want.length, want.into));
  }

  private take(length: number, into: Buffer | null): Buffer {
    const first = this.backlog[0]!;
    let out: Buffer;
    if (!into && first.length >= length) {
      out = first.subarray(0, length);
      if (first.length === length) this.backlog.shift();
      else this.backlog[0] = first.subarray(length);
    } else {
      out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.backlog[0]!;
        const n = Math.min(chunk.length, length - filled);
        chunk.copy(out, filled, 0, n);
        filled += n;
        if (n === chunk.length) this.backlog.shift();
        else this.backlog[0] = chunk.subarray(n);
      }
    }
    this.available -= length;
    if (this.paused && this.available <= HIGH_WATER / 2) {
      this.paused = false;
      this.socket.resume();
    }
    return out;
  }
}

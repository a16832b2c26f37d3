// The NBD client's byte reader: like SocketReader (exact byte counts, a header and then a
// payload whose length it gives) but without a copy for payloads. The socket is created with
// Node's `onread` option, so the kernel's bytes land in a buffer this reader chooses before
// each read: the caller's destination while a large payload is expected (a READ lands straight
// in the pipeline's block buffer), else a small *scratch* buffer whose bytes are parsed at once.
// Nouns: an *expectation* is one pending exact read with a continuation called synchronously
// when its bytes are there (the client parses replies this way, no promise per header); the
// *backlog* holds bytes that arrived while nothing was expected (copied out of the scratch).
// A continuation may ask for the next expectation; the reader then serves it from the backlog
// in a loop, never recursively, so a flood of small replies cannot exhaust the stack.
import type { Socket } from 'node:net';

/** below this many outstanding bytes a payload is read through the scratch buffer (one syscall for several replies) */
const DIRECT_MIN = 16 * 1024;
const SCRATCH_SIZE = 64 * 1024;
/** reading stops while this much arrived unasked (a server sending what nobody requested) */
const HIGH_WATER = 8 * 1024 * 1024;

interface Expectation {
  length: number;
  /** where the bytes go: the caller's buffer, one allocated on demand, or null for a view */
  out: Buffer | null;
  filled: number;
  /** a view into the scratch buffer is enough: the continuation uses the bytes before returning */
  transient: boolean;
  done(data: Buffer): void;
  fail(error: Error): void;
}

export class DirectReader {
  /** own ArrayBuffer, so views of it are recognised (`.buffer === scratch.buffer`) */
  private readonly scratch = Buffer.allocUnsafeSlow(SCRATCH_SIZE);
  private backlog: Buffer[] = [];
  private available = 0;
  private want: Expectation | null = null;
  /** the destination handed to the socket for its next read, when it is not the scratch */
  private direct: Buffer | null = null;
  private failure: Error | null = null;
  private pumping = false;
  private stopped = false;
  private socket: Socket | null = null;
  /** bytes that went straight into destinations (no copy) */
  directBytes = 0;
  /**
   * When above 0, a small expectation reads at most this many bytes (or what it needs): set
   * (before the socket is made) by a caller whose large payloads follow small headers (the NBD
   * client: a READ's reply), so that a payload's first bytes are not pulled into the scratch
   * with its header and copied from there (a 64 KiB scratch read per 256 KiB reply's header
   * copied a quarter of a backup's bytes). A flood of small replies then costs a read each.
   */
  headerRead = 0;

  constructor(
    /** the error an expectation gets when the peer closes the connection */
    public closedError: () => Error,
    /** a continuation threw: the connection is in an unknown state */
    public onContinuationError: (error: unknown) => void = () => undefined,
  ) {}

  /** the socket option that makes the kernel read into this reader's buffers */
  get onread(): { buffer: () => Buffer; callback: (n: number, buffer: Buffer) => boolean } {
    return { buffer: () => this.nextBuffer(), callback: (n, buffer) => this.received(n, buffer) };
  }

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('end', () => this.fail(this.closedError()));
    socket.on('close', () => this.fail(this.closedError()));
    socket.on('error', (error) => this.fail(error));
  }

  /** Ends the pending and every later expectation with `error` (the first failure wins). */
  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.direct = null;
    const want = this.want;
    this.want = null;
    want?.fail(error);
  }

  /**
   * Expects exactly `length` bytes, into `into` (its first `length` bytes) when given; `done`
   * runs synchronously once they are there. With `transient`, `done` may get a view that is
   * valid only until it returns.
   */
  expect(length: number, into: Buffer | null, transient: boolean, done: (data: Buffer) => void, fail: (error: Error) => void): void {
    if (this.want) {
      fail(new Error('DirectReader: overlapping reads'));
      return;
    }
    if (this.failure) {
      fail(this.failure);
      return;
    }
    this.want = { length, out: into ? into.subarray(0, length) : null, filled: 0, transient, done, fail };
    this.pump();
  }

  /** Reads exactly `length` bytes (for the negotiation, which awaits each reply). */
  read(length: number, into: Buffer | null = null): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => this.expect(length, into, false, resolve, reject));
  }

  /**
   * The buffer the socket reads into next (Node asks for it right after the previous read, and
   * once when the socket is made): the expected payload's remaining bytes (with headerRead,
   * also a short rest of a payload the caller gave a buffer for), or the scratch (only
   * headerRead bytes of it, or what the expectation needs, while headerRead is set).
   */
  private nextBuffer(): Buffer {
    const want = this.want;
    this.direct = null;
    if (this.failure) return this.scratch;
    const remaining = want ? want.length - want.filled : 0;
    if (want && this.available === 0 && (remaining >= DIRECT_MIN || (this.headerRead > 0 && want.out !== null))) {
      want.out ??= Buffer.allocUnsafe(want.length);
      this.direct = want.out.subarray(want.filled, want.length);
      return this.direct;
    }
    const small = Math.max(this.headerRead, remaining);
    return this.headerRead > 0 && small < SCRATCH_SIZE ? this.scratch.subarray(0, small) : this.scratch;
  }

  /** onread callback: `n` bytes are in `buffer` (a destination or the scratch); false pauses the socket. */
  private received(n: number, buffer: Buffer): boolean {
    if (this.failure) return false;
    if (buffer === this.direct && this.want) {
      this.direct = null;
      this.want.filled += n;
      this.directBytes += n;
      this.pump();
    } else {
      this.backlog.push(buffer.subarray(0, n));
      this.available += n;
      this.pump();
      // what is left of the scratch is copied: the next read overwrites it
      for (let i = 0; i < this.backlog.length; i++) {
        if (this.backlog[i].buffer === this.scratch.buffer) this.backlog[i] = Buffer.from(this.backlog[i]);
      }
    }
    if (this.available > HIGH_WATER) {
      this.stopped = true;
      return false;
    }
    return true;
  }

  /** Completes expectations from the backlog (and from direct reads) while it can, in a loop. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const want = this.want;
        if (!want || this.failure) break;
        if (want.filled < want.length) {
          if (this.available === 0) break;
          this.fill(want);
          if (want.filled < want.length) break;
        }
        this.want = null;
        const data = want.out ?? Buffer.alloc(0);
        try {
          want.done(data);
        } catch (error) {
          this.onContinuationError(error);
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.stopped && this.available <= HIGH_WATER / 2 && !this.failure) {
      this.stopped = false;
      this.socket?.resume();
    }
  }

  /** Moves backlog bytes into the expectation (a view of the first chunk when that is enough). */
  private fill(want: Expectation): void {
    const need = want.length - want.filled;
    const first = this.backlog[0];
    if (!want.out && want.filled === 0 && first.length >= need && (want.transient || first.buffer !== this.scratch.buffer)) {
      want.out = first.subarray(0, need);
      want.filled = need;
      this.consume(need);
      return;
    }
    want.out ??= Buffer.allocUnsafe(want.length);
    while (want.filled < want.length && this.available > 0) {
      const chunk = this.backlog[0];
      const n = Math.min(chunk.length, want.length - want.filled);
      chunk.copy(want.out, want.filled, 0, n);
      want.filled += n;
      this.consume(n);
    }
  }

  private consume(n: number): void {
    const chunk = this.backlog[0];
    if (n === chunk.length) this.backlog.shift();
    else this.backlog[0] = chunk.subarray(n);
    this.available -= n;
  }
}

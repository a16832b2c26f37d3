// Retry decorator: the one place that decides to try a store request again. Every store is
// wrapped in it (see openStore). Nouns: a *transient* error is one a later attempt may not
// meet (5xx, SlowDown, throttling, a timeout, a reset connection); the store that sees it marks
// it with a *cause* (a short stable label such as `503 SlowDown`, `timeout`, `ECONNRESET`).
// Anything not marked transient is permanent and passes through at once with its own code
// (UNAUTHORIZED for bad credentials or access denied, NOT_FOUND for a missing bucket,
// INVALID_ARGUMENT for a name the store refuses, OBJECT_MISSING ...).
import type { ErrorCode } from '../../../src-shared/api/errors';
import { EngineError } from '../errors';
import type { ByteRange, ObjectStore, StoreEntry, StoreSpec } from './port';

/** A failure worth another attempt. Its code is what callers see if every attempt fails. */
export class TransientError extends EngineError {
  readonly transient = true;

  constructor(
    /** a short stable label of what went wrong, counted per cause */
    readonly reason: string,
    message: string,
    options?: { cause?: unknown; code?: ErrorCode },
  ) {
    super(options?.code ?? 'IO_ERROR', message, options);
  }
}

export function isTransient(error: unknown): error is TransientError {
  return error instanceof TransientError || (error as { transient?: unknown } | null)?.transient === true;
}

export interface RetryPolicy {
  /** attempts per request, the first included */
  attempts: number;
  /** the first backoff's upper bound; it doubles per attempt */
  baseDelayMs: number;
  /** no backoff is longer than this */
  maxDelayMs: number;
}

/**
 * Eight attempts with full-jitter backoff from 100 ms doubling to 5 s: a request gives up after
 * about 10-20 s of a store that keeps failing, while a 5 % failure rate costs little.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 8, baseDelayMs: 100, maxDelayMs: 5000 };

/** Retries so far, in all and per cause: what the pipelines put into the job log and --json. */
export interface RetryCounts {
  retries: number;
  /** requests that failed after their last attempt on a transient error */
  exhausted: number;
  causes: Record<string, number>;
}

export function emptyRetryCounts(): RetryCounts {
  return { retries: 0, exhausted: 0, causes: {} };
}

/** Adds b into a (counts from worker threads join the main thread's). */
export function addRetryCounts(a: RetryCounts, b: RetryCounts): RetryCounts {
  a.retries += b.retries;
  a.exhausted += b.exhausted;
  for (const [cause, count] of Object.entries(b.causes)) a.causes[cause] = (a.causes[cause] ?? 0) + count;
  return a;
}

/** One line for a job log: "3 retries (2x 503 SlowDown, 1x timeout)". */
export function describeRetryCounts(counts: RetryCounts): string {
  const causes = Object.entries(counts.causes).sort((x, y) => y[1] - x[1]).map(([cause, n]) => `${n}x ${cause}`);
  const base = `${counts.retries} ${counts.retries === 1 ? 'retry' : 'retries'}${causes.length ? ` (${causes.join(', ')})` : ''}`;
  return counts.exhausted ? `${base}; ${counts.exhausted} request(s) failed after every attempt` : base;
}

export interface RetryEvent {
  operation: string;
  key: string;
  attempt: number;
  reason: string;
  delayMs: number;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new EngineError('CANCELED', 'canceled'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new EngineError('CANCELED', 'canceled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class RetryingStore implements ObjectStore {
  readonly kind: StoreSpec['kind'];
  readonly location: string;
  private readonly counts = emptyRetryCounts();

  constructor(
    readonly inner: ObjectStore,
    private readonly policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    private readonly onRetry?: (event: RetryEvent) => void,
  ) {
    this.kind = inner.kind;
    this.location = inner.location;
  }

  /** A copy of the counts so far. */
  retryCounts(): RetryCounts {
    return addRetryCounts(emptyRetryCounts(), this.counts);
  }

  /** The counts so far, which start again from zero (for a worker reporting per job). */
  takeRetryCounts(): RetryCounts {
    const copy = this.retryCounts();
    this.counts.retries = 0;
    this.counts.exhausted = 0;
    this.counts.causes = {};
    return copy;
  }

  private async backoff(operation: string, key: string, attempt: number, error: TransientError, signal: AbortSignal | undefined): Promise<void> {
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = Math.round(Math.random() * ceiling);
    this.counts.retries += 1;
    this.counts.causes[error.reason] = (this.counts.causes[error.reason] ?? 0) + 1;
    this.onRetry?.({ operation, key, attempt, reason: error.reason, delayMs });
    await sleep(delayMs, signal);
  }

  private giveUp(operation: string, key: string, error: TransientError): EngineError {
    this.counts.exhausted += 1;
    return new EngineError(error.code, `${operation} ${key} at ${this.location} failed ${this.policy.attempts} times; last: ${error.message}`, { cause: error });
  }

  private async run<T>(operation: string, key: string, signal: AbortSignal | undefined, request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (error) {
        if (!isTransient(error) || signal?.aborted) throw error;
        if (attempt >= this.policy.attempts) throw this.giveUp(operation, key, error);
        await this.backoff(operation, key, attempt, error, signal);
      }
    }
  }

  put(key: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    return this.run('put', key, signal, () => this.inner.put(key, data, signal));
  }

  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    return this.run('get', key, signal, () => this.inner.get(key, range, signal));
  }

  getInto(key: string, buffer: Buffer, options: { maxSize?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    return this.run('get', key, options.signal, () => this.inner.getInto(key, buffer, options));
  }

  size(key: string, signal?: AbortSignal): Promise<number | null> {
    return this.run('size', key, signal, () => this.inner.size(key, signal));
  }

  delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.run('delete', key, signal, () => this.inner.delete(key, signal));
  }

  /**
   * A listing that fails midway starts again and skips the keys it has already yielded (a
   * store lists in no promised order, so they are remembered: about 100 bytes per key, only
   * while a listing runs).
   */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<StoreEntry> {
    const seen = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const entry of this.inner.list(prefix, signal)) {
          const id = `${entry.temporary ? 't' : 'o'}${entry.key}`;
          if (seen.has(id)) continue;
          seen.add(id);
          yield entry;
        }
        return;
      } catch (error) {
        if (!isTransient(error) || signal?.aborted) throw error;
        if (attempt >= this.policy.attempts) throw this.giveUp('list', prefix, error);
        await this.backoff('list', prefix, attempt, error, signal);
      }
    }
  }

  barrier(signal?: AbortSignal): Promise<void> {
    return this.run('barrier', '', signal, () => this.inner.barrier(signal));
  }

  space(): Promise<{ used: number | null; free: number | null } | null> {
    return this.inner.space();
  }

  spec(): StoreSpec {
    return this.inner.spec();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The retries a store counted since the last call (zero for a store without the decorator). */
export function takeRetryCounts(store: ObjectStore): RetryCounts {
  return store instanceof RetryingStore ? store.takeRetryCounts() : emptyRetryCounts();
}

/** The retries a store counted so far, without resetting them (zero without the decorator). */
export function retryCountsOf(store: ObjectStore): RetryCounts {
  return store instanceof RetryingStore ? store.retryCounts() : emptyRetryCounts();
}

/** What `later` counted beyond `earlier` (two readings of one store's counts). */
export function retryCountsSince(later: RetryCounts, earlier: RetryCounts): RetryCounts {
  const causes: Record<string, number> = {};
  for (const [cause, count] of Object.entries(later.causes)) {
    const more = count - (earlier.causes[cause] ?? 0);
    if (more > 0) causes[cause] = more;
  }
  return { retries: later.retries - earlier.retries, exhausted: later.exhausted - earlier.exhausted, causes };
}

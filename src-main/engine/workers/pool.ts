// Worker pool: a fixed set of worker threads, each with a few block *slots*. `acquireSlot`
// waits until some worker has a free slot (this is what bounds memory), `runOn` sends a
// request to a given worker, `run` to the least busy one. `openIo` has every worker open a
// source or target from its IoSpec; requests then name it by its io handle.
//
// Pools are reused: `WorkerPool.take` hands out an idle pool with the same settings if one is
// parked, and `release` parks a healthy, quiet pool for IDLE_CLOSE_MS instead of ending it.
// A worker thread takes about 50 ms to start here and its buffers' first use costs a host
// fault per page, so a long-running process (the GUI, `serve`) starts each job warm. Parked
// workers are unref'd: they never keep a finished CLI process alive.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EngineError } from '../errors';
import type { IoSpec } from '../io/port';
import { addRetryCounts, emptyRetryCounts, type RetryCounts } from '../store/retry';
import type { WorkerReply, WorkerRequest, WorkerResult, WorkerSettings } from './protocol';

type Pending = { resolve: (value: WorkerResult) => void; reject: (error: Error) => void };
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type PoolRequest = DistributiveOmit<WorkerRequest, 'id'>;

/** Starts a worker: the bundled worker.js next to the bundle, or worker.ts through tsx when run from sources. */
function startWorker(settings: WorkerSettings): Worker {
  if (__filename.endsWith('.ts')) {
    const script = JSON.stringify(join(__dirname, 'worker.ts'));
    return new Worker(`require('tsx/cjs'); require(${script});`, { eval: true, workerData: settings });
  }
  return new Worker(join(__dirname, 'worker.js'), { workerData: settings });
}

/** How long an idle pool stays parked for the next job before its threads end. */
const IDLE_CLOSE_MS = 20_000;
/** Parked pools kept at most (each holds a few block buffers per thread). */
const MAX_PARKED = 1;

interface Parked {
  key: string;
  pool: WorkerPool;
  timer: NodeJS.Timeout;
}
const parked: Parked[] = [];
let nextIoHandle = 1;

function settingsKey(settings: WorkerSettings, count: number): string {
  const { keys: _keys, ...rest } = settings;
  return JSON.stringify({ ...rest, count });
}

function sameKeys(a: WorkerSettings['keys'], b: WorkerSettings['keys']): boolean {
  if (!a || !b) return a === b;
  return Buffer.from(a.data).equals(Buffer.from(b.data)) && Buffer.from(a.name).equals(Buffer.from(b.name));
}

export function defaultWorkerCount(): number {
  return Math.max(2, Math.min(8, availableParallelism()));
}

interface WorkerState {
  worker: Worker;
  freeSlots: number[];
  busy: number;
}

export interface Slot {
  worker: number;
  slot: number;
}

export class WorkerPool {
  private readonly workers: WorkerState[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly slotWaiters: Array<(slot: Slot) => void> = [];
  private nextId = 1;
  private failure: Error | null = null;
  private closed = false;
  private readonly settings: WorkerSettings;

  /** A pool for these settings: a parked one if there is one, else a new one. */
  static take(settings: WorkerSettings, count = defaultWorkerCount()): WorkerPool {
    const key = settingsKey(settings, count);
    const at = parked.findIndex((p) => p.key === key && sameKeys(p.pool.settings.keys, settings.keys));
    if (at >= 0) {
      const [entry] = parked.splice(at, 1);
      clearTimeout(entry.timer);
      entry.pool.ref();
      return entry.pool;
    }
    return new WorkerPool(settings, count);
  }

  constructor(settings: WorkerSettings, count = defaultWorkerCount()) {
    this.settings = settings;
    for (let i = 0; i < count; i++) {
      const worker = startWorker(settings);
      worker.on('message', (reply: WorkerReply) => this.settle(reply));
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new EngineError('INTERNAL', `worker thread exited with code ${code}`));
      });
      this.workers.push({ worker, freeSlots: Array.from({ length: settings.slots }, (_, s) => s), busy: 0 });
    }
  }

  get size(): number {
    return this.workers.length;
  }

  acquireSlot(): Promise<Slot> {
    if (this.failure) return Promise.reject(this.failure);
    let best = -1;
    for (let i = 0; i < this.workers.length; i++) {
      const state = this.workers[i];
      if (state.freeSlots.length === 0) continue;
      if (best < 0 || state.busy < this.workers[best].busy) best = i;
    }
    if (best >= 0) return Promise.resolve({ worker: best, slot: this.workers[best].freeSlots.pop()! });
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  releaseSlot(slot: Slot): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.workers[slot.worker].freeSlots.push(slot.slot);
  }

  /** `transfer`: buffers of the request that move to the worker instead of being copied. */
  runOn(workerIndex: number, request: PoolRequest, transfer?: ArrayBuffer[]): Promise<WorkerResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const state = this.workers[workerIndex];
    state.busy++;
    return new Promise<WorkerResult>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (value) => { state.busy--; resolve(value); },
        reject: (error) => { state.busy--; reject(error); },
      });
      state.worker.postMessage({ ...request, id }, transfer);
    });
  }

  run(request: PoolRequest, transfer?: ArrayBuffer[]): Promise<WorkerResult> {
    return this.runOn(this.leastBusy(), request, transfer);
  }

  /** `run` for a request that names something of the worker it goes to (a buffer only that worker uses). */
  runWith(request: (worker: number) => PoolRequest): Promise<WorkerResult> {
    const worker = this.leastBusy();
    return this.runOn(worker, request(worker));
  }

  private leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i].busy < this.workers[best].busy) best = i;
    return best;
  }

  /** Has every worker open a source or target from its spec; returns the io handle requests name it by. */
  async openIo(spec: IoSpec, mode: 'read' | 'write'): Promise<number> {
    const handle = nextIoHandle++;
    try {
      await Promise.all(this.workers.map((_, i) => this.runOn(i, { op: 'open', handle, spec, mode })));
    } catch (error) {
      await this.closeIo(handle);
      throw error;
    }
    return handle;
  }

  /** The store retries every worker counted since the last call (each worker's count starts again). */
  async takeRetryCounts(): Promise<RetryCounts> {
    const total = emptyRetryCounts();
    if (this.failure || this.closed) return total;
    const replies = await Promise.all(this.workers.map((_, i) => this.runOn(i, { op: 'retries' })));
    for (const reply of replies) if (reply.retries) addRetryCounts(total, reply.retries);
    return total;
  }

  /** Closes an io handle in every worker (a failed pool is closed anyway). */
  async closeIo(handle: number): Promise<void> {
    if (this.failure || this.closed) return;
    await Promise.all(this.workers.map((_, i) => this.runOn(i, { op: 'close', handle }).catch(() => undefined)));
  }

  /**
   * Ends a job's use of the pool: a pool with no failure and nothing in flight is parked for
   * the next job with the same settings (beyond MAX_PARKED, the oldest parked pool is ended);
   * any other pool is closed.
   */
  async release(): Promise<void> {
    const quiet = !this.failure && !this.closed && this.pending.size === 0 && this.slotWaiters.length === 0
      && this.workers.every((state) => state.busy === 0 && state.freeSlots.length === this.settings.slots);
    if (!quiet) return this.close();
    this.unref();
    const entry: Parked = {
      key: settingsKey(this.settings, this.workers.length),
      pool: this,
      timer: setTimeout(() => {
        const at = parked.indexOf(entry);
        if (at >= 0) parked.splice(at, 1);
        void this.close();
      }, IDLE_CLOSE_MS),
    };
    entry.timer.unref();
    parked.push(entry);
    while (parked.length > MAX_PARKED) {
      const oldest = parked.shift()!;
      clearTimeout(oldest.timer);
      await oldest.pool.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const closed = new EngineError('INTERNAL', 'worker pool closed with a request in flight');
    for (const pending of this.pending.values()) pending.reject(closed);
    this.pending.clear();
    await Promise.all(this.workers.map((state) => state.worker.terminate()));
  }

  private ref(): void {
    for (const state of this.workers) state.worker.ref();
  }

  private unref(): void {
    for (const state of this.workers) state.worker.unref();
  }

  private settle(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply);
    else pending.reject(new EngineError(reply.code, reply.message));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error instanceof EngineError ? error : new EngineError('INTERNAL', `worker thread failed: ${error.message}`, { cause: error });
    for (const pending of this.pending.values()) pending.reject(this.failure);
    this.pending.clear();
  }
}

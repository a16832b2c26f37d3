// Locks in the store, between machines that share one bucket. Each machine orders its own jobs
// with the locks of its metadata (SQLite); what it cannot see is another machine's job. Two
// kinds of job must not overlap across machines:
//   - a *writer* (backup, import, copy or migration into the repository) references objects
//     its machine's cache knows of, and publishes its version's manifest only at its end;
//   - a *cleanup* deletes the objects and manifests that its machine's cache does not see used.
// So each puts a lock object (`locks/<kind>-<instance>-<random>`, a small JSON body) before it
// starts and deletes it when it ends; a writer then waits while another machine's cleanup
// runs, and a cleanup refuses to start while another machine's writer runs. Because each puts
// its own lock before it lists the others' (S3 lists what it has acknowledged), of a writer
// and a cleanup that start at the same moment at least one sees the other. After its lock and
// the wait, a writer brings its cache up to the bucket (versions another machine removed, and
// the objects only they used, which that machine's cleanup may have deleted since: see
// cache.ts), so it never dedupes onto an object that is gone.
// A lock is refreshed every REFRESH_MS; one not refreshed for STALE_MS (its process died on
// another machine) no longer counts, nor does one whose process is gone on this host. Its age
// is read on the store's clock where the listing gives one (S3's LastModified): the lock's
// time against the time of the lock this job has just put. So machines whose clocks disagree
// (no NTP, a wrong time zone setting) still agree on which lock is stale; only a store that
// tells no times falls back to the clock of the machine that wrote the lock.
// `instance` names one machine's cache: jobs of the same cache are ordered by its own locks.
// A folder repository has one database for every process: it needs none of this.
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EngineError, toEngineError } from './errors';
import { processAlive, type Metadata } from './meta/database';
import type { ObjectStore } from './store/index';

export const LOCK_PREFIX = 'locks/';
export const LOCK_REFRESH_MS = 5 * 60_000;
export const LOCK_STALE_MS = 20 * 60_000;
const WAIT_POLL_MS = 2000;
const INSTANCE_SETTING = 'store_lock_instance';

export type StoreLockKind = 'writer' | 'cleanup';

export interface StoreLockBody {
  kind: StoreLockKind;
  instance: string;
  host: string;
  pid: number;
  reason: string;
  started: number;
  refreshed: number;
}

export interface HeldStoreLock {
  key: string;
  release(): Promise<void>;
}

interface LockingRepository {
  store: ObjectStore;
  meta: Metadata;
}

/** The id of this machine's cache, made on first use. */
function instanceOf(meta: Metadata): string {
  let id = meta.getSetting(INSTANCE_SETTING);
  if (!id) {
    id = randomUUID().replace(/-/g, '');
    meta.setSetting(INSTANCE_SETTING, id);
  }
  return id;
}

interface ListedLock {
  key: string;
  body: StoreLockBody;
  /** when the store last saw it written (its clock), if the listing says */
  modified?: number;
}

/**
 * How old a lock is: on the store's clock when the listing gave times for it and for `own`
 * (the lock this job has just put, so "now" by the store), else by this machine's clock
 * against the writer's `refreshed`.
 */
function ageOf(lock: ListedLock, own: ListedLock | undefined): number {
  if (lock.modified !== undefined && own?.modified !== undefined) return own.modified - lock.modified;
  return Date.now() - lock.body.refreshed;
}

/** Whether the lock still counts: refreshed lately, and (on this host) its process alive. */
function live(lock: ListedLock, own: ListedLock | undefined): boolean {
  if (lock.body.host === hostname() && !processAlive(lock.body.pid)) return false;
  return ageOf(lock, own) < LOCK_STALE_MS;
}

function parse(data: Buffer): StoreLockBody | null {
  try {
    const body = JSON.parse(data.toString('utf8')) as StoreLockBody;
    if ((body.kind !== 'writer' && body.kind !== 'cleanup') || typeof body.instance !== 'string' || typeof body.refreshed !== 'number' || typeof body.pid !== 'number') return null;
    return body;
  } catch {
    return null;
  }
}

/** Every lock in the store with its body (unreadable ones are skipped: they name no job). */
async function readLocks(store: ObjectStore, signal?: AbortSignal): Promise<ListedLock[]> {
  const out: ListedLock[] = [];
  for await (const entry of store.list(LOCK_PREFIX, signal)) {
    if (entry.temporary) continue;
    try {
      const body = parse(await store.get(entry.key, undefined, signal));
      if (body) out.push({ key: entry.key, body, ...(entry.modified !== undefined ? { modified: entry.modified } : {}) });
    } catch (error) {
      if (toEngineError(error).code !== 'OBJECT_MISSING') throw error; // released since the listing
    }
  }
  return out;
}

/** Of `locks`, the live ones of `kind` held by other machines' caches (`own`: this job's lock as listed). */
function othersLive(repo: LockingRepository, locks: ListedLock[], kind: StoreLockKind, own: ListedLock | undefined): StoreLockBody[] {
  const self = instanceOf(repo.meta);
  return locks.filter((l) => l.body.kind === kind && l.body.instance !== self && live(l, own)).map((l) => l.body);
}

export function describeLock(body: StoreLockBody): string {
  return `${body.reason} (pid ${body.pid} on ${body.host}, since ${new Date(body.started).toISOString()})`;
}

async function put(repo: LockingRepository, kind: StoreLockKind, reason: string, signal?: AbortSignal): Promise<HeldStoreLock> {
  const store = repo.store;
  const now = Date.now();
  const body: StoreLockBody = { kind, instance: instanceOf(repo.meta), host: hostname(), pid: process.pid, reason, started: now, refreshed: now };
  const key = `${LOCK_PREFIX}${kind}-${body.instance}-${randomBytes(6).toString('hex')}`;
  await store.put(key, Buffer.from(JSON.stringify(body)), signal);
  let released = false;
  const timer = setInterval(() => {
    body.refreshed = Date.now();
    store.put(key, Buffer.from(JSON.stringify(body))).catch(() => undefined); // tried again at the next refresh
  }, LOCK_REFRESH_MS);
  timer.unref();
  return {
    key,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // Not deleted (the store failing now): it stops counting once it is stale.
      await store.delete(key).catch(() => undefined);
    },
  };
}

/**
 * A writer's lock (S3 and other shared stores; null for a folder repository): put, then held
 * while another machine's cleanup runs (`onWaiting` says which), then the cache is brought up
 * to the bucket by `sync`. The caller releases it when its version is published or abandoned.
 */
export async function takeWriterLock(
  repo: LockingRepository & { syncWithStore(signal?: AbortSignal): Promise<unknown> },
  reason: string,
  options: { signal?: AbortSignal; onWaiting?: (what: string | null) => void } = {},
): Promise<HeldStoreLock | null> {
  if (repo.store.kind === 'folder') return null;
  const lock = await put(repo, 'writer', reason, options.signal);
  try {
    for (let waiting = false; ; waiting = true) {
      const locks = await readLocks(repo.store, options.signal);
      const cleanups = othersLive(repo, locks, 'cleanup', locks.find((l) => l.key === lock.key));
      if (cleanups.length === 0) {
        if (waiting) options.onWaiting?.(null);
        break;
      }
      options.onWaiting?.(`waiting for a cleanup on another machine: ${describeLock(cleanups[0])}`);
      if (options.signal?.aborted) throw new EngineError('CANCELED', 'canceled while waiting for a cleanup on another machine');
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
    await repo.syncWithStore(options.signal);
    return lock;
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * A cleanup's lock (null for a folder repository): LOCKED, changing nothing, while another
 * machine writes a version into the store. Locks of this host's dead processes go.
 */
export async function takeCleanupLock(repo: LockingRepository, reason: string, signal?: AbortSignal): Promise<HeldStoreLock | null> {
  if (repo.store.kind === 'folder') return null;
  const lock = await put(repo, 'cleanup', reason, signal);
  try {
    const locks = await readLocks(repo.store, signal);
    const own = locks.find((l) => l.key === lock.key);
    for (const listed of locks) {
      if (listed.key !== lock.key && !live(listed, own)) await repo.store.delete(listed.key, signal).catch(() => undefined);
    }
    const writers = othersLive(repo, locks, 'writer', own);
    if (writers.length > 0) {
      throw new EngineError(
        'LOCKED',
        `another machine is writing into ${repo.store.location}: ${describeLock(writers[0])}${writers.length > 1 ? ` and ${writers.length - 1} more` : ''}; ` +
          `a cleanup now could delete objects its version uses, so nothing was deleted. Run cleanup again when it has finished (the lock of a job that died stops counting ${LOCK_STALE_MS / 60_000} minutes after its last refresh)`,
      );
    }
    return lock;
  } catch (error) {
    await lock.release();
    throw error;
  }
}

// Policies in the metadata: their bodies (JSON of src-shared/api/policy.ts), each policy's
// last run as the scheduler recorded it, and the scheduler that serves the repository (a
// row per process; a row whose process is gone is stale and ignored).
import { hostname } from 'node:os';
import { schedulerName, type Policy, type PolicyRunState } from '../../../src-shared/api/policy';
import { EngineError } from '../errors';
import { processAlive, type Metadata } from './database';

interface PolicyRow { name: string; kind: string; body: string; created: number; updated: number }
interface RunRow { name: string; last_slot: number | null; last_job: string | null; last_state: string | null; last_ended: number | null; last_error: string | null }
export interface SchedulerRow { id: string; pid: number; host: string; mode: string; since: number }

export interface StoredPolicy { policy: Policy; created: number; updated: number }

const EMPTY_RUN: PolicyRunState = { lastSlot: null, lastJob: null, lastState: null, lastEnded: null, lastError: null };

export function listPolicies(meta: Metadata): StoredPolicy[] {
  return (meta.sql('SELECT * FROM policies ORDER BY kind, name').all() as PolicyRow[]).map((row) => ({ policy: JSON.parse(row.body) as Policy, created: row.created, updated: row.updated }));
}

export function getPolicy(meta: Metadata, name: string): StoredPolicy | undefined {
  const row = meta.sql('SELECT * FROM policies WHERE name = ?').get(name) as PolicyRow | undefined;
  return row ? { policy: JSON.parse(row.body) as Policy, created: row.created, updated: row.updated } : undefined;
}

/** Adds a policy (`create`: refused when the name exists) or replaces one (refused when it does not). */
export function savePolicy(meta: Metadata, policy: Policy, create: boolean, now = Date.now()): void {
  meta.transaction(() => {
    const exists = getPolicy(meta, policy.name) !== undefined;
    if (create && exists) throw new EngineError('ALREADY_EXISTS', `a policy named "${policy.name}" exists; edit it instead`);
    if (!create && !exists) throw new EngineError('NOT_FOUND', `no policy named "${policy.name}"`);
    if (create) meta.sql('INSERT INTO policies(name, kind, body, created, updated) VALUES (?, ?, ?, ?, ?)').run(policy.name, policy.kind, JSON.stringify(policy), now, now);
    else meta.sql('UPDATE policies SET kind = ?, body = ?, updated = ? WHERE name = ?').run(policy.kind, JSON.stringify(policy), now, policy.name);
  });
}

export function removePolicy(meta: Metadata, name: string): void {
  meta.transaction(() => {
    if (meta.sql('DELETE FROM policies WHERE name = ?').run(name).changes === 0) throw new EngineError('NOT_FOUND', `no policy named "${name}"`);
    meta.sql('DELETE FROM policy_runs WHERE name = ?').run(name);
  });
}

export function policyRun(meta: Metadata, name: string): PolicyRunState {
  const row = meta.sql('SELECT * FROM policy_runs WHERE name = ?').get(name) as RunRow | undefined;
  if (!row) return { ...EMPTY_RUN };
  return { lastSlot: row.last_slot, lastJob: row.last_job, lastState: row.last_state, lastEnded: row.last_ended === null ? null : new Date(row.last_ended).toISOString(), lastError: row.last_error };
}

export function recordPolicyRun(meta: Metadata, name: string, run: PolicyRunState): void {
  meta.sql(
    `INSERT INTO policy_runs(name, last_slot, last_job, last_state, last_ended, last_error) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(name) DO UPDATE SET last_slot = excluded.last_slot, last_job = excluded.last_job, last_state = excluded.last_state, last_ended = excluded.last_ended, last_error = excluded.last_error`,
  ).run(name, run.lastSlot, run.lastJob, run.lastState, run.lastEnded === null ? null : Date.parse(run.lastEnded), run.lastError);
}

/** The live scheduler of the repository (stale rows of dead processes on this host are dropped). */
export function liveScheduler(meta: Metadata): SchedulerRow | undefined {
  const host = hostname();
  for (const row of meta.sql('SELECT * FROM schedulers ORDER BY since').all() as SchedulerRow[]) {
    if (row.host === host && !processAlive(row.pid)) {
      meta.sql('DELETE FROM schedulers WHERE id = ?').run(row.id);
      continue;
    }
    return row;
  }
  return undefined;
}

/** Claims the repository's schedules for this process; LOCKED with who serves it otherwise. */
export function claimScheduler(meta: Metadata, id: string, mode: string): void {
  meta.transaction(() => {
    const live = liveScheduler(meta);
    if (live && live.id !== id) {
      throw new EngineError('LOCKED', `the schedules of this repository are served by ${live.mode === 'web' ? '' : 'the '}${schedulerName(live.mode)} (pid ${live.pid} on ${live.host} since ${new Date(live.since).toISOString()})`);
    }
    if (!live) meta.sql('INSERT INTO schedulers(id, pid, host, mode, since) VALUES (?, ?, ?, ?, ?)').run(id, process.pid, hostname(), mode, Date.now());
  });
}

export function releaseScheduler(meta: Metadata, id: string): void {
  meta.sql('DELETE FROM schedulers WHERE id = ?').run(id);
}

/** Stored bytes of the objects that only versions of this name reference. */
export function exclusiveBytesOfName(meta: Metadata, name: string): number {
  const row = meta.sql(
    `SELECT coalesce(sum(o.stored_size), 0) AS n FROM objects o
     WHERE o.id IN (SELECT b.object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.name = ? AND b.object_id IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM blocks x JOIN versions w ON w.id = x.version_id WHERE x.object_id = o.id AND w.name != ?)`,
  ).get(name, name) as { n: number };
  return row.n;
}

/** The newest scrub of any version of this name. */
export function lastScrubOfName(meta: Metadata, name: string): { date: number; mode: string; ok: boolean } | undefined {
  const row = meta.sql(
    `SELECT s.date, s.mode, s.blocks_invalid + s.blocks_missing + s.blocks_mismatch AS bad FROM scrubs s JOIN versions v ON v.uid = s.version_uid
     WHERE v.name = ? ORDER BY s.date DESC, s.id DESC LIMIT 1`,
  ).get(name) as { date: number; mode: string; bad: number } | undefined;
  return row ? { date: row.date, mode: row.mode, ok: row.bad === 0 } : undefined;
}

/** Stored bytes of every object. */
export function storedBytes(meta: Metadata): number {
  return (meta.sql('SELECT coalesce(sum(stored_size), 0) AS n FROM objects').get() as { n: number }).n;
}

// Policy services: policies stored in the repository, prune (a preview that changes nothing,
// and a job that removes what the rules do not keep), and the status of every disk. The
// retention rules themselves live in engine/retention.ts; schedules in src-shared/api/schedule.ts.
import { statfsSync } from 'node:fs';
import type { Api, PruneArgs } from '../../src-shared/api/contract';
import { hasRules, type DiskStatus, type Policy, type PolicyInfo, type PrunePlan, type RepositoryStatus } from '../../src-shared/api/policy';
import { nextSlot } from '../../src-shared/api/schedule';
import type { Job } from '../../src-shared/api/types';
import type { Version } from '../../src-shared/model';
import { EngineError } from '../engine/errors';
import { exclusiveBytesOfName, getPolicy, lastScrubOfName, listPolicies, liveScheduler, policyRun, removePolicy, savePolicy, storedBytes, type StoredPolicy } from '../engine/meta/policies';
import type { Repository } from '../engine/repository';
import { planRetention } from '../engine/retention';
import { listVersions, removeVersion, stats } from '../engine/versions';
import type { ServiceContext } from './context';

type PolicyApi = Pick<Api, 'listPolicies' | 'savePolicy' | 'removePolicy' | 'previewPrune' | 'startPrune' | 'getStatus'>;

/** When a policy runs next: the first slot after its last run (or its creation); null when off. */
export function nextRunOf(repo: Repository, stored: StoredPolicy): number | null {
  const { policy } = stored;
  if (!policy.enabled || !policy.schedule) return null;
  const run = policyRun(repo.meta, policy.name);
  return nextSlot(policy.schedule, run.lastSlot ?? stored.created);
}

export function policyInfo(repo: Repository, stored: StoredPolicy): PolicyInfo {
  const next = nextRunOf(repo, stored);
  return {
    ...stored.policy,
    created: new Date(stored.created).toISOString(),
    updated: new Date(stored.updated).toISOString(),
    run: policyRun(repo.meta, stored.policy.name),
    nextRun: next === null ? null : new Date(next).toISOString(),
  };
}

/** The keep/remove decision of every version in scope, from the given rules or each disk's policy. */
export function prunePlan(repo: Repository, { name, retention, timeZone }: PruneArgs, now = Date.now()): PrunePlan {
  const versions = listVersions(repo, name ? { name } : {});
  const options = { now, minAgeDays: repo.settings.minAgeDays };
  if (retention) {
    if (!hasRules(retention)) throw new EngineError('INVALID_ARGUMENT', 'give at least one keep rule (--keep-last, --keep-daily ... or --keep-tagged)');
    return { name: name ?? null, retention, decisions: planRetention(versions, retention, { ...options, timeZone }) };
  }
  const byName = new Map<string, Version[]>();
  for (const v of versions) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
  const policy = (disk: string): Policy | undefined => {
    const stored = getPolicy(repo.meta, disk)?.policy;
    return stored?.kind === 'backup' && stored.retention && hasRules(stored.retention) ? stored : undefined;
  };
  if (name && !policy(name)) throw new EngineError('INVALID_ARGUMENT', `disk "${name}" has no policy with retention rules; give keep rules (--keep-daily 7 ...)`);
  const decisions = [...byName.entries()].flatMap(([disk, list]) => {
    const rules = policy(disk);
    if (!rules) return list.map((v) => ({ uid: v.uid, name: v.name, date: v.date, keep: true, reason: 'kept: no retention policy for this disk' }));
    return planRetention(list, rules.retention!, { ...options, timeZone: timeZone ?? rules.schedule?.timeZone });
  });
  decisions.sort((a, b) => Date.parse(b.date) - Date.parse(a.date));
  return { name: name ?? null, retention: (name ? policy(name)?.retention : undefined) ?? {}, decisions };
}

/** Submits the prune job: removes what the plan (made when the job runs) does not keep. */
export function submitPrune(ctx: ServiceContext, args: PruneArgs): Job {
  const repo = ctx.requireRepo();
  prunePlan(repo, args);
  return ctx.jobs.submit({
    kind: 'prune',
    title: `Prune ${args.name ?? 'all disks'}${args.retention ? '' : ' (policy retention)'}`,
    params: { name: args.name ?? null, retention: args.retention ? JSON.stringify(args.retention) : null },
    run: async ({ signal, log }) => {
      const plan = prunePlan(repo, args);
      const removed: string[] = [];
      for (const decision of plan.decisions) {
        if (signal.aborted) throw new EngineError('CANCELED', 'prune canceled');
        if (decision.keep) continue;
        try {
          await removeVersion(repo, decision.uid, false);
          removed.push(decision.uid);
          log(`${decision.uid} (${decision.name}, ${decision.date}): ${decision.reason}`);
        } catch (error) {
          log(`${decision.uid}: not removed: ${(error as Error).message}`, 'warn');
        }
      }
      log(`removed ${removed.length} version(s), kept ${plan.decisions.filter((d) => d.keep).length}; run a cleanup to free their data`);
      ctx.events.emit('versionsChanged', { reason: 'prune', uids: removed });
      return { kind: 'prune', value: { removed, kept: plan.decisions.filter((d) => d.keep).length, decisions: plan.decisions } };
    },
  });
}

const worst = (a: 0 | 1 | 2, b: 0 | 1 | 2): 0 | 1 | 2 => (a > b ? a : b);

export function repositoryStatus(ctx: ServiceContext, now = Date.now()): RepositoryStatus {
  const repo = ctx.requireRepo();
  const policies = listPolicies(repo.meta);
  const versions = listVersions(repo);
  const jobs = ctx.jobs.list(1000, 0);
  const names = [...new Set([...versions.map((v) => v.name), ...policies.filter((p) => p.policy.kind === 'backup').map((p) => p.policy.name)])].sort();
  const disks: DiskStatus[] = names.map((name) => {
    const mine = versions.filter((v) => v.name === name);
    const newest = mine.reduce<Version | undefined>((a, v) => (!a || v.date > a.date ? v : a), undefined);
    const stored = policies.find((p) => p.policy.kind === 'backup' && p.policy.name === name);
    const job = jobs.find((j) => j.kind === 'backup' && j.params.name === name);
    const verify = lastScrubOfName(repo.meta, name);
    const next = stored ? nextRunOf(repo, stored) : null;
    const problems: string[] = [];
    let level: 0 | 1 | 2 = 0;
    const flag = (l: 1 | 2, text: string): void => { level = worst(level, l); problems.push(text); };
    if (job?.state === 'failed') flag(2, `last backup failed: ${job.error?.message ?? 'unknown error'}`);
    if (newest && newest.status === 'invalid') flag(2, `the newest version ${newest.uid} is invalid`);
    if (!newest) flag(1, 'never backed up');
    if (newest && stored?.policy.enabled && stored.policy.schedule) {
      const due = nextSlot(stored.policy.schedule, Date.parse(newest.date));
      const after = due === null ? null : nextSlot(stored.policy.schedule, due);
      if (after !== null && now > after) flag(2, `no backup since ${newest.date}: two scheduled runs were missed`);
      else if (due !== null && now > due + 3_600_000) flag(1, `no backup since ${newest.date}: the run due ${new Date(due).toISOString()} is missing`);
    }
    if (newest && !verify) flag(1, 'never verified');
    else if (verify && !verify.ok) flag(2, `the last verify (${new Date(verify.date).toISOString()}) found invalid data`);
    const backupStats = newest ? stats(repo, newest.uid)[0] : undefined;
    return {
      name,
      policy: stored ? stored.policy.name : null,
      versions: mine.length,
      exclusiveBytes: exclusiveBytesOfName(repo.meta, name),
      lastBackup: newest ? { uid: newest.uid, date: newest.date, valid: newest.valid, state: newest.status, durationMs: backupStats?.durationMs ?? null, bytesWritten: backupStats?.bytesWritten ?? null } : null,
      lastBackupJob: job ? { id: job.id, state: job.state, ended: job.ended, error: job.error ? `[${job.error.code}] ${job.error.message}` : null } : null,
      lastVerify: verify ? { date: new Date(verify.date).toISOString(), ok: verify.ok, mode: verify.mode } : null,
      nextRun: next === null ? null : new Date(Math.max(next, now)).toISOString(),
      level,
      problems,
    };
  });
  // Failures first, then warnings, then by name.
  disks.sort((a, b) => b.level - a.level || (a.name < b.name ? -1 : 1));
  const of = (kind: Policy['kind']): PolicyInfo[] => policies.filter((p) => p.policy.kind === kind).map((p) => policyInfo(repo, p));
  const verify = of('verify');
  const cleanup = of('cleanup');
  let level: 0 | 1 | 2 = disks.reduce<0 | 1 | 2>((l, d) => worst(l, d.level), 0);
  for (const p of [...verify, ...cleanup]) if (p.run.lastState === 'failed') level = 2;
  let freeBytes: number | null = null;
  try {
    const fs = statfsSync(repo.path);
    freeBytes = fs.bavail * fs.bsize;
  } catch {
    freeBytes = null;
  }
  const scheduler = liveScheduler(repo.meta);
  return {
    path: repo.path,
    disks,
    verify,
    cleanup,
    store: { usedBytes: storedBytes(repo.meta), freeBytes },
    scheduler: scheduler ? { pid: scheduler.pid, host: scheduler.host, mode: scheduler.mode, since: new Date(scheduler.since).toISOString() } : null,
    level,
  };
}

export function policyServices(ctx: ServiceContext, onPoliciesChanged: (path: string) => void): PolicyApi {
  return {
    async listPolicies() {
      const repo = ctx.requireRepo();
      return listPolicies(repo.meta).map((p) => policyInfo(repo, p));
    },
    async savePolicy({ policy, create }) {
      const repo = ctx.requireRepo();
      if (policy.kind === 'backup' && policy.source !== undefined && !policy.source.includes(':')) ctx.checkOutsideRepository(policy.source, 'source');
      savePolicy(repo.meta, policy, create, ctx.options.clock?.now() ?? Date.now());
      onPoliciesChanged(repo.path);
      return policyInfo(repo, getPolicy(repo.meta, policy.name)!);
    },
    async removePolicy({ name }) {
      const repo = ctx.requireRepo();
      removePolicy(repo.meta, name);
      onPoliciesChanged(repo.path);
      return null;
    },
    async previewPrune(args) {
      return prunePlan(ctx.requireRepo(), args, ctx.options.clock?.now() ?? Date.now());
    },
    async startPrune(args) {
      return submitPrune(ctx, args);
    },
    async getStatus() {
      return repositoryStatus(ctx, ctx.options.clock?.now() ?? Date.now());
    },
  };
}

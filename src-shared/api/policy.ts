// Policies: what runs on its own. A *backup* policy belongs to one disk (the version name):
// its source and options, schedule, tags, pre/post commands, retention and notifications.
// A *verify* policy scrubs (deep by default) all versions or a percentage of their blocks;
// a *cleanup* policy frees unreferenced objects. Policies live in the repository.
import { z } from 'zod';
import { scheduleProblem, type Schedule } from './schedule';

export type PolicyKind = 'backup' | 'verify' | 'cleanup';

/** Retention rules, counted as Proxmox Backup Server counts them (see engine/retention.ts). */
export interface Retention {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** versions carrying any of these tags are kept */
  keepTagged?: string[];
}

export const RETENTION_RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

export interface Notify {
  /** shell command run when a run fails, with the job's JSON on stdin */
  onFailure?: string;
  /** shell command run when a run succeeds */
  onSuccess?: string;
}

export interface Policy {
  /** unique in the repository; for a backup policy, the disk (version name) it backs up */
  name: string;
  kind: PolicyKind;
  enabled: boolean;
  schedule: Schedule | null;
  notify?: Notify;
  // backup
  source?: string;
  snapshot?: string;
  tags?: string[];
  /** back up changes against the latest valid version of the name (default true) */
  incremental?: boolean;
  /**
   * A persistent dirty bitmap of the source (a qcow2: file or an NBD export that exposes it):
   * an incremental run reads only what it marks, and every run starts it afresh, so the next
   * run reads what changed since this one (the first run creates it).
   */
  bitmap?: string;
  /** run before the backup (a non-zero exit fails the run) and after it */
  pre?: string;
  post?: string;
  retention?: Retention;
  // verify
  mode?: 'fast' | 'deep';
  percent?: number;
  // cleanup
  full?: boolean;
}

/** One version's fate under retention rules, and the rule that decided it. */
export interface PruneDecision {
  uid: string;
  name: string;
  date: string;
  keep: boolean;
  /** "kept: daily #3", "removed: beyond keep-weekly 4", "kept: protected" */
  reason: string;
}

export interface PrunePlan {
  name: string | null;
  retention: Retention;
  decisions: PruneDecision[];
}

export interface PolicyRunState {
  /** the slot (ms) of the last run started; null before the first */
  lastSlot: number | null;
  lastJob: string | null;
  lastState: string | null;
  lastEnded: string | null;
  lastError: string | null;
}

export interface PolicyInfo extends Policy {
  created: string;
  updated: string;
  run: PolicyRunState;
  /** the next scheduled run, ISO; null when unscheduled or disabled */
  nextRun: string | null;
}

export interface DiskStatus {
  name: string;
  policy: string | null;
  versions: number;
  /** bytes of objects only this disk's versions reference */
  exclusiveBytes: number;
  lastBackup: { uid: string; date: string; valid: boolean; state: string; durationMs: number | null; bytesWritten: number | null } | null;
  /** the last scheduled (or CLI/GUI) backup job of this disk */
  lastBackupJob: { id: string; state: string; ended: string | null; error: string | null } | null;
  lastVerify: { date: string; ok: boolean; mode: string } | null;
  nextRun: string | null;
  /** 0 ok, 1 warning, 2 critical (Nagios) */
  level: 0 | 1 | 2;
  problems: string[];
}

export interface RepositoryStatus {
  path: string;
  disks: DiskStatus[];
  verify: PolicyInfo[];
  cleanup: PolicyInfo[];
  store: { usedBytes: number; freeBytes: number | null };
  /** who runs this repository's schedules, if anyone */
  scheduler: { pid: number; host: string; mode: string; since: string } | null;
  level: 0 | 1 | 2;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const text = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine((s) => !CONTROL.test(s), 'must not contain control characters');
const count = z.number().int('must be a whole number').min(0, 'must be at least 0').max(100_000, 'must be at most 100000');

export const retentionSchema = z.strictObject({
  keepLast: count.optional(),
  keepHourly: count.optional(),
  keepDaily: count.optional(),
  keepWeekly: count.optional(),
  keepMonthly: count.optional(),
  keepYearly: count.optional(),
  keepTagged: z.array(text(256)).max(64).optional(),
});

export const scheduleSchema = z
  .strictObject({ cron: z.string().max(256).optional(), everyMinutes: z.number().optional(), timeZone: z.string().max(64).optional() })
  .superRefine((schedule, ctx) => {
    const problem = scheduleProblem(schedule);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const policySchema = z
  .strictObject({
    name: text(1024),
    kind: z.enum(['backup', 'verify', 'cleanup'], { error: 'must be "backup", "verify" or "cleanup"' }),
    enabled: z.boolean(),
    schedule: scheduleSchema.nullable(),
    notify: z.strictObject({ onFailure: text(4096).optional(), onSuccess: text(4096).optional() }).optional(),
    source: text(4096).optional(),
    snapshot: text(1024).optional(),
    tags: z.array(text(256).refine((t) => !t.includes(','), 'must not contain a comma')).max(64).optional(),
    incremental: z.boolean().optional(),
    bitmap: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a bitmap name: 1 to 64 letters, digits, ".", "_" or "-"').optional(),
    pre: text(4096).optional(),
    post: text(4096).optional(),
    retention: retentionSchema.optional(),
    mode: z.enum(['fast', 'deep']).optional(),
    percent: z.number().int().min(1).max(100).optional(),
    full: z.boolean().optional(),
  })
  .refine((p) => p.kind !== 'backup' || p.source !== undefined, { path: ['source'], message: 'a backup policy needs a source' })
  .refine((p) => p.kind === 'backup' || (p.source === undefined && p.retention === undefined && p.pre === undefined && p.post === undefined && p.bitmap === undefined), {
    path: ['kind'],
    message: 'source, retention, a bitmap and pre/post commands belong to backup policies',
  });

/** Whether any counting rule or tag rule is set. */
export function hasRules(retention: Retention): boolean {
  return RETENTION_RULES.some((rule) => (retention[rule] ?? 0) > 0) || (retention.keepTagged?.length ?? 0) > 0;
}

/** How a scheduler's mode reads in a sentence: "the daemon", "the desktop app", "web mode". */
export function schedulerName(mode: string): string {
  return mode === 'web' ? 'web mode' : mode === 'electron' ? 'desktop app' : mode;
}

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
  /**
   * An `rbd:POOL/IMAGE` source: each run creates the snapshot `blockvault-<policy>-<UTC time>`,
   * backs it up incrementally with `rbd diff --from-snap` the snapshot of the base version (when
   * it still exists), then removes this policy's older snapshots of the image; a failed or
   * canceled run removes the one it created. Snapshots of other policies, and those not made by
   * Blockvault, are never touched.
   */
  rbdSnapshots?: boolean;
  /**
   * Shell command run before each incremental backup: its stdout is the change hints (backy2's
   * format, `rbd diff --format=json`) since the base version, whose UID, date, snapshot name
   * and source it gets as BLOCKVAULT_BASE_UID, _DATE, _SNAPSHOT and _SOURCE.
   */
  hintsCommand?: string;
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
    rbdSnapshots: z.boolean().optional(),
    hintsCommand: text(4096).optional(),
    pre: text(4096).optional(),
    post: text(4096).optional(),
    retention: retentionSchema.optional(),
    mode: z.enum(['fast', 'deep']).optional(),
    percent: z.number().int().min(1).max(100).optional(),
    full: z.boolean().optional(),
  })
  .refine((p) => p.kind !== 'backup' || p.source !== undefined, { path: ['source'], message: 'a backup policy needs a source' })
  .refine((p) => p.kind === 'backup' || (p.source === undefined && p.retention === undefined && p.pre === undefined && p.post === undefined && p.bitmap === undefined && !p.rbdSnapshots && p.hintsCommand === undefined), {
    path: ['kind'],
    message: 'source, retention, a bitmap, RBD snapshots, a hints command and pre/post commands belong to backup policies',
  })
  .superRefine((p, ctx) => {
    const problem = changeSourceProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
  });

/** What a backup policy's source is, for the change-tracking options that apply to it. */
export type PolicySourceKind = 'rbd' | 'rbd-snapshot' | 'qcow2' | 'nbd' | 'path' | 'other';

export function policySourceKind(source: string | undefined): PolicySourceKind {
  if (!source) return 'other';
  if (source.startsWith('rbd:')) return /^rbd:[^?]*@/.test(source) ? 'rbd-snapshot' : 'rbd';
  if (source.startsWith('qcow2:')) return 'qcow2';
  if (source.startsWith('nbd://') || source.startsWith('nbd+unix://')) return 'nbd';
  if (source.startsWith('/')) return 'path';
  return 'other';
}

/** Where a dirty bitmap may apply: qcow2 (as qcow2: or as a plain path to a qcow2 file) and NBD. */
export function bitmapApplies(source: string | undefined): boolean {
  const kind = policySourceKind(source);
  return kind === 'qcow2' || kind === 'nbd' || kind === 'path';
}

/**
 * The change-tracking options of a backup policy against its source, checked the same way by
 * the CLI, the services and the GUI: a bitmap for qcow2/NBD sources, RBD snapshot management
 * for an `rbd:POOL/IMAGE` (no @SNAP: the policy makes the snapshots), a hints command for any
 * source but not beside another change source; none of them for a full-only policy.
 */
export function changeSourceProblem(p: Pick<Policy, 'kind' | 'source' | 'snapshot' | 'bitmap' | 'rbdSnapshots' | 'hintsCommand' | 'incremental'>): { field: 'bitmap' | 'rbdSnapshots' | 'hintsCommand'; message: string } | null {
  if (p.kind !== 'backup') return null;
  const kind = policySourceKind(p.source);
  if (p.bitmap !== undefined && !bitmapApplies(p.source)) return { field: 'bitmap', message: `a dirty bitmap needs a qcow2 or NBD source; ${kind === 'rbd' || kind === 'rbd-snapshot' ? 'for an RBD image let the policy manage snapshots (--rbd-snapshots)' : `"${p.source}" is neither`}` };
  if (p.rbdSnapshots) {
    if (kind === 'rbd-snapshot') return { field: 'rbdSnapshots', message: 'with RBD snapshots the source is the image (rbd:POOL/IMAGE, without @SNAP): the policy makes the snapshots' };
    if (kind !== 'rbd') return { field: 'rbdSnapshots', message: 'RBD snapshots need an RBD source (rbd:POOL/IMAGE)' };
    if (p.snapshot !== undefined) return { field: 'rbdSnapshots', message: 'with RBD snapshots each version\'s snapshot name is the RBD snapshot it was read from; drop the snapshot name' };
    if (p.bitmap !== undefined) return { field: 'rbdSnapshots', message: 'RBD images have no dirty bitmaps' };
  }
  if (p.hintsCommand !== undefined) {
    if (p.bitmap !== undefined || p.rbdSnapshots) return { field: 'hintsCommand', message: `a hints command and ${p.bitmap !== undefined ? 'a dirty bitmap' : 'RBD snapshots'} are two change sources; choose one` };
    if (p.incremental === false) return { field: 'hintsCommand', message: 'a hints command is for incremental runs; this policy always backs up in full' };
  }
  return null;
}

/** Whether any counting rule or tag rule is set. */
export function hasRules(retention: Retention): boolean {
  return RETENTION_RULES.some((rule) => (retention[rule] ?? 0) > 0) || (retention.keepTagged?.length ?? 0) > 0;
}

/** How a scheduler's mode reads in a sentence: "the daemon", "the desktop app", "web mode". */
export function schedulerName(mode: string): string {
  return mode === 'web' ? 'web mode' : mode === 'electron' ? 'desktop app' : mode;
}

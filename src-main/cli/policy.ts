// `blockvault policy add|edit|rm|ls|show` and `blockvault prune`: policies stored in the
// repository, and retention applied now (or previewed with --dry-run).
import type { Policy, PolicyInfo, PruneDecision, Retention } from '../../src-shared/api/policy';
import { describeSchedule, parseEvery } from '../../src-shared/api/schedule';
import type { PruneJobResult } from '../../src-shared/api/types';
import { EngineError } from '../services';
import { sourcePath } from './client';
import { UsageError, type Command, type CommandContext, type Values } from './commands';
import { table } from './format';

const KEEP_OPTIONS = {
  'keep-last': { type: 'string' },
  'keep-hourly': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  'keep-tagged': { type: 'string', multiple: true },
} as const;

const KEEP_FIELDS: Array<[keyof typeof KEEP_OPTIONS, Exclude<keyof Retention, 'keepTagged'>]> = [
  ['keep-last', 'keepLast'], ['keep-hourly', 'keepHourly'], ['keep-daily', 'keepDaily'], ['keep-weekly', 'keepWeekly'], ['keep-monthly', 'keepMonthly'], ['keep-yearly', 'keepYearly'],
];

function text(values: Values, key: string): string | undefined {
  return typeof values[key] === 'string' ? (values[key] as string) : undefined;
}

function count(values: Values, key: string, max = 100_000): number | undefined {
  const value = text(values, key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${key} must be a whole number from 0 to ${max}`);
  return n;
}

/** The keep rules given on the command line; undefined when none is. */
export function retentionFrom(values: Values): Retention | undefined {
  const retention: Retention = {};
  for (const [option, field] of KEEP_FIELDS) {
    const n = count(values, option);
    if (n !== undefined) retention[field] = n;
  }
  if (Array.isArray(values['keep-tagged'])) retention.keepTagged = values['keep-tagged'] as string[];
  return Object.keys(retention).length ? retention : undefined;
}

export function retentionText(retention: Retention | undefined): string {
  if (!retention) return '';
  const parts = KEEP_FIELDS.filter(([, field]) => retention[field] !== undefined).map(([option, field]) => `${option} ${retention[field]}`);
  if (retention.keepTagged?.length) parts.push(`keep-tagged ${retention.keepTagged.join(',')}`);
  return parts.join(', ');
}

/** Applies the command line's options to a policy (a new one, or a copy of the stored one). */
function applyOptions(policy: Policy, values: Values): Policy {
  const next: Policy = { ...policy };
  const source = text(values, 'source');
  if (source !== undefined) next.source = sourcePath(source);
  const cron = text(values, 'cron');
  const every = text(values, 'every');
  if (cron !== undefined && every !== undefined) throw new UsageError('give --cron or --every, not both');
  const zone = text(values, 'tz');
  if (cron !== undefined) next.schedule = { cron, ...(zone ?? next.schedule?.timeZone ? { timeZone: zone ?? next.schedule?.timeZone } : {}) };
  else if (every !== undefined) {
    const minutes = parseEvery(every);
    if (minutes === null) throw new UsageError(`--every takes a duration such as 30m, 6h or 1d, got "${every}"`);
    next.schedule = { everyMinutes: minutes, ...(zone ?? next.schedule?.timeZone ? { timeZone: zone ?? next.schedule?.timeZone } : {}) };
  } else if (zone !== undefined) {
    if (!next.schedule) throw new UsageError('--tz needs a schedule (--cron or --every)');
    next.schedule = { ...next.schedule, timeZone: zone };
  }
  if (values['no-schedule']) next.schedule = null;
  if (values.disable) next.enabled = false;
  if (values.enable) next.enabled = true;
  if (Array.isArray(values.tag)) next.tags = values.tag as string[];
  const snapshot = text(values, 'snapshot');
  if (snapshot !== undefined) next.snapshot = snapshot;
  if (values.full) next.incremental = false;
  if (values.incremental) next.incremental = true;
  const bitmap = text(values, 'bitmap');
  if (bitmap !== undefined) {
    if (bitmap === '') delete next.bitmap;
    else next.bitmap = bitmap;
  }
  if (values['rbd-snapshots'] && values['no-rbd-snapshots']) throw new UsageError('give --rbd-snapshots or --no-rbd-snapshots, not both');
  if (values['rbd-snapshots']) next.rbdSnapshots = true;
  if (values['no-rbd-snapshots']) delete next.rbdSnapshots;
  const hints = text(values, 'hints-command');
  if (hints !== undefined) {
    if (hints === '') delete next.hintsCommand;
    else next.hintsCommand = hints;
  }
  for (const key of ['pre', 'post'] as const) {
    const command = text(values, key);
    if (command !== undefined) {
      if (command === '') delete next[key];
      else next[key] = command;
    }
  }
  const retention = retentionFrom(values);
  if (retention) next.retention = { ...next.retention, ...retention };
  for (const [key, field] of [['on-failure', 'onFailure'], ['on-success', 'onSuccess']] as const) {
    const command = text(values, key);
    if (command === undefined) continue;
    const notify = { ...next.notify };
    if (command === '') delete notify[field];
    else notify[field] = command;
    next.notify = notify;
  }
  if (next.notify && Object.keys(next.notify).length === 0) delete next.notify;
  const percent = count(values, 'percent', 100);
  if (percent !== undefined) next.percent = percent;
  if (values.fast) next.mode = 'fast';
  if (values.deep) next.mode = 'deep';
  if (values['full-cleanup']) next.full = true;
  return next;
}

const POLICY_OPTIONS = {
  verify: { type: 'boolean' },
  cleanup: { type: 'boolean' },
  source: { type: 'string' },
  cron: { type: 'string' },
  every: { type: 'string' },
  tz: { type: 'string' },
  'no-schedule': { type: 'boolean' },
  enable: { type: 'boolean' },
  disable: { type: 'boolean' },
  tag: { type: 'string', short: 't', multiple: true },
  snapshot: { type: 'string', short: 's' },
  full: { type: 'boolean' },
  incremental: { type: 'boolean' },
  bitmap: { type: 'string' },
  'rbd-snapshots': { type: 'boolean' },
  'no-rbd-snapshots': { type: 'boolean' },
  'hints-command': { type: 'string' },
  pre: { type: 'string' },
  post: { type: 'string' },
  'on-failure': { type: 'string' },
  'on-success': { type: 'string' },
  percent: { type: 'string', short: 'p' },
  fast: { type: 'boolean' },
  deep: { type: 'boolean' },
  'full-cleanup': { type: 'boolean' },
  json: { type: 'boolean' },
  ...KEEP_OPTIONS,
} as const;

/** How a backup policy finds changes, for the listing: " (bitmap nightly)" ... */
function changeSourceText(p: Policy): string {
  if (p.bitmap) return ` (bitmap ${p.bitmap})`;
  if (p.rbdSnapshots) return ' (RBD snapshots)';
  if (p.hintsCommand) return ' (hints command)';
  return '';
}

function policyRows(ctx: CommandContext, policies: PolicyInfo[]): void {
  if (ctx.values.json) { ctx.out(JSON.stringify(policies, null, 2)); return; }
  if (policies.length === 0) { ctx.err('no policies'); return; }
  ctx.out(table(
    ['name', 'kind', 'enabled', 'schedule', 'next run', 'last run', 'what'],
    policies.map((p) => [
      p.name,
      p.kind,
      p.enabled ? 'yes' : 'no',
      p.schedule ? describeSchedule(p.schedule) : '-',
      p.nextRun ? p.nextRun.replace('T', ' ').slice(0, 16) : '-',
      p.run.lastState ? `${p.run.lastState}${p.run.lastEnded ? ` ${p.run.lastEnded.replace('T', ' ').slice(0, 16)}` : ''}` : '-',
      p.kind === 'backup' ? `${p.source}${changeSourceText(p)}${p.retention ? `; ${retentionText(p.retention)}` : ''}` : p.kind === 'verify' ? `${p.mode ?? 'deep'} scrub${p.percent ? ` of ${p.percent}%` : ''}` : p.full ? 'full cleanup' : 'fast cleanup',
    ]),
  ));
}

export const policyCommand: Command = {
  usage: 'policy ls [--json] | policy show NAME [--json] | policy rm NAME | policy add NAME (--source SRC | --verify | --cleanup) [--cron EXPR | --every 6h] [--tz ZONE] [-t TAG]... [--full] [--bitmap NAME | --rbd-snapshots | --hints-command CMD] [--pre CMD] [--post CMD] [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-tagged TAG]... [--on-failure CMD] [--on-success CMD] [-p PERCENT] [--fast] [--full-cleanup] [--disable] | policy edit NAME [the same options, --enable, --no-schedule, --no-rbd-snapshots; "" clears a command or the bitmap]',
  summary: 'policies stored in the repository: a disk\'s scheduled backups and retention, verify and cleanup schedules (run by "blockvault daemon")',
  options: POLICY_OPTIONS,
  args: [1, 2],
  async run(ctx) {
    const [action, name] = ctx.positionals;
    const api = await ctx.api();
    const needName = (): string => {
      if (!name) throw new UsageError(`policy ${action} needs the policy's NAME`);
      return name;
    };
    switch (action) {
      case 'ls':
      case 'list':
        policyRows(ctx, await api.listPolicies({}));
        return;
      case 'show': {
        const policy = (await api.listPolicies({})).find((p) => p.name === needName());
        if (!policy) throw new EngineError('NOT_FOUND', `no policy named "${name}"`);
        if (ctx.values.json) ctx.out(JSON.stringify(policy, null, 2));
        else policyRows(ctx, [policy]);
        return;
      }
      case 'rm':
      case 'remove':
        await api.removePolicy({ name: needName() });
        ctx.out(`removed policy ${name}`);
        return;
      case 'add': {
        if (ctx.values.verify && ctx.values.cleanup) throw new UsageError('a policy is --verify or --cleanup, not both');
        const kind = ctx.values.verify ? 'verify' : ctx.values.cleanup ? 'cleanup' : 'backup';
        const policy = applyOptions({ name: needName(), kind, enabled: true, schedule: null }, ctx.values);
        const saved = await api.savePolicy({ policy, create: true });
        ctx.out(`added ${saved.kind} policy ${saved.name}${saved.schedule ? `, ${describeSchedule(saved.schedule)}, next run ${saved.nextRun ?? '-'}` : ' (no schedule: runs only when started)'}`);
        return;
      }
      case 'edit': {
        const current = (await api.listPolicies({})).find((p) => p.name === needName());
        if (!current) throw new EngineError('NOT_FOUND', `no policy named "${name}"`);
        const { created: _created, updated: _updated, run: _run, nextRun: _next, ...stored } = current;
        const saved = await api.savePolicy({ policy: applyOptions(stored, ctx.values), create: false });
        ctx.out(`changed policy ${saved.name}${saved.nextRun ? `, next run ${saved.nextRun}` : ''}`);
        return;
      }
      default:
        throw new UsageError(`unknown policy action "${action}" (ls, show, add, edit, rm)`);
    }
  },
};

function decisionRows(ctx: CommandContext, decisions: PruneDecision[]): void {
  ctx.out(table(['date', 'uid', 'name', 'action', 'reason'], decisions.map((d) => [d.date.replace('T', ' ').slice(0, 19), d.uid, d.name, d.keep ? 'keep' : 'remove', d.reason.replace(/^(kept|removed): /, '')])));
}

export const pruneCommand: Command = {
  usage: 'prune [-n NAME] [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-tagged TAG]... [--tz ZONE] [--dry-run] [--json]',
  summary: 'remove the versions that retention rules do not keep (the rules given, else each disk\'s policy); prints keep or remove and why for every version',
  options: { name: { type: 'string', short: 'n' }, tz: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, ...KEEP_OPTIONS },
  args: [0, 0],
  async run(ctx) {
    const api = await ctx.api();
    const args = { name: text(ctx.values, 'name'), retention: retentionFrom(ctx.values), timeZone: text(ctx.values, 'tz') };
    if (ctx.values['dry-run']) {
      const plan = await api.previewPrune(args);
      if (ctx.values.json) ctx.out(JSON.stringify(plan, null, 2));
      else if (plan.decisions.length === 0) ctx.err('no versions');
      else {
        decisionRows(ctx, plan.decisions);
        ctx.err(`dry run: would remove ${plan.decisions.filter((d) => !d.keep).length} of ${plan.decisions.length} versions`);
      }
      return;
    }
    const job = await ctx.job('prune', () => api.startPrune(args));
    const result = (job.result as { value: PruneJobResult }).value;
    if (ctx.values.json) { ctx.out(JSON.stringify(result, null, 2)); return; }
    if (result.decisions.length) decisionRows(ctx, result.decisions);
    const failed = result.decisions.filter((d) => !d.keep && !result.removed.includes(d.uid));
    ctx.err(`removed ${result.removed.length} version(s), kept ${result.kept}; run "blockvault cleanup" to free their data`);
    if (failed.length) {
      ctx.err(`could not remove ${failed.length} version(s) (see "blockvault jobs"): ${failed.map((d) => d.uid).join(', ')}`);
      return 1;
    }
  },
};

// `blockvault daemon`: runs every policy of the repositories it is given, headless, until
// SIGTERM or SIGINT (running jobs get a few seconds to finish, then are canceled; it exits
// within 10 s). `blockvault status`: per disk the last backup, last verify, next run, and a
// monitoring check with Nagios exit codes (--check: 0 OK, 1 WARNING, 2 CRITICAL).
import { humanBytes } from '../../src-shared/api/format';
import { schedulerName, type RepositoryStatus } from '../../src-shared/api/policy';
import { createServices, validatedApi } from '../services';
import { absolute } from './client';
import { openCredentials } from './credentials';
import { UsageError, type Command } from './commands';
import { table } from './format';

/** How long running jobs may go on after SIGTERM before they are canceled. */
const FINISH_GRACE_MS = 6000;

export const daemonCommand: Command = {
  usage: 'daemon [REPO...]   (default: --repo or BLOCKVAULT_REPO)',
  summary: 'run the policies (scheduled backups with prune, verify, cleanup) of one or more repositories until SIGTERM',
  options: {},
  args: [0, Infinity],
  async run(ctx) {
    const given = ctx.positionals.length ? ctx.positionals : [(typeof ctx.values.repo === 'string' ? ctx.values.repo : undefined) ?? process.env.BLOCKVAULT_REPO].filter((p): p is string => Boolean(p));
    if (given.length === 0) throw new UsageError('no repository: name them, or pass --repo PATH or set BLOCKVAULT_REPO');
    const stamp = (line: string): void => ctx.err(`${new Date().toISOString()} ${line}`);
    const services = createServices({ mode: 'daemon', schedule: true, rememberRecent: false, note: stamp });
    const api = validatedApi(services.api);
    try {
      for (const path of given.map(absolute)) {
        const keyFile = typeof ctx.values['key-file'] === 'string' ? ctx.values['key-file'] : undefined;
        const passphraseFile = typeof ctx.values['passphrase-file'] === 'string' ? ctx.values['passphrase-file'] : undefined;
        try {
          await api.openRepository({ path });
        } catch (error) {
          if ((error as { code?: string }).code !== 'WRONG_KEY') throw error;
          await api.openRepository({ path, ...(await openCredentials({ keyFile, passphraseFile })) });
        }
        if (services.scheduler?.serves(path)) {
          const policies = await api.listPolicies({});
          stamp(`serving ${path}: ${policies.filter((p) => p.enabled && p.schedule).length} scheduled policies`);
        }
      }
      const served = given.map(absolute).filter((path) => services.scheduler?.serves(path));
      if (served.length === 0) throw new UsageError('every repository given is served by another scheduler; nothing to do');
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      stamp('stopping: no new runs; running jobs get a few seconds to finish');
      services.scheduler!.stop();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([services.scheduler!.idle(), new Promise<void>((resolve) => { timer = setTimeout(resolve, FINISH_GRACE_MS); })]);
      clearTimeout(timer);
    } finally {
      await services.close();
    }
    stamp('stopped');
    return 0;
  },
};

const LEVEL = ['OK', 'WARNING', 'CRITICAL'] as const;

function when(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').slice(0, 16) : '-';
}

function summaryLine(status: RepositoryStatus): string {
  const bad = status.disks.filter((d) => d.level > 0);
  const failed = [...status.verify, ...status.cleanup].filter((p) => p.run.lastState === 'failed');
  const details = [...bad.map((d) => `${d.name}: ${d.problems.join('; ')}`), ...failed.map((p) => `${p.kind} policy ${p.name}: ${p.run.lastError ?? 'failed'}`)];
  return `BLOCKVAULT ${LEVEL[status.level]} - ${status.disks.length} disk(s)${details.length ? `: ${details.join(' | ')}` : ', all backed up and verified'}`;
}

export const statusCommand: Command = {
  usage: 'status [--json] [--check]',
  summary: 'per disk: last backup and its outcome, last verify, next run (--check: one line and Nagios exit codes 0 OK, 1 WARNING, 2 CRITICAL)',
  options: { json: { type: 'boolean' }, check: { type: 'boolean' } },
  args: [0, 0],
  async run(ctx) {
    const status = await (await ctx.api()).getStatus({});
    if (ctx.values.json) ctx.out(JSON.stringify(status, null, 2));
    else if (ctx.values.check) ctx.out(summaryLine(status));
    else {
      if (status.disks.length) {
        ctx.out(table(
          ['disk', 'status', 'last backup', 'outcome', 'last verify', 'next run', 'versions', 'only it holds', 'problems'],
          status.disks.map((d) => [
            d.name,
            LEVEL[d.level],
            when(d.lastBackup?.date),
            d.lastBackupJob?.state ?? (d.lastBackup ? d.lastBackup.state : '-'),
            d.lastVerify ? `${when(d.lastVerify.date)} ${d.lastVerify.ok ? 'ok' : 'INVALID'}` : 'never',
            when(d.nextRun),
            String(d.versions),
            humanBytes(d.exclusiveBytes),
            d.problems.join('; '),
          ]),
        ));
      } else ctx.err('no disks: no versions and no backup policies');
      for (const p of [...status.verify, ...status.cleanup]) ctx.out(`${p.kind} policy ${p.name}: last ${p.run.lastState ?? 'never'} ${when(p.run.lastEnded)}, next ${when(p.nextRun)}`);
      ctx.out(`store: ${humanBytes(status.store.usedBytes)} used${status.store.freeBytes === null ? '' : `, ${humanBytes(status.store.freeBytes)} free`}`);
      ctx.out(status.scheduler ? `schedules served by ${status.scheduler.mode === 'web' ? '' : 'the '}${schedulerName(status.scheduler.mode)} (pid ${status.scheduler.pid} on ${status.scheduler.host} since ${when(status.scheduler.since)})` : 'schedules: no daemon or app serves this repository now');
    }
    return ctx.values.check ? status.level : 0;
  },
};

// backy2's commands: `initdb` (an alias that explains `init`), `auto-tags` (backy2's automatic
// tags, a repository setting) and `import-backy2` (migration of a backy2 or Benji
// installation with its data, a job of the services: see services/migrate.ts).
import type { MigrateJobResult } from '../../src-shared/api/types';
import { absolute } from './client';
import { COMMANDS, UsageError, type Command } from './commands';

export const initdbCommand: Command = {
  usage: 'initdb [PATH]   (backy2\'s name of "init"; PATH defaults to --repo or BLOCKVAULT_REPO)',
  summary: 'backy2\'s initdb: creates a repository like "init" (which takes the same options)',
  options: { 'block-size': { type: 'string' }, compression: { type: 'string' }, 'min-age-days': { type: 'string' }, 'grace-seconds': { type: 'string' }, encrypt: { type: 'boolean' } },
  args: [0, 1],
  async run(ctx) {
    const path = ctx.positionals[0] ?? (typeof ctx.values.repo === 'string' ? ctx.values.repo : undefined) ?? process.env.BLOCKVAULT_REPO;
    if (!path) throw new UsageError('initdb needs a path: initdb PATH, --repo PATH or BLOCKVAULT_REPO (Blockvault keeps metadata and data in one repository folder)');
    ctx.err('note: "initdb" is backy2\'s name; Blockvault\'s is "init PATH", which creates the metadata and the object store together.');
    return COMMANDS.init.run({ ...ctx, positionals: [path] });
  },
};

export const autoTagsCommand: Command = {
  usage: 'auto-tags [on|off]',
  summary: 'backy2\'s automatic tags b_daily, b_weekly, b_monthly for backups without -t (a repository setting; no argument shows it)',
  options: {},
  args: [0, 1],
  async run(ctx) {
    const value = ctx.positionals[0];
    if (value !== undefined && value !== 'on' && value !== 'off') throw new UsageError('auto-tags takes "on" or "off"');
    const api = await ctx.api();
    const info = value === undefined ? await api.getRepository({}) : await api.updateSettings({ backy2AutoTags: value === 'on' });
    ctx.out(`auto-tags ${info?.settings.backy2AutoTags ? 'on' : 'off'}`);
  },
};

/** The summary line of one migrated version. */
function outcomeLine(v: MigrateJobResult['versions'][number]): string {
  if (v.outcome === 'already-migrated') return `${v.uid} ${v.name}: already migrated (${v.status})`;
  const failed = v.problems.length + v.blocksFailedEarlier;
  return `${v.uid} ${v.name}: ${v.outcome}, ${v.status.toUpperCase()}: ${v.blocks} blocks, ${v.blocksNew} new, ${v.blocksDedup} deduplicated, ${v.blocksSparse} sparse${failed ? `, ${failed} FAILED` : ''}`;
}

export const importBacky2Command: Command = {
  usage: 'import-backy2 DUMP... --data PATH [--ls FILE] [--hash sha512] [--benji] [--json]',
  summary: 'migrate backy2 (or, with --benji, Benji) versions: reads their metadata dumps and data folder, checks every block against its checksum, stores it deduplicated; run again to resume',
  options: { data: { type: 'string' }, ls: { type: 'string' }, hash: { type: 'string' }, benji: { type: 'boolean' }, json: { type: 'boolean' } },
  args: [1, Infinity],
  async run(ctx) {
    const data = typeof ctx.values.data === 'string' ? ctx.values.data : undefined;
    if (!data) throw new UsageError('import-backy2 needs --data PATH: backy2\'s data folder ([DataBackend] path); the dumps hold only metadata');
    const tool = ctx.values.benji ? 'benji' : 'backy2';
    const listing = typeof ctx.values.ls === 'string' ? absolute(ctx.values.ls) : undefined;
    const hash = typeof ctx.values.hash === 'string' ? ctx.values.hash : undefined;
    const job = await ctx.job('migrate', (api) => api.startMigrate({ tool, dumps: ctx.positionals.map(absolute), data: absolute(data), listing, hash }));
    const result = (job.result as { value: MigrateJobResult }).value;
    if (ctx.values.json) ctx.out(JSON.stringify(result.versions, null, 2));
    let failed = 0;
    for (const v of result.versions) {
      if (!ctx.values.json) ctx.out(outcomeLine(v));
      for (const problem of v.problems.slice(0, 20)) ctx.err(`  block ${problem.idx}: ${problem.kind}: ${problem.detail}`);
      if (v.problems.length > 20) ctx.err(`  ... ${v.problems.length - 20} more`);
      if (v.problems.length + v.blocksFailedEarlier > 0) failed++;
    }
    ctx.err(`${result.versions.length} ${tool} version(s) migrated or checked${failed ? `; ${failed} with blocks that failed their checksum or are missing, marked invalid` : ''}${result.expiring ? `; ${result.expiring} had a backy2 expiry date, which Blockvault does not keep` : ''}`);
    return failed ? 20 : 0;
  },
};

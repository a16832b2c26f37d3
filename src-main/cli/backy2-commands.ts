// backy2's commands: `initdb` (an alias that explains `init`), `auto-tags` (backy2's automatic
// tags, a repository setting) and `import-backy2` (migration of a backy2 or Benji
// installation with its data, engine/migrate).
import { readFileSync } from 'node:fs';
import { humanBytes } from '../../src-shared/api/format';
import { AUTO_TAGS_SETTING } from '../engine/autotags';
import { EngineError } from '../engine/errors';
import { Backy2DataFolder, checkDataFolder, escapeField, parseBacky2Dump, parseBacky2Listing, type Backy2Version } from '../engine/migrate/backy2';
import { benjiDataFolder, parseBenjiExport } from '../engine/migrate/benji';
import { migrateVersions, type LegacyDataReader, type LegacyVersion } from '../engine/migrate/legacy';
import { COMMANDS, UsageError, type Command } from './commands';
import { ProgressBar } from './format';

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
    const repo = await ctx.repo();
    const value = ctx.positionals[0];
    if (value !== undefined) {
      if (value !== 'on' && value !== 'off') throw new UsageError('auto-tags takes "on" or "off"');
      repo.meta.setSetting(AUTO_TAGS_SETTING, value === 'on' ? '1' : '0');
    }
    ctx.out(`auto-tags ${repo.meta.getSetting(AUTO_TAGS_SETTING) === '1' ? 'on' : 'off'}`);
  },
};

function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new EngineError('NOT_FOUND', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** The summary line of one migrated version. */
function outcomeLine(v: { uid: string; name: string; outcome: string; status: string; blocks: number; blocksNew: number; blocksDedup: number; blocksSparse: number; problems: unknown[]; blocksFailedEarlier: number }): string {
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
    const benji = Boolean(ctx.values.benji);
    let versions: LegacyVersion[] = [];
    for (const file of ctx.positionals) versions.push(...(benji ? parseBenjiExport(readText(file), file) : parseBacky2Dump(readText(file), file)));
    if (typeof ctx.values.ls === 'string') {
      const tags = parseBacky2Listing(readText(ctx.values.ls));
      versions = versions.map((v) => ({ ...v, tags: (tags.get(v.uid) ?? v.tags).map(escapeField) }));
    }
    await checkDataFolder(data);
    const reader: LegacyDataReader = benji
      ? benjiDataFolder(data, typeof ctx.values.hash === 'string' ? ctx.values.hash : undefined)
      : new Backy2DataFolder(data, typeof ctx.values.hash === 'string' ? ctx.values.hash : 'sha512');
    const repo = await ctx.repo();
    const tool = benji ? 'benji' : 'backy2';
    const bar = new ProgressBar(process.stderr, 'migrate', { log: ctx.log });
    const expired = versions.filter((v) => (v as Backy2Version).expire).length;
    ctx.log?.(`import-backy2: ${versions.length} ${tool} version(s) from ${ctx.positionals.join(', ')}, data ${data}`);
    let results;
    try {
      results = await migrateVersions(repo, {
        versions, reader, tool, signal: ctx.signal,
        onVersion: (v, i, count) => {
          bar.title = `Migrate ${v.uid}`;
          ctx.log?.(`migrating ${tool} version ${v.uid} (${v.name}), ${i + 1} of ${count}`);
        },
        onProgress: (p) => bar.update(p),
      });
    } finally {
      bar.end();
    }
    if (ctx.values.json) ctx.out(JSON.stringify(results, null, 2));
    let failed = 0;
    for (const v of results) {
      if (!ctx.values.json) ctx.out(outcomeLine(v));
      for (const problem of v.problems.slice(0, 20)) ctx.err(`  block ${problem.idx}: ${problem.kind}: ${problem.detail}`);
      if (v.problems.length > 20) ctx.err(`  ... ${v.problems.length - 20} more`);
      if (v.problems.length + v.blocksFailedEarlier > 0) failed++;
    }
    const totalBytes = versions.reduce((sum, v) => sum + v.sizeBytes, 0);
    ctx.err(`${results.length} version(s), ${humanBytes(totalBytes)} from ${tool}${failed ? `; ${failed} with blocks that failed their checksum or are missing, marked invalid` : ''}${expired ? `; ${expired} had a backy2 expiry date, which Blockvault does not keep` : ''}`);
    return failed ? 20 : 0;
  },
};

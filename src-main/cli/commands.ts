// CLI commands: one entry per command with its options, usage text and body. Bodies call the
// engine and print; they throw EngineError for failures and UsageError for bad arguments.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { Progress } from '../../src-shared/model';
import { EngineError } from '../engine/errors';
import { exportMetadata, exportToFile, importMetadata } from '../engine/meta/export';
import { backup } from '../engine/pipeline/backup';
import { cleanup } from '../engine/pipeline/cleanup';
import { restore } from '../engine/pipeline/restore';
import { reportFromRow, scrub } from '../engine/pipeline/scrub';
import { parseSize, Repository } from '../engine/repository';
import { addTag, blockMap, diff, du, getVersion, listVersions, removeTag, removeVersion, setProtected, stats } from '../engine/versions';
import { newCredentials } from './credentials';
import { humanBytes, humanDuration, localTime } from '../../src-shared/api/format';
import { machineLines, ProgressBar, table } from './format';
import { jobsCommand } from './jobs';
import { serveCommand } from './serve';

export class UsageError extends Error {}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  values: Values;
  positionals: string[];
  out: (text: string) => void;
  err: (text: string) => void;
  repo: () => Promise<Repository>;
  signal: AbortSignal;
  debug: (text: string) => void;
}

export interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  args: [number, number];
  run(ctx: CommandContext): Promise<number | void> | number | void;
}

const json = { type: 'boolean' } as const;
const machine = { type: 'boolean', short: 'm' } as const;

function str(values: Values, key: string): string | undefined {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
}

function int(values: Values, key: string, min: number, max: number): number | undefined {
  const text = str(values, key);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${key} must be a whole number from ${min} to ${max}`);
  return value;
}

function progressReporter(label: string): { onProgress: (p: Progress) => void; bar: ProgressBar } {
  const bar = new ProgressBar(process.stderr, label);
  return { onProgress: (p) => { bar.update(p); }, bar };
}

function versionRows(ctx: CommandContext, versions: ReturnType<typeof listVersions>): void {
  const values = ctx.values;
  if (values.json) {
    ctx.out(JSON.stringify(versions, null, 2));
  } else if (values.machine) {
    const rows = versions.map((v) => [v.date, v.name, v.snapshot, v.blocks, v.size, v.uid, v.valid ? 1 : 0, v.protected ? 1 : 0, v.tags.join(','), v.blockSize]);
    if (rows.length) ctx.out(machineLines(rows));
  } else if (versions.length === 0) {
    ctx.err('no versions');
  } else {
    ctx.out(table(
      ['date', 'uid', 'name', 'snapshot', 'size', 'block size', 'valid', 'protected', 'tags'],
      versions.map((v) => [localTime(v.date), v.uid, v.name, v.snapshot, humanBytes(v.size), humanBytes(v.blockSize), v.status === 'valid' ? 'yes' : v.status, v.protected ? 'yes' : 'no', v.tags.join(',')]),
    ));
  }
}

export const COMMANDS: Record<string, Command> = {
  init: {
    usage: 'init PATH [--block-size 4M] [--compression zstd:1|zstd:N|none] [--min-age-days 6] [--grace-seconds 3600] [--encrypt [--passphrase-file F | --key-file F]]',
    summary: 'create a repository in a new or empty directory (--encrypt: AES-256-GCM, passphrase from BLOCKVAULT_PASSPHRASE, a file or a prompt)',
    options: { 'block-size': { type: 'string' }, compression: { type: 'string' }, 'min-age-days': { type: 'string' }, 'grace-seconds': { type: 'string' }, encrypt: { type: 'boolean' } },
    args: [1, 1],
    async run(ctx) {
      const blockSize = str(ctx.values, 'block-size');
      const repo = Repository.init(ctx.positionals[0], {
        blockSize: blockSize === undefined ? undefined : parseSize(blockSize),
        compression: str(ctx.values, 'compression'),
        minAgeDays: int(ctx.values, 'min-age-days', 0, 36500),
        cleanupGraceSeconds: int(ctx.values, 'grace-seconds', 0, 365 * 86400),
        encryption: ctx.values.encrypt
          ? await newCredentials({ keyFile: str(ctx.values, 'key-file'), passphraseFile: str(ctx.values, 'passphrase-file'), env: 'BLOCKVAULT_PASSPHRASE' })
          : undefined,
      });
      ctx.out(`created repository ${repo.path} (block size ${humanBytes(repo.blockSize)}, compression ${repo.settings.compression}, hash ${repo.settings.hash}${repo.settings.encrypted ? ', encrypted with AES-256-GCM' : ''})`);
      if (repo.settings.encrypted) ctx.err('Keep the passphrase or key file safe: without it the backups cannot be read by anyone, including you.');
      repo.close();
    },
  },
  backup: {
    usage: 'backup SOURCE NAME [-s SNAPSHOT] [-t TAG]... [--from UID] [--hints FILE]',
    summary: 'back up a file or block device; prints the new version UID last',
    options: { snapshot: { type: 'string', short: 's' }, tag: { type: 'string', short: 't', multiple: true }, from: { type: 'string', short: 'f' }, hints: { type: 'string', short: 'r' }, json },
    args: [2, 2],
    async run(ctx) {
      const { onProgress, bar } = progressReporter('backup');
      const repo = (await ctx.repo());
      try {
        const result = await backup(repo, {
          source: ctx.positionals[0], name: ctx.positionals[1], snapshot: str(ctx.values, 'snapshot'), tags: ctx.values.tag as string[] | undefined,
          from: str(ctx.values, 'from'), hints: str(ctx.values, 'hints'), signal: ctx.signal, onProgress,
        });
        bar.end();
        const s = result.stats;
        const seconds = s.durationMs / 1000;
        ctx.err(`backed up ${humanBytes(s.sizeBytes)} in ${humanDuration(seconds)} (${humanBytes(seconds > 0 ? s.sizeBytes / seconds : 0)}/s): ${s.blocksWritten} new, ${s.blocksDedup} deduplicated, ${s.blocksSparse} sparse, ${s.blocksFromBase} from base; stored ${humanBytes(s.bytesStored)}`);
        if (ctx.values.json) ctx.out(JSON.stringify(result, null, 2));
        ctx.out(result.uid);
      } finally {
        bar.end();
      }
    },
  },
  ls: {
    usage: 'ls [-n NAME] [-s SNAPSHOT] [-t TAG] [-m | --json]',
    summary: 'list versions',
    options: { name: { type: 'string', short: 'n' }, snapshot: { type: 'string', short: 's' }, tag: { type: 'string', short: 't' }, machine, json },
    args: [0, 1],
    async run(ctx) {
      const name = str(ctx.values, 'name') ?? ctx.positionals[0];
      versionRows(ctx, listVersions((await ctx.repo()), { name, snapshot: str(ctx.values, 'snapshot'), tag: str(ctx.values, 'tag') }));
    },
  },
  show: {
    usage: 'show UID [--json]',
    summary: 'show one version',
    options: { json, machine },
    args: [1, 1],
    async run(ctx) {
      versionRows(ctx, [getVersion((await ctx.repo()), ctx.positionals[0])]);
    },
  },
  restore: {
    usage: 'restore UID TARGET [--force] [--sparse]',
    summary: 'restore a version to a new file, or to an existing file or device with --force',
    options: { force: { type: 'boolean', short: 'f' }, sparse: { type: 'boolean', short: 's' }, json },
    args: [2, 2],
    async run(ctx) {
      const { onProgress, bar } = progressReporter('restore');
      try {
        const result = await restore((await ctx.repo()), { uid: ctx.positionals[0], target: ctx.positionals[1], force: Boolean(ctx.values.force), sparse: Boolean(ctx.values.sparse), signal: ctx.signal, onProgress });
        bar.end();
        if (ctx.values.json) ctx.out(JSON.stringify(result, null, 2));
        else ctx.out(`restored ${result.uid} to ${result.target}: ${humanBytes(result.bytes)}, ${result.blocksVerified} blocks verified, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
      } finally {
        bar.end();
      }
    },
  },
  scrub: {
    usage: 'scrub UID... | --all [--deep] [-p PERCENT] [-s SOURCE] [--json]',
    summary: 'check stored objects (fast: exist with the right size; --deep: read and hash); exit 20 if anything is invalid',
    options: { all: { type: 'boolean' }, deep: { type: 'boolean' }, percent: { type: 'string', short: 'p' }, source: { type: 'string', short: 's' }, json },
    args: [0, Infinity],
    async run(ctx) {
      const repo = (await ctx.repo());
      const uids = ctx.values.all ? listVersions(repo).filter((v) => v.status !== 'incomplete').map((v) => v.uid) : ctx.positionals;
      if (uids.length === 0) {
        if (ctx.values.all) { ctx.err('no versions to scrub'); return 0; }
        throw new UsageError('name the versions to scrub, or --all');
      }
      const source = str(ctx.values, 'source');
      const { onProgress, bar } = progressReporter('scrub');
      let reports;
      try {
        reports = await scrub(repo, { uids, mode: source ? 'source' : ctx.values.deep ? 'deep' : 'fast', percent: int(ctx.values, 'percent', 1, 100), source, signal: ctx.signal, onProgress });
      } finally {
        bar.end();
      }
      if (ctx.values.json) ctx.out(JSON.stringify(reports, null, 2));
      let bad = false;
      for (const report of reports) {
        const failed = report.problems.length > 0;
        bad ||= failed;
        if (!ctx.values.json) {
          ctx.out(`${report.uid}: ${failed ? 'INVALID' : 'ok'} (${report.mode}, ${report.percent}%): ${report.blocksChecked} blocks checked, ${report.blocksOk} ok, ${report.blocksInvalid} invalid, ${report.blocksMissing} missing${report.mode === 'source' ? `, ${report.blocksMismatch} differ from source` : ''}${report.revalidated ? '; version is valid again' : ''}`);
          for (const problem of report.problems.slice(0, 20)) ctx.out(`  block ${problem.idx} (offset ${problem.offset}) object ${problem.object ?? '-'}: ${problem.kind}: ${problem.detail}`);
          if (report.problems.length > 20) ctx.out(`  ... ${report.problems.length - 20} more, see scrub-report ${report.uid}`);
          if (report.invalidatedVersions.length) ctx.out(`  marked invalid: ${report.invalidatedVersions.join(', ')}`);
        }
      }
      return bad ? 20 : 0;
    },
  },
  'scrub-report': {
    usage: 'scrub-report UID [--all] [--json]',
    summary: 'show the latest scrub report of a version (--all: every scrub)',
    options: { all: { type: 'boolean' }, json },
    args: [1, 1],
    async run(ctx) {
      const repo = (await ctx.repo());
      const uid = ctx.positionals[0];
      repo.meta.requireVersion(uid);
      const rows = repo.meta.scrubs(uid);
      if (rows.length === 0) throw new EngineError('NOT_FOUND', `version ${uid} has never been scrubbed`);
      const reports = (ctx.values.all ? rows : rows.slice(0, 1)).map(reportFromRow);
      if (ctx.values.json) { ctx.out(JSON.stringify(ctx.values.all ? reports : reports[0], null, 2)); return; }
      for (const r of reports) {
        ctx.out(`scrub of ${r.uid} on ${localTime(r.date)} (${r.mode}, ${r.percent}%, ${humanDuration(r.durationMs / 1000)}): ${r.problems.length ? 'INVALID' : 'ok'}`);
        ctx.out(`  blocks: ${r.blocksTotal} total, ${r.blocksChecked} checked, ${r.blocksOk} ok, ${r.blocksInvalid} invalid, ${r.blocksMissing} missing, ${r.blocksMismatch} differ from source`);
        for (const p of r.problems) ctx.out(`  block ${p.idx} (offset ${p.offset}) object ${p.object ?? '-'}: ${p.kind}: ${p.detail}`);
        if (r.invalidatedVersions.length) ctx.out(`  versions marked invalid: ${r.invalidatedVersions.join(', ')}`);
        if (r.revalidated) ctx.out('  the version was marked valid again');
      }
    },
  },
  rm: {
    usage: 'rm UID... [--force]',
    summary: 'remove versions (protected ones never; younger than the minimum age only with --force)',
    options: { force: { type: 'boolean', short: 'f' } },
    args: [1, Infinity],
    async run(ctx) {
      const repo = (await ctx.repo());
      for (const uid of ctx.positionals) {
        removeVersion(repo, uid, Boolean(ctx.values.force));
        ctx.out(`removed ${uid}; run "blockvault cleanup" to free its data`);
      }
    },
  },
  protect: { usage: 'protect UID...', summary: 'protect versions from rm', options: {}, args: [1, Infinity], async run(ctx) { for (const uid of ctx.positionals) setProtected((await ctx.repo()), uid, true); } },
  unprotect: { usage: 'unprotect UID...', summary: 'allow rm again', options: {}, args: [1, Infinity], async run(ctx) { for (const uid of ctx.positionals) setProtected((await ctx.repo()), uid, false); } },
  tag: { usage: 'tag UID TAG...', summary: 'add tags to a version', options: {}, args: [2, Infinity], async run(ctx) { for (const tag of ctx.positionals.slice(1)) addTag((await ctx.repo()), ctx.positionals[0], tag); } },
  untag: { usage: 'untag UID TAG...', summary: 'remove tags from a version', options: {}, args: [2, Infinity], async run(ctx) { for (const tag of ctx.positionals.slice(1)) removeTag((await ctx.repo()), ctx.positionals[0], tag); } },
  cleanup: {
    usage: 'cleanup [--full] [--grace-seconds N] [--json]',
    summary: 'delete objects no version references (fast: unreferenced longer than the grace period; --full: mark and sweep under an exclusive lock)',
    options: { full: { type: 'boolean' }, 'grace-seconds': { type: 'string' }, json },
    args: [0, 0],
    async run(ctx) {
      const result = await cleanup((await ctx.repo()), { full: Boolean(ctx.values.full), graceSeconds: int(ctx.values, 'grace-seconds', 0, 365 * 86400), signal: ctx.signal });
      if (ctx.values.json) { ctx.out(JSON.stringify(result, null, 2)); return; }
      ctx.out(`deleted ${result.objectsDeleted} objects, freed ${humanBytes(result.bytesFreed)}${result.temporaryFilesDeleted ? `, ${result.temporaryFilesDeleted} temporary files` : ''}`);
      if (result.incompleteVersionsRemoved.length) ctx.out(`removed incomplete versions of interrupted backups: ${result.incompleteVersionsRemoved.join(', ')}`);
      if (result.objectsWaiting) ctx.out(`${result.objectsWaiting} unreferenced objects (${humanBytes(result.bytesWaiting)}) are still inside the grace period`);
    },
  },
  export: {
    usage: 'export UID... -f FILE   (FILE "-" is stdout)',
    summary: 'export versions\' metadata as checksummed JSON Lines',
    options: { file: { type: 'string', short: 'f' } },
    args: [1, Infinity],
    async run(ctx) {
      const file = str(ctx.values, 'file');
      if (!file) throw new UsageError('export needs -f FILE (or -f - for stdout)');
      if (file === '-') process.stdout.write(exportMetadata((await ctx.repo()), ctx.positionals));
      else {
        await exportToFile((await ctx.repo()), ctx.positionals, file).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') throw new EngineError('TARGET_EXISTS', `${file} exists; choose a new file`);
          throw error;
        });
        ctx.err(`exported ${ctx.positionals.length} version(s) to ${file}`);
      }
    },
  },
  import: {
    usage: 'import -f FILE   (FILE "-" is stdin)',
    summary: 'import versions\' metadata from an export',
    options: { file: { type: 'string', short: 'f' } },
    args: [0, 0],
    async run(ctx) {
      const file = str(ctx.values, 'file');
      if (!file) throw new UsageError('import needs -f FILE (or -f - for stdin)');
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (error) {
        throw new EngineError('NOT_FOUND', `cannot read ${file}: ${(error as Error).message}`);
      }
      const result = await importMetadata((await ctx.repo()), text);
      for (const uid of result.versions) ctx.out(uid);
      if (result.incompleteData.length) ctx.err(`warning: objects are missing from the store for ${result.incompleteData.join(', ')}; imported as invalid`);
    },
  },
  du: {
    usage: 'du [UID] [--json]',
    summary: 'space a version (or the repository) uses, shares and would free',
    options: { json, machine },
    args: [0, 1],
    async run(ctx) {
      const report = du((await ctx.repo()), ctx.positionals[0]);
      if (ctx.values.json) { ctx.out(JSON.stringify(report, null, 2)); return; }
      if (ctx.values.machine) { ctx.out(machineLines([[report.sizeBytes, report.referencedBytes, report.sparseBytes, report.sharedBytes, report.exclusiveBytes, report.reclaimableBytes, report.storedBytes]])); return; }
      ctx.out(table(['size', 'referenced', 'sparse', 'shared', 'only this', 'freed by rm+cleanup', 'stored'], [[
        report.sizeBytes, report.referencedBytes, report.sparseBytes, report.sharedBytes, report.exclusiveBytes, report.reclaimableBytes, report.storedBytes,
      ].map(humanBytes)]));
    },
  },
  diff: {
    usage: 'diff UID1 UID2 [--json]',
    summary: 'block ranges that differ between two versions',
    options: { json },
    args: [2, 2],
    async run(ctx) {
      const ranges = diff((await ctx.repo()), ctx.positionals[0], ctx.positionals[1]);
      if (ctx.values.json) { ctx.out(JSON.stringify(ranges, null, 2)); return; }
      if (ranges.length === 0) ctx.out('SAME');
      for (const r of ranges) ctx.out(`${r.kind.toUpperCase()} blocks ${r.first}-${r.last} (offset ${r.offset}, length ${r.length})`);
    },
  },
  'block-map': {
    usage: 'block-map UID [--json]',
    summary: 'state of every block: . sparse, N new, d deduplicated, b from base, X invalid',
    options: { json },
    args: [1, 1],
    async run(ctx) {
      const map = blockMap((await ctx.repo()), ctx.positionals[0]);
      if (ctx.values.json) { ctx.out(JSON.stringify(map)); return; }
      const chars = '.NdbX';
      const text = map.states.map((s) => chars[s]).join('');
      for (let i = 0; i < text.length; i += 64) ctx.out(text.slice(i, i + 64));
    },
  },
  stats: {
    usage: 'stats [UID] [-l N] [-m | --json]',
    summary: 'statistics of backups',
    options: { limit: { type: 'string', short: 'l' }, machine, json },
    args: [0, 1],
    async run(ctx) {
      const rows = stats((await ctx.repo()), ctx.positionals[0], int(ctx.values, 'limit', 1, 1_000_000));
      if (ctx.values.json) { ctx.out(JSON.stringify(rows, null, 2)); return; }
      const cells = rows.map((s) => [s.date, s.uid, s.name, s.sizeBytes, s.sizeBlocks, s.bytesRead, s.blocksRead, s.bytesWritten, s.blocksWritten, s.bytesDedup, s.blocksDedup, s.bytesSparse, s.blocksSparse, (s.durationMs / 1000).toFixed(1)]);
      if (ctx.values.machine) { if (cells.length) ctx.out(machineLines(cells)); return; }
      ctx.out(table(
        ['date', 'uid', 'name', 'size bytes', 'size blocks', 'bytes read', 'blocks read', 'bytes written', 'blocks written', 'bytes dedup', 'blocks dedup', 'bytes sparse', 'blocks sparse', 'seconds'],
        cells.map((row) => row.map(String)),
      ));
    },
  },
  key: {
    usage: 'key list | key add [--new-passphrase-file F | --new-key-file F [--generate]] | key remove ID | key change-passphrase [ID] [--new-passphrase-file F]',
    summary: 'manage the keys of an encrypted repository (data is never re-encrypted)',
    options: { 'new-passphrase-file': { type: 'string' }, 'new-key-file': { type: 'string' }, generate: { type: 'boolean' }, json },
    args: [1, 2],
    async run(ctx) {
      const [action, id] = ctx.positionals;
      const repo = await ctx.repo();
      const fresh = async (): Promise<Parameters<typeof repo.addKey>[0]> => {
        const keyFile = str(ctx.values, 'new-key-file');
        if (keyFile && ctx.values.generate) {
          try {
            writeFileSync(keyFile, randomBytes(64), { flag: 'wx', mode: 0o600 });
          } catch (error) {
            throw new EngineError((error as NodeJS.ErrnoException).code === 'EEXIST' ? 'TARGET_EXISTS' : 'IO_ERROR', `cannot create key file ${keyFile}: ${(error as Error).message}`);
          }
          ctx.err(`generated key file ${keyFile}; keep it safe`);
        }
        return newCredentials({ keyFile, passphraseFile: str(ctx.values, 'new-passphrase-file'), env: 'BLOCKVAULT_NEW_PASSPHRASE' });
      };
      switch (action) {
        case 'list': {
          const keys = repo.listKeys();
          if (!repo.settings.encrypted) throw new EngineError('INVALID_ARGUMENT', 'this repository is not encrypted');
          if (ctx.values.json) ctx.out(JSON.stringify(keys, null, 2));
          else ctx.out(table(['id', 'kind', 'created', 'in use'], keys.map((k) => [k.id, k.kind, k.created, k.current ? 'yes' : ''])));
          return;
        }
        case 'add': {
          const key = repo.addKey(await fresh());
          ctx.out(`added ${key.kind} key ${key.id}`);
          return;
        }
        case 'remove':
          if (!id) throw new UsageError('key remove needs the key ID (see "key list")');
          repo.removeKey(id);
          ctx.out(`removed key ${id}`);
          return;
        case 'change-passphrase': {
          const credentials = await newCredentials({ passphraseFile: str(ctx.values, 'new-passphrase-file'), env: 'BLOCKVAULT_NEW_PASSPHRASE' });
          const key = repo.changePassphrase(credentials.passphrase!, id);
          ctx.out(`changed the passphrase of key ${key.id}`);
          return;
        }
        default:
          throw new UsageError(`unknown key action "${action}"`);
      }
    },
  },
  serve: serveCommand,
  jobs: jobsCommand,
};

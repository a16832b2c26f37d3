// CLI commands: one entry per command with its options, usage text and body. Bodies call the
// services through the validated contract (ctx.api) and run long work as jobs (ctx.job), then
// print; they throw coded errors (EngineError) for failures and UsageError for bad arguments.
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ParseArgsConfig } from 'node:util';
import type { Api } from '../../src-shared/api/contract';
import type { Job, ScrubJobResult } from '../../src-shared/api/types';
import type { BackupResult, CleanupResult, RestoreResult, Version } from '../../src-shared/model';
import { EngineError, type Services } from '../services';
import { absolute, sourcePath, STREAM } from './client';
import { newCredentials } from './credentials';
import { humanBytes, humanDuration, localTime, parseSize } from '../../src-shared/api/format';
import { machineLines, table } from './format';
import { statsLine, versionLine } from './backy2';
import { autoTagsCommand, importBacky2Command, initdbCommand } from './backy2-commands';
import { daemonCommand, statusCommand } from './daemon';
import { jobsCommand } from './jobs';
import { recoverCommand, restoreWithoutDatabaseCommand } from './recover';
import { policyCommand, pruneCommand } from './policy';
import { serveCommand } from './serve';
import { serveNbdCommand } from './serve-nbd';
import { repositoryPath, s3Connection } from './s3';
import { copyCommand } from './copy';

export class UsageError extends Error {}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  values: Values;
  positionals: string[];
  out: (text: string) => void;
  err: (text: string) => void;
  /** the services' API with the repository open (validated calls) */
  api: () => Promise<Api>;
  /** the services' API before any repository is open (init) */
  bareApi: () => Api;
  /** starts a job and follows it: progress bar labelled `label`, Ctrl-C cancels it */
  job: (label: string, start: (api: Api) => Promise<Job>) => Promise<Job>;
  /** the services behind `api` (for commands that serve the open repository, like serve-nbd) */
  services: () => Promise<Services>;
  signal: AbortSignal;
  debug: (text: string) => void;
  /** a line for the log file only (--log-file) */
  log?: (text: string) => void;
}

export interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  args: [number, number];
  /** an interrupt only aborts ctx.signal and the command ends in its own time (serve-nbd --save-as saves first); a second one quits at once */
  finishesAfterInterrupt?: boolean;
  run(ctx: CommandContext): Promise<number | void> | number | void;
}

/** Exit code of a command that did its work but warns (main.ts EXIT.warning): a backup's source changed while it was read. */
const EXIT_WARNING = 3;

const json = { type: 'boolean' } as const;
const machine = { type: 'boolean', short: 'm' } as const;

/** `qcow2:RELATIVE` made absolute as the contract wants; other locations pass as given. */
function vmLocation(location: string): string {
  return location.startsWith('qcow2:') ? `qcow2:${absolute(location.slice('qcow2:'.length))}` : location;
}

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

/** The value of a succeeded job's result. */
function resultOf<T>(job: Job): T {
  return (job.result as unknown as { value: T }).value;
}

function versionRows(ctx: CommandContext, versions: Version[]): void {
  const values = ctx.values;
  if (values.json) {
    ctx.out(JSON.stringify(versions, null, 2));
  } else if (values.machine) {
    if (versions.length) ctx.out(versions.map(versionLine).join('\n'));
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
    usage: 'init PATH|s3://BUCKET/PREFIX [--endpoint URL] [--region R] [--path-style] [--block-size 4M] [--compression zstd:1|zstd:N|none] [--min-age-days 6] [--grace-seconds 3600] [--encrypt [--passphrase-file F | --key-file F]]',
    summary: 'create a repository in a new or empty directory (--encrypt: AES-256-GCM, passphrase from BLOCKVAULT_PASSPHRASE, a file or a prompt)',
    options: { 'block-size': { type: 'string' }, compression: { type: 'string' }, 'min-age-days': { type: 'string' }, 'grace-seconds': { type: 'string' }, encrypt: { type: 'boolean' } },
    args: [1, 1],
    async run(ctx) {
      const blockSize = str(ctx.values, 'block-size');
      const size = blockSize === undefined ? undefined : parseSize(blockSize);
      if (size === null) throw new EngineError('INVALID_ARGUMENT', `not a size: "${blockSize}" (use e.g. 4M, 64K, 4194304)`);
      const repo = await ctx.bareApi().createRepository({
        path: repositoryPath(ctx.positionals[0]),
        s3: s3Connection(ctx.values),
        blockSize: size,
        compression: str(ctx.values, 'compression'),
        minAgeDays: int(ctx.values, 'min-age-days', 0, 36500),
        cleanupGraceSeconds: int(ctx.values, 'grace-seconds', 0, 365 * 86400),
        ...(ctx.values.encrypt
          ? { encrypt: true, ...(await newCredentials({ keyFile: str(ctx.values, 'key-file'), passphraseFile: str(ctx.values, 'passphrase-file'), env: 'BLOCKVAULT_PASSPHRASE' })) }
          : {}),
      });
      ctx.out(`created repository ${repo.path} (block size ${humanBytes(repo.settings.blockSize)}, compression ${repo.settings.compression}, hash ${repo.settings.hash}${repo.settings.encrypted ? ', encrypted with AES-256-GCM' : ''})`);
      if (repo.settings.encrypted) ctx.err('Keep the passphrase or key file safe: without it the backups cannot be read by anyone, including you.');
    },
  },
  backup: {
    usage: 'backup SOURCE NAME [-s SNAPSHOT] [-t TAG[,TAG]]... [-f|--from UID] [-r|--hints FILE | --bitmap NAME [--rotate-bitmap] | --from-snap SNAP] [--raw] [--strict] [--pre CMD] [--post CMD]   (SOURCE: a path, file://PATH, "-" for stdin, qcow2:PATH, nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER])',
    summary: 'back up a file, block device, FIFO ("-": stdin), qcow2 guest disk, NBD export or RBD image; prints the new version UID last',
    options: {
      snapshot: { type: 'string', short: 's' }, tag: { type: 'string', short: 't', multiple: true }, from: { type: 'string', short: 'f' }, hints: { type: 'string', short: 'r' }, json,
      bitmap: { type: 'string' }, 'from-snap': { type: 'string' }, 'rotate-bitmap': { type: 'boolean' }, raw: { type: 'boolean' }, pre: { type: 'string' }, post: { type: 'string' },
      strict: { type: 'boolean' },
    },
    args: [2, 2],
    async run(ctx) {
      const hints = str(ctx.values, 'hints');
      {
        const job = await ctx.job('backup', (api) => api.startBackup({
          uid: randomUUID(), source: vmLocation(sourcePath(ctx.positionals[0])), name: ctx.positionals[1], snapshot: str(ctx.values, 'snapshot'), tags: ctx.values.tag as string[] | undefined,
          from: str(ctx.values, 'from'), hints: hints === undefined ? undefined : absolute(hints),
          bitmap: str(ctx.values, 'bitmap'), fromSnap: str(ctx.values, 'from-snap'), rotateBitmap: ctx.values['rotate-bitmap'] === true ? true : undefined, raw: ctx.values.raw === true ? true : undefined,
          pre: str(ctx.values, 'pre'), post: str(ctx.values, 'post'), strict: ctx.values.strict === true ? true : undefined,
        }));
        const result = resultOf<BackupResult>(job);
        const s = result.stats;
        const seconds = s.durationMs / 1000;
        ctx.err(`backed up ${humanBytes(s.sizeBytes)} in ${humanDuration(seconds)} (${humanBytes(seconds > 0 ? s.sizeBytes / seconds : 0)}/s): ${s.blocksWritten} new, ${s.blocksDedup} deduplicated, ${s.blocksSparse} sparse, ${s.blocksFromBase} from base; stored ${humanBytes(s.bytesStored)}`);
        // a source that changed while it was read: the version is kept, the exit code says so
        const changed = (result.sourceCheck?.changed.length ?? 0) > 0;
        for (const line of job.logs) if (line.level === 'warn') ctx.err(`warning: ${line.message}`);
        if (ctx.values.json) ctx.out(JSON.stringify(result, null, 2));
        ctx.out(result.uid);
        if (changed) return EXIT_WARNING;
      }
    },
  },
  ls: {
    usage: 'ls [NAME | -n NAME] [-s SNAPSHOT] [-t TAG] [-m | --json]   (-m: backy2\'s version|DATE|NAME|SNAPSHOT|BLOCKS|BYTES|UID|VALID|PROTECTED|TAGS lines)',
    summary: 'list versions',
    options: { name: { type: 'string', short: 'n' }, snapshot: { type: 'string', short: 's' }, tag: { type: 'string', short: 't' }, machine, json },
    args: [0, 1],
    async run(ctx) {
      const name = str(ctx.values, 'name') ?? ctx.positionals[0];
      versionRows(ctx, await (await ctx.api()).listVersions({ name, snapshot: str(ctx.values, 'snapshot'), tag: str(ctx.values, 'tag') }));
    },
  },
  show: {
    usage: 'show UID [--json]',
    summary: 'show one version',
    options: { json, machine },
    args: [1, 1],
    async run(ctx) {
      versionRows(ctx, [(await (await ctx.api()).getVersionDetail({ uid: ctx.positionals[0] })).version]);
    },
  },
  restore: {
    usage: 'restore UID TARGET [--force] [--sparse] [--without-database]   (TARGET: a path, "-" for stdout, qcow2:PATH (a new qcow2), nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH (a writable export), rbd:POOL/IMAGE[?conf=PATH&id=USER] (a new RBD image))',
    summary: 'restore a version to a new file ("-": stdout), a new qcow2 or RBD image, a writable NBD export, or an existing file, device or image with --force (--without-database: from its manifest in the store alone)',
    options: { force: { type: 'boolean', short: 'f' }, sparse: { type: 'boolean', short: 's' }, 'without-database': { type: 'boolean' }, json },
    args: [2, 2],
    async run(ctx) {
      const target = ctx.positionals[1] === STREAM ? STREAM : vmLocation(sourcePath(ctx.positionals[1]));
      const force = Boolean(ctx.values.force);
      if (ctx.values['without-database']) return restoreWithoutDatabaseCommand(ctx, target, force);
      {
        // --force is the command line's confirmation of overwriting the target.
        const result = resultOf<RestoreResult>(await ctx.job('restore', (api) => api.startRestore({ uid: ctx.positionals[0], target, force, sparse: Boolean(ctx.values.sparse), ...(force ? { confirm: basename(target) } : {}) })));
        // Restoring to "-" streams the image to stdout: everything else goes to stderr.
        const say = target === STREAM ? ctx.err : ctx.out;
        if (ctx.values.json) say(JSON.stringify(result, null, 2));
        else say(`restored ${result.uid} to ${result.target}: ${humanBytes(result.bytes)}, ${result.blocksVerified} blocks verified, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
      }
    },
  },
  scrub: {
    usage: 'scrub UID... | --all [--deep] [-p PERCENT] [-s SOURCE] [--json]',
    summary: 'check stored objects (fast: exist with the right size; --deep: read and hash); exit 20 if anything is invalid. backy2\'s scrub reads the data: that is scrub --deep here',
    options: { all: { type: 'boolean' }, deep: { type: 'boolean' }, percent: { type: 'string', short: 'p' }, source: { type: 'string', short: 's' }, json },
    args: [0, Infinity],
    async run(ctx) {
      const api = await ctx.api();
      const uids = ctx.values.all ? (await api.listVersions({})).filter((v) => v.status !== 'incomplete').map((v) => v.uid) : ctx.positionals;
      if (uids.length === 0) {
        if (ctx.values.all) { ctx.err('no versions to scrub'); return 0; }
        throw new UsageError('name the versions to scrub, or --all');
      }
      const source = str(ctx.values, 'source');
      const percent = int(ctx.values, 'percent', 1, 100);
      const job = await ctx.job('scrub', () => api.startScrub({ uids, mode: source ? 'source' : ctx.values.deep ? 'deep' : 'fast', percent, source: source === undefined ? undefined : sourcePath(source) }));
      // The job's result summarizes; the full reports (every problem) are the newest of each version.
      const reports = await Promise.all(uids.map(async (uid) => (await api.listScrubReports({ uid }))[0]));
      // Each report carries the retries of the scrub job that wrote them (one count for the job).
      const retries = resultOf<ScrubJobResult>(job).retries;
      if (ctx.values.json) ctx.out(JSON.stringify(reports.map((report) => ({ ...report, retries })), null, 2));
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
      const uid = ctx.positionals[0];
      const rows = await (await ctx.api()).listScrubReports({ uid });
      if (rows.length === 0) throw new EngineError('NOT_FOUND', `version ${uid} has never been scrubbed`);
      const reports = ctx.values.all ? rows : rows.slice(0, 1);
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
      const { removed } = await (await ctx.api()).removeVersions({ uids: ctx.positionals, force: Boolean(ctx.values.force) });
      for (const uid of removed) {
        ctx.out(`removed ${uid}; run "blockvault cleanup" to free its data`);
      }
    },
  },
  protect: { usage: 'protect UID...', summary: 'protect versions from rm', options: {}, args: [1, Infinity], async run(ctx) { await (await ctx.api()).setProtected({ uids: ctx.positionals, value: true }); } },
  unprotect: { usage: 'unprotect UID...', summary: 'allow rm again', options: {}, args: [1, Infinity], async run(ctx) { await (await ctx.api()).setProtected({ uids: ctx.positionals, value: false }); } },
  tag: { usage: 'tag UID TAG...', summary: 'add tags to a version', options: {}, args: [2, Infinity], async run(ctx) { for (const tag of ctx.positionals.slice(1)) await (await ctx.api()).addTag({ uids: [ctx.positionals[0]], tag }); } },
  untag: { usage: 'untag UID TAG...', summary: 'remove tags from a version', options: {}, args: [2, Infinity], async run(ctx) {
    for (const tag of ctx.positionals.slice(1)) {
      const changed = await (await ctx.api()).removeTag({ uids: [ctx.positionals[0]], tag });
      if (changed.length === 0) throw new EngineError('NOT_FOUND', `version ${ctx.positionals[0]} has no tag "${tag}"`);
    }
  } },
  cleanup: {
    usage: 'cleanup [--full | -f] [--grace-seconds N | --dangerous-force] [--json]',
    summary: 'delete objects no version references (fast: unreferenced longer than the grace period; --full: mark and sweep under an exclusive lock)',
    options: { full: { type: 'boolean' }, 'grace-seconds': { type: 'string' }, json },
    args: [0, 0],
    async run(ctx) {
      const graceSeconds = int(ctx.values, 'grace-seconds', 0, 365 * 86400);
      const result = resultOf<CleanupResult>(await ctx.job('cleanup', (api) => api.startCleanup({ full: Boolean(ctx.values.full), graceSeconds })));
      if (ctx.values.json) { ctx.out(JSON.stringify(result, null, 2)); return; }
      ctx.out(`deleted ${result.objectsDeleted} objects, freed ${humanBytes(result.bytesFreed)}${result.temporaryFilesDeleted ? `, ${result.temporaryFilesDeleted} temporary files` : ''}`);
      if (result.incompleteVersionsRemoved.length) ctx.out(`removed incomplete versions of interrupted backups: ${result.incompleteVersionsRemoved.join(', ')}`);
      if (result.objectsWaiting) ctx.out(`${result.objectsWaiting} unreferenced objects (${humanBytes(result.bytesWaiting)}) are still inside the grace period`);
    },
  },
  export: {
    usage: 'export UID... -f FILE | export UID FILE   (FILE "-" is stdout)',
    summary: 'export versions\' metadata as checksummed JSON Lines (not backy2\'s CSV dumps: those go to import-backy2)',
    options: { file: { type: 'string', short: 'f' } },
    args: [1, Infinity],
    async run(ctx) {
      const file = str(ctx.values, 'file');
      if (!file) throw new UsageError('export needs -f FILE (or -f - for stdout)');
      if (file === '-') {
        // The export job writes a file; stdout gets it from a private temporary folder.
        const dir = mkdtempSync(join(tmpdir(), 'blockvault-export-'));
        try {
          await ctx.job('export', (api) => api.startExport({ uids: ctx.positionals, file: join(dir, 'export.jsonl') }));
          await pipeline(createReadStream(join(dir, 'export.jsonl')), process.stdout, { end: false });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } else {
        await ctx.job('export', (api) => api.startExport({ uids: ctx.positionals, file: absolute(file) }));
        ctx.err(`exported ${ctx.positionals.length} version(s) to ${file}`);
      }
    },
  },
  import: {
    usage: 'import -f FILE | import FILE   (FILE "-" is stdin)',
    summary: 'import versions\' metadata from a Blockvault export (backy2\'s CSV dumps: import-backy2)',
    options: { file: { type: 'string', short: 'f' } },
    args: [0, 0],
    async run(ctx) {
      const file = str(ctx.values, 'file');
      if (!file) throw new UsageError('import needs -f FILE (or -f - for stdin)');
      let dir: string | undefined;
      let path = absolute(file);
      if (file === '-') {
        // The import job reads a file; stdin goes to a private temporary folder first.
        dir = mkdtempSync(join(tmpdir(), 'blockvault-import-'));
        path = join(dir, 'import.jsonl');
        writeFileSync(path, readFileSync(0), { mode: 0o600 });
      }
      let result: { versions: string[]; incompleteData: string[] };
      try {
        result = resultOf(await ctx.job('import', (api) => api.startImport({ file: path })));
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
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
      const report = await (await ctx.api()).getDu({ uid: ctx.positionals[0] });
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
      const ranges = await (await ctx.api()).diffVersions({ left: ctx.positionals[0], right: ctx.positionals[1] });
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
      const map = await (await ctx.api()).getBlockMap({ uid: ctx.positionals[0] });
      if (ctx.values.json) { ctx.out(JSON.stringify(map)); return; }
      const chars = '.NdbX';
      const text = map.states.map((s) => chars[s]).join('');
      for (let i = 0; i < text.length; i += 64) ctx.out(text.slice(i, i + 64));
    },
  },
  stats: {
    usage: 'stats [UID] [-l N] [-m | --json]   (-m: backy2\'s statistics|... lines)',
    summary: 'statistics of backups',
    options: { limit: { type: 'string', short: 'l' }, machine, json },
    args: [0, 1],
    async run(ctx) {
      const rows = await (await ctx.api()).listStats({ uid: ctx.positionals[0], limit: int(ctx.values, 'limit', 1, 100_000) });
      if (ctx.values.json) { ctx.out(JSON.stringify(rows, null, 2)); return; }
      const cells = rows.map((s) => [s.date, s.uid, s.name, s.sizeBytes, s.sizeBlocks, s.bytesRead, s.blocksRead, s.bytesWritten, s.blocksWritten, s.bytesDedup, s.blocksDedup, s.bytesSparse, s.blocksSparse, (s.durationMs / 1000).toFixed(1)]);
      if (ctx.values.machine) { if (rows.length) ctx.out(rows.map(statsLine).join('\n')); return; }
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
      const api = await ctx.api();
      if ((action === 'add' || action === 'change-passphrase') && !(await api.getRepository({}))?.settings.encrypted) {
        throw new EngineError('INVALID_ARGUMENT', 'this repository is not encrypted: it has no keys (encryption is chosen at "init --encrypt")');
      }
      const fresh = async (): Promise<{ passphrase?: string; keyFile?: string }> => {
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
          const keys = await api.listKeys({});
          if (ctx.values.json) ctx.out(JSON.stringify(keys, null, 2));
          else ctx.out(table(['id', 'kind', 'created', 'in use'], keys.map((k) => [k.id, k.kind, k.created, k.current ? 'yes' : ''])));
          return;
        }
        case 'add': {
          const key = await api.addKey(await fresh());
          ctx.out(`added ${key.kind} key ${key.id}`);
          return;
        }
        case 'remove':
          if (!id) throw new UsageError('key remove needs the key ID (see "key list")');
          await api.removeKey({ id });
          ctx.out(`removed key ${id}`);
          return;
        case 'change-passphrase': {
          const credentials = await newCredentials({ passphraseFile: str(ctx.values, 'new-passphrase-file'), env: 'BLOCKVAULT_NEW_PASSPHRASE' });
          const key = await api.changePassphrase({ passphrase: credentials.passphrase!, id });
          ctx.out(`changed the passphrase of key ${key.id}`);
          return;
        }
        default:
          throw new UsageError(`unknown key action "${action}"`);
      }
    },
  },
  serve: serveCommand,
  recover: recoverCommand,
  'serve-nbd': serveNbdCommand,
  jobs: jobsCommand,
  initdb: initdbCommand,
  'auto-tags': autoTagsCommand,
  'import-backy2': importBacky2Command,
  copy: copyCommand,
  policy: policyCommand,
  prune: pruneCommand,
  status: statusCommand,
  daemon: daemonCommand,
};

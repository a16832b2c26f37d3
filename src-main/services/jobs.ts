// Job services: each start* method checks its arguments against the repository and the
// file system at once (so a wrong target fails the call, not a job later), then submits a
// job that runs the engine with the job's AbortSignal and progress listener.
import { statSync, readFileSync } from 'node:fs';
import { STREAM_LOCATION as STREAM } from '../engine/io/index';
import { basename } from 'node:path';
import type { Api, BackupArgs } from '../../src-shared/api/contract';
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import type { CleanupEstimate, Job } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import { exportToFile, importMetadata } from '../engine/meta/export';
import { ObjectState, VersionState } from '../engine/meta/schema';
import { runHook } from '../engine/io/hooks';
import { backup } from '../engine/pipeline/backup';
import { sourceChangedWarning } from '../engine/pipeline/backup-checks';
import type { HintExtent } from '../engine/pipeline/hints';
import { cleanup } from '../engine/pipeline/cleanup';
import { restore } from '../engine/pipeline/restore';
import { scrub } from '../engine/pipeline/scrub';
import { describeRetryCounts, emptyRetryCounts, type RetryCounts } from '../engine/store/retry';
import type { ServiceContext } from './context';
import { scrubSummary } from './repository';
import { inspectPath } from './system';

type JobApi = Pick<Api, 'startBackup' | 'startRestore' | 'startScrub' | 'estimateCleanup' | 'startCleanup' | 'startExport' | 'startImport' | 'listJobs' | 'getJob' | 'cancelJob'>;

/** An import reads the whole export into memory; exports of huge repositories are split. */
const MAX_IMPORT_BYTES = 2 * 1024 ** 3;

/** nbd://, nbd+unix://, qcow2:, rbd: locations (engine/io/schemes.ts) */
function isVmLocation(location: string): boolean {
  return /^(nbd:\/\/|nbd\+unix:\/\/|qcow2:|rbd:)/.test(location);
}

/** the local file behind a VM location (a qcow2's path), if any */
function vmPath(location: string): string | null {
  return location.startsWith('qcow2:') ? location.slice('qcow2:'.length) : null;
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

type Log = (message: string, level?: 'info' | 'warn' | 'error') => void;

/**
 * Runs a pipeline counting the store requests it retries; the counts go to the job log (also
 * when it fails) and, with its result, to the job's result and --json output.
 */
async function withRetries<T extends object>(log: Log, body: (retries: RetryCounts) => Promise<T>): Promise<T & { retries: RetryCounts }> {
  const retries = emptyRetryCounts();
  try {
    return { ...(await body(retries)), retries };
  } finally {
    if (retries.retries || retries.exhausted) log(`store requests: ${describeRetryCounts(retries)}`, 'warn');
  }
}

/** What a policy's `before` hook decides inside the job: the change source of this run. */
export interface BackupChanges {
  /** RBD: the base's snapshot, when it still exists */
  fromSnap?: string;
  /** the changes since the base, from the policy's hints command */
  hints?: HintExtent[];
}

/** Hooks of a policy's backup: commands before and after, inside the job. */
export interface BackupHooks {
  before?: (log: Log, signal: AbortSignal) => Promise<BackupChanges | void>;
  after?: (log: Log, signal: AbortSignal, uid: string) => Promise<void>;
  /** after a failed or canceled backup (undoes what `before` made, such as a snapshot) */
  failed?: (log: Log) => Promise<void>;
  /** params recorded with the job besides the backup's own (the policy's name) */
  params?: Record<string, string>;
}

/**
 * Checks a backup's arguments and submits its job (startBackup, and the scheduler's runs).
 * With a `before` hook (a policy's pre command may create the source, e.g. a snapshot) the
 * checks run inside the job after it, so a failure is in the job history too.
 */
export function submitBackup(ctx: ServiceContext, { source, name, snapshot, tags, from, hints, uid, bitmap, fromSnap, rotateBitmap, raw, pre, post, strict }: BackupArgs, hooks: BackupHooks = {}): Job {
  if ((pre || post) && ctx.options.mode !== 'cli' && ctx.options.mode !== 'daemon') throw new EngineError('INVALID_ARGUMENT', 'pre and post commands are given on the command line or in a policy, not from the GUI');
  const repo = ctx.requireRepo();
  const stream = source === STREAM;
  // VM disk locations (nbd://, qcow2:, rbd:) are checked by the engine when it opens them.
  const vm = isVmLocation(source);
  // --pre/--post (command line) run as a policy's hooks do: inside the job, post also after a failure
  const before = pre ? (log: (message: string) => void, signal: AbortSignal) => runHook('pre', pre, log, signal) : hooks.before;
  const check = (): { kind: string; size: number } => {
    if (stream && ctx.options.mode !== 'cli') throw new EngineError('INVALID_ARGUMENT', 'stdin ("-") is a source only on the command line');
    const info = stream || vm ? { kind: 'stream', size: 0 } : inspectPath(source);
    if (info.kind === 'missing') throw new EngineError('NOT_FOUND', `source ${source} does not exist`);
    if (info.kind !== 'file' && info.kind !== 'device' && !stream && !vm && !isFifo(source)) throw new EngineError('INVALID_ARGUMENT', `source ${source} is a ${info.kind}, not a file, block device or FIFO`);
    if (!stream) ctx.checkOutsideRepository(vm ? vmPath(source) ?? '/' : source, 'source');
    if ((bitmap || fromSnap) && !from && !rotateBitmap) throw new EngineError('INVALID_ARGUMENT', `--${bitmap ? 'bitmap' : 'from-snap'} needs a base version (--from UID)${bitmap ? ' (or --rotate-bitmap on a first full backup)' : ''}`);
    if (from) {
      const base = repo.meta.requireVersion(from);
      if (base.state !== VersionState.valid) throw new EngineError('INVALID_ARGUMENT', `base version ${from} is not valid; back up without a base or scrub it first`);
    }
    if (hints !== undefined) {
      if (inspectPath(hints).kind !== 'file') throw new EngineError('BAD_HINTS', `hints file ${hints} does not exist`);
    }
    return info;
  };
  let info = before ? null : check();
  const changed = (uids: string[]): void => ctx.events.emit('versionsChanged', { reason: 'backup', uids });
  return ctx.jobs.submit({
    kind: 'backup',
    title: `Back up ${source} as ${name}${snapshot ? ` (${snapshot})` : ''}`,
    params: {
      source, name, snapshot: snapshot ?? null, tags: tags ?? [], from: from ?? null, hints: hints ?? null, uid: uid ?? null,
      ...(bitmap ? { bitmap } : {}), ...(fromSnap ? { fromSnap } : {}), ...(rotateBitmap ? { rotateBitmap: true } : {}), ...(raw ? { raw: true } : {}), ...(pre ? { pre } : {}), ...(post ? { post } : {}), ...(strict ? { strict: true } : {}),
      ...hooks.params,
    },
    run: async ({ signal, onProgress, log }) => {
      let postRan = false;
      const runPost = async (): Promise<void> => {
        postRan = true;
        if (post) await runHook('post', post, log);
      };
      try {
        let changes: BackupChanges = {};
        if (before) {
          changes = (await before(log, signal)) ?? {};
          info = check();
        }
        const snap = changes.fromSnap ?? fromSnap;
        const given = changes.hints ?? hints;
        log(`source ${source}: ${info!.kind === 'file' || info!.kind === 'device' ? humanBytes(info!.size) : vm ? 'a VM disk' : 'a stream, sized as it is read'}${from ? `, incremental from ${from}${changes.hints ? ` with ${changes.hints.length} hinted extent(s)` : hints ? ` with hints ${hints}` : bitmap ? ` with dirty bitmap ${bitmap}` : snap ? ` with rbd diff from snapshot ${snap}` : ''}` : hints ? `, hints ${hints} mark the blocks holding data` : ''}`);
        const result = await withRetries(log, (retries) => backup(repo, { uid, source, name, snapshot, tags, from, hints: given, bitmap, fromSnap: snap, rotateBitmap, raw, strict, signal, onProgress, retries }));
        const s = result.stats;
        log(`version ${result.uid}: ${s.blocksWritten} new, ${s.blocksDedup} deduplicated, ${s.blocksSparse} sparse, ${s.blocksFromBase} from base; stored ${humanBytes(s.bytesStored)} in ${humanDuration(s.durationMs / 1000)}`);
        const sourceCheck = result.sourceCheck;
        if (sourceCheck?.skipped) log(`source not read again at the end: ${sourceCheck.skipped}`);
        else if (sourceCheck && sourceCheck.changed.length > 0) log(sourceChangedWarning(source, sourceCheck, repo.blockSize), 'warn');
        else if (sourceCheck) log(`source unchanged: ${sourceCheck.sampled} blocks read again at the end match what was stored`);
        if (rotateBitmap) log(`bitmap ${bitmap} started afresh: the next incremental reads what is written from now on`);
        changed([result.uid]);
        await hooks.after?.(log, signal, result.uid);
        // a failed post hook fails the job, but the version stays: it is complete and valid
        await runPost();
        return { kind: 'backup', value: result };
      } catch (error) {
        // the post hook undoes what the pre hook set up (a snapshot, a freeze) whatever happened
        if (!postRan) await runPost().catch((hookError: Error) => log(`post hook after the failed backup: ${hookError.message}`));
        await hooks.failed?.(log).catch((hookError: Error) => log(`after the failed backup: ${hookError.message}`, 'warn'));
        changed([]);
        throw error;
      }
    },
  });
}

export function jobServices(ctx: ServiceContext): JobApi {
  const changed = (reason: string, uids: string[]): void => ctx.events.emit('versionsChanged', { reason, uids });

  return {
    async startBackup(args) {
      return submitBackup(ctx, args);
    },

    async startRestore({ uid, target, force, sparse, confirm }) {
      const repo = ctx.requireRepo();
      const version = repo.meta.requireVersion(uid);
      if (version.state === VersionState.incomplete) throw new EngineError('INVALID_ARGUMENT', `version ${uid} is incomplete (its backup did not finish) and cannot be restored`);
      if (target === STREAM) {
        if (ctx.options.mode !== 'cli') throw new EngineError('INVALID_ARGUMENT', 'stdout ("-") is a target only on the command line');
        return ctx.jobs.submit({
          kind: 'restore',
          title: `Restore ${version.name} ${uid.slice(0, 8)} to stdout`,
          params: { uid, target, force: false, sparse: false, targetKind: 'stream' },
          run: async ({ signal, onProgress, log }) => {
            const result = await withRetries(log, (retries) => restore(repo, { uid, target, signal, onProgress, retries }));
            log(`streamed ${humanBytes(result.bytes)} to stdout: ${result.blocksVerified} data blocks verified against their digests, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
            return { kind: 'restore', value: result };
          },
        });
      }
      if (isVmLocation(target)) {
        const path = vmPath(target);
        if (path) ctx.checkOutsideRepository(path, 'target');
        if (force && path && confirm !== basename(path) && confirm !== path) throw new EngineError('INVALID_ARGUMENT', `to overwrite ${path}, type its name "${basename(path)}" to confirm`);
        return ctx.jobs.submit({
          kind: 'restore',
          title: `Restore ${version.name} ${uid.slice(0, 8)} to ${target}`,
          params: { uid, target, force: Boolean(force), sparse: false, targetKind: 'vm disk' },
          run: async ({ signal, onProgress, log }) => {
            const result = await withRetries(log, (retries) => restore(repo, { uid, target, force, signal, onProgress, retries }));
            log(`restored ${humanBytes(result.bytes)} to ${target}: ${result.blocksVerified} data blocks verified against their digests, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
            return { kind: 'restore', value: result };
          },
        });
      }
      ctx.checkOutsideRepository(target, 'target');
      const info = inspectPath(target);
      if (info.kind === 'directory' || info.kind === 'other') throw new EngineError('INVALID_ARGUMENT', `target ${target} is a ${info.kind}; choose a file or block device`);
      if (info.kind === 'missing') {
        if (!info.parentExists) throw new EngineError('NOT_FOUND', `cannot create target ${target}: its directory does not exist`);
      } else {
        if (!force) throw new EngineError('TARGET_EXISTS', `target ${target} exists; overwriting it must be confirmed`);
        if (confirm !== basename(target) && confirm !== target) {
          throw new EngineError('INVALID_ARGUMENT', `to overwrite ${target}, type its name "${basename(target)}" to confirm`);
        }
        if (info.size < version.size) throw new EngineError('TARGET_TOO_SMALL', `target ${target} has ${info.size} bytes, version ${uid} needs ${version.size}`);
      }
      return ctx.jobs.submit({
        kind: 'restore',
        title: `Restore ${version.name} ${uid.slice(0, 8)} to ${target}`,
        params: { uid, target, force: Boolean(force), sparse: Boolean(sparse), targetKind: info.kind === 'missing' ? 'new file' : info.kind },
        run: async ({ signal, onProgress, log }) => {
          log(`${humanBytes(version.size)} to ${info.kind === 'missing' ? 'a new sparse file' : `the existing ${info.kind}`} ${target}`);
          const result = await withRetries(log, (retries) => restore(repo, { uid, target, force, sparse, signal, onProgress, retries }));
          log(`restored ${humanBytes(result.bytes)}: ${result.blocksVerified} of ${result.blocksVerified} data blocks verified against their digests, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
          return { kind: 'restore', value: result };
        },
      });
    },

    async startScrub({ uids, mode, percent, source }) {
      const repo = ctx.requireRepo();
      for (const uid of uids) {
        if (repo.meta.requireVersion(uid).state === VersionState.incomplete) throw new EngineError('INVALID_ARGUMENT', `version ${uid} is incomplete and cannot be scrubbed`);
      }
      if (mode === 'source') {
        if (!source) throw new EngineError('INVALID_ARGUMENT', 'a scrub against the source needs the source path');
        if (uids.length !== 1) throw new EngineError('INVALID_ARGUMENT', 'a scrub against the source checks exactly one version');
        const info = inspectPath(source);
        if (info.kind !== 'file' && info.kind !== 'device') throw new EngineError('NOT_FOUND', `source ${source} is not a file or block device`);
      } else if (source !== undefined) {
        throw new EngineError('INVALID_ARGUMENT', 'a source path is only used by a scrub against the source');
      }
      return ctx.jobs.submit({
        kind: 'scrub',
        title: `Scrub ${uids.length === 1 ? uids[0].slice(0, 8) : `${uids.length} versions`} (${mode}${percent && percent < 100 ? `, ${percent}%` : ''})`,
        params: { uids, mode, percent: percent ?? 100, source: source ?? null },
        run: async ({ signal, onProgress, log }) => {
          try {
            const { reports, retries } = await withRetries(log, async (counts) => ({ reports: await scrub(repo, { uids, mode, percent, source, signal, onProgress, retries: counts }) }));
            const invalidated = [...new Set(reports.flatMap((r) => r.invalidatedVersions))];
            for (const report of reports) {
              const bad = report.problems.length;
              log(`${report.uid}: ${bad ? 'INVALID' : 'ok'}: ${report.blocksChecked} blocks checked, ${report.blocksOk} ok, ${report.blocksInvalid} invalid, ${report.blocksMissing} missing${report.mode === 'source' ? `, ${report.blocksMismatch} differ from the source` : ''}${report.revalidated ? '; valid again' : ''}`, bad ? 'warn' : 'info');
            }
            if (invalidated.length) log(`marked invalid: ${invalidated.join(', ')}`, 'warn');
            return { kind: 'scrub', value: { reports: reports.map(scrubSummary), invalidatedVersions: invalidated, retries } };
          } finally {
            changed('scrub', uids);
          }
        },
      });
    },

    async estimateCleanup() {
      const repo = ctx.requireRepo();
      const meta = repo.meta;
      const grace = repo.settings.cleanupGraceSeconds;
      const cutoff = Date.now() - grace * 1000;
      const unreferenced = 'NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = o.id)';
      const past = meta.sql(`SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS bytes FROM objects o WHERE o.last_used < ? AND ${unreferenced}`).get(cutoff) as { n: number; bytes: number };
      const waiting = meta.sql(`SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS bytes FROM objects o WHERE o.state != ${ObjectState.deleting} AND o.last_used >= ? AND ${unreferenced}`).get(cutoff) as { n: number; bytes: number };
      const incomplete = (meta.sql(`SELECT count(*) AS n FROM versions WHERE state = ${VersionState.incomplete}`).get() as { n: number }).n;
      const estimate: CleanupEstimate = { objects: past.n, bytes: past.bytes, waitingObjects: waiting.n, waitingBytes: waiting.bytes, graceSeconds: grace, incompleteVersions: incomplete };
      return estimate;
    },

    async startCleanup({ full, graceSeconds }) {
      const repo = ctx.requireRepo();
      return ctx.jobs.submit({
        kind: 'cleanup',
        title: full ? 'Full cleanup (mark and sweep)' : 'Cleanup',
        params: { full: Boolean(full), graceSeconds: graceSeconds ?? null },
        exclusive: Boolean(full),
        run: async ({ signal, onProgress, log }) => {
          try {
            const result = await withRetries(log, (retries) => cleanup(repo, { full, graceSeconds, signal, onProgress, retries }));
            log(`deleted ${result.objectsDeleted} objects, freed ${humanBytes(result.bytesFreed)}${result.temporaryFilesDeleted ? `, ${result.temporaryFilesDeleted} temporary files` : ''}`);
            if (result.incompleteVersionsRemoved.length) log(`removed incomplete versions of interrupted backups: ${result.incompleteVersionsRemoved.join(', ')}`);
            if (result.objectsWaiting) log(`${result.objectsWaiting} unreferenced objects (${humanBytes(result.bytesWaiting)}) are still inside the grace period`);
            return { kind: 'cleanup', value: result };
          } finally {
            changed('cleanup', []);
          }
        },
      });
    },

    async startExport({ uids, file }) {
      const repo = ctx.requireRepo();
      for (const uid of uids) repo.meta.requireVersion(uid);
      const info = inspectPath(file);
      if (info.kind !== 'missing') throw new EngineError('TARGET_EXISTS', `${file} exists; choose a new file`);
      if (!info.parentExists) throw new EngineError('NOT_FOUND', `cannot create ${file}: its directory does not exist`);
      return ctx.jobs.submit({
        kind: 'export',
        title: `Export ${uids.length} version(s) to ${file}`,
        params: { uids, file },
        run: async ({ log }) => {
          await exportToFile(repo, uids, file);
          log(`wrote ${humanBytes(statSync(file).size)} to ${file}`);
          return { kind: 'export', value: { file, versions: uids } };
        },
      });
    },

    async startImport({ file }) {
      const repo = ctx.requireRepo();
      const info = inspectPath(file);
      if (info.kind !== 'file') throw new EngineError('NOT_FOUND', `${file} is not a file`);
      if (info.size > MAX_IMPORT_BYTES) throw new EngineError('INVALID_ARGUMENT', `${file} is larger than ${humanBytes(MAX_IMPORT_BYTES)}`);
      return ctx.jobs.submit({
        kind: 'import',
        title: `Import ${file}`,
        params: { file },
        run: async ({ log }) => {
          const result = await importMetadata(repo, readFileSync(file, 'utf8'));
          log(`imported ${result.versions.length} version(s)`);
          if (result.incompleteData.length) log(`objects are missing for ${result.incompleteData.join(', ')}; imported as invalid`, 'warn');
          changed('import', result.versions);
          return { kind: 'import', value: result };
        },
      });
    },

    async listJobs({ limit }) {
      return ctx.jobs.list(limit);
    },
    async getJob({ id }) {
      return ctx.jobs.get(id);
    },
    async cancelJob({ id }) {
      return ctx.jobs.cancel(id);
    },
  };
}

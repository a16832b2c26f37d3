// Repository services: open, create, close, recent list, summary and settings.
import { readFileSync } from 'node:fs';
import type { Api, S3ConnectionArgs } from '../../src-shared/api/contract';
import type { RepositoryInfo, RepositorySummary, S3ConnectionTest, ScrubSummary, StoreLocation } from '../../src-shared/api/types';
import type { ScrubReport } from '../../src-shared/model';
import type { Credentials } from '../engine/codec/keys';
import { EngineError } from '../engine/errors';
import type { ScrubRow, VersionRow } from '../engine/meta/database';
import { ObjectState, VersionState } from '../engine/meta/schema';
import { reportFromRow } from '../engine/pipeline/scrub';
import { Repository } from '../engine/repository';
import { isS3Location, parseLocation, s3OptionsFromEnvironment, s3Spec } from '../engine/store/location';
import { describeFailure, probeS3 } from '../engine/store/probe';
import type { S3Spec } from '../engine/store/s3';
import { resolveS3Credentials } from '../engine/store/s3-credentials';
import type { ServiceContext } from './context';

type RepositoryApi = Pick<Api, 'getRepository' | 'listOpenRepositories' | 'openRepository' | 'createRepository' | 'closeRepository' | 'testS3Connection' | 'listRecentRepositories' | 'forgetRecentRepository' | 'getSummary' | 'updateSettings' | 'listKeys' | 'addKey' | 'removeKey' | 'changePassphrase'>;

const SCRUB_STALE_DAYS = 30;

export function repositoryInfo(repo: Repository, maxConcurrentJobs: number): RepositoryInfo {
  return { path: repo.path, store: storeLocation(repo), settings: { ...repo.settings }, maxConcurrentJobs };
}

/** The store's kind and where it is, from its spec (whose credentials stay behind). */
export function storeLocation(repo: Repository): StoreLocation {
  const spec = repo.store.spec();
  if (spec.kind !== 's3') return { kind: 'folder', path: repo.path };
  return { kind: 's3', endpoint: spec.endpoint ?? null, bucket: spec.bucket, prefix: spec.prefix.replace(/^\/+|\/+$/g, ''), region: spec.region, pathStyle: spec.pathStyle, metadataFile: repo.meta.db.name };
}

/** Stored (compressed) bytes of every object the store holds, referenced or not. */
export function storedBytes(repo: Repository): number {
  return (repo.meta.sql(`SELECT coalesce(sum(stored_size), 0) AS stored FROM objects WHERE state != ${ObjectState.deleting}`).get() as { stored: number }).stored;
}

/** "disk 1a2b3c4d, web 5e6f7a8b and 3 more" */
function nameVersions(versions: VersionRow[]): string {
  const shown = versions.slice(0, 5).map((v) => `${v.name}${v.snapshot ? ` (${v.snapshot})` : ''} ${v.uid.slice(0, 8)}`);
  return versions.length > 5 ? `${shown.join(', ')} and ${versions.length - 5} more` : shown.join(', ');
}

const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function scrubSummary(report: ScrubReport): ScrubSummary {
  return {
    id: report.id,
    uid: report.uid,
    date: report.date,
    mode: report.mode,
    percent: report.percent,
    ok: report.problems.length === 0,
    blocksChecked: report.blocksChecked,
    blocksInvalid: report.blocksInvalid,
    blocksMissing: report.blocksMissing,
    blocksMismatch: report.blocksMismatch,
  };
}

export function summarize(repo: Repository): RepositorySummary {
  const meta = repo.meta;
  const versions = meta.listVersions();
  const objects = meta.sql(`SELECT count(*) AS n, coalesce(sum(length), 0) AS bytes, coalesce(sum(stored_size), 0) AS stored FROM objects WHERE state != ${ObjectState.deleting}`).get() as { n: number; bytes: number; stored: number };
  const referenced = meta.sql('SELECT coalesce(sum(o.length), 0) AS n FROM blocks b JOIN objects o ON o.id = b.object_id').get() as { n: number };
  const lastScrubRow = meta.sql('SELECT * FROM scrubs ORDER BY date DESC, id DESC LIMIT 1').get() as ScrubRow | undefined;
  const lastScrub = lastScrubRow ? reportFromRow(lastScrubRow) : null;
  const byState = (state: number): VersionRow[] => versions.filter((v) => v.state === state);
  const invalid = byState(VersionState.invalid);
  const incomplete = byState(VersionState.incomplete);
  const lastBackup = versions.length ? Math.max(...versions.map((v) => v.date)) : null;
  // The newest full check of each version's data (deep or against the source, every block).
  const checked = new Map<string, number>();
  for (const row of meta.sql("SELECT version_uid AS uid, max(date) AS date FROM scrubs WHERE mode != 'fast' AND percent = 100 GROUP BY version_uid").all() as Array<{ uid: string; date: number }>) {
    checked.set(row.uid, row.date);
  }
  const staleBefore = Date.now() - SCRUB_STALE_DAYS * 86_400_000;
  const scrubbable = versions.filter((v) => v.state !== VersionState.incomplete);
  const never = scrubbable.filter((v) => v.state === VersionState.valid && !checked.has(v.uid));
  const stale = scrubbable.filter((v) => v.state === VersionState.valid && (checked.get(v.uid) ?? Infinity) < staleBefore);
  const reasons: string[] = [];
  let health: RepositorySummary['health'] = 'ok';
  if (invalid.length > 0) {
    health = 'error';
    reasons.push(`${count(invalid.length, 'version')} invalid (a scrub found damaged or missing data): ${nameVersions(invalid)}; ${invalid.length === 1 ? 'back it up again, or deep-scrub it' : 'back them up again, or deep-scrub them'} once the data is repaired`);
  }
  if (incomplete.length > 0) reasons.push(`${count(incomplete.length, 'version')} incomplete (an interrupted backup): ${nameVersions(incomplete)}; a cleanup removes them`);
  if (never.length > 0) reasons.push(`${count(never.length, 'version')} never verified by a full deep scrub: ${nameVersions(never)}`);
  if (stale.length > 0) reasons.push(`${count(stale.length, 'version')} last verified more than ${SCRUB_STALE_DAYS} days ago: ${nameVersions(stale)}`);
  if (health === 'ok' && reasons.length > 0) health = 'warning';
  return {
    path: repo.path,
    encrypted: repo.settings.encrypted,
    versions: versions.length,
    validVersions: byState(VersionState.valid).length,
    invalidVersions: invalid.length,
    incompleteVersions: incomplete.length,
    protectedVersions: versions.filter((v) => v.protected === 1).length,
    names: new Set(versions.map((v) => v.name)).size,
    logicalBytes: versions.reduce((sum, v) => sum + v.size, 0),
    referencedBytes: referenced.n,
    uniqueBytes: objects.bytes,
    storedBytes: objects.stored,
    objects: objects.n,
    dedupeRatio: objects.bytes > 0 ? referenced.n / objects.bytes : 1,
    compressionRatio: objects.stored > 0 ? objects.bytes / objects.stored : 1,
    lastBackup: lastBackup === null ? null : new Date(lastBackup).toISOString(),
    lastScrub: lastScrub ? { date: lastScrub.date, uid: lastScrub.uid, ok: lastScrub.problems.length === 0, mode: lastScrub.mode } : null,
    verification: {
      verified: scrubbable.filter((v) => v.state === VersionState.valid && checked.has(v.uid)).length,
      stale: stale.length,
      neverVerified: never.length,
      failed: invalid.length,
      staleDays: SCRUB_STALE_DAYS,
    },
    health,
    healthReasons: reasons,
  };
}

/** The engine's credentials from a passphrase or a key file's path (read here, kept nowhere). */
function credentials(passphrase: string | undefined, keyFile: string | undefined): Credentials {
  if (keyFile === undefined) return passphrase === undefined ? {} : { passphrase };
  try {
    return { keyFile: readFileSync(keyFile) };
  } catch (error) {
    throw new EngineError('NOT_FOUND', `cannot read key file ${keyFile}: ${(error as Error).message}`);
  }
}

/** The store spec of an s3:// repository: the connection's fields, then the environment's. */
export async function s3SpecOf(path: string, connection: S3ConnectionArgs | undefined): Promise<S3Spec> {
  const location = parseLocation(path);
  if (location.kind !== 's3') throw new EngineError('INVALID_ARGUMENT', `${path} is not an s3:// location`);
  return s3Spec(location, s3OptionsFromEnvironment(connection ?? {}));
}

/**
 * "Test connection": the credentials are read here (a failure is `credentials`), then the
 * bucket and prefix are probed once, without retries. Nothing is written.
 */
export async function testS3Connection(path: string, connection: S3ConnectionArgs | undefined): Promise<S3ConnectionTest> {
  const started = Date.now();
  let spec: S3Spec;
  try {
    const options = s3OptionsFromEnvironment(connection ?? {});
    try {
      await resolveS3Credentials({ file: options.credentialsFile, profile: options.profile });
    } catch (error) {
      return describeFailure(error, { endpoint: options.endpoint }, Date.now() - started, 'credentials');
    }
    spec = await s3SpecOf(path, connection);
  } catch (error) {
    return describeFailure(error, { endpoint: connection?.endpoint }, Date.now() - started, 'invalid');
  }
  const result = await probeS3(spec);
  return { ...result, elapsedMs: Date.now() - started };
}

export function repositoryServices(ctx: ServiceContext): RepositoryApi {
  // The passphrase goes to the engine and nowhere else: the recent list keeps only whether
  // the repository is encrypted (and, for S3, how it is reached: never a key), and no job,
  // log or event sees it.
  const opened = (repository: Repository, s3?: S3ConnectionArgs): RepositoryInfo => {
    const repo = ctx.addRepository(repository);
    if (ctx.options.rememberRecent !== false) ctx.config.addRecent(repo.path, repo.settings.encrypted, repo.store.kind === 's3' ? (s3 ?? {}) : undefined);
    const info = repositoryInfo(repo, ctx.jobs.maxConcurrentJobs);
    ctx.events.emit('repositoryChanged', info);
    return info;
  };
  return {
    async getRepository() {
      return ctx.repo ? repositoryInfo(ctx.repo, ctx.jobs.maxConcurrentJobs) : null;
    },
    async openRepository({ path, s3, passphrase, keyFile }) {
      // Already open (here or in the background): it becomes current, its jobs untouched.
      if (ctx.switchTo(path)) {
        const info = repositoryInfo(ctx.requireRepo(), ctx.jobs.maxConcurrentJobs);
        ctx.events.emit('repositoryChanged', info);
        return info;
      }
      if (isS3Location(path)) {
        const spec = await s3SpecOf(path, s3);
        if (passphrase === undefined && keyFile === undefined && (await Repository.s3IsEncrypted(spec))) {
          throw new EngineError('WRONG_KEY', `${path} is encrypted: enter its passphrase to open it`);
        }
        const s3repo = await Repository.openS3(spec, credentials(passphrase, keyFile), { onNotice: ctx.options.note });
        try {
          await s3repo.ensureConfigPublished();
        } catch (error) {
          s3repo.close();
          throw error;
        }
        return opened(s3repo, s3);
      }
      // Asked first so the message suits a dialog rather than the command line's options.
      if (passphrase === undefined && keyFile === undefined && Repository.isEncrypted(path)) {
        throw new EngineError('WRONG_KEY', `${path} is encrypted: enter its passphrase to open it`);
      }
      const repo = Repository.open(path, credentials(passphrase, keyFile));
      try {
        await repo.ensureConfigPublished();
      } catch (error) {
        repo.close();
        throw error;
      }
      return opened(repo);
    },
    async createRepository({ path, s3, blockSize, compression, minAgeDays, cleanupGraceSeconds, encrypt, passphrase, keyFile }) {
      if (encrypt && passphrase === undefined && keyFile === undefined) throw new EngineError('INVALID_ARGUMENT', 'an encrypted repository needs a passphrase or a key file');
      const encryption = encrypt ? credentials(passphrase, keyFile) : undefined;
      // Both kinds also get the store's checksummed settings (repository/config) that
      // `blockvault recover` reads; an S3 repository keeps its plain repository/blockvault.json
      // as well, which is how it is found and opened.
      const repo = isS3Location(path)
        ? await Repository.initS3(await s3SpecOf(path, s3), { blockSize, compression, minAgeDays, cleanupGraceSeconds, encryption })
        : Repository.init(path, { blockSize, compression, minAgeDays, cleanupGraceSeconds, encryption });
      try {
        await repo.publishConfig();
      } catch (error) {
        repo.close();
        throw error;
      }
      return opened(repo, s3);
    },
    async testS3Connection({ path, s3 }) {
      return testS3Connection(path, s3);
    },
    async closeRepository() {
      ctx.closeRepository();
      ctx.events.emit('repositoryChanged', null);
      return null;
    },
    async listOpenRepositories() {
      return ctx.openRepositories();
    },
    async listRecentRepositories() {
      return ctx.config.recent();
    },
    async forgetRecentRepository({ path }) {
      return ctx.config.forgetRecent(path);
    },
    async getSummary() {
      return summarize(ctx.requireRepo());
    },
    async listKeys() {
      const repo = ctx.requireRepo();
      if (!repo.settings.encrypted) throw new EngineError('INVALID_ARGUMENT', 'this repository is not encrypted');
      return repo.listKeys();
    },
    async addKey({ passphrase, keyFile }) {
      return ctx.requireRepo().addKey(credentials(passphrase, keyFile));
    },
    async removeKey({ id }) {
      await ctx.requireRepo().removeKey(id);
      return null;
    },
    async changePassphrase({ passphrase, id }) {
      return ctx.requireRepo().changePassphrase(passphrase, id);
    },
    async updateSettings({ minAgeDays, cleanupGraceSeconds, maxConcurrentJobs, backy2AutoTags }) {
      const repo = ctx.requireRepo();
      if (backy2AutoTags !== undefined) repo.setAutoTags(backy2AutoTags);
      if (minAgeDays !== undefined) await repo.setSetting('min_age_days', minAgeDays);
      if (cleanupGraceSeconds !== undefined) await repo.setSetting('cleanup_grace_seconds', cleanupGraceSeconds);
      if (maxConcurrentJobs !== undefined) ctx.setMaxConcurrentJobs(maxConcurrentJobs);
      const info = repositoryInfo(repo, ctx.jobs.maxConcurrentJobs);
      ctx.events.emit('repositoryChanged', info);
      return info;
    },
  };
}

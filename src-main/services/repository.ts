// Repository services: open, create, close, recent list, summary and settings.
import { readFileSync } from 'node:fs';
import type { Api } from '../../src-shared/api/contract';
import type { RepositoryInfo, RepositorySummary, ScrubSummary } from '../../src-shared/api/types';
import type { ScrubReport } from '../../src-shared/model';
import type { Credentials } from '../engine/codec/keys';
import { EngineError } from '../engine/errors';
import type { ScrubRow } from '../engine/meta/database';
import { ObjectState, VersionState } from '../engine/meta/schema';
import { reportFromRow } from '../engine/pipeline/scrub';
import { Repository } from '../engine/repository';
import type { ServiceContext } from './context';

type RepositoryApi = Pick<Api, 'getRepository' | 'listOpenRepositories' | 'openRepository' | 'createRepository' | 'closeRepository' | 'listRecentRepositories' | 'forgetRecentRepository' | 'getSummary' | 'updateSettings' | 'listKeys' | 'addKey' | 'removeKey' | 'changePassphrase'>;

const SCRUB_STALE_DAYS = 30;

export function repositoryInfo(repo: Repository): RepositoryInfo {
  return { path: repo.path, settings: { ...repo.settings } };
}

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
  const count = (state: number): number => versions.filter((v) => v.state === state).length;
  const invalid = count(VersionState.invalid);
  const lastBackup = versions.length ? Math.max(...versions.map((v) => v.date)) : null;
  const reasons: string[] = [];
  let health: RepositorySummary['health'] = 'ok';
  if (invalid > 0) {
    health = 'error';
    reasons.push(`${invalid} version(s) are invalid: back them up again or scrub them deeply`);
  }
  if (versions.length > 0 && !lastScrub) reasons.push('never scrubbed: run a deep scrub to check the stored data');
  else if (lastScrub && Date.now() - Date.parse(lastScrub.date) > SCRUB_STALE_DAYS * 86_400_000) reasons.push(`last scrub is older than ${SCRUB_STALE_DAYS} days`);
  if (lastScrub && lastScrub.problems.length > 0) reasons.push('the last scrub found invalid data');
  if (health === 'ok' && reasons.length > 0) health = 'warning';
  return {
    path: repo.path,
    encrypted: repo.settings.encrypted,
    versions: versions.length,
    validVersions: count(VersionState.valid),
    invalidVersions: invalid,
    incompleteVersions: count(VersionState.incomplete),
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

export function repositoryServices(ctx: ServiceContext): RepositoryApi {
  // The passphrase goes to the engine and nowhere else: the recent list keeps only whether
  // the repository is encrypted, and no job, log or event sees it.
  const opened = (repository: Repository): RepositoryInfo => {
    const repo = ctx.addRepository(repository);
    if (ctx.options.rememberRecent !== false) ctx.config.addRecent(repo.path, repo.settings.encrypted);
    const info = repositoryInfo(repo);
    ctx.events.emit('repositoryChanged', info);
    return info;
  };
  return {
    async getRepository() {
      return ctx.repo ? repositoryInfo(ctx.repo) : null;
    },
    async openRepository({ path, passphrase, keyFile }) {
      // Already open (here or in the background): it becomes current, its jobs untouched.
      if (ctx.switchTo(path)) {
        const info = repositoryInfo(ctx.requireRepo());
        ctx.events.emit('repositoryChanged', info);
        return info;
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
    async createRepository({ path, blockSize, compression, minAgeDays, cleanupGraceSeconds, encrypt, passphrase, keyFile }) {
      if (encrypt && passphrase === undefined && keyFile === undefined) throw new EngineError('INVALID_ARGUMENT', 'an encrypted repository needs a passphrase or a key file');
      const encryption = encrypt ? credentials(passphrase, keyFile) : undefined;
      const repo = Repository.init(path, { blockSize, compression, minAgeDays, cleanupGraceSeconds, encryption });
      try {
        await repo.publishConfig();
      } catch (error) {
        repo.close();
        throw error;
      }
      return opened(repo);
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
    async updateSettings({ minAgeDays, cleanupGraceSeconds, maxConcurrentJobs }) {
      const repo = ctx.requireRepo();
      if (minAgeDays !== undefined) await repo.setSetting('min_age_days', minAgeDays);
      if (cleanupGraceSeconds !== undefined) await repo.setSetting('cleanup_grace_seconds', cleanupGraceSeconds);
      if (maxConcurrentJobs !== undefined) ctx.jobs.setMaxConcurrent(maxConcurrentJobs);
      const info = repositoryInfo(repo);
      ctx.events.emit('repositoryChanged', info);
      return info;
    },
  };
}

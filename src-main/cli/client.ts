// The CLI as a client of the services, as the GUI and web mode are: it opens the repository
// through the contract, calls every method validated by its schema, and runs long work as
// jobs of the job manager (recorded in the repository's job history), following a job by its
// events: progress on a TTY, cancel on Ctrl-C, the final state as the outcome.
import { resolve } from 'node:path';
import type { Api, S3ConnectionArgs } from '../../src-shared/api/contract';
import type { Job } from '../../src-shared/api/types';
import { isFinished } from '../../src-shared/api/types';
import { createServices, EngineError, validatedApi, type Services } from '../services';
import { openCredentials, type Credentials } from './credentials';
import { processTitle } from './backy2';
import { ProgressBar } from './format';
import { repositoryPath } from './s3';

/** A path from the command line, absolute as the contract wants it. */
export function absolute(path: string): string {
  return resolve(path);
}

/** `-` as a source or target: stdin for a backup, stdout for a restore. */
export const STREAM = '-';

/** A source spelled as a URL (nbd://, rbd:...) or `-` passes as given; a path becomes absolute. */
export function sourcePath(text: string): string {
  return text === STREAM || /^[a-z][a-z0-9+.-]*:/i.test(text) ? text : resolve(text);
}

export interface RepositoryOptions {
  path: string | undefined;
  keyFile?: string;
  passphraseFile?: string;
  s3?: S3ConnectionArgs;
}

/** Services of one CLI run, opened lazily; `close` cancels what still runs. */
export class CliClient {
  private services: Services | null = null;
  private api: Api | null = null;

  constructor(private readonly mode: 'cli' | 'daemon' = 'cli') {}

  /** The services without a repository (init, daemon). */
  start(): { api: Api; services: Services } {
    if (!this.services) {
      // Notices (an S3 repository's cache rebuilt from its bucket) go to stderr, beside the output.
      this.services = createServices({ mode: this.mode, rememberRecent: false, ...(this.mode === 'cli' ? { note: (line: string) => process.stderr.write(`${line}\n`) } : {}) });
      this.api = validatedApi(this.services.api);
    }
    return { api: this.api!, services: this.services };
  }

  /** Opens the repository (asking for credentials only when it is encrypted). */
  async open(options: RepositoryOptions, missing: () => Error): Promise<Api> {
    const { api } = this.start();
    if (await api.getRepository({})) return api;
    if (!options.path) throw missing();
    const path = repositoryPath(options.path);
    const given = options.keyFile !== undefined || options.passphraseFile !== undefined || process.env.BLOCKVAULT_PASSPHRASE !== undefined;
    const credentials = (): Promise<Credentials> => openCredentials({ keyFile: options.keyFile, passphraseFile: options.passphraseFile });
    try {
      await api.openRepository({ path, s3: options.s3, ...(given ? await credentials() : {}) });
    } catch (error) {
      if ((error as EngineError).code !== 'WRONG_KEY' || given) throw error;
      await api.openRepository({ path, s3: options.s3, ...(await credentials()) });
    }
    return api;
  }

  async close(): Promise<void> {
    await this.services?.close();
    this.services = null;
    this.api = null;
  }
}

/**
 * Starts a job and follows it to its end: a progress bar on a TTY (labelled), the job's
 * cancel on `signal`. Resolves with the succeeded job; throws the job's error otherwise
 * (CANCELED when canceled).
 */
export async function followJob(services: Services, api: Api, label: string, signal: AbortSignal, start: () => Promise<Job>, log?: (text: string) => void): Promise<Job> {
  const bar = new ProgressBar(process.stderr, label, { log });
  const latest = new Map<string, Job>();
  let id: string | null = null;
  let settle: ((job: Job) => void) | null = null;
  const off = services.events.on((name, payload) => {
    if (name !== 'jobChanged') return;
    const job = payload as Job;
    latest.set(job.id, job);
    if (job.id !== id) return;
    if (job.progress && !isFinished(job.state)) bar.update(job.progress);
    if (isFinished(job.state)) settle?.(job);
  });
  const onAbort = (): void => { if (id) void api.cancelJob({ id }).catch(() => {}); };
  try {
    const started = await start();
    id = started.id;
    bar.title = processTitle(label, started);
    const ended = await new Promise<Job>((resolveJob) => {
      settle = resolveJob;
      const seen = latest.get(started.id);
      if (seen && isFinished(seen.state)) resolveJob(seen);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    if (ended.state === 'succeeded') {
      if (ended.progress) bar.update(ended.progress);
      return ended;
    }
    const error = ended.error ?? { code: 'INTERNAL', message: `job ${ended.id} ${ended.state}` };
    throw new EngineError(ended.state === 'canceled' ? 'CANCELED' : error.code, error.message);
  } finally {
    bar.end();
    off();
    signal.removeEventListener('abort', onAbort);
  }
}

// Application settings that belong to the user, not to a repository: the recent
// repositories list (paths, whether each is encrypted, how an S3 one is reached; never a
// passphrase or a secret key) and how many jobs run at once. Stored as JSON in the config
// folder (Electron: userData; otherwise $XDG_CONFIG_HOME/blockvault or ~/.config/blockvault).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { S3ConnectionArgs } from '../../src-shared/api/contract';
import type { RecentRepository } from '../../src-shared/api/types';

const MAX_RECENT = 10;

interface ConfigFile {
  recent: RecentRepository[];
  /** jobs running at once, as last saved in Settings */
  maxConcurrentJobs?: number;
}

/** Only the known, non-secret fields of an S3 connection (a hand-edited file may hold more). */
function connectionOf(value: unknown): S3ConnectionArgs | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const text = (key: string): Record<string, string> => (typeof v[key] === 'string' && v[key] !== '' ? { [key]: v[key] as string } : {});
  return { ...text('endpoint'), ...text('region'), ...(typeof v.pathStyle === 'boolean' ? { pathStyle: v.pathStyle } : {}), ...text('credentialsFile'), ...text('profile') };
}

export function defaultConfigDir(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'blockvault');
}

export class AppConfig {
  private readonly file: string;

  constructor(private readonly dir: string) {
    this.file = join(dir, 'settings.json');
  }

  private read(): ConfigFile {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<ConfigFile>;
      const recent = Array.isArray(parsed.recent)
        ? parsed.recent
            .filter((r) => typeof r?.path === 'string' && typeof r?.lastOpened === 'string')
            .map((r) => {
              const s3 = connectionOf(r.s3);
              return { path: r.path, lastOpened: r.lastOpened, ...(r.encrypted === true ? { encrypted: true } : {}), ...(s3 ? { s3 } : {}) };
            })
        : [];
      const jobs = parsed.maxConcurrentJobs;
      return { recent, ...(Number.isInteger(jobs) && jobs! >= 1 && jobs! <= 64 ? { maxConcurrentJobs: jobs } : {}) };
    } catch {
      return { recent: [] };
    }
  }

  private write(config: ConfigFile): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  recent(): RecentRepository[] {
    return this.read().recent;
  }

  /**
   * `encrypted` marks a repository whose opening asks for a passphrase; `s3` is how an s3://
   * repository was reached (endpoint, region, path style, credentials file or profile). No
   * secret is kept.
   */
  addRecent(path: string, encrypted = false, s3?: S3ConnectionArgs): RecentRepository[] {
    const config = this.read();
    const connection = connectionOf(s3);
    const entry: RecentRepository = { path, lastOpened: new Date().toISOString(), ...(encrypted ? { encrypted: true } : {}), ...(connection ? { s3: connection } : {}) };
    config.recent = [entry, ...config.recent.filter((r) => r.path !== path)].slice(0, MAX_RECENT);
    this.write(config);
    return config.recent;
  }

  maxConcurrentJobs(): number | undefined {
    return this.read().maxConcurrentJobs;
  }

  setMaxConcurrentJobs(value: number): void {
    this.write({ ...this.read(), maxConcurrentJobs: value });
  }

  forgetRecent(path: string): RecentRepository[] {
    const config = this.read();
    config.recent = config.recent.filter((r) => r.path !== path);
    this.write(config);
    return config.recent;
  }
}

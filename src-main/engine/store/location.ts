// Repository locations: a folder path or `s3://BUCKET/PREFIX`, and the connection settings of
// an S3 location. Nouns: a *location* is what the user types; *S3 options* say how to reach
// it (endpoint, region, addressing style, credentials source, concurrency, timeout), taken
// from command-line flags first, then from the environment:
//   endpoint     --endpoint URL       BLOCKVAULT_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
//   region       --region R           AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
//   path style   --path-style         BLOCKVAULT_S3_PATH_STYLE=1
//   credentials  --s3-credentials F   BLOCKVAULT_S3_CREDENTIALS, then --s3-profile / AWS_PROFILE,
//                                     then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws
//   concurrency  --s3-concurrency N   BLOCKVAULT_S3_CONCURRENCY, else 16
//   timeout      --s3-timeout SECONDS BLOCKVAULT_S3_TIMEOUT, else 30
import { EngineError } from '../errors';
import { resolveS3Credentials } from './s3-credentials';
import { S3_DEFAULT_CONCURRENCY, S3_DEFAULT_TIMEOUT_MS, type S3Spec } from './s3';

export type RepositoryLocation = { kind: 'folder'; path: string } | { kind: 's3'; bucket: string; prefix: string };

export interface S3Options {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  credentialsFile?: string;
  profile?: string;
  concurrency?: number;
  timeoutSeconds?: number;
}

export function isS3Location(text: string): boolean {
  return /^s3:\/\//i.test(text);
}

export function parseLocation(text: string): RepositoryLocation {
  if (!isS3Location(text)) return { kind: 'folder', path: text };
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(text);
  if (!match) throw new EngineError('INVALID_ARGUMENT', `not an S3 location: "${text}" (use s3://BUCKET/PREFIX)`);
  const bucket = match[1];
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new EngineError('INVALID_ARGUMENT', `not an S3 bucket name: "${bucket}" (3-63 lowercase letters, digits, dots and hyphens)`);
  }
  if (prefix !== '' && !/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/.test(prefix)) {
    throw new EngineError('INVALID_ARGUMENT', `not a usable S3 prefix: "${prefix}" (lowercase letters, digits, ".", "_", "-", segments separated by "/")`);
  }
  return { kind: 's3', bucket, prefix };
}

export function formatLocation(location: RepositoryLocation): string {
  return location.kind === 'folder' ? location.path : `s3://${location.bucket}/${location.prefix}`;
}

/** Fills what the flags left open from the environment (see the table at the top). */
export function s3OptionsFromEnvironment(flags: S3Options, env: NodeJS.ProcessEnv = process.env): S3Options {
  const number = (text: string | undefined, what: string): number | undefined => {
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!(value > 0)) throw new EngineError('INVALID_ARGUMENT', `${what} must be a number above 0, got "${text}"`);
    return value;
  };
  return {
    endpoint: flags.endpoint ?? (env.BLOCKVAULT_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined),
    region: flags.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined),
    pathStyle: flags.pathStyle || env.BLOCKVAULT_S3_PATH_STYLE === '1' || env.BLOCKVAULT_S3_PATH_STYLE === 'true',
    credentialsFile: flags.credentialsFile ?? (env.BLOCKVAULT_S3_CREDENTIALS || undefined),
    profile: flags.profile ?? (env.AWS_PROFILE || undefined),
    concurrency: flags.concurrency ?? number(env.BLOCKVAULT_S3_CONCURRENCY, 'BLOCKVAULT_S3_CONCURRENCY'),
    timeoutSeconds: flags.timeoutSeconds ?? number(env.BLOCKVAULT_S3_TIMEOUT, 'BLOCKVAULT_S3_TIMEOUT'),
  };
}

/** The store spec of an S3 location, credentials resolved (they stay inside the spec). */
export async function s3Spec(location: Extract<RepositoryLocation, { kind: 's3' }>, options: S3Options): Promise<S3Spec> {
  if (options.endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new EngineError('INVALID_ARGUMENT', `not an endpoint URL: "${options.endpoint}" (use e.g. http://127.0.0.1:7480)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EngineError('INVALID_ARGUMENT', `the endpoint must be http:// or https://, got "${options.endpoint}"`);
    if (url.username || url.password) throw new EngineError('INVALID_ARGUMENT', 'the endpoint URL must not carry credentials');
  }
  const concurrency = options.concurrency ?? S3_DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new EngineError('INVALID_ARGUMENT', `S3 concurrency must be a whole number from 1 to 256, got ${concurrency}`);
  return {
    kind: 's3',
    bucket: location.bucket,
    prefix: location.prefix,
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    pathStyle: options.pathStyle ?? false,
    credentials: await resolveS3Credentials({ file: options.credentialsFile, profile: options.profile }),
    concurrency,
    timeoutMs: options.timeoutSeconds !== undefined ? Math.round(options.timeoutSeconds * 1000) : S3_DEFAULT_TIMEOUT_MS,
  };
}

// S3 credentials: where they come from (a file named on the command line, a profile of the
// shared AWS files, or the SDK's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN, then AWS_PROFILE or [default] of ~/.aws/credentials). They are resolved
// once in the main process and travel only inside a StoreSpec to worker threads: never into a
// message, a log, the job history or the renderer (see redactSpec).
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { EngineError } from '../errors';
import type { StoreSpec } from './port';
import type { S3Credentials } from './s3';

// The SDK warns on every process start that its releases after January 2027 need Node 22;
// Node 20.19 is this project's floor and the SDK's version is pinned, so the warning is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3CredentialSource {
  /** an AWS shared-credentials style file: `aws_access_key_id = ...` lines, optionally in [sections] */
  file?: string;
  /** a profile of ~/.aws/credentials and ~/.aws/config */
  profile?: string;
}

/** Parses an AWS credentials file: the section `profile` (or [default], or the only one). */
export function parseCredentialsFile(text: string, file: string, profile?: string): S3Credentials {
  const sections = new Map<string, Map<string, string>>();
  let current = '';
  sections.set(current, new Map());
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = header[1];
      if (!sections.has(current)) sections.set(current, new Map());
      continue;
    }
    const pair = /^([A-Za-z_]+)\s*[=:]\s*(.*)$/.exec(line);
    if (pair) sections.get(current)!.set(pair[1].toLowerCase(), pair[2].trim());
  }
  const named = [...sections.entries()].filter(([, values]) => values.size > 0);
  const pick = profile !== undefined ? sections.get(profile) : (sections.get('default') ?? (named.length === 1 ? named[0][1] : sections.get('')));
  const accessKeyId = pick?.get('aws_access_key_id') ?? pick?.get('access_key_id') ?? pick?.get('access_key');
  const secretAccessKey = pick?.get('aws_secret_access_key') ?? pick?.get('secret_access_key') ?? pick?.get('secret_key');
  if (!accessKeyId || !secretAccessKey) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `${file} holds no aws_access_key_id and aws_secret_access_key${profile ? ` in section [${profile}]` : ''}`,
    );
  }
  const sessionToken = pick?.get('aws_session_token');
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/** Resolves credentials from the source given, else from the SDK's default chain. */
export async function resolveS3Credentials(source: S3CredentialSource = {}): Promise<S3Credentials> {
  if (source.file) {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (error) {
      throw new EngineError('INVALID_ARGUMENT', `cannot read the S3 credentials file ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return parseCredentialsFile(text, source.file, source.profile);
  }
  const client = new S3Client({ region: 'us-east-1', profile: source.profile });
  try {
    const found = await client.config.credentials();
    return found.sessionToken
      ? { accessKeyId: found.accessKeyId, secretAccessKey: found.secretAccessKey, sessionToken: found.sessionToken }
      : { accessKeyId: found.accessKeyId, secretAccessKey: found.secretAccessKey };
  } catch (error) {
    const where = source.profile ? `profile "${source.profile}"` : 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials';
    throw new EngineError('UNAUTHORIZED', `no S3 credentials found (looked in ${where}): ${(error as Error).message}`);
  } finally {
    client.destroy();
  }
}

/** The spec without its secret: what may be shown, logged or stored. */
export function redactSpec(spec: StoreSpec): StoreSpec {
  if (spec.kind !== 's3' || !spec.credentials) return spec;
  const { credentials: _secret, ...rest } = spec;
  return rest;
}

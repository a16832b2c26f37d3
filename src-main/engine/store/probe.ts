// Probing an S3 location ("Test connection"): one attempt, no retries, a short timeout, and
// the failure named by its kind (the host name does not resolve, the port refuses, TLS fails,
// no answer in time, 403, no such bucket) rather than the store's coarser error code. On
// success it says what the prefix holds: a Blockvault repository, nothing, or something else.
import type { ErrorCode } from '../../../src-shared/api/errors';
import type { S3ConnectionFailure, S3ConnectionTest } from '../../../src-shared/api/types';
import { EngineError } from '../errors';
import { REPOSITORY_CONFIG_FILE } from '../format';
import { REPOSITORY_PREFIX } from './port';
import { isTransient } from './retry';
import { S3Store, type S3Spec } from './s3';

/** A test waits at most this long for each answer (the store's own timeout otherwise applies). */
export const PROBE_TIMEOUT_MS = 10_000;

const CONFIG_KEY = `${REPOSITORY_PREFIX}${REPOSITORY_CONFIG_FILE}`;

interface Cause {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The errors an error wraps, outermost first (EngineError → SDK error → socket error ...). */
function chain(error: unknown): Cause[] {
  const found: Cause[] = [];
  for (let e = error as Cause | undefined, depth = 0; e && typeof e === 'object' && depth < 8; e = e.cause as Cause | undefined, depth++) found.push(e);
  return found;
}

const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);
const TIMEOUT = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

function isTls(code: string, message: string): boolean {
  return code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'EPROTO' || /\b(SSL|TLS)\b|certificate|wrong version number/i.test(message);
}

/** The kind of failure and the short cause that tells it (a socket error code, an S3 error name). */
export function analyzeFailure(error: unknown): { kind: S3ConnectionFailure; cause?: string } {
  const causes = chain(error);
  // The socket's own error (innermost) names the failure best; EngineError codes say less.
  const inner = causes.filter((e) => !(e instanceof EngineError)).reverse();
  for (const e of inner) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (DNS.has(code)) return { kind: 'dns', cause: code };
    if (code === 'ECONNREFUSED') return { kind: 'refused', cause: code };
    if (UNREACHABLE.has(code)) return { kind: 'unreachable', cause: code };
    if (TIMEOUT.has(code) || e.name === 'TimeoutError') return { kind: 'timeout', cause: code || String(e.name) };
    if (code && isTls(code, '')) return { kind: 'tls', cause: code };
  }
  for (const e of inner) {
    const message = typeof e.message === 'string' ? e.message : '';
    if (isTls('', message)) return { kind: 'tls', cause: message };
  }
  const top = causes[0];
  if (top instanceof EngineError) {
    if (isTransient(top) && (top as { reason?: string }).reason === 'timeout') return { kind: 'timeout' };
    const s3 = causes.slice(1).find((e) => typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'EngineError') as (Cause & { $metadata?: { httpStatusCode?: number } }) | undefined;
    const name = s3 && s3.name !== 'Unknown' && s3.name !== 'UnknownError' ? String(s3.name) : '';
    const cause = s3 ? `${s3.$metadata?.httpStatusCode ?? ''} ${name}`.trim() || undefined : undefined;
    if (top.code === 'UNAUTHORIZED') return { kind: 'unauthorized', cause };
    if (top.code === 'NOT_FOUND') return { kind: 'no-bucket', cause };
    if (top.code === 'INVALID_ARGUMENT') return { kind: 'invalid' };
  }
  return { kind: 'other' };
}

/** What an S3 error name says about the credentials, when it says more than "403". */
const AUTH_DETAIL: Record<string, string> = {
  InvalidAccessKeyId: 'the server does not know this access key',
  SignatureDoesNotMatch: 'the secret key does not match the access key',
  AccessDenied: 'this user may not use the bucket',
};

function explain(kind: S3ConnectionFailure, endpoint: string | undefined, bucket: string | undefined, cause: string | undefined): string {
  const where = endpoint ?? 'the AWS endpoint';
  let host = where;
  try {
    if (endpoint) host = new URL(endpoint).host;
  } catch {
    // not a URL: named as given
  }
  switch (kind) {
    case 'dns':
      return `the host name of ${host} does not resolve (DNS): check the endpoint URL`;
    case 'refused':
      return `${host} refused the connection: nothing listens at that port (is the S3 server running, is the port right?)`;
    case 'unreachable':
      return `${host} is unreachable: no route to that host`;
    case 'tls':
      return /CERT|certificate/i.test(cause ?? '')
        ? `the TLS handshake with ${host} failed: its certificate is not trusted (self-signed, expired, or for another name)`
        : /wrong.version|EPROTO|packet length/i.test(cause ?? '')
          ? `the TLS handshake with ${host} failed: that port speaks plain HTTP (use http://)`
          : `the TLS handshake with ${host} failed`;
    case 'timeout':
      return `${host} did not answer in time`;
    case 'unauthorized': {
      const name = Object.keys(AUTH_DETAIL).find((n) => cause?.includes(n));
      return `access denied (403): ${name ? AUTH_DETAIL[name] : 'the access key or secret key is wrong, or this user may not use the bucket'}`;
    }
    case 'no-bucket':
      return `the bucket ${bucket ? `"${bucket}" ` : ''}does not exist at ${host}: create it first (with any S3 client, or radosgw-admin on Ceph)`;
    case 'credentials':
      return 'no credentials could be read';
    case 'invalid':
      return 'the settings are not usable';
    case 'other':
      return 'the test failed';
  }
}

/** The failure as the API reports it: its kind, a stable code, what happened in words, and the error itself. */
export function describeFailure(error: unknown, place: { endpoint?: string; bucket?: string }, elapsedMs: number, kind?: S3ConnectionFailure): Extract<S3ConnectionTest, { ok: false }> {
  const analyzed = kind ? { kind } : analyzeFailure(error);
  const code: ErrorCode =
    analyzed.kind === 'unauthorized' ? 'UNAUTHORIZED'
    : analyzed.kind === 'no-bucket' ? 'NOT_FOUND'
    : analyzed.kind === 'invalid' || analyzed.kind === 'credentials' || analyzed.kind === 'other' ? (error instanceof EngineError ? error.code : 'INVALID_ARGUMENT')
    : 'IO_ERROR';
  const detail = error instanceof Error ? error.message : String(error);
  const cause = 'cause' in analyzed ? analyzed.cause : undefined;
  const text = explain(analyzed.kind, place.endpoint, place.bucket, cause);
  const message = analyzed.kind === 'credentials' || analyzed.kind === 'invalid' || analyzed.kind === 'other' ? `${text}: ${detail}` : cause ? `${text} (${cause})` : text;
  return { ok: false, failure: analyzed.kind, code, message, detail, elapsedMs };
}

/**
 * Tests an S3 location: the bucket answers to these credentials (HEAD), then what the prefix
 * holds. One attempt per request, each bounded by `timeoutMs`.
 */
export async function probeS3(spec: S3Spec, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<S3ConnectionTest> {
  const started = Date.now();
  const timeoutMs = Math.min(spec.timeoutMs || PROBE_TIMEOUT_MS, options.timeoutMs ?? PROBE_TIMEOUT_MS);
  const endpoint = spec.endpoint ?? null;
  const location = `s3://${spec.bucket}/${spec.prefix.replace(/^\/+|\/+$/g, '')}`;
  let store: S3Store;
  try {
    store = new S3Store({ ...spec, concurrency: 2, timeoutMs });
  } catch (error) {
    return describeFailure(error, spec, Date.now() - started);
  }
  try {
    try {
      await store.checkBucket(options.signal);
    } catch (error) {
      // A HEAD answer has no body: a listing's 403 names the reason (wrong secret, unknown key).
      if (analyzeFailure(error).kind !== 'unauthorized') throw error;
      try {
        for await (const _ of store.list('', options.signal)) break;
      } catch (named) {
        if (analyzeFailure(named).kind === 'unauthorized') throw named;
      }
      throw error;
    }
    let contents: 'repository' | 'empty' | 'other' = 'empty';
    let repository: { id: string; encrypted: boolean } | undefined;
    let example: string | undefined;
    const config = await readConfig(store, options.signal);
    if (config === 'unreadable') {
      contents = 'other';
      example = CONFIG_KEY;
    } else if (config) {
      contents = 'repository';
      repository = config;
    } else {
      for await (const entry of store.list('', options.signal)) {
        contents = 'other';
        example = entry.key;
        break;
      }
    }
    return { ok: true, location, endpoint, contents, ...(repository ? { repository } : {}), ...(example ? { example } : {}), elapsedMs: Date.now() - started };
  } catch (error) {
    return describeFailure(error, spec, Date.now() - started);
  } finally {
    await store.close();
  }
}

/** The repository config's id and encryption; null when the prefix has none, 'unreadable' when it is not JSON. */
async function readConfig(store: S3Store, signal?: AbortSignal): Promise<{ id: string; encrypted: boolean } | 'unreadable' | null> {
  let text: string;
  try {
    text = (await store.get(CONFIG_KEY, undefined, signal)).toString('utf8');
  } catch (error) {
    if (error instanceof EngineError && error.code === 'OBJECT_MISSING') return null;
    throw error;
  }
  try {
    const config = JSON.parse(text) as { id?: unknown; encryption?: unknown };
    return { id: typeof config.id === 'string' ? config.id : '?', encrypted: config.encryption !== undefined };
  } catch {
    return 'unreadable';
  }
}

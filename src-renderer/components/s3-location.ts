// The S3 location form's values and pure helpers (no React, so tests import them directly):
// what each field refuses, the API's `path` and `s3` arguments they make (never a secret), and
// the fields back from a remembered location. The form itself is S3LocationFields.tsx.
import type { S3ConnectionArgs } from '../../src-shared/api/contract';

export type S3CredentialSource = 'environment' | 'profile' | 'file';

export interface S3LocationValue {
  endpoint: string;
  bucket: string;
  prefix: string;
  region: string;
  pathStyle: boolean;
  credentials: S3CredentialSource;
  profile: string;
  credentialsFile: string;
}

export const EMPTY_S3_LOCATION: S3LocationValue = {
  endpoint: '',
  bucket: '',
  prefix: '',
  region: '',
  pathStyle: true,
  credentials: 'environment',
  profile: '',
  credentialsFile: '',
};

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const REGION = /^[a-z0-9-]{1,64}$/;
const PROFILE = /^[A-Za-z0-9._-]{1,128}$/;

const trimPrefix = (prefix: string): string => prefix.trim().replace(/^\/+|\/+$/g, '');

/** Each field's problem (what the API would refuse), by field name; empty when the fields are usable. */
export function s3LocationProblems(value: S3LocationValue): Partial<Record<keyof S3LocationValue, string>> {
  const problems: Partial<Record<keyof S3LocationValue, string>> = {};
  const endpoint = value.endpoint.trim();
  if (endpoint !== '') {
    let url: URL | null = null;
    try {
      url = new URL(endpoint);
    } catch {
      problems.endpoint = 'not a URL: use e.g. http://rgw.example:7480';
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.endpoint = 'must start with http:// or https://';
    else if (url && (url.username || url.password)) problems.endpoint = 'must not carry credentials (use a credentials file or profile below)';
  }
  const bucket = value.bucket.trim();
  if (bucket === '') problems.bucket = 'required';
  else if (!BUCKET.test(bucket)) problems.bucket = '3-63 lowercase letters, digits, dots and hyphens';
  const prefix = trimPrefix(value.prefix);
  if (prefix !== '' && !PREFIX.test(prefix)) problems.prefix = 'lowercase letters, digits, ".", "_", "-", segments separated by "/"';
  const region = value.region.trim();
  if (region !== '' && !REGION.test(region)) problems.region = 'a region name such as us-east-1';
  if (value.credentials === 'profile' && !PROFILE.test(value.profile.trim())) problems.profile = 'a profile name (letters, digits, ".", "_", "-")';
  if (value.credentials === 'file' && !value.credentialsFile.trim().startsWith('/')) problems.credentialsFile = 'an absolute path';
  return problems;
}

export function s3LocationReady(value: S3LocationValue): boolean {
  return Object.keys(s3LocationProblems(value)).length === 0;
}

/** The repository's location as the API takes it: s3://BUCKET/PREFIX. */
export function s3LocationOf(value: S3LocationValue): string {
  return `s3://${value.bucket.trim()}/${trimPrefix(value.prefix)}`;
}

/** How to reach it, as the API takes it: no field left empty, and never a secret. */
export function s3ConnectionOf(value: S3LocationValue): S3ConnectionArgs {
  const endpoint = value.endpoint.trim();
  const region = value.region.trim();
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    pathStyle: value.pathStyle,
    ...(value.credentials === 'profile' ? { profile: value.profile.trim() } : {}),
    ...(value.credentials === 'file' ? { credentialsFile: value.credentialsFile.trim() } : {}),
  };
}

/** The fields back from a location and its connection (a recent repository, say). */
export function s3LocationValue(location: string, connection: S3ConnectionArgs | undefined): S3LocationValue {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  return {
    endpoint: connection?.endpoint ?? '',
    bucket: match?.[1] ?? '',
    prefix: match?.[2] ?? '',
    region: connection?.region ?? '',
    pathStyle: connection?.pathStyle ?? false,
    credentials: connection?.credentialsFile ? 'file' : connection?.profile ? 'profile' : 'environment',
    profile: connection?.credentialsFile ? '' : (connection?.profile ?? ''),
    credentialsFile: connection?.credentialsFile ?? '',
  };
}

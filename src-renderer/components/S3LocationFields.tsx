// Where an S3 repository is and how to reach it: endpoint URL, bucket, prefix, region, the
// path-style switch and the credentials source (the main process's environment, a profile of
// ~/.aws/credentials, or a credentials file it reads). The renderer never holds a secret key:
// the API takes a profile name or a file's path, never a key. Reused by the repository screen
// (create, open) and by the "Copy to..." dialog; `s3LocationOf` / `s3ConnectionOf` turn the
// fields into the API's `path` and `s3` arguments.
import { useId } from 'react';
import type { S3ConnectionArgs } from '../../src-shared/api/contract';
import { PathField } from './PathField';

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

export function S3LocationFields({ value, onChange, legend = 'S3 bucket' }: {
  value: S3LocationValue;
  onChange(value: S3LocationValue): void;
  legend?: string;
}) {
  const id = useId();
  const problems = s3LocationProblems(value);
  const set = <K extends keyof S3LocationValue>(key: K, field: S3LocationValue[K]): void => onChange({ ...value, [key]: field });
  // A field's problem shows once something is typed; an empty required field only says what it wants.
  const hint = (key: keyof S3LocationValue, text: string) => {
    const problem = problems[key];
    const shown = problem && value[key] !== '' ? problem : null;
    return <div className={`hint ${shown ? 'bad' : ''}`} id={`${id}-${key}-hint`}>{shown ?? text}</div>;
  };
  const input = (key: 'endpoint' | 'bucket' | 'prefix' | 'region' | 'profile', label: string, placeholder: string, text: string) => (
    <div className={`field s3-${key}`}>
      <label htmlFor={`${id}-${key}`}>{label}</label>
      <input
        id={`${id}-${key}`}
        className="mono"
        value={value[key]}
        placeholder={placeholder}
        spellCheck={false}
        autoComplete="off"
        aria-invalid={(problems[key] !== undefined && value[key] !== '') || undefined}
        aria-describedby={`${id}-${key}-hint`}
        onChange={(event) => set(key, event.target.value)}
      />
      {hint(key, text)}
    </div>
  );
  return (
    <fieldset className="s3-location">
      <legend>{legend}</legend>
      {input('endpoint', 'Endpoint URL', 'http://rgw.example:7480', 'empty: AWS (or BLOCKVAULT_S3_ENDPOINT where Blockvault runs)')}
      <div className="row wrap top s3-place">
        {input('bucket', 'Bucket', 'backups', 'must exist already')}
        {input('prefix', 'Prefix', 'site-a', 'a folder inside the bucket; empty: the bucket itself')}
      </div>
      <div className="row wrap top s3-place">
        {input('region', 'Region', 'us-east-1', 'empty: us-east-1 (RGW accepts any)')}
        <label className="checkbox s3-path-style" title="the bucket name goes in the URL's path (http://host/bucket/key), as RGW without DNS wildcards wants">
          <input type="checkbox" checked={value.pathStyle} onChange={(event) => set('pathStyle', event.target.checked)} /> Path-style addressing (RGW, MinIO)
        </label>
      </div>
      <div className="field">
        <span className="label" id={`${id}-credentials`}>Credentials</span>
        <div className="row wrap" role="radiogroup" aria-labelledby={`${id}-credentials`}>
          <label className="radio"><input type="radio" name={`${id}-credentials`} checked={value.credentials === 'environment'} onChange={() => set('credentials', 'environment')} /> Environment</label>
          <label className="radio"><input type="radio" name={`${id}-credentials`} checked={value.credentials === 'profile'} onChange={() => set('credentials', 'profile')} /> AWS profile</label>
          <label className="radio"><input type="radio" name={`${id}-credentials`} checked={value.credentials === 'file'} onChange={() => set('credentials', 'file')} /> Credentials file</label>
        </div>
        {value.credentials === 'environment' && (
          <div className="hint">AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the Blockvault process, else [default] of ~/.aws/credentials</div>
        )}
      </div>
      {value.credentials === 'profile' && input('profile', 'Profile name', 'backup', 'a section of ~/.aws/credentials on the machine that runs Blockvault')}
      {value.credentials === 'file' && (
        <>
          <PathField label="Credentials file" value={value.credentialsFile} onChange={(path) => set('credentialsFile', path)} purpose="credentialsFile" placeholder="/etc/blockvault/s3-credentials" />
          <div className="hint s3-file-format">
            read by Blockvault, never shown here: <code>aws_access_key_id = …</code> and <code>aws_secret_access_key = …</code> lines (AWS credentials-file format)
          </div>
        </>
      )}
    </fieldset>
  );
}

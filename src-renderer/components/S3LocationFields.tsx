// Where an S3 repository is and how to reach it: endpoint URL, bucket, prefix, region, the
// path-style switch and the credentials source (the main process's environment, a profile of
// ~/.aws/credentials, or a credentials file it reads). The renderer never holds a secret key:
// the API takes a profile name or a file's path, never a key. Reused by the repository screen
// (create, open) and by the "Copy to..." dialog; `s3LocationOf` / `s3ConnectionOf` turn the
// fields into the API's `path` and `s3` arguments. `S3TestConnection` is the "Test connection"
// button with its verdict: the exact failure, or what the prefix holds.
import { useEffect, useId, useState, type KeyboardEvent } from 'react';
import type { S3ConnectionFailure, S3ConnectionTest } from '../../src-shared/api/types';
import { toApiError } from '../api/client';
import { useApi } from '../store';
import { PathField } from './PathField';
import { s3ConnectionOf, s3LocationOf, s3LocationProblems, s3LocationReady, type S3LocationValue } from './s3-location';

export { EMPTY_S3_LOCATION, s3ConnectionOf, s3LocationOf, s3LocationProblems, s3LocationReady, s3LocationValue } from './s3-location';
export type { S3CredentialSource, S3LocationValue } from './s3-location';

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
      <label className="checkbox s3-path-style" title="the bucket name goes in the URL's path (http://host/bucket/key) instead of the host name">
        <input type="checkbox" checked={value.pathStyle} onChange={(event) => set('pathStyle', event.target.checked)} /> Path-style addressing (RGW, MinIO)
      </label>
      <div className="row wrap top s3-place">
        {input('bucket', 'Bucket', 'backups', 'must exist already')}
        {input('prefix', 'Prefix', 'site-a', 'a folder inside the bucket; empty: the bucket itself')}
        {input('region', 'Region', 'us-east-1', 'empty: us-east-1 (RGW accepts any)')}
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
          <PathField label="Credentials file path" value={value.credentialsFile} onChange={(path) => set('credentialsFile', path)} purpose="credentialsFile" placeholder="/etc/blockvault/s3-credentials" />
          <div className="hint s3-file-format">
            read by Blockvault, never shown here: <code>aws_access_key_id = …</code> and <code>aws_secret_access_key = …</code> lines (AWS credentials-file format)
          </div>
        </>
      )}
    </fieldset>
  );
}

/** The failure kinds as people read them. */
const FAILURE_TITLES: Record<S3ConnectionFailure, string> = {
  dns: 'Host name does not resolve',
  refused: 'Connection refused',
  unreachable: 'Host unreachable',
  tls: 'TLS failed',
  timeout: 'No answer (timeout)',
  unauthorized: 'Access denied (403)',
  'no-bucket': 'No such bucket',
  credentials: 'No credentials',
  invalid: 'Settings not usable',
  other: 'Failed',
};

/** What the test's success means for what the form is about to do. */
function contentsAdvice(result: Extract<S3ConnectionTest, { ok: true }>, purpose: 'open' | 'create' | 'copy'): { text: string; tone: 'good' | 'warn' } {
  if (result.contents === 'repository') {
    const what = `holds a Blockvault repository${result.repository?.encrypted ? ' (encrypted)' : ''}`;
    return purpose === 'create' ? { text: `${what}: open it instead of creating one`, tone: 'warn' } : { text: `${what}: ready to ${purpose === 'copy' ? 'copy into' : 'open'}`, tone: 'good' };
  }
  if (result.contents === 'empty') {
    if (purpose === 'copy') return { text: 'is empty: no repository to copy into yet (create one here first, with the same block size)', tone: 'warn' };
    return purpose === 'open' ? { text: 'is empty: no repository to open here (create one instead)', tone: 'warn' } : { text: 'is empty: a new repository can be created here', tone: 'good' };
  }
  return { text: `holds other data (${result.example ?? 'objects'}): choose another prefix`, tone: 'warn' };
}

/**
 * "Test connection": asks the main process to reach the bucket with these settings (nothing
 * is written) and shows the verdict. A changed field clears it.
 */
export function S3TestConnection({ value, purpose }: { value: S3LocationValue; purpose: 'open' | 'create' | 'copy' }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<S3ConnectionTest | { ok: false; failure: 'invalid'; code: string; message: string; detail?: string } | null>(null);
  const key = JSON.stringify(value);
  useEffect(() => setResult(null), [key]);
  const ready = s3LocationReady(value);
  const run = async (): Promise<void> => {
    setBusy(true);
    setResult(null);
    try {
      setResult(await api.testS3Connection({ path: s3LocationOf(value), s3: s3ConnectionOf(value) }));
    } catch (error) {
      const e = toApiError(error);
      setResult({ ok: false, failure: 'invalid', code: e.code, message: e.message });
    } finally {
      setBusy(false);
    }
  };
  const advice = result?.ok ? contentsAdvice(result, purpose) : null;
  return (
    <div className="s3-test">
      <button type="button" onClick={() => void run()} disabled={!ready || busy}>{busy ? 'Testing…' : 'Test connection'}</button>
      {result && (
        result.ok ? (
          <div className={`notice ${advice!.tone === 'good' ? 'success' : 'warning'} s3-test-result`} role="status" data-testid="s3-test-result" data-contents={result.contents}>
            <strong>{advice!.tone === 'good' ? '✓' : '⚠'} Connected</strong> to {result.endpoint ?? 'AWS'} in {result.elapsedMs} ms:{' '}
            <span className="mono">{result.location}</span> {advice!.text}.
          </div>
        ) : (
          <div className="notice error s3-test-result" role="alert" data-testid="s3-test-result" data-failure={result.failure}>
            <div>
              <strong>✕ {FAILURE_TITLES[result.failure]}</strong> <code className="code">{result.code}</code>
              <div>{result.message}</div>
              {result.detail && result.detail !== result.message && (
                <details className="small-text"><summary>details</summary><span className="mono">{result.detail}</span></details>
              )}
            </div>
          </div>
        )
      )}
    </div>
  );
}

/**
 * Folder | S3: where a repository to open, create or copy into lives. A radio group as the
 * ARIA pattern has it: one tab stop (the chosen kind), arrow keys move the choice.
 */
export function StoreKindSwitch({ value, onChange, label }: { value: 'folder' | 's3'; onChange(value: 'folder' | 's3'): void; label: string }) {
  const kinds = ['folder', 's3'] as const;
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>): void => {
    if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(event.key)) return;
    event.preventDefault();
    const next = value === 'folder' ? 's3' : 'folder';
    onChange(next);
    event.currentTarget.querySelector<HTMLButtonElement>(`[data-kind="${next}"]`)?.focus();
  };
  return (
    <div className="segmented" role="radiogroup" aria-label={label} onKeyDown={onKeyDown}>
      {kinds.map((kind) => (
        <button key={kind} type="button" role="radio" data-kind={kind} aria-checked={value === kind} tabIndex={value === kind ? 0 : -1} className={value === kind ? 'selected' : ''} onClick={() => onChange(kind)}>
          {kind === 'folder' ? 'Folder' : 'S3'}
        </button>
      ))}
    </div>
  );
}

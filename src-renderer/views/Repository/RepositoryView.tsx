// Repository screen: the open repository's summary (its store and where it is, encryption,
// versions, stored bytes, dedupe ratio, last scrub, health), and forms to open or create one
// in a folder or an S3 bucket (optionally encrypted), with the recent list. Opening an
// encrypted repository asks in the passphrase dialog.
import { useEffect, useState, type FormEvent } from 'react';
import type { S3ConnectionArgs } from '../../../src-shared/api/contract';
import type { StoreLocation } from '../../../src-shared/api/types';
import { humanBytes, plural } from '../../../src-shared/api/format';
import { MAX_PASSPHRASE_LENGTH, MIN_PASSPHRASE_LENGTH, passphraseStrength } from '../../../src-shared/api/passphrase';
import { EmptyState, formatDate, humanAge, KeyValue, LockIcon, Stat } from '../../components/common';
import { PathField } from '../../components/PathField';
import { EMPTY_S3_LOCATION, S3LocationFields, s3ConnectionOf, s3LocationOf, s3LocationReady, S3TestConnection, StoreKindSwitch, type S3LocationValue } from '../../components/S3LocationFields';
import { DisksDashboard } from './DisksDashboard';
import { HealthVerdict, VerificationStat } from './Health';
import { useApp } from '../../store';
import { navigate } from '../../store/navigate';

const BLOCK_SIZES = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].map((k) => k * 1024);
const COMPRESSIONS = ['zstd:1', 'zstd:3', 'zstd:9', 'zstd:19', 'none'];

function Summary() {
  const repository = useApp((s) => s.repository)!;
  const summary = useApp((s) => s.summary);
  const closeRepository = useApp((s) => s.closeRepository);
  const loadSummary = useApp((s) => s.loadSummary);
  useEffect(() => {
    void loadSummary();
  }, [loadSummary]);
  const settings = repository.settings;
  return (
    <section className="card">
      <div className="row">
        <h2 className="grow">Repository <span className="mono small-text">{repository.path}</span></h2>
        <EncryptionBadge encrypted={settings.encrypted} />
        <button type="button" onClick={() => void closeRepository()}>Close</button>
      </div>
      <StoreLine store={repository.store} />
      {!summary ? (
        <p className="muted">Loading summary…</p>
      ) : (
        <>
          <HealthVerdict summary={summary} />
          <div className="stats">
            <Stat label="Versions" value={summary.versions} hint={`${summary.validVersions} valid · ${summary.invalidVersions} invalid${summary.incompleteVersions ? ` · ${summary.incompleteVersions} incomplete` : ''}`} tone={summary.invalidVersions ? 'bad' : undefined} />
            <Stat label="Disks" value={summary.names} hint={`${summary.protectedVersions} protected versions`} />
            <Stat label="Backed-up data" value={humanBytes(summary.logicalBytes)} hint={`${humanBytes(summary.referencedBytes)} non-zero`} />
            <Stat label="Stored" value={humanBytes(summary.storedBytes)} hint={`${summary.objects.toLocaleString()} objects`} />
            <Stat label="Dedupe ratio" value={`${summary.dedupeRatio.toFixed(2)}×`} hint={`compression ${summary.compressionRatio.toFixed(2)}×`} tone="good" />
            <Stat label="Last backup" value={summary.lastBackup ? `${humanAge(Date.now() - Date.parse(summary.lastBackup))} ago` : 'never'} hint={summary.lastBackup ? formatDate(summary.lastBackup) : undefined} />
            <VerificationStat summary={summary} />
          </div>
          <DisksDashboard />
          {summary.versions === 0 && (
            <EmptyState title="No backups yet">
              <p>This repository is empty. Back up a disk image or block device to create the first version.</p>
              <button type="button" className="primary" onClick={() => navigate({ view: 'backup' })}>Back up now</button>
            </EmptyState>
          )}
        </>
      )}
      <div className="columns settings-lists">
        <div>
          <h3>Fixed at creation</h3>
          <KeyValue rows={[
            ['Block size', humanBytes(settings.blockSize)],
            ['Compression', settings.compression],
            ['Hash', settings.hash],
            ['Encryption', settings.encrypted ? 'AES-256-GCM (opening asks for the passphrase)' : 'none'],
            ['Created', formatDate(settings.created)],
            ['Repository id', <span className="mono" key="id">{settings.id}</span>],
          ]} />
        </div>
        <div>
          <h3>Adjustable <a className="small-text" href="#/settings">(Settings)</a></h3>
          <KeyValue rows={[
            ['Minimum age before removal', plural(settings.minAgeDays, 'day')],
            ['Cleanup grace period', `${settings.cleanupGraceSeconds.toLocaleString()} s (${humanAge(settings.cleanupGraceSeconds * 1000)})`],
            ['Jobs running at once', String(repository.maxConcurrentJobs)],
          ]} />
        </div>
      </div>
    </section>
  );
}

/** Where the repository's objects are: a folder, or an S3 endpoint, bucket and prefix. */
function StoreLine({ store }: { store: StoreLocation }) {
  const rows: Array<[string, string]> = store.kind === 'folder'
    ? [['Path', store.path]]
    : [
        ['Endpoint', store.endpoint ?? 'AWS'],
        ['Bucket', store.bucket],
        ['Prefix', store.prefix || '(none)'],
        ['Region', store.region],
        ['Addressing', store.pathStyle ? 'path-style' : 'virtual-hosted'],
        ['Metadata cache', store.metadataFile],
      ];
  return (
    <div className="store-line" data-testid="store-line" data-kind={store.kind}>
      <span className={`badge store-kind ${store.kind}`} title={store.kind === 'folder' ? 'objects are files in a folder' : 'objects are in an S3 bucket; the metadata is a local cache'}>
        {store.kind === 'folder' ? 'Folder' : 'S3'}
      </span>
      <dl>
        {rows.map(([label, value]) => (
          <div key={label}><dt>{label}</dt><dd className={label === 'Addressing' ? '' : 'mono'}>{value}</dd></div>
        ))}
      </dl>
    </div>
  );
}

function EncryptionBadge({ encrypted }: { encrypted: boolean }) {
  return encrypted ? (
    <span className="badge encrypted large" data-testid="encryption-badge" title="objects are encrypted with AES-256-GCM; opening needs the passphrase"><LockIcon /> Encrypted · AES-256-GCM</span>
  ) : (
    <span className="badge large" data-testid="encryption-badge" title="objects are stored unencrypted">Not encrypted</span>
  );
}

function StrengthHint({ passphrase }: { passphrase: string }) {
  if (!passphrase) return <div className="hint">at least {MIN_PASSPHRASE_LENGTH} characters; a few unrelated words make a strong one</div>;
  const { bits, verdict } = passphraseStrength(passphrase);
  const short = passphrase.length < MIN_PASSPHRASE_LENGTH;
  return (
    <div className="strength" data-verdict={short ? 'too-short' : verdict} aria-live="polite">
      <div className={`strength-bar strength-${short ? 'weak' : verdict}`} aria-hidden="true"><span style={{ width: `${Math.min(100, (bits / 100) * 100)}%` }} /></div>
      <div className="hint">
        Strength: <strong className={`strength-text-${short ? 'weak' : verdict}`}>{short ? `too short (at least ${MIN_PASSPHRASE_LENGTH} characters)` : verdict}</strong> · about {bits} bits
      </div>
    </div>
  );
}

function OpenForm() {
  const openRepository = useApp((s) => s.openRepository);
  const [kind, setKind] = useState<'folder' | 's3'>('folder');
  const [path, setPath] = useState('');
  const [s3, setS3] = useState<S3LocationValue>(EMPTY_S3_LOCATION);
  const ready = kind === 'folder' ? path !== '' : s3LocationReady(s3);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!ready) return;
    const opened = kind === 'folder' ? await openRepository(path) : await openRepository(s3LocationOf(s3), undefined, s3ConnectionOf(s3));
    if (opened) navigate({ view: 'versions' });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="open-title">
      <div className="row form-title">
        <h2 id="open-title" className="grow">Open a repository</h2>
        <StoreKindSwitch value={kind} onChange={setKind} label="Where the repository to open is" />
      </div>
      {kind === 'folder' ? (
        <PathField label="Repository folder" value={path} onChange={setPath} purpose="openRepository" placeholder="/srv/backups/repository" />
      ) : (
        <>
          <S3LocationFields value={s3} onChange={setS3} legend="S3 bucket and prefix of the repository" />
          <S3TestConnection value={s3} purpose="open" />
        </>
      )}
      <button type="submit" className="primary" disabled={!ready}>Open</button>
    </form>
  );
}

function CreateForm() {
  const createRepository = useApp((s) => s.createRepository);
  const [kind, setKind] = useState<'folder' | 's3'>('folder');
  const [path, setPath] = useState('');
  const [s3, setS3] = useState<S3LocationValue>(EMPTY_S3_LOCATION);
  const placeReady = kind === 'folder' ? path !== '' : s3LocationReady(s3);
  const [blockSize, setBlockSize] = useState(4 * 1024 * 1024);
  const [compression, setCompression] = useState('zstd:1');
  const [encrypt, setEncrypt] = useState(false);
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [acknowledged, setAcknowledged] = useState(false);
  const mismatch = confirm.length > 0 && confirm !== passphrase;
  const encryptionReady = !encrypt || (passphrase.length >= MIN_PASSPHRASE_LENGTH && confirm === passphrase && acknowledged);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!placeReady || !encryptionReady) return;
    const place = kind === 'folder' ? { path } : { path: s3LocationOf(s3), s3: s3ConnectionOf(s3) };
    const args = encrypt ? { ...place, blockSize, compression, encrypt: true, passphrase } : { ...place, blockSize, compression };
    if (await createRepository(args)) {
      // Nothing keeps the passphrase once the repository exists.
      setPassphrase('');
      setConfirm('');
      setAcknowledged(false);
      navigate({ view: 'repository' });
      // The summary of the new repository is at the top: show it, not the old form.
      document.getElementById('main')?.scrollTo({ top: 0 });
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-title">
      <div className="row form-title">
        <h2 id="create-title" className="grow">Create a repository</h2>
        <StoreKindSwitch value={kind} onChange={setKind} label="Where the new repository goes" />
      </div>
      {kind === 'folder' ? (
        <PathField label="New or empty folder" value={path} onChange={setPath} purpose="createRepository" placeholder="/srv/backups/new-repository" />
      ) : (
        <>
          <S3LocationFields value={s3} onChange={setS3} legend="S3 bucket (must exist) and an empty prefix" />
          <S3TestConnection value={s3} purpose="create" />
        </>
      )}
      <div className="row wrap top">
        <div className="field">
          <label htmlFor="create-block-size">Block size</label>
          <select id="create-block-size" value={blockSize} onChange={(e) => setBlockSize(Number(e.target.value))}>
            {BLOCK_SIZES.map((size) => <option key={size} value={size}>{humanBytes(size)}{size === 4 * 1024 * 1024 ? ' (default)' : ''}</option>)}
          </select>
          <div className="hint">fixed for the life of the repository</div>
        </div>
        <div className="field">
          <label htmlFor="create-compression">Compression</label>
          <select id="create-compression" value={compression} onChange={(e) => setCompression(e.target.value)}>
            {COMPRESSIONS.map((c) => <option key={c} value={c}>{c}{c === 'zstd:1' ? ' (fast, default)' : ''}</option>)}
          </select>
          <div className="hint">zstd level: higher is smaller and slower</div>
        </div>
      </div>
      <label className="checkbox">
        <input type="checkbox" checked={encrypt} onChange={(e) => setEncrypt(e.target.checked)} /> Encrypt (AES-256-GCM)
      </label>
      {encrypt && (
        <fieldset className="encryption">
          <legend>Encryption</legend>
          <div className="field">
            <label htmlFor="create-passphrase">Passphrase</label>
            <input id="create-passphrase" type="password" autoComplete="new-password" maxLength={MAX_PASSPHRASE_LENGTH} value={passphrase} onChange={(e) => setPassphrase(e.target.value)} />
            <StrengthHint passphrase={passphrase} />
          </div>
          <div className="field">
            <label htmlFor="create-passphrase-confirm">Repeat the passphrase</label>
            <input id="create-passphrase-confirm" type="password" autoComplete="new-password" maxLength={MAX_PASSPHRASE_LENGTH} value={confirm} onChange={(e) => setConfirm(e.target.value)} aria-invalid={mismatch || undefined} />
            {mismatch && <div className="hint bad">the passphrases differ</div>}
            {!mismatch && confirm.length > 0 && <div className="hint good">the passphrases match</div>}
          </div>
          <div className="warning" role="note">
            <strong>⚠ A lost passphrase means lost data.</strong> Nobody can open this repository or restore
            anything from it without the passphrase (or a key file added later with <code>blockvault key add</code>);
            there is no reset and no back door. Keep it in a password manager or another safe place.
          </div>
          <label className="checkbox acknowledge">
            <input type="checkbox" checked={acknowledged} onChange={(e) => setAcknowledged(e.target.checked)} /> I understand that if I lose the passphrase, the backups in this repository are lost
          </label>
        </fieldset>
      )}
      <button type="submit" className="primary" disabled={!placeReady || !encryptionReady}>Create</button>
    </form>
  );
}

function Recent() {
  const recent = useApp((s) => s.recent);
  const current = useApp((s) => s.repository?.path);
  const openRepository = useApp((s) => s.openRepository);
  const askPassphrase = useApp((s) => s.askPassphrase);
  const forgetRecent = useApp((s) => s.forgetRecent);
  return (
    <section className="card" aria-labelledby="recent-title">
      <h2 id="recent-title">Recent repositories</h2>
      {recent.length === 0 ? (
        <p className="muted">None yet: repositories you open or create appear here.</p>
      ) : (
        <ul className="recent">
          {recent.map((r) => (
            <li key={r.path} className="row">
              <button type="button" className="link grow mono" disabled={r.path === current} onClick={() => (r.encrypted ? askPassphrase(r.path, r.s3) : void openRepository(r.path, undefined, r.s3))}>
                {r.path}
              </button>
              {r.s3 && <span className="badge store-kind s3" title={s3Description(r.s3)}>S3 · {endpointHost(r.s3.endpoint)}</span>}
              {r.encrypted && <span className="badge encrypted" title="encrypted: opening asks for the passphrase"><LockIcon /> encrypted</span>}
              <span className="muted small-text">{r.path === current ? 'open now' : formatDate(r.lastOpened, 'minutes')}</span>
              <button type="button" className="small ghost" aria-label={`Forget ${r.path}`} onClick={() => void forgetRecent(r.path)}>✕</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** host:port of an endpoint URL; AWS when there is none. */
function endpointHost(endpoint: string | undefined): string {
  if (!endpoint) return 'AWS';
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

/** How a recent S3 repository is reached, for its tooltip (no secret is ever kept). */
function s3Description(s3: S3ConnectionArgs): string {
  const credentials = s3.credentialsFile ? `credentials file ${s3.credentialsFile}` : s3.profile ? `profile ${s3.profile}` : 'credentials from the environment';
  return `${s3.endpoint ?? 'AWS'}${s3.region ? ` (${s3.region})` : ''}${s3.pathStyle ? ', path-style' : ''}; ${credentials}`;
}

export function RepositoryView() {
  const repository = useApp((s) => s.repository);
  return (
    <div className="view">
      <h1>Repository</h1>
      {repository && <Summary />}
      <div className="columns">
        <div>
          <OpenForm />
          <Recent />
        </div>
        <CreateForm />
      </div>
    </div>
  );
}

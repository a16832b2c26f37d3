// "Serve over NBD": exports a version on a Unix socket or a 127.0.0.1 port (read-only, or with
// a copy-on-write overlay whose changes may be saved as a new version when it stops), then
// shows its address and the commands that attach it, each ready to copy; the list of active
// servings with their counters and Stop.
import { useEffect, useRef, useState, type RefObject } from 'react';
import { plural, shortUid } from '../../../src-shared/api/format';
import type { ServeNbdArgs } from '../../../src-shared/api/contract';
import type { NbdServing } from '../../../src-shared/api/types';
import type { Version } from '../../../src-shared/model';
import { toApiError } from '../../api/client';
import { ErrorBox, humanAge } from '../../components/common';
import { useApp } from '../../store';

/** What each attach command is for, by the program (and subcommand) it starts with. */
export function attachPurpose(command: string): string {
  if (command.startsWith('qemu-img info')) return 'Size and format';
  if (command.startsWith('qemu-img convert')) return 'Copy the disk to a raw file';
  if (command.startsWith('nbdinfo --map')) return 'Which ranges hold data and which are holes';
  if (command.includes('nbdfuse')) return 'Mount as a file (FUSE): the disk appears as MOUNTPOINT/nbd; then mount -o ro,loop MOUNTPOINT/nbd /mnt';
  if (command.startsWith('qemu-nbd')) return 'Kernel block device /dev/nbd0 (needs modprobe nbd; disconnect with qemu-nbd -d /dev/nbd0)';
  if (command.startsWith('nbd-client')) return 'Kernel block device with nbd-client (needs modprobe nbd; disconnect with nbd-client -d /dev/nbd0)';
  return '';
}

/** Copies text to the clipboard; where the clipboard is not allowed, selects it for Ctrl+C. */
function CopyButton({ text, label, target }: { text: string; label: string; target: RefObject<HTMLElement | null> }) {
  const [done, setDone] = useState<'copied' | 'selected' | null>(null);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text);
      setDone('copied');
    } catch {
      const node = target.current;
      if (node) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const selection = window.getSelection();
        selection?.removeAllRanges();
        selection?.addRange(range);
      }
      setDone('selected');
    }
    setTimeout(() => setDone(null), 2000);
  };
  return <button type="button" className="small" aria-label={label} onClick={() => void copy()}>{done === 'copied' ? 'Copied' : done === 'selected' ? 'Ctrl+C' : 'Copy'}</button>;
}

function CommandLine({ command, purpose }: { command: string; purpose: string }) {
  const ref = useRef<HTMLElement>(null);
  return (
    <li className="attach-line">
      <div className="small-text muted">{purpose}</div>
      <div className="row">
        <code ref={ref} className="mono grow attach-command">{command}</code>
        <CopyButton text={command} label={`Copy: ${purpose || command}`} target={ref} />
      </div>
    </li>
  );
}

/** The address and attach commands of a running serving, with its counters. */
export function ServingDetails({ serving }: { serving: NbdServing }) {
  const urlRef = useRef<HTMLElement>(null);
  return (
    <div className="serving-details" data-serving={serving.id}>
      <div className="field">
        <span className="label-like">Address</span>
        <div className="row">
          <code ref={urlRef} className="mono grow serving-url">{serving.url}</code>
          <CopyButton text={serving.url} label="Copy the address" target={urlRef} />
        </div>
      </div>
      <p className="small-text serving-counters">
        {serving.cow ? <span className="badge incomplete">copy-on-write</span> : <span className="badge valid">read-only</span>}{' '}
        {plural(serving.connections, 'client')} connected · {plural(serving.blocksVerified, 'block')} read and verified
        {serving.cow && <> · {plural(serving.changedBlocks, 'block')} changed in the overlay</>}
      </p>
      {serving.cow && <p className="small-text">{serving.saveAs ? <>When it stops, the changes are saved as a new version <strong>{serving.saveAs}</strong> (base: this version).</> : 'When it stops, the changes are dropped.'}</p>}
      {serving.lastError && <ErrorBox title="Last error sent to a client" message={serving.lastError} />}
      <h3>Attach it</h3>
      <ul className="attach-list">
        {serving.attach.map((command) => <CommandLine key={command} command={command} purpose={attachPurpose(command)} />)}
      </ul>
    </div>
  );
}

/** Polls the servings every 2 s while mounted. */
export function useServings(): NbdServing[] {
  const servings = useApp((s) => s.servings);
  const load = useApp((s) => s.loadServings);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [load]);
  return servings;
}

/** Stop (and save, for a copy-on-write serving with a name): busy while its save job runs. */
function StopButton({ serving, stop, onStopped, large }: { serving: NbdServing; stop(id: string): Promise<NbdServing | null>; onStopped?: () => void; large?: boolean }) {
  const [busy, setBusy] = useState(false);
  const label = serving.saveAs ? 'Stop and save' : large ? 'Stop serving' : 'Stop';
  return (
    <button
      type="button"
      className={large ? 'danger' : 'small danger'}
      disabled={busy}
      title={serving.saveAs ? `stops serving and saves the changes as a new version ${serving.saveAs}` : undefined}
      onClick={() => {
        setBusy(true);
        void stop(serving.id).then((stopped) => {
          setBusy(false);
          if (stopped) onStopped?.();
        });
      }}
    >
      {busy ? (serving.saveAs ? 'Saving…' : 'Stopping…') : label}
    </button>
  );
}

/** Active servings (of one version, or all) with Stop; nothing when there are none. */
export function ServingsList({ uid, title }: { uid?: string; title: string }) {
  const all = useServings();
  const stop = useApp((s) => s.stopServing);
  const versions = useApp((s) => s.versions);
  const servings = uid ? all.filter((s) => s.uid === uid) : all;
  if (servings.length === 0) return null;
  return (
    <section className="card servings" aria-labelledby="servings-title">
      <h2 id="servings-title">{title}</h2>
      <div className="table-scroll">
        <table className="table compact servings-table">
          <thead><tr><th>Version</th><th>Address</th><th>Mode</th><th>Serving for</th><th className="num">Clients</th><th className="num">Blocks verified</th><th /></tr></thead>
          <tbody>
            {servings.map((s) => {
              const version = versions.find((v) => v.uid === s.uid);
              return (
                <tr key={s.id} data-serving={s.id}>
                  <td><a href={`#/version/${s.uid}`}>{version ? version.name : ''} <span className="mono">{shortUid(s.uid)}</span></a></td>
                  <td>
                    <span className="mono serving-url">{s.url}</span>
                    <details className="attach-details">
                      <summary>Attach commands</summary>
                      <ul className="attach-list">
                        {s.attach.map((command) => <CommandLine key={command} command={command} purpose={attachPurpose(command)} />)}
                      </ul>
                    </details>
                  </td>
                  <td>{s.cow ? `copy-on-write (${plural(s.changedBlocks, 'block')} changed${s.saveAs ? `, saved as ${s.saveAs} at stop` : ''})` : 'read-only'}{s.lastError && <div className="bad small-text">last error: {s.lastError}</div>}</td>
                  <td className="nowrap">{humanAge(Date.now() - s.started)}</td>
                  <td className="num">{s.connections}</td>
                  <td className="num">{s.blocksVerified.toLocaleString()}</td>
                  <td className="nowrap"><StopButton serving={s} stop={stop} /></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function ServeNbdDialog({ version, onClose }: { version: Version; onClose(): void }) {
  const startServing = useApp((s) => s.startServing);
  const stopServing = useApp((s) => s.stopServing);
  const servings = useServings();
  const [servingId, setServingId] = useState<string | null>(null);
  const serving = servings.find((s) => s.id === servingId) ?? null;
  const [kind, setKind] = useState<'socket' | 'port'>('socket');
  const [socket, setSocket] = useState(`/tmp/blockvault-nbd-${version.uid.slice(0, 8)}.sock`);
  const [port, setPort] = useState('0');
  const [cow, setCow] = useState(false);
  const [saveAs, setSaveAs] = useState('');
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<{ code: string; message: string } | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const portNumber = Number(port);
  const portOk = /^\d+$/.test(port.trim()) && portNumber <= 65535;
  const socketOk = socket.trim().startsWith('/');
  const start = async (): Promise<void> => {
    setBusy(true);
    setRefusal(null);
    const save = cow && saveAs.trim() ? { saveAs: saveAs.trim() } : {};
    const args: ServeNbdArgs = kind === 'socket' ? { uid: version.uid, socket: socket.trim(), cow, ...save } : { uid: version.uid, port: portNumber, cow, ...save };
    try {
      setServingId((await startServing(args)).id);
    } catch (error) {
      setRefusal(toApiError(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      className="modal serve-dialog"
      aria-labelledby="serve-title"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!servingId && !busy) void start();
        }}
      >
        <h2 id="serve-title">Serve over NBD</h2>
        <p className="small-text">
          <strong>{version.name}</strong>{version.snapshot && <> / {version.snapshot}</>} <span className="mono">{shortUid(version.uid)}</span>: every block is checked against its digest as a client reads it.
        </p>
        {!servingId ? (
          <>
            <fieldset className="plain">
              <legend>Listen on</legend>
              <label className="radio">
                <input type="radio" name="listen" checked={kind === 'socket'} onChange={() => setKind('socket')} /> a Unix socket <span className="muted small-text">(only users who may write the socket can connect)</span>
              </label>
              {kind === 'socket' && (
                <div className="field indent">
                  <label htmlFor="serve-socket" className="visually-hidden">Socket path</label>
                  <input id="serve-socket" className="mono" value={socket} onChange={(e) => setSocket(e.target.value)} spellCheck={false} aria-invalid={!socketOk || undefined} />
                  <div className={`hint ${socketOk ? '' : 'bad'}`}>{socketOk ? 'an absolute path where no file exists yet' : 'must be an absolute path'}</div>
                </div>
              )}
              <label className="radio">
                <input type="radio" name="listen" checked={kind === 'port'} onChange={() => setKind('port')} /> a TCP port on 127.0.0.1 <span className="muted small-text">(any local user can connect)</span>
              </label>
              {kind === 'port' && (
                <div className="field indent">
                  <label htmlFor="serve-port" className="visually-hidden">Port</label>
                  <input id="serve-port" className="narrow" inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} aria-invalid={!portOk || undefined} />
                  <div className={`hint ${portOk ? '' : 'bad'}`}>{portOk ? '0 picks a free port; 10809 is the NBD default' : 'a whole number from 0 to 65535'}</div>
                </div>
              )}
            </fieldset>
            <label className="checkbox">
              <input type="checkbox" checked={cow} onChange={(e) => setCow(e.target.checked)} /> Copy-on-write: accept writes into a temporary overlay
            </label>
            <div className="hint">{cow ? 'Writes go to a temporary file, removed when the serving stops; the version itself never changes.' : 'Read-only: clients that write get an error.'}</div>
            {cow && (
              <div className="field indent save-as">
                <label htmlFor="serve-save-as">Save the changes as a new version named <span className="muted">(optional)</span></label>
                <input id="serve-save-as" value={saveAs} placeholder={version.name} onChange={(e) => setSaveAs(e.target.value)} />
                <div className="hint">{saveAs.trim() ? `When the serving stops, its disk becomes a new version "${saveAs.trim()}" whose base is this one (only the changed blocks are read); a job in Jobs.` : 'Empty: the changes are dropped when the serving stops.'}</div>
              </div>
            )}
            {refusal && <ErrorBox title="Refused" code={refusal.code} message={refusal.message} />}
            <div className="wizard-nav">
              <button type="button" onClick={onClose}>Cancel</button>
              <button type="submit" className="primary" disabled={busy || (kind === 'socket' ? !socketOk : !portOk)}>{busy ? 'Starting…' : 'Start serving'}</button>
            </div>
          </>
        ) : serving ? (
          <>
            <div className="notice success" role="status">Serving. It runs until you stop it or Blockvault exits.</div>
            <ServingDetails serving={serving} />
            <div className="wizard-nav">
              <StopButton serving={serving} stop={stopServing} onStopped={onClose} large />
              <button type="button" className="primary" onClick={onClose}>Close (keeps serving)</button>
            </div>
          </>
        ) : (
          <>
            <p className="muted">This serving has stopped.</p>
            <div className="wizard-nav"><button type="button" className="primary" onClick={onClose}>Close</button></div>
          </>
        )}
      </form>
    </dialog>
  );
}

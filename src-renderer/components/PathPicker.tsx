// The server-side path picker of web mode (the desktop app uses native dialogs): browses the
// server's folders one at a time through `browsePath`, showing only what the server's user
// can read, with sizes, and block devices with their /dev/disk/by-id names. Enter on an entry
// opens a folder or picks a file; Escape closes.
import { useEffect, useRef, useState } from 'react';
import { humanBytes, plural } from '../../src-shared/api/format';
import type { BrowseEntry, BrowseListing, PickPurpose } from '../../src-shared/api/types';
import { toApiError } from '../api/client';
import { useApi } from '../store';
import { ErrorBox } from './common';

const FOLDER_PURPOSES: PickPurpose[] = ['openRepository', 'createRepository'];
const NEW_FILE_PURPOSES: PickPurpose[] = ['target', 'exportFile'];

function parentOf(path: string): string | undefined {
  if (!path.startsWith('/')) return undefined;
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export function PathPicker({ open, purpose, current, label, onPick, onClose }: {
  open: boolean;
  purpose: PickPurpose;
  /** the field's value: browsing starts in its folder */
  current: string;
  label: string;
  onPick(path: string): void;
  onClose(): void;
}) {
  const api = useApi();
  const ref = useRef<HTMLDialogElement>(null);
  const [listing, setListing] = useState<BrowseListing | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const load = (path?: string): void => {
    setError(null);
    api.browsePath({ purpose, ...(path ? { path } : {}) }).then(setListing, (e) => {
      setError(toApiError(e));
      if (path) api.browsePath({ purpose }).then(setListing, () => {});
    });
  };
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      dialog.showModal();
      load(FOLDER_PURPOSES.includes(purpose) && current ? current : parentOf(current));
    }
    if (!open && dialog.open) dialog.close();
    // load is recreated each render; opening is what matters here
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const choose = (entry: BrowseEntry): void => {
    if (entry.kind === 'directory') load(entry.path);
    else {
      onPick(entry.path);
      onClose();
    }
  };
  const folderPick = FOLDER_PURPOSES.includes(purpose) || NEW_FILE_PURPOSES.includes(purpose);
  const showDevices = purpose === 'source' || purpose === 'target';
  return (
    <dialog
      ref={ref}
      className="modal picker"
      aria-labelledby="picker-title"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      {open && (
        <div>
          <h2 id="picker-title">{label}</h2>
          <p className="small-text muted">On the server, as its user sees it: only what that user can read.</p>
          {error && <ErrorBox code={error.code} message={error.message} />}
          {listing && (
            <>
              <div className="row picker-path">
                <button type="button" className="small" disabled={!listing.parent} onClick={() => listing.parent && load(listing.parent)} aria-label="Up one folder">↑ Up</button>
                <span className="mono grow" data-testid="picker-path">{listing.path}</span>
                {folderPick && (
                  <button type="button" className="small primary" onClick={() => { onPick(NEW_FILE_PURPOSES.includes(purpose) ? `${listing.path.replace(/\/$/, '')}/` : listing.path); onClose(); }}>
                    {NEW_FILE_PURPOSES.includes(purpose) ? 'Into this folder' : 'Choose this folder'}
                  </button>
                )}
              </div>
              <ul className="picker-list" aria-label={`Contents of ${listing.path}`}>
                {listing.entries.length === 0 && <li className="muted">Empty{listing.hidden ? ` (${plural(listing.hidden, 'entry', 'entries')} the server's user cannot read)` : ''}</li>}
                {listing.entries.map((entry) => (
                  <li key={entry.path}>
                    <button type="button" className="picker-entry" onClick={() => choose(entry)}>
                      <span className="grow">{entry.name}{entry.kind === 'directory' ? '/' : ''}{entry.byId.length > 0 && <span className="muted small-text"> · {entry.byId[0]}</span>}</span>
                      <span className="muted small-text">{entry.kind === 'directory' ? 'folder' : `${entry.kind === 'device' ? 'device, ' : ''}${humanBytes(entry.size)}`}</span>
                    </button>
                  </li>
                ))}
              </ul>
              {(listing.hidden > 0 || listing.truncated) && (
                <p className="small-text muted">{listing.hidden > 0 ? `${plural(listing.hidden, 'entry', 'entries')} not shown: the server's user cannot read them. ` : ''}{listing.truncated ? 'Only the first 2,000 entries are listed.' : ''}</p>
              )}
              {showDevices && listing.devices.length > 0 && (
                <>
                  <h3>Block devices</h3>
                  <ul className="picker-list">
                    {listing.devices.map((device) => (
                      <li key={device.path}>
                        <button type="button" className="picker-entry" onClick={() => choose(device)}>
                          <span className="grow mono">{device.byId.length ? `/dev/disk/by-id/${device.byId[0]}` : device.path}{device.byId.length ? <span className="muted small-text"> ({device.path})</span> : null}</span>
                          <span className="muted small-text">{humanBytes(device.size)}</span>
                        </button>
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </>
          )}
          <div className="wizard-nav">
            <button type="button" onClick={onClose}>Cancel</button>
          </div>
        </div>
      )}
    </dialog>
  );
}

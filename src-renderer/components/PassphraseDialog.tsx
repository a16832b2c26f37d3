// The passphrase dialog: opening an encrypted repository (from the open form, the recent
// list, or the desktop app's start) asks here. A wrong passphrase shows its error with the
// code and keeps the dialog open. The passphrase lives in this component's state only: it is
// sent once with the open call and cleared when the dialog closes.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { MAX_PASSPHRASE_LENGTH } from '../../src-shared/api/passphrase';
import { useApp } from '../store';
import { ErrorBox, LockIcon } from './common';

export function PassphraseDialog() {
  const prompt = useApp((s) => s.passphrasePrompt);
  const openRepository = useApp((s) => s.openRepository);
  const cancel = useApp((s) => s.cancelPassphrase);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const [passphrase, setPassphrase] = useState('');
  const path = prompt?.path ?? null;

  useEffect(() => {
    const dialog = dialogRef.current;
    if (!dialog) return;
    if (path !== null && !dialog.open) dialog.showModal();
    if (path === null && dialog.open) dialog.close();
    setPassphrase('');
  }, [path]);

  // After a wrong passphrase: select what was typed so it can be typed again at once.
  useEffect(() => {
    if (prompt?.error && !prompt.busy) inputRef.current?.select();
  }, [prompt?.error, prompt?.busy]);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!prompt || !passphrase || prompt.busy) return;
    await openRepository(prompt.path, passphrase, prompt.s3);
  };

  return (
    <dialog
      ref={dialogRef}
      className="modal"
      aria-labelledby="passphrase-title"
      onCancel={(event) => {
        event.preventDefault();
        cancel();
      }}
    >
      {prompt && (
        <form onSubmit={submit}>
          <h2 id="passphrase-title"><LockIcon /> Encrypted repository</h2>
          <p className="mono small-text path-line">{prompt.path}</p>
          <p>Its data is encrypted. Enter the passphrase to open it.</p>
          <div className="field">
            <label htmlFor="open-passphrase">Passphrase</label>
            <input
              ref={inputRef}
              id="open-passphrase"
              type="password"
              autoComplete="current-password"
              autoFocus
              maxLength={MAX_PASSPHRASE_LENGTH}
              value={passphrase}
              onChange={(e) => setPassphrase(e.target.value)}
              aria-invalid={prompt.error ? true : undefined}
              aria-describedby={prompt.error ? 'passphrase-error' : undefined}
            />
          </div>
          {prompt.error && (
            <div id="passphrase-error">
              <ErrorBox code={prompt.error.code} message={prompt.error.code === 'WRONG_KEY' ? 'Wrong passphrase: no key of this repository opens with it. Check it and try again.' : prompt.error.message} />
            </div>
          )}
          <div className="wizard-nav">
            <button type="button" onClick={cancel}>Cancel</button>
            <button type="submit" className="primary" disabled={!passphrase || prompt.busy}>{prompt.busy ? 'Unlocking…' : 'Unlock and open'}</button>
          </div>
        </form>
      )}
    </dialog>
  );
}

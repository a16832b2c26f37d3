// A path input: typed by hand, or picked with the native dialog where the shell has one
// (Electron) or the server-side picker (web mode). Shows what is at the path (file, device, directory, size) as it is typed.
import { useEffect, useId, useState } from 'react';
import { humanBytes } from '../../src-shared/api/format';
import type { PathInfo, PickPurpose } from '../../src-shared/api/types';
import { useApi, useApp } from '../store';
import { PathPicker } from './PathPicker';

export function PathField({ label, value, onChange, purpose, placeholder, onInfo, autoFocus }: {
  label: string;
  value: string;
  onChange(value: string): void;
  purpose: PickPurpose;
  placeholder?: string;
  onInfo?: (info: PathInfo | null) => void;
  autoFocus?: boolean;
}) {
  const api = useApi();
  const nativeDialogs = useApp((s) => s.appInfo?.nativeDialogs ?? false);
  const [info, setInfo] = useState<PathInfo | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [picking, setPicking] = useState(false);
  const id = useId();

  useEffect(() => {
    let current = true;
    if (!value) {
      setInfo(null);
      setProblem(null);
      onInfo?.(null);
      return;
    }
    const timer = setTimeout(() => {
      api.inspectPath({ path: value }).then(
        (result) => {
          if (!current) return;
          setInfo(result);
          setProblem(null);
          onInfo?.(result);
        },
        (error: { code?: string; message: string }) => {
          if (!current) return;
          setInfo(null);
          setProblem(`${error.code ?? ''} ${error.message}`.trim());
          onInfo?.(null);
        },
      );
    }, 200);
    return () => {
      current = false;
      clearTimeout(timer);
    };
    // onInfo is a callback of the parent; re-inspecting on its identity would loop.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value, api]);

  const describe = (i: PathInfo): string => {
    if (i.kind === 'missing') return i.parentExists ? `does not exist yet (a new ${purpose === 'createRepository' ? 'folder' : 'file'} will be created)` : 'does not exist, nor does its folder';
    if (i.kind === 'directory') return i.isRepository ? 'a Blockvault repository' : 'a folder';
    if (i.kind === 'file' || i.kind === 'device') return `${i.kind === 'device' ? 'block device' : 'file'}, ${humanBytes(i.size)} (${i.size.toLocaleString()} bytes)`;
    return 'not a file, folder or block device';
  };

  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="row">
        <input
          id={id}
          className="grow mono"
          value={value}
          placeholder={placeholder ?? '/absolute/path'}
          spellCheck={false}
          autoFocus={autoFocus}
          onChange={(event) => onChange(event.target.value)}
        />
        {!nativeDialogs && (
          <button type="button" onClick={() => setPicking(true)} title="Browse the server's folders">Browse…</button>
        )}
        {nativeDialogs && (
          <button
            type="button"
            onClick={async () => {
              const picked = await api.pickPath({ purpose, defaultPath: value || undefined });
              if (picked) onChange(picked);
            }}
          >
            Browse…
          </button>
        )}
      </div>
      {!nativeDialogs && <PathPicker open={picking} purpose={purpose} current={value} label={label} onPick={onChange} onClose={() => setPicking(false)} />}
      <div className={`hint ${problem ? 'bad' : ''}`}>{problem ?? (info ? describe(info) : 'an absolute path on the machine that runs Blockvault')}</div>
    </div>
  );
}

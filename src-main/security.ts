// The desktop app's security settings as plain data and pure checks, kept apart from the
// Electron entry (index.ts) so tests/faults/guards.test.ts can read them without Electron:
// the window's webPreferences, the CSP, which pages are the app's own, which external links
// may open, and which paths the renderer may hand to a backup, restore or export.
//
// Paths (the renderer is untrusted: an injected script must not make the app read or write
// any file it likes): a path the admin chose in a native dialog (`pickPath`) is granted at
// once; any other path (typed in a field) is granted only after the admin confirms it in a
// native message box that the main process shows and no renderer script can click. Paths
// that are only read for listing (inspectPath, openRepository's folder) are not gated: the
// services validate them and they change nothing. An S3 credentials file is gated (read): the
// secret key in it signs requests to whatever endpoint the call names.

export const RENDERER_HOST = 'blockvault';
/** The renderer's own page under the app:// protocol (no file:// anywhere). */
export const RENDERER_PAGE = `app://${RENDERER_HOST}/index.html`;

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

export const WEB_PREFERENCES = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  webviewTag: false,
  spellcheck: false,
  navigateOnDragDrop: false,
} as const;

/**
 * Whether `url` is the app's own page: exactly the dev server's page (same origin and path;
 * only the hash route may differ) or exactly app://blockvault/index.html. No prefix match:
 * `http://localhost:5173.evil.example/` or `.../index.html/../x` are not ours.
 */
export function isOwnPage(url: string, devServerUrl?: string): boolean {
  let given: URL;
  try {
    given = new URL(url);
  } catch {
    return false;
  }
  const own = new URL(devServerUrl ?? RENDERER_PAGE);
  const path = (u: URL): string => (u.pathname === '/' ? '/index.html' : u.pathname);
  return given.protocol === own.protocol && given.host === own.host && path(given) === path(own) && given.search === '' && given.username === '' && given.password === '';
}

/** Links that may open in the admin's browser (documentation only); everything else is dropped. */
export const EXTERNAL_ALLOW_LIST: readonly string[] = ['https://github.com/', 'https://www.electronjs.org/docs/', 'https://www.sqlite.org/'];

export function isAllowedExternal(url: string): boolean {
  let given: URL;
  try {
    given = new URL(url);
  } catch {
    return false;
  }
  return given.protocol === 'https:' && given.username === '' && given.password === '' && EXTERNAL_ALLOW_LIST.some((prefix) => given.href.startsWith(prefix));
}

/** The path arguments of calls that read or write files on the admin's behalf. */
export function gatedPaths(method: string, args: unknown): Array<{ path: string; access: 'read' | 'write' }> {
  const a = (args ?? {}) as Record<string, unknown>;
  const text = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
  switch (method) {
    case 'startBackup':
      return [...(text(a.source) ? [{ path: a.source, access: 'read' as const }] : []), ...(text(a.hints) ? [{ path: a.hints, access: 'read' as const }] : [])];
    case 'startRestore':
      return text(a.target) ? [{ path: a.target, access: 'write' }] : [];
    case 'startScrub':
      return text(a.source) ? [{ path: a.source, access: 'read' }] : [];
    case 'startExport':
      return text(a.file) ? [{ path: a.file, access: 'write' }] : [];
    case 'startImport':
      return text(a.file) ? [{ path: a.file, access: 'read' }] : [];
    case 'openRepository':
    case 'createRepository':
    case 'testS3Connection': {
      // an S3 credentials file: the main process reads the secret key in it
      const file = (a.s3 as Record<string, unknown> | undefined)?.credentialsFile;
      return text(file) ? [{ path: file, access: 'read' }] : [];
    }
    case 'startCopy': {
      const file = (a.toS3 as Record<string, unknown> | undefined)?.credentialsFile;
      return text(file) ? [{ path: file, access: 'read' }] : [];
    }
    default:
      return [];
  }
}

/**
 * Paths the admin granted: chosen in a native dialog, or typed and then confirmed in a native
 * message box (`confirm`, supplied by the Electron entry). A refused path refuses the call.
 */
export class PathGrants {
  private readonly granted = new Set<string>();

  constructor(private readonly confirm: (path: string, access: 'read' | 'write', method: string) => Promise<boolean>) {}

  /** A path the admin picked in a native dialog. */
  grant(path: string): void {
    this.granted.add(path);
  }

  /** null when every gated path of the call is granted, else why the call is refused. */
  async check(method: string, args: unknown): Promise<string | null> {
    for (const { path, access } of gatedPaths(method, args)) {
      if (this.granted.has(path)) continue;
      if (!(await this.confirm(path, access, method))) return `${path} was not confirmed by the user`;
      this.granted.add(path);
    }
    return null;
  }
}

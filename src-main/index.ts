// Electron entry: app lifecycle, the window and wiring only. The window runs the renderer
// sandboxed (security.ts: contextIsolation and sandbox on, nodeIntegration off, a strict
// CSP), loads it from the app:// protocol (never file://), may not navigate away, open
// windows or get any permission, opens only allow-listed links outside, and reaches the
// services through one IPC handler that validates every call (services/index.ts `dispatch`)
// and lets file paths through only when the admin chose or confirmed them (security.ts
// PathGrants). Native dialogs serve `pickPath`; recent repositories live in userData, and
// the last one opens at start.
import { app, BrowserWindow, dialog, ipcMain, net, Notification, protocol, session, shell, type OpenDialogOptions } from 'electron';
import { existsSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IPC_EVENT, IPC_INVOKE } from '../src-shared/api/contract';
import type { Job, PickPurpose } from '../src-shared/api/types';
import { CSP, isAllowedExternal, isOwnPage as isOwnPageOf, PathGrants, RENDERER_HOST, RENDERER_PAGE, WEB_PREFERENCES } from './security';
import { NoticeBoard } from './notify';
import { createServices, dispatch, type Services } from './services';

const RENDERER_URL = process.env.ELECTRON_RENDERER_URL;
const RENDERER_DIR = join(__dirname, '..', 'renderer');

let window: BrowserWindow | null = null;
let services: Services;

const isOwnPage = (url: string): boolean => isOwnPageOf(url, RENDERER_URL);

/** Typed paths: the admin confirms them in a native message box no renderer script can click. */
const grants = new PathGrants(async (path, access, method) => {
  const what = access === 'write' ? `write to (and may overwrite) ${path}` : `read ${path}`;
  const options = {
    type: 'question' as const,
    buttons: ['Cancel', access === 'write' ? 'Write to it' : 'Read it'],
    defaultId: 0,
    cancelId: 0,
    title: 'Blockvault',
    message: `Blockvault will ${what}.`,
    detail: `Requested by ${method} with a path typed in the window. Continue only if you typed it.`,
  };
  const result = window ? await dialog.showMessageBox(window, options) : await dialog.showMessageBox(options);
  return result.response === 1;
});

/** app://blockvault/<file>: the built renderer's files, nothing outside its folder. */
function serveRenderer(): void {
  protocol.handle('app', async (request) => {
    const url = new URL(request.url);
    const file = normalize(join(RENDERER_DIR, decodeURIComponent(url.pathname)));
    if (url.host !== RENDERER_HOST || !file.startsWith(RENDERER_DIR + sep) || file.endsWith('.map')) return new Response('not found', { status: 404 });
    const response = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(response.headers);
    headers.set('Content-Security-Policy', CSP);
    return new Response(response.body, { status: response.status, headers });
  });
}

async function pick(purpose: PickPurpose, defaultPath?: string): Promise<string | null> {
  const parent = window ?? undefined;
  if (purpose === 'target' || purpose === 'exportFile') {
    const result = parent ? await dialog.showSaveDialog(parent, { defaultPath, title: purpose === 'target' ? 'Restore to file' : 'Export to file' }) : await dialog.showSaveDialog({ defaultPath });
    return result.canceled || !result.filePath ? null : result.filePath;
  }
  const options: OpenDialogOptions = {
    defaultPath: defaultPath ?? (purpose === 'source' ? '/dev' : undefined),
    title: { openRepository: 'Open a repository', createRepository: 'Folder for a new repository', source: 'Back up a file or block device', hints: 'Hints file', importFile: 'Import metadata', credentialsFile: 'S3 credentials file', target: '', exportFile: '' }[purpose],
    properties: purpose === 'openRepository' || purpose === 'createRepository' ? ['openDirectory', 'createDirectory', 'showHiddenFiles'] : ['openFile', 'showHiddenFiles'],
  };
  const result = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
  return result.canceled ? null : result.filePaths[0] ?? null;
}

function createWindow(): void {
  window = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 640,
    show: false,
    title: 'Blockvault',
    backgroundColor: '#f5f6f8',
    webPreferences: { ...WEB_PREFERENCES, preload: join(__dirname, '..', 'preload', 'index.js') },
  });
  window.once('ready-to-show', () => window?.show());
  window.on('closed', () => {
    window = null;
  });
  if (RENDERER_URL) void window.loadURL(RENDERER_URL);
  else void window.loadURL(RENDERER_PAGE);
}

function secure(): void {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Allow-listed documentation links open in the user's browser; nothing opens inside the app.
      if (isAllowedExternal(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}

function wire(): void {
  const pickAndGrant = async (purpose: PickPurpose, defaultPath?: string): Promise<string | null> => {
    const chosen = await pick(purpose, defaultPath);
    if (chosen) grants.grant(chosen);
    return chosen;
  };
  services = createServices({ mode: 'electron', configDir: app.getPath('userData'), dialogs: { pick: pickAndGrant }, schedule: true, note: (line) => console.log(line) });
  // (the app runs the policies of the repositories it opens, unless a daemon serves them)
  ipcMain.handle(IPC_INVOKE, async (event, method: unknown, args: unknown) => {
    if (!event.senderFrame || !isOwnPage(event.senderFrame.url)) {
      return { ok: false, error: { code: 'UNAUTHORIZED', message: 'calls are accepted from the Blockvault window only' } };
    }
    const refused = await grants.check(String(method), args);
    if (refused) return { ok: false, error: { code: 'CANCELED', message: refused } };
    return dispatch(services.api, method, args);
  });
  const notices = new NoticeBoard();
  services.events.on((name, payload) => {
    if (window && !window.isDestroyed()) window.webContents.send(IPC_EVENT, name, payload);
    // a job that failed or found problems (a scheduled backup or verify among them) is
    // announced by the desktop too, since the window may be hidden
    const notice = name === 'jobChanged' && Notification.isSupported() ? notices.next(payload as Job) : null;
    if (notice) new Notification({ title: notice.title, body: notice.body }).show();
  });
}

/** `--repo PATH` on the command line, else the most recent repository that still exists. */
async function openInitialRepository(): Promise<void> {
  const index = process.argv.indexOf('--repo');
  const given = index >= 0 ? process.argv[index + 1] : undefined;
  const recent = given ? undefined : (await services.api.listRecentRepositories({}))[0];
  const s3 = recent?.s3;
  const path = given ? (given.startsWith('s3://') || isAbsolute(given) ? given : resolve(given)) : recent?.path;
  if (!path || (!path.startsWith('s3://') && !existsSync(path))) return;
  try {
    await services.api.openRepository(s3 ? { path, s3 } : { path });
  } catch (error) {
    // An encrypted repository: it becomes the newest recent one, and the window asks for
    // its passphrase at start.
    if ((error as { code?: string }).code === 'WRONG_KEY') services.context.config.addRecent(path, true, s3);
    else dialog.showErrorBox('Blockvault', `Cannot open ${path}: ${(error as Error).message}`);
  }
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();
  protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });
  void app.whenReady().then(async () => {
    secure();
    serveRenderer();
    wire();
    await openInitialRepository();
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  });
  app.on('window-all-closed', () => app.quit());
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing || !services) return;
    // Running jobs are canceled cooperatively and their state saved before the app exits.
    event.preventDefault();
    closing = true;
    void services.close().finally(() => app.quit());
  });
}

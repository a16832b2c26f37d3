// Electron entry: app lifecycle, the window and wiring only. The window runs the renderer
// sandboxed (contextIsolation and sandbox on, nodeIntegration off, a strict CSP), may not
// navigate away or open windows, and reaches the services through one IPC handler that
// validates every call (services/index.ts `dispatch`). Native dialogs serve `pickPath`;
// recent repositories live in userData, and the last one opens at start.
import { app, BrowserWindow, dialog, ipcMain, session, shell, type OpenDialogOptions } from 'electron';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { IPC_EVENT, IPC_INVOKE } from '../src-shared/api/contract';
import type { PickPurpose } from '../src-shared/api/types';
import { createServices, dispatch, type Services } from './services';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";
const RENDERER_URL = process.env.ELECTRON_RENDERER_URL;
const RENDERER_FILE = join(__dirname, '..', 'renderer', 'index.html');

let window: BrowserWindow | null = null;
let services: Services;

function isOwnPage(url: string): boolean {
  if (RENDERER_URL) return url.startsWith(RENDERER_URL);
  try {
    return new URL(url).protocol === 'file:' && decodeURIComponent(new URL(url).pathname) === RENDERER_FILE;
  } catch {
    return false;
  }
}

async function pick(purpose: PickPurpose, defaultPath?: string): Promise<string | null> {
  const parent = window ?? undefined;
  if (purpose === 'target' || purpose === 'exportFile') {
    const result = parent ? await dialog.showSaveDialog(parent, { defaultPath, title: purpose === 'target' ? 'Restore to file' : 'Export to file' }) : await dialog.showSaveDialog({ defaultPath });
    return result.canceled || !result.filePath ? null : result.filePath;
  }
  const options: OpenDialogOptions = {
    defaultPath: defaultPath ?? (purpose === 'source' ? '/dev' : undefined),
    title: { openRepository: 'Open a repository', createRepository: 'Folder for a new repository', source: 'Back up a file or block device', hints: 'Hints file', importFile: 'Import metadata', target: '', exportFile: '' }[purpose],
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
    webPreferences: {
      preload: join(__dirname, '..', 'preload', 'index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: false,
    },
  });
  window.once('ready-to-show', () => window?.show());
  window.on('closed', () => {
    window = null;
  });
  if (RENDERER_URL) void window.loadURL(RENDERER_URL);
  else void window.loadFile(RENDERER_FILE);
}

function secure(): void {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Links to documentation open in the user's browser; nothing opens inside the app.
      if (/^https:\/\//.test(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}

function wire(): void {
  // The app runs the policies of the repositories it opens, unless a daemon serves them.
  services = createServices({ mode: 'electron', configDir: app.getPath('userData'), dialogs: { pick }, schedule: true, note: (line) => console.log(line) });
  ipcMain.handle(IPC_INVOKE, (event, method: unknown, args: unknown) => {
    if (!event.senderFrame || !isOwnPage(event.senderFrame.url)) {
      return { ok: false, error: { code: 'UNAUTHORIZED', message: 'calls are accepted from the Blockvault window only' } };
    }
    return dispatch(services.api, method, args);
  });
  services.events.on((name, payload) => {
    if (window && !window.isDestroyed()) window.webContents.send(IPC_EVENT, name, payload);
  });
}

/** `--repo PATH` on the command line, else the most recent repository that still exists. */
async function openInitialRepository(): Promise<void> {
  const index = process.argv.indexOf('--repo');
  const given = index >= 0 ? process.argv[index + 1] : undefined;
  const path = given ? (isAbsolute(given) ? given : resolve(given)) : (await services.api.listRecentRepositories({}))[0]?.path;
  if (!path || !existsSync(path)) return;
  try {
    await services.api.openRepository({ path });
  } catch (error) {
    // An encrypted repository: it becomes the newest recent one, and the window asks for
    // its passphrase at start.
    if ((error as { code?: string }).code === 'WRONG_KEY') services.context.config.addRecent(path, true);
    else dialog.showErrorBox('Blockvault', `Cannot open ${path}: ${(error as Error).message}`);
  }
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();
  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });
  void app.whenReady().then(async () => {
    secure();
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

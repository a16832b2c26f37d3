// Guards (issue 9): fail when a security setting of the desktop app or of web mode is ever
// weakened. Reads the Electron window options and checks (src-main/security.ts, and that
// the Electron entry uses them), the fuses of the electron-builder config, the renderer
// builds' source-map settings, and a live web-mode server's headers, binding and token check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { CSP, gatedPaths, isAllowedExternal, isOwnPage, PathGrants, RENDERER_PAGE, WEB_PREFERENCES } from '../../src-main/security';
import { createServices } from '../../src-main/services';
import { HOST, startWebServer } from '../../src-main/web/server';
import { tempDir } from '../helpers';
import { timePart } from './figures';

timePart('guards');

const ROOT = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The directives of a CSP, by name. */
function directives(csp: string): Map<string, string> {
  return new Map(csp.split(';').map((part) => part.trim()).filter(Boolean).map((part) => {
    const [name, ...values] = part.split(/\s+/);
    return [name, values.join(' ')];
  }));
}

function assertStrictCsp(csp: string, where: string): void {
  const d = directives(csp);
  assert.equal(d.get('default-src'), "'none'", `${where}: default-src 'none'`);
  assert.equal(d.get('script-src'), "'self'", `${where}: scripts only from the app itself`);
  assert.equal(d.get('base-uri'), "'none'", `${where}: base-uri 'none'`);
  assert.equal(d.get('form-action'), "'none'", `${where}: form-action 'none'`);
  assert.equal(d.get('frame-ancestors'), "'none'", `${where}: frame-ancestors 'none'`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|wasm-unsafe-eval|\*|https?:(?!\/\/127\.0\.0\.1|\/\/localhost)|data:[^;]*script/, `${where}: nothing unsafe`);
}

test('Electron window: contextIsolation, sandbox, no node integration, web security on', () => {
  assert.equal(WEB_PREFERENCES.contextIsolation, true);
  assert.equal(WEB_PREFERENCES.sandbox, true);
  assert.equal(WEB_PREFERENCES.nodeIntegration, false);
  assert.equal(WEB_PREFERENCES.nodeIntegrationInWorker, false);
  assert.equal(WEB_PREFERENCES.nodeIntegrationInSubFrames, false);
  assert.equal(WEB_PREFERENCES.webSecurity, true);
  assert.equal(WEB_PREFERENCES.allowRunningInsecureContent, false);
  assert.equal(WEB_PREFERENCES.webviewTag, false);
  assertStrictCsp(CSP, 'Electron CSP');
  const entry = read('src-main/index.ts');
  assert.match(entry, /webPreferences: \{ \.\.\.WEB_PREFERENCES, preload: [^}]*\}/, 'the window uses WEB_PREFERENCES and overrides nothing but the preload');
  assert.match(entry, /app\.enableSandbox\(\)/);
  assert.match(entry, /setPermissionCheckHandler\(\(\) => false\)/, 'permission checks are denied');
  assert.match(entry, /setPermissionRequestHandler\([^)]*\) => callback\(false\)\)/, 'permission requests are denied');
  assert.match(entry, /'Content-Security-Policy': \[CSP\]/, 'the CSP header is set on every response');
  assert.match(entry, /isAllowedExternal\(url\)\) void shell\.openExternal\(url\)/, 'openExternal only for allow-listed links');
  assert.match(entry, /grants\.check\(/, 'paths of the renderer pass the grants');
  assert.doesNotMatch(entry, /loadFile\(/, 'no file:// page');
  assert.match(entry, /loadURL\(RENDERER_PAGE\)/, 'the app:// page');
});

test('own page: exact match only; external links: allow-list only', () => {
  assert.equal(RENDERER_PAGE, 'app://blockvault/index.html');
  assert.ok(isOwnPage('app://blockvault/index.html#/versions'));
  for (const url of ['app://blockvault/index.html?x=1', 'app://evil/index.html', 'file:///index.html', 'app://blockvault/other.html', 'https://blockvault/index.html']) {
    assert.ok(!isOwnPage(url), url);
  }
  const dev = 'http://localhost:5173/';
  assert.ok(isOwnPage('http://localhost:5173/#/jobs', dev));
  for (const url of ['http://localhost:5173.evil.example/', 'http://localhost:51730/', 'http://localhost:5173/evil.html', 'http://user@localhost:5173/', 'http://localhost:5173/?x']) {
    assert.ok(!isOwnPage(url, dev), url);
  }
  assert.ok(isAllowedExternal('https://github.com/blockvault'));
  for (const url of ['http://github.com/', 'https://github.com.evil.example/', 'file:///etc/passwd', 'smb://host/share', 'https://user@github.com/', 'javascript:alert(1)']) {
    assert.ok(!isAllowedExternal(url), url);
  }
});

test('desktop paths: a picked path passes, a typed one only when the admin confirms it natively', async () => {
  const asked: string[] = [];
  let answer = false;
  const grants = new PathGrants(async (path) => { asked.push(path); return answer; });
  grants.grant('/dev/sdb');
  assert.equal(await grants.check('startBackup', { source: '/dev/sdb', name: 'x' }), null);
  assert.match(String(await grants.check('startRestore', { uid: 'u', target: '/etc/passwd', force: true })), /not confirmed/);
  answer = true;
  assert.equal(await grants.check('startRestore', { uid: 'u', target: '/srv/out.img' }), null);
  assert.deepEqual(asked, ['/etc/passwd', '/srv/out.img']);
  for (const method of ['startBackup', 'startRestore', 'startExport', 'startImport', 'startScrub']) {
    const args = { source: '/a', hints: '/b', target: '/c', file: '/d' };
    assert.ok(gatedPaths(method, args).length > 0, `${method} has gated paths`);
  }
});

test('electron-builder fuses and asar', () => {
  const yaml = read('electron-builder.yml');
  assert.doesNotMatch(yaml, /^asar: false/m);
  // The top-level `electronFuses:` block: its indented `key: true|false` lines.
  const block = /^electronFuses:\n((?:[ \t]+.*\n)+)/m.exec(yaml)?.[1] ?? '';
  const fuses = Object.fromEntries([...block.matchAll(/^\s+(\w+):\s*(true|false)\s*$/gm)].map((m) => [m[1], m[2] === 'true']));
  assert.equal(fuses.runAsNode, false, 'RunAsNode off');
  assert.equal(fuses.enableNodeOptionsEnvironmentVariable, false, 'NODE_OPTIONS off');
  assert.equal(fuses.enableNodeCliInspectArguments, false, 'inspect arguments off');
  assert.equal(fuses.onlyLoadAppFromAsar, true, 'only load from asar');
  assert.equal(fuses.enableEmbeddedAsarIntegrityValidation, true, 'asar integrity');
  assert.equal(fuses.grantFileProtocolExtraPrivileges, false, 'no file:// privileges');
  assert.match(yaml, /^\s+- "!\*\*\/\*\.map"$/m, 'no source maps packaged');
  assert.match(read('electron.vite.config.ts'), /sourcemap: false/);
  assert.match(read('scripts/build-web.mjs'), /sourcemap: false/);
});

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('web mode: loopback only, strict headers, no cookie, the API needs the token', async () => {
  const dir = tempDir();
  const services = createServices({ mode: 'web', configDir: join(dir, 'config') });
  const server = await startWebServer({ services, staticDir: dir });
  try {
    assert.equal(HOST, '127.0.0.1');
    assert.equal((server.server.address() as { address: string }).address, '127.0.0.1', 'bound to loopback only');
    assert.ok(server.token.length >= 32, 'a long random token');
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/#token=/, 'the token travels in the fragment');
    const page = await get(server.port, '/');
    assertStrictCsp(String(page.headers['content-security-policy']), 'web CSP');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['set-cookie'], undefined);
    assert.equal((await get(server.port, '/', { Host: 'evil.example' })).status, 403, 'Host checked');
    const status = (protocols: string[], headers: Record<string, string> = {}): Promise<number> => new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, protocols, { headers });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => {});
    });
    assert.equal(await status([]), 401, 'no token (the query string does not count)');
    assert.equal(await status(['blockvault', `blockvault-token.${server.token.slice(0, -1)}x`]), 401, 'a wrong token');
    assert.equal(await status(['blockvault', `blockvault-token.${server.token}`], { Origin: 'http://127.0.0.1:1' }), 403, 'another origin');
    assert.equal(await status(['blockvault', `blockvault-token.${server.token}`]), 101);
  } finally {
    await server.close();
    await services.close();
  }
});

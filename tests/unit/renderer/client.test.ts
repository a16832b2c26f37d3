// The renderer's client over the real web server: calls unwrap results, errors keep their
// codes, events arrive; the server checks token, Host and Origin and serves no file outside
// the renderer folder.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ApiError, createClient, webSocketTransport, type ApiClient, type Transport } from '../../../src-renderer/api/client';
import { createServices, type Services } from '../../../src-main/services';
import { startWebServer, type WebServer } from '../../../src-main/web/server';
import { tempDir, until } from '../fixtures';

let services: Services;
let server: WebServer;
let client: ApiClient;
let transport: Transport;
const dir = tempDir();

before(async () => {
  const staticDir = join(dir, 'renderer');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  services = createServices({ mode: 'web', configDir: join(dir, 'config') });
  server = await startWebServer({ services, staticDir });
  const url = `ws://127.0.0.1:${server.port}/api`;
  transport = webSocketTransport(url, WebSocket as unknown as typeof globalThis.WebSocket, server.token);
  client = createClient(transport);
});

after(async () => {
  transport.close?.();
  await server.close();
  await services.close();
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { Host: `127.0.0.1:${server.port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('calls resolve to values; failures throw ApiError with the code', async () => {
  const pong = await client.ping({ sent: 5 });
  assert.equal(pong.sent, 5);
  assert.equal((await client.getAppInfo()).mode, 'web');
  await assert.rejects(client.getSummary(), (error: ApiError) => error instanceof ApiError && error.code === 'NOT_A_REPOSITORY');
  await assert.rejects(client.openRepository({ path: 'relative' }), (error: ApiError) => error.code === 'INVALID_ARGUMENT' && /absolute/.test(error.message));
  await assert.rejects(client.inspectPath({ path: '/a/../b' }), (error: ApiError) => error.code === 'INVALID_ARGUMENT');
});

test('events reach the client', async () => {
  const seen: string[] = [];
  const off = client.onEvent((name) => seen.push(name));
  await client.createRepository({ path: join(dir, 'repo'), blockSize: 64 * 1024 });
  await until(() => seen.includes('repositoryChanged'), 5000, 'repositoryChanged');
  off();
});

test('a transport failure becomes an ApiError; a malformed reply is INTERNAL', async () => {
  const broken: Transport = { invoke: () => Promise.reject(new Error('socket gone')), onEvent: () => () => {}, onConnection: () => () => {} };
  await assert.rejects(createClient(broken).ping(), (error: ApiError) => error.code === 'INTERNAL' && /socket gone/.test(error.message));
  const odd: Transport = { invoke: () => Promise.resolve(null as never), onEvent: () => () => {}, onConnection: () => () => {} };
  await assert.rejects(createClient(odd).ping(), (error: ApiError) => error.code === 'INTERNAL');
});

function socketStatus(headers: Record<string, string>, protocols: string[] = []): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api`, protocols, { headers });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('error', () => {});
  });
}

test('the server: the API needs the token (subprotocol or Bearer), no cookie, Host and Origin checked, no path traversal, no source maps', async () => {
  const page = await get('/');
  assert.equal(page.status, 200, 'the page itself holds no secret');
  assert.equal(page.headers['set-cookie'], undefined, 'no cookie, ever');
  assert.equal((await get(`/?token=${server.token}`)).headers['set-cookie'], undefined, 'no cookie for a token in the query');
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.equal((await get('/assets/app.js')).status, 200);
  assert.equal((await get('/assets/app.js.map')).status, 404, 'no source maps');
  assert.equal((await get('/', { Host: 'evil.example' })).status, 403);
  assert.equal((await get('/', { Origin: 'http://evil.example' })).status, 403);
  for (const path of ['/../secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt']) {
    const response = await get(path);
    assert.ok(!response.body.includes('secret'), `${path} must not leak a file outside the renderer`);
  }
  const origin = `http://127.0.0.1:${server.port}`;
  assert.equal(await socketStatus({ Origin: origin }), 401, 'no token');
  assert.equal(await socketStatus({ Origin: origin }, ['blockvault', `blockvault-token.${'0'.repeat(server.token.length)}`]), 401, 'wrong token');
  assert.equal(await socketStatus({ Origin: origin, Cookie: `blockvault_token_${server.port}=${server.token}` }), 401, 'a cookie is not accepted');
  assert.equal(await socketStatus({ Origin: 'http://127.0.0.1:1' }, ['blockvault', `blockvault-token.${server.token}`]), 403, 'another local port');
  assert.equal(await socketStatus({ Origin: origin }, ['blockvault', `blockvault-token.${server.token}`]), 101);
  assert.equal(await socketStatus({ Authorization: `Bearer ${server.token}` }), 101);
});

// Web mode against hostile WebSocket traffic (issue 9 #7): while a backup runs in the server,
// other connections send an oversized message, invalid UTF-8 in a text frame, garbage bytes,
// reserved opcodes and half-open connections. Each bad connection is closed on its own; the
// server lives on, the backup ends valid and restores bit-exact.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { serve, type Served } from '../e2e/harness';
import { initRepo, ok, restoreEquals, tempDir, writeBlocks } from '../helpers';

const dir = tempDir();
let server: Served;
let repo: string;
const image = join(dir, 'big.img');

before(async () => {
  repo = await initRepo(dir, ['--min-age-days', '0']);
  writeBlocks(image, Array.from({ length: 1536 }, (_, i) => i + 1));
  server = await serve(['--repo', repo], { XDG_CONFIG_HOME: join(dir, 'config') });
});

after(async () => {
  await server?.stop();
});

function goodClient(): Promise<{ call(method: string, args: unknown): Promise<{ ok: boolean; value?: any; error?: any }>; close(): void }> {
  const ws = new WebSocket(`${server.origin.replace('http', 'ws')}/api`, { headers: { Authorization: `Bearer ${server.token}` } });
  let id = 0;
  const waiting = new Map<number, (result: any) => void>();
  ws.on('close', () => { for (const done of waiting.values()) done({ ok: false, error: { code: 'CLOSED', message: 'the server closed the good connection' } }); });
  ws.on('message', (data) => {
    const message = JSON.parse(String(data));
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => resolve({
      call: (method, args) => new Promise((done) => { const n = ++id; waiting.set(n, done); ws.send(JSON.stringify({ id: n, method, args })); }),
      close: () => ws.close(),
    }));
  });
}

/** A raw TCP connection that completed the WebSocket handshake (or only started it). */
function rawSocket(completeHandshake = true): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.process ? Number(new URL(server.origin).port) : 0, '127.0.0.1');
    socket.on('error', () => {});
    socket.once('close', () => reject(new Error('the connection closed before the handshake ended (is the server alive?)')));
    socket.once('connect', () => {
      const lines = [
        'GET /api HTTP/1.1', `Host: 127.0.0.1:${new URL(server.origin).port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', `Authorization: Bearer ${server.token}`,
      ];
      if (!completeHandshake) {
        socket.write(lines.slice(0, 3).join('\r\n'));
        resolve(socket);
        return;
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      socket.once('data', (data) => (String(data).startsWith('HTTP/1.1 101') ? resolve(socket) : reject(new Error(String(data)))));
    });
  });
}

/** One masked client frame. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]);
  else if (payload.length < 65536) { header = Buffer.alloc(4); header[0] = (fin ? 0x80 : 0) | opcode; header[1] = 0x80 | 126; header.writeUInt16BE(payload.length, 2); }
  else { header = Buffer.alloc(10); header[0] = (fin ? 0x80 : 0) | opcode; header[1] = 0x80 | 127; header.writeBigUInt64BE(BigInt(payload.length), 2); }
  return Buffer.concat([header, mask, masked]);
}

function closed(socket: Socket, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => { clearTimeout(timer); resolve(true); });
  });
}

test('bad frames close their own connection only; a backup running in the same server completes valid', { timeout: 180_000 }, async () => {
  const client = await goodClient();
  const started = await client.call('startBackup', { source: image, name: 'big' });
  assert.equal(started.ok, true, JSON.stringify(started.error));
  const job = started.value.id as string;

  const halfHandshake = await rawSocket(false);
  const halfFrame = await rawSocket();
  halfFrame.write(frame(1, Buffer.from('{"id":1,"method":"ping","args":{}}')).subarray(0, 5));

  const attacks: Array<[string, () => Promise<Socket>]> = [
    ['a 2 MiB message', async () => { const s = await rawSocket(); s.write(frame(1, Buffer.alloc(2 * 1024 * 1024, 0x20))); return s; }],
    ['invalid UTF-8 in a text frame', async () => { const s = await rawSocket(); s.write(frame(1, Buffer.from([0x7b, 0xff, 0xfe, 0xc3]))); return s; }],
    ['garbage bytes', async () => { const s = await rawSocket(); s.write(randomBytes(4096)); return s; }],
    ['a reserved opcode', async () => { const s = await rawSocket(); s.write(frame(0x3, Buffer.from('x'))); return s; }],
    ['an unmasked frame', async () => { const s = await rawSocket(); s.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d])); return s; }],
    ['a binary message', async () => { const s = await rawSocket(); s.write(frame(2, Buffer.from([1, 2, 3]))); return s; }],
    ['JSON that is not a request', async () => { const s = await rawSocket(); s.write(frame(1, Buffer.from('[1,2'))); return s; }],
  ];
  for (const [what, attack] of attacks) {
    const socket = await attack();
    assert.ok(await closed(socket), `${what}: the server closes that connection`);
    const pong = await client.call('ping', { sent: 1 });
    assert.equal(pong.ok, true, `${what}: the server still answers`);
  }
  assert.equal(server.process.exitCode, null, 'the server process is alive');

  let final: any;
  for (;;) {
    final = (await client.call('getJob', { id: job })).value;
    if (['succeeded', 'failed', 'canceled'].includes(final.state)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(final.state, 'succeeded', JSON.stringify(final.error));
  client.close();
  halfHandshake.destroy();
  halfFrame.destroy();
  const uid = final.result.value.uid as string;
  await ok(['--repo', repo, 'scrub', '--deep', uid]);
  await restoreEquals(repo, uid, join(dir, 'big.out'), image);
});

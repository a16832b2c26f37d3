// The S3 store's light request path (store/s3-http.ts) against a scripted HTTP server on a raw
// TCP socket, for the answers RGW does not give on demand: heads split across reads, chunked
// and until-close bodies, a body cut short, an oversized object refused unread, error XML
// mapped to the store's codes, a skewed clock corrected, connections reused. Every PUT's signed payload hash is checked
// against the bytes that arrived. (The signatures themselves are checked by RGW in
// tests/integration/store/s3*.test.ts, which take the same path.)
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EngineError } from '../../../../src-main/engine/errors';
import { RetryingStore } from '../../../../src-main/engine/store/retry';
import { S3Store } from '../../../../src-main/engine/store/s3';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Request {
  method: string;
  path: string;
  headers: Map<string, string>;
  body: Buffer;
  socket: Socket;
}

/** Answers each request with what `answer` writes on the raw socket. */
function scriptedServer(answer: (request: Request) => void): Promise<{ server: Server; url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = pending.toString('latin1', 0, end).split('\r\n');
        const headers = new Map(lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
        const length = Number(headers.get('content-length') ?? 0);
        if (pending.length < end + 4 + length) return;
        const [method, path] = lines[0].split(' ');
        const body = pending.subarray(end + 4, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        answer({ method, path, headers, body, socket });
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    resolve({ server, url: `http://127.0.0.1:${port}`, connections: () => connections });
  }));
}

const xmlError = (code: string): string => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>`;
function answerWith(socket: Socket, status: string, headers: string[], body: Buffer | string = ''): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  socket.write(`HTTP/1.1 ${status}\r\n${[...headers, `Content-Length: ${bytes.length}`].join('\r\n')}\r\n\r\n`);
  socket.write(bytes);
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof EngineError, String(error));
  return error.code;
}

describe('S3 light request path', () => {
  const stored = new Map<string, Buffer>();
  /** what the next GET of a key answers instead of the stored bytes */
  const script: Array<(request: Request) => void> = [];
  let server: Server;
  let url: string;
  let connections: () => number;
  let puts: Array<{ path: string; signedHash: string; bodyHash: string }>;

  before(async () => {
    ({ server, url, connections } = await scriptedServer((request) => {
      const scripted = script.shift();
      if (scripted) return scripted(request);
      if (request.method === 'PUT') {
        puts.push({ path: request.path, signedHash: request.headers.get('x-amz-content-sha256') ?? '', bodyHash: sha(request.body) });
        assert.match(request.headers.get('authorization') ?? '', /^AWS4-HMAC-SHA256 Credential=key\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
        stored.set(request.path, Buffer.from(request.body));
        return answerWith(request.socket, '200 OK', ['ETag: "x"']);
      }
      const data = stored.get(request.path);
      if (!data) return answerWith(request.socket, '404 Not Found', ['Content-Type: application/xml'], xmlError('NoSuchKey'));
      return answerWith(request.socket, '200 OK', ['Content-Type: application/octet-stream'], data);
    }));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const store = (timeoutMs = 5000): RetryingStore => new RetryingStore(
    new S3Store({ kind: 's3', bucket: 'bench', prefix: 'repo', endpoint: url, region: 'us-east-1', pathStyle: true, credentials: { accessKeyId: 'key', secretAccessKey: 'secret' }, concurrency: 4, timeoutMs }),
    { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 },
  );

  it('puts with the payload hash signed and gets the same bytes back over one kept connection', async () => {
    puts = [];
    const s = store();
    const before = connections();
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const key = `objects/${sha(data)}`;
    await s.put(key, data);
    assert.deepEqual(puts, [{ path: `/bench/repo/${key}`, signedHash: sha(data), bodyHash: sha(data) }]);
    const room = Buffer.alloc(data.length + 10);
    const into = await s.getInto(key, room);
    assert.equal(into.buffer, room.buffer, 'read into the buffer given');
    assert.equal(sha(into), sha(data));
    assert.equal(sha(await s.get(key)), sha(data));
    assert.equal(sha(await s.getInto(key, Buffer.alloc(4))), sha(data), 'a buffer too small: a new one');
    await s.put('manifests/empty', Buffer.alloc(0));
    assert.equal((await s.get('manifests/empty')).length, 0);
    assert.equal(connections() - before, 1, 'every request used the same connection');
    assert.equal(await code(s.get('objects/abcdef')), 'OBJECT_MISSING');
    await s.close();
  });

  it('reads heads split across reads, chunked bodies and bodies that end with the connection', async () => {
    const s = store();
    const data = randomBytes(200_000);
    stored.set('/bench/repo/objects/c0ffee', data);
    script.push(({ socket }) => {
      // the head a few bytes at a time, then chunks of odd sizes
      const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n';
      for (let i = 0; i < head.length; i += 7) socket.write(head.slice(i, i + 7));
      for (let at = 0; at < data.length; at += 70_001) {
        const piece = data.subarray(at, at + 70_001);
        socket.write(`${piece.length.toString(16)};ext=1\r\n`);
        socket.write(piece);
        socket.write('\r\n');
      }
      socket.write('0\r\n\r\n');
    });
    assert.equal(sha(await s.getInto('objects/c0ffee', Buffer.alloc(data.length))), sha(data));
    script.push(({ socket }) => {
      socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
      socket.end(data);
    });
    assert.equal(sha(await s.get('objects/c0ffee')), sha(data));
    assert.equal(s.retryCounts().retries, 0);
    await s.close();
  });

  it('retries a body cut short as a reset connection, and refuses an oversized object unread', async () => {
    const s = store();
    const data = randomBytes(100_000);
    stored.set('/bench/repo/objects/0dd0', data);
    script.push(({ socket }) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      socket.write(data.subarray(0, 1000));
      setTimeout(() => socket.destroy(), 20);
    });
    assert.equal(sha(await s.get('objects/0dd0')), sha(data));
    assert.deepEqual(s.takeRetryCounts().causes, { 'connection reset': 1 });
    let bodySent = true;
    script.push(({ socket }) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      setTimeout(() => { bodySent = !socket.destroyed && socket.writable; }, 100);
    });
    assert.equal(await code(s.getInto('objects/0dd0', Buffer.alloc(data.length), { maxSize: 1000 })), 'OBJECT_CORRUPT');
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(bodySent, false, 'the connection was closed without reading the body');
    await s.close();
  });

  it('maps error answers to the store\'s codes: permanent at once, transient retried', async () => {
    const s = store();
    script.push(({ socket }) => answerWith(socket, '403 Forbidden', ['Content-Type: application/xml'], xmlError('SignatureDoesNotMatch')));
    assert.equal(await code(s.put('objects/aa00', Buffer.from('x'))), 'UNAUTHORIZED');
    script.push(({ socket }) => answerWith(socket, '404 Not Found', ['Content-Type: application/xml'], xmlError('NoSuchBucket')));
    assert.equal(await code(s.get('objects/aa00')), 'NOT_FOUND');
    assert.equal(s.retryCounts().retries, 0);
    script.push(({ socket }) => answerWith(socket, '503 Slow Down', ['Content-Type: application/xml', 'Connection: close'], xmlError('SlowDown')));
    script.push(({ socket }) => answerWith(socket, '500 Internal Server Error', ['Content-Type: application/xml'], xmlError('InternalError')));
    await s.put('objects/aa00', Buffer.from('second'));
    assert.deepEqual(s.takeRetryCounts().causes, { '503 SlowDown': 1, '500 InternalError': 1 });
    assert.equal((await s.get('objects/aa00')).toString(), 'second');
    // A clock an hour behind the server's: the retry signs with the server's time.
    const serverTime = Date.now() + 3600_000;
    let signedAt = '';
    script.push(({ socket }) => answerWith(socket, '403 Forbidden', ['Content-Type: application/xml', `Date: ${new Date(serverTime).toUTCString()}`], xmlError('RequestTimeTooSkewed')));
    script.push((request) => {
      signedAt = request.headers.get('x-amz-date') ?? '';
      answerWith(request.socket, '200 OK', []);
    });
    await s.put('objects/aa01', Buffer.from('x'));
    const signed = Date.parse(signedAt.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    assert.ok(Math.abs(signed - serverTime) < 60_000, `signed at ${signedAt}, the server's time is ${new Date(serverTime).toISOString()}`);
    assert.deepEqual(s.takeRetryCounts().causes, { '403 RequestTimeTooSkewed': 1 });
    script.push(() => undefined, () => undefined, () => undefined); // never answered
    const silent = store(300);
    assert.equal(await code(silent.get('objects/aa00')), 'IO_ERROR');
    assert.deepEqual(silent.retryCounts(), { retries: 2, exhausted: 1, causes: { timeout: 2 } });
    await silent.close();
    await s.close();
  });
});

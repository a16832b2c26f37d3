// Web mode: one HTTP server on 127.0.0.1 that serves the built renderer and the API over a
// WebSocket at /api. A random token, valid for this server's lifetime, guards the API: the
// printed URL carries it in its fragment (#token=...), which browsers never send to any
// server; the page reads it into memory, drops it from the address bar and offers it on the
// WebSocket handshake as a subprotocol (`blockvault-token.TOKEN`); programs may send
// `Authorization: Bearer TOKEN` instead. No cookie: cookies are not scoped by port, so any
// other server on 127.0.0.1 would receive one. The renderer's files hold no secret and are
// served without the token (no source maps). The Host header must name this server (no DNS
// rebinding) and a browser's Origin must be this server's origin (403), on every request.
// A bad frame, an oversized message or a dead peer closes that connection only.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { WireMessage, WireRequest } from '../../src-shared/api/contract';
import { dispatch, type Services } from '../services';

export const HOST = '127.0.0.1';
const MAX_MESSAGE_BYTES = 1024 * 1024;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Subprotocols of the API socket: the app's own, and the one that carries the token. */
export const API_PROTOCOL = 'blockvault';
export const TOKEN_PROTOCOL_PREFIX = 'blockvault-token.';
/** A peer that answers no ping within this time is dropped (half-open connections). */
const HEARTBEAT_MS = 30_000;
/** How long a peer refused for what it sent has to answer the close frame. */
const CLOSE_GRACE_MS = 2_000;

export interface WebServerOptions {
  services: Services;
  /** 0 picks a free port */
  port?: number;
  /** folder of the built renderer (index.html and assets) */
  staticDir?: string;
  /** fixed token (tests); random when absent */
  token?: string;
}

export interface WebServer {
  url: string;
  port: number;
  token: string;
  server: Server;
  close(): Promise<void>;
}

/** The built renderer: next to the bundle (out/node -> out/renderer) or under out/ from sources. */
export function findRendererDir(): string | null {
  const candidates = [join(__dirname, '..', 'renderer'), join(__dirname, '..', '..', 'out', 'renderer'), join(process.cwd(), 'out', 'renderer')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? null;
}

/** The token a socket offers: a `blockvault-token.` subprotocol or a Bearer header. */
export function offeredToken(req: IncomingMessage): string | undefined {
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const fromProtocol = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
  return fromProtocol ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
}

function sameToken(given: string | undefined | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? randomBytes(24).toString('hex');
  const staticDir = options.staticDir ?? findRendererDir();
  const { services } = options;
  let port = 0;
  const origins = (): string[] => [`http://${HOST}:${port}`, `http://localhost:${port}`];
  const hosts = (): string[] => [`${HOST}:${port}`, `localhost:${port}`];

  /** null when allowed, else the status and reason to refuse with. */
  const refuse = (req: IncomingMessage, needsToken: boolean): [number, string] | null => {
    if (!hosts().includes(req.headers.host ?? '')) return [403, 'wrong Host header'];
    const origin = req.headers.origin;
    if (origin !== undefined && !origins().includes(origin)) return [403, `origin ${origin} is not allowed`];
    if (needsToken && !sameToken(offeredToken(req), token)) return [401, 'this Blockvault server needs the token from the URL it printed'];
    return null;
  };

  const securityHeaders = (): Record<string, string> => ({
    'Content-Security-Policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self' ws://${HOST}:${port} ws://localhost:${port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });

  const send = (res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...securityHeaders(), 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const refused = refuse(req, false);
    if (refused) {
      send(res, refused[0], `${refused[0]} ${refused[0] === 401 ? 'Unauthorized' : 'Forbidden'}: ${refused[1]}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, '405 Method Not Allowed\n', undefined, { Allow: 'GET, HEAD' });
      return;
    }
    if (!staticDir) {
      send(res, 503, '503: the renderer is not built; run "npm run build:web" in the Blockvault folder\n');
      return;
    }
    let relative: string;
    try {
      relative = normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, '');
    } catch {
      send(res, 400, '400 Bad Request\n');
      return;
    }
    let file = join(staticDir, relative);
    if (file !== staticDir && !file.startsWith(staticDir + sep)) {
      send(res, 403, '403 Forbidden\n');
      return;
    }
    if (extname(file) === '.map' || !existsSync(file) || statSync(file).isDirectory()) {
      if (extname(relative)) {
        send(res, 404, '404 Not Found\n');
        return;
      }
      file = join(staticDir, 'index.html');
    }
    const type = MIME[extname(file)] ?? 'application/octet-stream';
    const cache = file.includes(`${sep}assets${sep}`) ? 'private, max-age=31536000, immutable' : 'no-store';
    send(res, 200, readFileSync(file), type, { 'Cache-Control': cache });
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      if (!res.headersSent) send(res, 500, `500 Internal Server Error: ${(error as Error).message}\n`);
      else res.destroy();
    }
  });
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // Never echo the token protocol back: the app's own protocol when offered, else none.
    handleProtocols: (protocols) => (protocols.has(API_PROTOCOL) ? API_PROTOCOL : false),
  });

  // A malformed HTTP request gets 400 and its socket closed; never an unhandled error.
  server.on('clientError', (_error, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const refused = url.pathname === '/api' ? refuse(req, true) : ([404, 'not found'] as [number, string]);
    if (refused) {
      const text = refused[0] === 401 ? 'Unauthorized' : refused[0] === 403 ? 'Forbidden' : 'Not Found';
      socket.end(`HTTP/1.1 ${refused[0]} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${refused[1]}\n`);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
  });

  const alive = new WeakSet<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const ws of sockets.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  sockets.on('connection', (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    // Oversized messages, invalid UTF-8, bad opcodes, unmasked frames: `ws` reports them
    // here and has already begun closing; this connection ends, nothing else does.
    ws.on('error', () => ws.terminate());
    const unsubscribe = services.events.on((event, payload) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event, payload } satisfies WireMessage));
    });
    ws.on('close', unsubscribe);
    ws.on('message', (data, isBinary) => {
      let request: WireRequest;
      try {
        if (isBinary) throw new Error('binary');
        request = JSON.parse(data.toString()) as WireRequest;
        if (typeof request !== 'object' || request === null || !Number.isSafeInteger(request.id)) throw new Error('shape');
      } catch {
        ws.close(1003, 'expected JSON requests {id, method, args}');
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        return;
      }
      void dispatch(services.api, request.method, request.args).then((result) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id: request.id, result } satisfies WireMessage));
      });
    });
  });
  sockets.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${HOST}:${port}/#token=${token}`;
  return {
    url,
    port,
    token,
    server,
    async close() {
      clearInterval(heartbeat);
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

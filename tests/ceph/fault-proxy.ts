// A fault proxy: HTTP on 127.0.0.1 in front of RGW that fails a share of the requests the way
// S3 servers and networks do. Faults:
//   500      answers 500 InternalError without passing the request on
//   503      answers 503 SlowDown without passing the request on
//   reset    passes the request on, sends the answer's headers and half its body, then resets
//            (an answer without a body: resets before the headers)
//   stall    passes the request on and never answers (the client's timeout must end it)
// A request's bytes reach RGW unchanged (the Host header too, so signatures still match).
// `rate` picks faults at random (seeded: a failing run prints its seed); `script` forces the
// faults of the next requests in order ('pass' lets one through), for deterministic tests.
// Run alone: `npx tsx tests/ceph/fault-proxy.ts [rate]` prints its URL.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault = '500' | '503' | 'reset' | 'stall';
export const FAULTS: readonly Fault[] = ['500', '503', 'reset', 'stall'];

export interface FaultProxy {
  url: string;
  seed: number;
  /** share of requests that fail, 0..1 */
  rate: number;
  /** faults injected so far, by kind, and requests seen */
  counts: Record<Fault | 'requests', number>;
  /** forces the faults of the next requests, in order */
  script(faults: Array<Fault | 'pass'>): void;
  close(): Promise<void>;
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

export async function startFaultProxy(options: { target?: string; rate?: number; seed?: number } = {}): Promise<FaultProxy> {
  const target = new URL(options.target ?? 'http://127.0.0.1:7480');
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff) + 1;
  const random = xorshift(seed);
  const queue: Array<Fault | 'pass'> = [];
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = {
    url: '',
    seed,
    rate: options.rate ?? 0.05,
    counts: { requests: 0, '500': 0, '503': 0, reset: 0, stall: 0 },
    script: (faults) => queue.push(...faults),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const pick = (): Fault | 'pass' => {
    if (queue.length > 0) return queue.shift()!;
    if (random() >= proxy.rate) return 'pass';
    return FAULTS[Math.floor(random() * FAULTS.length)];
  };

  const forward = (incoming: IncomingMessage, body: Buffer): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const out = httpRequest(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        resolve,
      );
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    proxy.counts.requests += 1;
    const body = await readAll(incoming);
    const fault = pick();
    if (fault !== 'pass') proxy.counts[fault] += 1;
    if (fault === '500' || fault === '503') {
      const xml = fault === '500' ? errorXml('InternalError', 'injected by the fault proxy') : errorXml('SlowDown', 'Please reduce your request rate.');
      response.writeHead(Number(fault), { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      response.end(incoming.method === 'HEAD' ? undefined : xml);
      return;
    }
    const answer = await forward(incoming, body);
    const answerBody = await readAll(answer);
    if (fault === 'stall') return; // never answered; the socket closes when the client gives up
    if (fault === 'reset' && answerBody.length >= 2) {
      response.writeHead(answer.statusCode ?? 500, answer.headers);
      response.write(answerBody.subarray(0, Math.floor(answerBody.length / 2)));
      setTimeout(() => incoming.socket.resetAndDestroy(), 20);
      return;
    }
    if (fault === 'reset') {
      incoming.socket.resetAndDestroy();
      return;
    }
    response.writeHead(answer.statusCode ?? 500, answer.headers);
    response.end(answerBody);
  };

  const server: Server = createServer((incoming, response) => {
    handle(incoming, response).catch(() => incoming.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

if (require.main === module) {
  void startFaultProxy({ rate: process.argv[2] ? Number(process.argv[2]) : undefined }).then((proxy) => {
    console.log(`fault proxy on ${proxy.url} (rate ${proxy.rate}, seed ${proxy.seed}) in front of http://127.0.0.1:7480`);
  });
}

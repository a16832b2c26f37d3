// NBD addresses: where a server listens (TCP host and port, or a Unix socket path) and which
// export to open, parsed from the URL forms of the NBD URI standard that Blockvault accepts:
// `nbd://HOST[:PORT]/EXPORT` and `nbd+unix:///EXPORT?socket=PATH`.
import { EngineError } from '../errors';

export type NbdEndpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface NbdAddress {
  endpoint: NbdEndpoint;
  exportName: string;
}

export const NBD_DEFAULT_PORT = 10809;

export function isNbdUrl(text: string): boolean {
  return /^nbd(\+unix)?:\/\//.test(text);
}

export function parseNbdUrl(text: string): NbdAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EngineError('INVALID_ARGUMENT', `not an NBD URL: ${text}`);
  }
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol === 'nbd:') {
    if (!url.hostname) throw new EngineError('INVALID_ARGUMENT', `NBD URL without a host: ${text}`);
    if (url.search) throw new EngineError('INVALID_ARGUMENT', `NBD URL with unsupported parameters: ${text}`);
    const port = url.port ? Number(url.port) : NBD_DEFAULT_PORT;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { endpoint: { kind: 'tcp', host, port }, exportName };
  }
  if (url.protocol === 'nbd+unix:') {
    if (url.hostname) throw new EngineError('INVALID_ARGUMENT', `nbd+unix URL must not name a host: ${text}`);
    const socket = url.searchParams.get('socket');
    if (!socket) throw new EngineError('INVALID_ARGUMENT', `nbd+unix URL without ?socket=PATH: ${text}`);
    for (const key of url.searchParams.keys()) {
      if (key !== 'socket') throw new EngineError('INVALID_ARGUMENT', `nbd+unix URL with unsupported parameter ${key}: ${text}`);
    }
    return { endpoint: { kind: 'unix', path: socket }, exportName };
  }
  throw new EngineError('INVALID_ARGUMENT', `not an NBD URL (nbd:// or nbd+unix://): ${text}`);
}

export function formatNbdUrl(address: NbdAddress): string {
  const name = encodeURIComponent(address.exportName).replace(/%2F/g, '/');
  // The socket path is percent-encoded where it must be (a space, '&', '#', '%'...): qemu and libnbd decode it.
  if (address.endpoint.kind === 'unix') return `nbd+unix:///${name}?socket=${encodeURIComponent(address.endpoint.path).replace(/%2F/g, '/')}`;
  const host = address.endpoint.host.includes(':') ? `[${address.endpoint.host}]` : address.endpoint.host;
  return `nbd://${host}:${address.endpoint.port}/${name}`;
}

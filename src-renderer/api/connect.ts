// Picks the transport of this page: the Electron preload bridge when it is there, else a
// WebSocket to the web server that served the page (the token travels as its cookie).
import type { Bridge } from '../../src-shared/api/contract';
import { bridgeTransport, createClient, webSocketTransport, type ApiClient } from './client';

declare global {
  interface Window {
    blockvault?: Bridge;
  }
}

export function connectClient(): ApiClient {
  if (window.blockvault) return createClient(bridgeTransport(window.blockvault));
  const protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return createClient(webSocketTransport(`${protocol}//${location.host}/api`));
}

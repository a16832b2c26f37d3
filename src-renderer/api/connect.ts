// Picks the transport of this page: the Electron preload bridge when it is there, else a
// WebSocket to the web server that served the page. Web mode's token arrives in the URL's
// fragment (#token=..., never sent to any server); it is read here into memory, removed
// from the address bar and the history entry at once, and kept in sessionStorage, which
// only this origin (scheme, host and port) and this tab can read, so a reload still works.
import type { Bridge } from '../../src-shared/api/contract';
import { bridgeTransport, createClient, noTokenTransport, webSocketTransport, type ApiClient } from './client';

declare global {
  interface Window {
    blockvault?: Bridge;
  }
}

const TOKEN_KEY = 'blockvault.token';

/** Takes the token out of the fragment (then out of the address bar), or the one this tab kept. */
export function takeToken(): string | undefined {
  const match = /(?:^#|&)token=([0-9a-f]{16,128})(?:&|$)/.exec(location.hash);
  if (match) {
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    try {
      sessionStorage.setItem(TOKEN_KEY, match[1]);
    } catch {
      // storage disabled: the token lives in memory only, a reload needs the URL again
    }
    return match[1];
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function connectClient(): ApiClient {
  if (window.blockvault) return createClient(bridgeTransport(window.blockvault));
  const token = takeToken();
  if (!token) return createClient(noTokenTransport());
  const protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return createClient(webSocketTransport(`${protocol}//${location.host}/api`, WebSocket, token));
}

// Typed API client of the renderer. Two transports with one interface: the Electron preload
// bridge (window.blockvault) or a WebSocket to the web server (the token travels in the
// handshake as a subprotocol, never as a cookie or in a URL). Every method unwraps the Result and throws an ApiError that keeps
// the error's code, so views can branch on it and show it.
import type { ApiArgs, ApiEventName, ApiEvents, ApiMethod, ApiResult, Bridge, WireMessage } from '../../src-shared/api/contract';
import { METHOD_NAMES } from '../../src-shared/api/contract';
import type { ErrorCode, Result } from '../../src-shared/api/errors';
import { isErrorCode } from '../../src-shared/api/errors';

export class ApiError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** `unauthorized`: web mode opened without its token; nothing will connect until it is given. */
export type ConnectionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

/** What a transport does: send one call, deliver events, report its connection. */
export interface Transport {
  invoke(method: string, args: unknown): Promise<Result<unknown>>;
  onEvent(listener: (name: string, payload: unknown) => void): () => void;
  onConnection(listener: (state: ConnectionState) => void): () => void;
  /** Stops the transport for good (no reconnect). */
  close?(): void;
}

export type EventHandler = <E extends ApiEventName>(name: E, payload: ApiEvents[E]) => void;

/** The API as the renderer calls it: arguments may be left out where all are optional. */
export type ApiClient = {
  [M in ApiMethod]: {} extends ApiArgs<M> ? (args?: ApiArgs<M>) => Promise<ApiResult<M>> : (args: ApiArgs<M>) => Promise<ApiResult<M>>;
} & {
  onEvent(handler: EventHandler): () => void;
  onConnection(listener: (state: ConnectionState) => void): () => void;
};

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const candidate = error as { code?: unknown; message?: unknown };
  if (candidate && isErrorCode(candidate.code)) return new ApiError(candidate.code, String(candidate.message ?? ''));
  return new ApiError('INTERNAL', error instanceof Error ? error.message : String(error));
}

export function createClient(transport: Transport): ApiClient {
  const client = {} as Record<string, unknown>;
  for (const method of METHOD_NAMES) {
    client[method] = async (args?: unknown) => {
      let result: Result<unknown>;
      try {
        result = await transport.invoke(method, args ?? {});
      } catch (error) {
        throw toApiError(error);
      }
      if (!result || typeof result !== 'object') throw new ApiError('INTERNAL', `${method}: malformed reply`);
      if (result.ok) return result.value;
      throw toApiError(result.error);
    };
  }
  client.onEvent = (handler: EventHandler) => transport.onEvent((name, payload) => (handler as (n: string, p: unknown) => void)(name, payload));
  client.onConnection = (listener: (state: ConnectionState) => void) => transport.onConnection(listener);
  return client as ApiClient;
}

/** Electron: the preload's pipe. Its invoke resolves to the Result the main process sent. */
export function bridgeTransport(bridge: Bridge): Transport {
  return {
    invoke: (method, args) => bridge.invoke(method, args) as Promise<Result<unknown>>,
    onEvent: (listener) => bridge.onEvent(listener),
    onConnection: (listener) => {
      listener('open');
      return () => {};
    },
  };
}

/** Web mode without a token: every call fails UNAUTHORIZED, the state says why. */
export function noTokenTransport(): Transport {
  return {
    invoke: () => Promise.reject(new ApiError('UNAUTHORIZED', 'this page was opened without its access token: open the URL that "blockvault serve" printed')),
    onEvent: () => () => {},
    onConnection: (listener) => {
      listener('unauthorized');
      return () => {};
    },
  };
}

interface Pending {
  resolve(result: Result<unknown>): void;
  reject(error: unknown): void;
}

/**
 * Web mode: JSON messages over one WebSocket, reconnecting with backoff. Calls made while it
 * is connecting wait for it; calls in flight when it drops fail with IO_ERROR.
 */
export function webSocketTransport(url: string, WebSocketImpl: typeof WebSocket = WebSocket, token?: string): Transport {
  const protocols = token ? ['blockvault', `blockvault-token.${token}`] : ['blockvault'];
  const eventListeners = new Set<(name: string, payload: unknown) => void>();
  const connectionListeners = new Set<(state: ConnectionState) => void>();
  const pending = new Map<number, Pending>();
  const waiting: Array<() => void> = [];
  let socket: WebSocket | null = null;
  let state: ConnectionState = 'connecting';
  let nextId = 1;
  let retryMs = 250;
  let closed = false;

  const setState = (next: ConnectionState): void => {
    state = next;
    for (const listener of connectionListeners) listener(next);
  };

  const connect = (): void => {
    const ws = new WebSocketImpl(url, protocols);
    socket = ws;
    setState('connecting');
    ws.onopen = () => {
      retryMs = 250;
      setState('open');
      for (const send of waiting.splice(0)) send();
    };
    ws.onmessage = (event: MessageEvent) => {
      let message: WireMessage;
      try {
        message = JSON.parse(String(event.data)) as WireMessage;
      } catch {
        return;
      }
      if ('event' in message) {
        for (const listener of eventListeners) listener(message.event, message.payload);
      } else if ('id' in message) {
        const call = pending.get(message.id);
        pending.delete(message.id);
        call?.resolve(message.result);
      }
    };
    // A failed connection also closes; onclose reconnects.
    ws.onerror = () => {};
    ws.onclose = () => {
      if (socket !== ws || closed) return;
      for (const call of pending.values()) call.reject(new ApiError('IO_ERROR', 'the connection to the Blockvault server was lost; the call may or may not have run'));
      pending.clear();
      setState('closed');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };
  connect();

  return {
    invoke(method, args) {
      return new Promise<Result<unknown>>((resolve, reject) => {
        const id = nextId++;
        const send = (): void => {
          pending.set(id, { resolve, reject });
          socket!.send(JSON.stringify({ id, method, args }));
        };
        if (state === 'open' && socket?.readyState === WebSocketImpl.OPEN) send();
        else waiting.push(send);
      });
    },
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onConnection(listener) {
      connectionListeners.add(listener);
      listener(state);
      return () => connectionListeners.delete(listener);
    },
    close() {
      closed = true;
      socket?.close();
      setState('closed');
    },
  };
}

// Building the store: `createAppStore` makes a fresh store of slices around an API client
// (tests make their own), `bindEvents` routes the main side's events into it. No React here.
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ApiClient } from '../api/client';
import type { Route } from './routes';
import { jobsSlice, servingsSlice, sessionSlice, uiSlice, versionsSlice, type AppState } from './slices';

export type AppStore = StoreApi<AppState> & { api: ApiClient };
export type { AppState };

export function createAppStore(api: ApiClient, initialRoute: Route = { view: 'repository' }): AppStore {
  const store = createStore<AppState>()((...a) => ({
    ...sessionSlice(api)(...a),
    ...versionsSlice(api)(...a),
    ...jobsSlice(api)(...a),
    ...servingsSlice(api)(...a),
    ...uiSlice(initialRoute)(...a),
  }));
  return Object.assign(store, { api });
}

/** Routes API events into the store; returns the unsubscribe function. */
export function bindEvents(store: AppStore): () => void {
  const offEvents = store.api.onEvent((name, payload) => {
    const state = store.getState();
    if (name === 'jobChanged') state.upsertJob(payload as AppState['jobs'][string]);
    else if (name === 'versionsChanged') {
      void state.loadVersions();
      void state.loadSummary();
    } else if (name === 'repositoryChanged') {
      state.setRepository(payload as AppState['repository']);
    }
  });
  // A connection that was open and dropped marks the session `connectionLost` (the banner
  // shows it, no Cancel is offered on job rows that may be stale) until it opens again; then
  // jobs, versions and the repository are loaded afresh from the server.
  let wasOpen = false;
  const offConnection = store.api.onConnection((connection) => {
    const lost = wasOpen && connection !== 'open';
    const resync = connection === 'open' && store.getState().connectionLost;
    if (connection === 'open') wasOpen = true;
    store.setState({ connection, connectionLost: lost });
    if (resync) void store.getState().loadSession();
  });
  return () => {
    offEvents();
    offConnection();
  };
}

// One zustand store of typed slices (session, versions, jobs, ui). `createAppStore` builds a
// fresh store around an API client, so tests make their own; `bindEvents` lets the main
// side's events write into it. Components read it with selectors through `useApp`.
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ApiClient } from '../api/client';
import type { Route } from './routes';
import { jobsSlice, sessionSlice, uiSlice, versionsSlice, type AppState } from './slices';

export type AppStore = StoreApi<AppState> & { api: ApiClient };

export function createAppStore(api: ApiClient, initialRoute: Route = { view: 'repository' }): AppStore {
  const store = createStore<AppState>()((...a) => ({
    ...sessionSlice(api)(...a),
    ...versionsSlice(api)(...a),
    ...jobsSlice(api)(...a),
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
  const offConnection = store.api.onConnection((connection) => {
    const wasClosed = store.getState().connection === 'closed';
    store.setState({ connection });
    if (connection === 'open' && wasClosed) void store.getState().loadSession();
  });
  return () => {
    offEvents();
    offConnection();
  };
}

export const StoreContext = createContext<AppStore | null>(null);

export function useAppStore(): AppStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('StoreContext is missing');
  return store;
}

export function useApp<T>(selector: (state: AppState) => T): T {
  return useStore(useAppStore(), selector);
}

export function useApi(): ApiClient {
  return useAppStore().api;
}

export type { AppState } from './slices';
export type { Route } from './routes';

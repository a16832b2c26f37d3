// One zustand store of typed slices (session, versions, jobs, ui), built in create.ts.
// Components read it with selectors through `useApp`.
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { ApiClient } from '../api/client';
import type { AppStore } from './create';
import type { AppState } from './slices';

export { bindEvents, createAppStore, type AppStore } from './create';

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

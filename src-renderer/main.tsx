// Renderer entry: connects the API client (Electron bridge or WebSocket), builds the store,
// routes API events into it and renders the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { connectClient } from './api/connect';
import { App } from './App';
import { bindEvents, createAppStore, StoreContext } from './store';
import { parseRoute } from './store/routes';
import './styles.css';

const store = createAppStore(connectClient(), parseRoute(location.hash));
bindEvents(store);
void store.getState().loadSession();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>
  </StrictMode>,
);

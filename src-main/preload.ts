// Preload: the contextBridge pipe between the sandboxed renderer and the main process,
// generated from the contract's method list. No logic: one invoke channel for the methods,
// one event channel; the main process validates every call.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { IPC_EVENT, IPC_INVOKE, METHOD_NAMES, type Bridge } from '../src-shared/api/contract';

const methods: Record<string, (args: unknown) => Promise<unknown>> = Object.fromEntries(
  METHOD_NAMES.map((method) => [method, (args: unknown) => ipcRenderer.invoke(IPC_INVOKE, method, args)]),
);

const bridge: Bridge = {
  invoke: (method, args) => (methods[method] ?? ((a: unknown) => ipcRenderer.invoke(IPC_INVOKE, method, a)))(args),
  onEvent(listener) {
    const forward = (_event: IpcRendererEvent, name: string, payload: unknown): void => listener(name, payload);
    ipcRenderer.on(IPC_EVENT, forward);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT, forward);
    };
  },
};

contextBridge.exposeInMainWorld('blockvault', bridge);

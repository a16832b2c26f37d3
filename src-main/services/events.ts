// Event hub: services publish API events here; each transport (Electron IPC, WebSocket)
// subscribes once and forwards them to its clients.
import type { ApiEventName, ApiEvents } from '../../src-shared/api/contract';

export type EventListener = (name: ApiEventName, payload: ApiEvents[ApiEventName]) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends ApiEventName>(name: E, payload: ApiEvents[E]): void {
    for (const listener of this.listeners) {
      try {
        listener(name, payload);
      } catch {
        // One broken client must not stop the others.
      }
    }
  }
}

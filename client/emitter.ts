import type { ClientEventName, ClientEvents, Listener } from './types.js';

/**
 * The client's events: a listener that throws is reported (`onListenerError`) and the others
 * still run, so one faulty handler cannot stop the frame loop. An event without listeners is
 * dropped, 'error' included (unlike Node's EventEmitter, which throws it).
 */
export class Emitter {
  private readonly listeners = new Map<ClientEventName, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (event: ClientEventName, err: unknown) => void) {}

  on<K extends ClientEventName>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
    const entry: Listener<ClientEvents[K]> = (e) => listener(e);
    set.add(entry as Listener<never>);
    return () => {
      set.delete(entry as Listener<never>);
    };
  }

  emit<K extends ClientEventName>(event: K, payload: ClientEvents[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<ClientEvents[K]>)(payload);
      } catch (err) {
        if (event !== 'error') this.onListenerError(event, err);
      }
    }
  }
}

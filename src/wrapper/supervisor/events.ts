// What the signal handler did, as one typed stream of events. The handler
// forwards and reaps on its own (src/wrapper/supervisor/handler.ts); JavaScript only learns
// about it afterwards. The notify pipe wakes the loop; on every wake-up the
// records (hints for the log, src/wrapper/supervisor/event-records.ts) and then the facts
// (never lost, src/wrapper/supervisor/handler-facts.ts) become events, so the stream says
// everything whichever records were dropped.
import { decodeRecords } from './event-records.js';
import type { SupervisionEvent } from './handler.js';
import { HandlerFacts } from './handler-facts.js';
import { native, type NativeBinding } from '../../core/native.js';


/** How often the facts are read when the notify pipe cannot be watched. */
const FALLBACK_POLL_MS = 50;

export interface StreamOptions {
  /** The app's pid (its exit comes from the facts, not from its record); 0 with --pause. */
  appPid: number;
  /** --forward-delay is on: a held SIGTERM is a fact to report. */
  holdTerm: boolean;
  /** Where failures go: the stream runs after the spawn, where a throw would abandon the app. */
  onError(error: unknown): void;
}

export class EventStream {
  readonly #addon: NativeBinding;
  readonly #options: StreamOptions;
  readonly #facts: HandlerFacts;
  #listener: (event: SupervisionEvent) => void = () => {};
  readonly #wakeHooks = new Set<() => void>();
  // Reused on every wake-up: a burst of reaps allocates nothing per wake.
  readonly #records: Buffer;
  readonly #emit = (event: SupervisionEvent) => {
    try {
      this.#listener(event);
    } catch (error) {
      this.#options.onError(error);
    }
  };
  #watching = false;
  #fallback: NodeJS.Timeout | undefined;

  /** Reads what the handler (installed already: src/wrapper/supervisor/handler.ts) did; nothing is delivered before listen(). */
  constructor(options: StreamOptions, addon = native()) {
    this.#addon = addon;
    this.#options = options;
    this.#records = Buffer.alloc(addon.event.size * 1024);
    this.#facts = new HandlerFacts({ layout: addon.factsLayout, read: (into) => addon.readFacts(into), mainName: () => addon.mainName() });
  }

  /**
   * Delivers every event to listener as it happens; keeps the loop alive
   * until close(). Never throws. Should the pipe not be watchable, a timer
   * polls instead.
   */
  listen(listener: (event: SupervisionEvent) => void): void {
    this.#listener = listener;
    if (!this.#watching && !this.#fallback) {
      try {
        this.#addon.watchEvents(() => this.#wake());
        this.#watching = true;
      } catch (error) {
        this.#options.onError(error);
        this.#fallback = setInterval(() => this.#wake(), FALLBACK_POLL_MS);
      }
    }
    this.poll(); // whatever happened before we watched
  }

  /** Calls hook after every wake-up by the handler (the drain re-checks who is left). */
  onWake(hook: () => void): () => void {
    this.#wakeHooks.add(hook);
    return () => this.#wakeHooks.delete(hook);
  }

  /**
   * Delivers what happened since the last read: the records first, then what
   * the facts add. A wake-up that only counted reaps costs one small event.
   */
  poll(): void {
    if (this.#options.holdTerm) this.#facts.termHeld(this.#emit);
    // A failure here loses no fact: the records stay in the pipe (the poll
    // fires again) and the facts are read below regardless.
    try {
      let bytes: number;
      do {
        bytes = this.#addon.readEvents(this.#records);
        decodeRecords(this.#records, bytes, this.#addon.event, this.#options.appPid, this.#emit);
      } while (bytes === this.#records.length);
    } catch (error) {
      this.#options.onError(error);
    }
    this.#facts.changes(this.#emit);
  }

  #wake(): void {
    this.poll();
    for (const hook of this.#wakeHooks) {
      try {
        hook();
      } catch (error) {
        this.#options.onError(error);
      }
    }
  }

  /** The signal that ended the drain's grace period, or 0 (see HandlerFacts). */
  get drainInterrupt(): number {
    return this.#facts.drainInterrupt;
  }

  /** Records the notify pipe had no room for (their details are lost, nothing else). */
  get dropped(): number {
    return this.#facts.dropped;
  }

  close(): void {
    this.#addon.unwatchEvents();
    clearInterval(this.#fallback);
    this.#watching = false;
    this.#wakeHooks.clear();
  }
}

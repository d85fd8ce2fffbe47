// What the handler keeps in atomics and never loses (the app's exit, how
// many orphans were reaped, a held SIGTERM, a stop or drain-ending signal),
// read by name (the addon exports the slots) and turned into events once each.
import { decodeWaitStatus } from '../../core/exit-status.js';
import type { SupervisionEvent } from './handler.js';
import type { FactsLayout } from '../../core/native.js';

/** Where the facts come from; tests inject their own. */
export interface FactsSource {
  layout: FactsLayout;
  read(into: Float64Array): void;
  /** The main child's name, read while it was a zombie ("" if missed). */
  mainName(): string;
}

export class HandlerFacts {
  readonly #source: FactsSource;
  // Reused on every read: a burst of wake-ups allocates nothing.
  readonly #facts: Float64Array;
  #orphans = 0;
  #appExited = false;
  #termHeld = false;
  #stopRequested = false;

  constructor(source: FactsSource) {
    this.#source = source;
    this.#facts = new Float64Array(source.layout.size);
  }

  #read(): Float64Array {
    this.#source.read(this.#facts);
    return this.#facts;
  }

  /** --forward-delay: the held SIGTERM, once (read before the records: a 'forwarded' among them may be its release). */
  termHeld(emit: (event: SupervisionEvent) => void): void {
    if (this.#termHeld) return;
    const facts = this.#read();
    const slot = this.#source.layout;
    if (!facts[slot.termHeld]) return;
    this.#termHeld = true;
    emit({ kind: 'term-held', msAgo: facts[slot.termHeldMsAgo]!, sender: facts[slot.termHeldSender]! });
  }

  /** What the facts add since the last read: orphans reaped, a stop request, the app's exit (once each). */
  changes(emit: (event: SupervisionEvent) => void): void {
    const facts = this.#read();
    const slot = this.#source.layout;
    const orphansReaped = facts[slot.orphansReaped]!;
    if (orphansReaped > this.#orphans) {
      const count = orphansReaped - this.#orphans;
      this.#orphans = orphansReaped;
      emit({ kind: 'orphans-reaped', count });
    }
    const stopSignal = facts[slot.stopSignal]!;
    if (stopSignal && !this.#stopRequested) {
      this.#stopRequested = true;
      emit({ kind: 'stop-requested', signal: stopSignal });
    }
    if (facts[slot.mainExited] && !this.#appExited) {
      this.#appExited = true;
      emit({ kind: 'app-exited', status: decodeWaitStatus(facts[slot.mainStatus]!), comm: this.#source.mainName() });
    }
  }

  /**
   * The signal that ended the drain's grace period (a SIGINT, or a second
   * SIGTERM or drain signal after the app exited), or 0. A fact: never lost.
   */
  get drainInterrupt(): number {
    return this.#read()[this.#source.layout.drainInterrupt]!;
  }

  /** Records the notify pipe had no room for (their details are lost, nothing else). */
  get dropped(): number {
    return this.#read()[this.#source.layout.eventsDropped]!;
  }
}

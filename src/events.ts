// What the signal handler did, as one typed stream of events. The handler
// forwards and reaps on its own (native/signals.cc); JavaScript only learns
// about it afterwards. Records on the notify pipe are hints: they wake the
// loop and carry details for the log, and a full pipe drops them. The facts
// that must never be lost (the app's exit, how many orphans were reaped) are
// read from the handler's atomics on every wake-up and become events here
// too, so the stream says everything whichever records were dropped.
import type { ExitStatus } from './exit-status.js';
import { native, type NativeBinding } from './native.js';

/** How often the facts are read when the notify pipe cannot be watched. */
const FALLBACK_POLL_MS = 50;

export type SupervisionEvent =
  /** A signal was forwarded to the app (error: errno when sending failed). */
  | { kind: 'forwarded'; signal: number; delivered: number; sender: number; error: number }
  /** A signal the user rewrote to 0. */
  | { kind: 'dropped'; signal: number; sender: number }
  /** A signal that arrived after the app was reaped (nobody to forward it to); endsDrain: the drain's grace period is over. */
  | { kind: 'after-exit'; signal: number; sender: number; endsDrain: boolean }
  /** An orphan the handler reaped, with its name (only when asked to describe them). */
  | { kind: 'orphan-exited'; pid: number; status: ExitStatus; comm: string; startTicks: number }
  /** More orphans were reaped: the count, whether or not their records came through. */
  | { kind: 'orphans-reaped'; count: number; total: number }
  /** The app was reaped. Exactly once, from the facts. */
  | { kind: 'app-exited'; status: ExitStatus; comm: string }
  /** --forward-delay: a SIGTERM is held (msAgo: when it arrived). Once, from the facts. */
  | { kind: 'term-held'; msAgo: number; sender: number }
  /** A SIGTERM or SIGINT with no app to forward to (--pause ends on it). Once, from the facts. */
  | { kind: 'stop-requested'; signal: number }
  /** The app stopped (signal: which stop signal) or continued (job control). */
  | { kind: 'stopped' | 'continued'; pid: number; signal: number };

export interface HandlerConfig {
  /** rewrite[s]: the signal sent on for s (0 drops it). */
  rewrite: number[];
  /** report[s]: write a record when s is forwarded (failures always are). */
  report: boolean[];
  /** Signal the app's process group, not the app alone. */
  toGroup: boolean;
  /** Read orphans' names before reaping them (and write a record each). */
  describe: boolean;
  /** --forward-delay: hold the first SIGTERM until releaseHeldTerm(). */
  holdTerm: boolean;
  /** After the app exited, a SIGINT or a second SIGTERM or drain signal ends the drain's grace period. */
  drainSignal: number;
}

function decodeStatus(status: number): ExitStatus {
  const signal = status & 0x7f;
  if (signal === 0) return { exitCode: (status >> 8) & 0xff, signal: null, coreDumped: false };
  return { exitCode: null, signal, coreDumped: (status & 0x80) !== 0 };
}

export class EventStream {
  readonly #addon: NativeBinding;
  readonly #onError: (error: unknown) => void;
  #listener: (event: SupervisionEvent) => void = () => {};
  readonly #wakeHooks = new Set<() => void>();
  #mainPid = 0;
  #orphans = 0;
  // Reused on every wake-up: a burst of reaps allocates nothing per wake.
  readonly #records: Buffer;
  readonly #facts = new Float64Array(9);
  readonly #holdTerm: boolean;
  #appExited = false;
  #termHeld = false;
  #stopRequested = false;
  #watching = false;
  #fallback: NodeJS.Timeout | undefined;

  /**
   * Installs the handler: from here on every signal is forwarded (once the
   * app exists) and every child reaped. Throws when it cannot be installed.
   */
  constructor(config: HandlerConfig, onError: (error: unknown) => void, addon = native()) {
    this.#addon = addon;
    this.#onError = onError;
    this.#records = Buffer.alloc(addon.event.size * 1024);
    this.#holdTerm = config.holdTerm;
    addon.installHandler(config.rewrite, config.report, config.toGroup, config.describe, config.holdTerm, config.drainSignal);
  }

  /** The app exists: signals that waited for it are sent now. Never throws. */
  setMainChild(pid: number): void {
    this.#mainPid = pid;
    this.#addon.setMainChild(pid);
  }

  /** --pause: there is no app; every child is an orphan. Never throws. */
  setNoMainChild(): void {
    this.#addon.setNoMainChild();
  }

  /** Forwards the SIGTERM held for --forward-delay; false if a second SIGTERM or a SIGINT already did. */
  releaseHeldTerm(): boolean {
    return this.#addon.releaseHeldTerm();
  }

  /**
   * Delivers every event to listener as it happens; keeps the loop alive
   * until close(). Never throws: it runs after the spawn, where a throw would
   * abandon the app. Should the pipe not be watchable, a timer polls instead.
   */
  listen(listener: (event: SupervisionEvent) => void): void {
    this.#listener = listener;
    if (!this.#watching && !this.#fallback) {
      try {
        this.#addon.watchEvents(() => this.#wake());
        this.#watching = true;
      } catch (error) {
        this.#onError(error);
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
    if (this.#holdTerm && !this.#termHeld) {
      // Before the records: a 'forwarded' among them may be this SIGTERM's release.
      this.#addon.readFacts(this.#facts);
      if (this.#facts[4]) {
        this.#termHeld = true;
        this.#emit({ kind: 'term-held', msAgo: this.#facts[5]!, sender: this.#facts[6]! });
      }
    }
    // A failure here loses no fact: the records stay in the pipe (the poll
    // fires again) and the facts are read below regardless.
    try {
      let bytes: number;
      do {
        bytes = this.#addon.readEvents(this.#records);
        this.#decode(bytes);
      } while (bytes === this.#records.length);
    } catch (error) {
      this.#onError(error);
    }
    const facts = this.#facts;
    this.#addon.readFacts(facts);
    const orphansReaped = facts[2]!;
    if (orphansReaped > this.#orphans) {
      const count = orphansReaped - this.#orphans;
      this.#orphans = orphansReaped;
      this.#emit({ kind: 'orphans-reaped', count, total: orphansReaped });
    }
    if (facts[7] && !this.#stopRequested) {
      this.#stopRequested = true;
      this.#emit({ kind: 'stop-requested', signal: facts[7] });
    }
    if (facts[0] && !this.#appExited) {
      this.#appExited = true;
      this.#emit({ kind: 'app-exited', status: decodeStatus(facts[1]!), comm: this.#addon.mainName() });
    }
  }

  #decode(bytes: number): void {
    const data = this.#records;
    const layout = this.#addon.event;
    const { kinds } = layout;
    for (let at = 0; at + layout.size <= bytes; at += layout.size) {
      const kind = data[at + layout.kind]!;
      const signal = data[at + layout.signal]!;
      const pid = data.readInt32LE(at + layout.pid);
      const value = data.readInt32LE(at + layout.value);
      if (kind === kinds.forwarded) {
        this.#emit({ kind: 'forwarded', signal, delivered: data[at + layout.delivered]!, sender: pid, error: value });
      } else if (kind === kinds.dropped) {
        this.#emit({ kind: 'dropped', signal, sender: pid });
      } else if (kind === kinds.stopped || kind === kinds.continued) {
        this.#emit({ kind: kind === kinds.stopped ? 'stopped' : 'continued', pid, signal });
      } else if (kind === kinds.noTarget) {
        this.#emit({ kind: 'after-exit', signal, sender: pid, endsDrain: data[at + layout.delivered] !== 0 });
      } else if (kind === kinds.exited && pid !== this.#mainPid) {
        // The main child's record is a hint like any other: its fact comes from readFacts.
        const end = data.indexOf(0, at + layout.comm);
        const comm = data.toString('utf8', at + layout.comm, Math.min(end < 0 ? Infinity : end, at + layout.comm + layout.commSize));
        this.#emit({ kind: 'orphan-exited', pid, status: decodeStatus(value), comm, startTicks: Number(data.readBigUInt64LE(at + layout.startTicks)) });
      }
      // kinds.wake only wakes us: the facts say what it was about.
    }
  }

  #emit(event: SupervisionEvent): void {
    try {
      this.#listener(event);
    } catch (error) {
      this.#onError(error);
    }
  }

  #wake(): void {
    this.poll();
    for (const hook of this.#wakeHooks) {
      try {
        hook();
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /**
   * The signal that ended the drain's grace period (a SIGINT, or a second
   * SIGTERM or drain signal after the app exited), or 0. A fact: never lost.
   */
  get drainInterrupt(): number {
    this.#addon.readFacts(this.#facts);
    return this.#facts[8]!;
  }

  /** Records the notify pipe had no room for (their details are lost, nothing else). */
  get dropped(): number {
    this.#addon.readFacts(this.#facts);
    return this.#facts[3]!;
  }

  close(): void {
    this.#addon.unwatchEvents();
    clearInterval(this.#fallback);
    this.#watching = false;
    this.#wakeHooks.clear();
  }
}

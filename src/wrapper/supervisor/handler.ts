// The JavaScript face of the addon's signal handler (native/addon/signals.cc). It
// is installed once, before the app exists, by an explicit call; from then on
// it forwards every signal to the app and reaps every child on its own, and
// JavaScript only learns what it did afterwards, as SupervisionEvents
// (src/wrapper/supervisor/events.ts). The main child is the handler's to own: JavaScript names
// it once (setMainChild) and signals it only through signalApp.
import type { ExitStatus } from '../../core/exit-status.js';
import { native } from '../../core/native.js';

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
  | { kind: 'orphans-reaped'; count: number }
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

/**
 * Installs the handler: from here on every signal is forwarded (once the
 * app exists) and every child reaped. Throws when it cannot be installed.
 */
export function installHandler(config: HandlerConfig): void {
  native().installHandler(config.rewrite, config.report, config.toGroup, config.describe, config.holdTerm, config.drainSignal);
}

/** The app exists: signals that waited for it are sent now. Never throws. */
export function setMainChild(pid: number): void {
  native().setMainChild(pid);
}

/** --pause: there is no app; every child is an orphan. Never throws. */
export function setNoMainChild(): void {
  native().setNoMainChild();
}

/** Forwards the SIGTERM held for --forward-delay; false if a second SIGTERM or a SIGINT already did. */
export function releaseHeldTerm(): boolean {
  return native().releaseHeldTerm();
}

/**
 * Signals the app as the handler forwards to it: its process group under -g,
 * else through the pidfd opened at spawn, or without one a kill() while it is
 * unreaped. False once it is gone.
 */
export function signalApp(signal: number): boolean {
  return native().signalMainChild(signal);
}

// Signals to a process found in /proc, pinned by its start time: the addon
// reads the start time again and sends through a pidfd (or, where pidfds are
// denied, a kill() right after that check), so a pid that was reaped and
// reused in the meantime is never hit. Used by the drain and by
// --orphans terminate; the app itself is signalled by the addon as the
// handler forwards (supervisor/handler.ts signalApp: its group under -g, its own
// pidfd, or a checked kill() without one), not from here.
import { isSystemError } from '../../core/errors.js';
import type { Logger } from '../log.js';
import { native } from '../../core/native.js';
import { SIGCONT, signalName } from '../../core/signals.js';

/** A process as /proc showed it: its pid and start time (clock ticks after boot) name it for good. */
export interface PinnedProcess {
  pid: number;
  startTicks: number;
}

/** The identity of a process across pid reuse. */
export function processKey(target: PinnedProcess): string {
  return `${target.pid}:${target.startTicks}`;
}

export interface PinnedSignallerOptions<T extends PinnedProcess> {
  log: Logger;
  /** How the process is named in a warning: "pid 12 (sleep)", "orphan pid 12". */
  describe(target: T): string;
  /** Told when a signal was refused (EPERM...): "SIGTERM: EPERM". */
  onRefused?(target: T, reason: string): void;
  /** The addon's signalProcess unless a test injects its own. */
  signalProcess?(pid: number, startTicks: number, signal: number): boolean;
}

export class PinnedSignaller<T extends PinnedProcess> {
  readonly #options: PinnedSignallerOptions<T>;
  readonly #warned = new Set<string>();

  constructor(options: PinnedSignallerOptions<T>) {
    this.#options = options;
  }

  /**
   * True only when the signal went out; false when the process is gone (or
   * its pid now names another process) or refused it: a refusal is warned
   * once per process and signal, and noted through onRefused.
   */
  send(target: T, signal: number): boolean {
    try {
      const { signalProcess } = this.#options;
      return signalProcess ? signalProcess(target.pid, target.startTicks, signal) : native().signalProcess(target.pid, target.startTicks, signal);
    } catch (error) {
      const { log, describe, onRefused } = this.#options;
      onRefused?.(target, `${signalName(signal)}: ${isSystemError(error) ? error.code : String(error)}`);
      const once = `${processKey(target)}:${signal}`;
      if (!this.#warned.has(once)) {
        this.#warned.add(once);
        log.warn(`could not send ${signalName(signal)} to ${describe(target)}: ${(error as Error).message}`);
      }
      return false;
    }
  }

  /**
   * The drain signal, then SIGCONT: a stopped process would act on it only
   * after the SIGKILL. True when the first signal went out.
   */
  sendAndContinue(target: T, signal: number): boolean {
    if (!this.send(target, signal)) return false;
    if (signal !== SIGCONT) this.send(target, SIGCONT);
    return true;
  }
}
